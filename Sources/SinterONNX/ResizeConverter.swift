import Foundation
import SinterIR

/// ONNX `Resize` (and the older `Upsample`). Interpolation is separable and the shapes are
/// static, so each resized axis becomes a matmul with a constant [in × out] weight matrix
/// computed here following the ONNX reference: every coordinate mode, nearest modes,
/// linear and cubic (with antialias and exclude_outside), and tf_crop_and_resize's
/// extrapolation value.
extension Converters {
    struct ResizeSettings {
        var mode = "nearest"
        var coordinates = "half_pixel"
        var nearest = "round_prefer_floor"
        var cubicA = -0.75
        var antialias = false
        var excludeOutside = false
        var extrapolation = 0.0
    }

    /// Weights W[out][in] and, for tf_crop_and_resize, which outputs take the extrapolation value.
    static func resizeWeights(input: Int, output: Int, scale: Double, roi: (Double, Double)?, _ s: ResizeSettings)
        throws(SinterError) -> (weights: [[Double]], extrapolated: [Bool])
    {
        let outWidth = scale * Double(input)
        var w = Array(repeating: Array(repeating: 0.0, count: input), count: output)
        var extrapolated = Array(repeating: false, count: output)
        for y in 0..<output {
            let yd = Double(y)
            var x: Double
            switch s.coordinates {
            case "align_corners": x = outWidth == 1 ? 0 : yd * Double(input - 1) / (outWidth - 1)
            case "asymmetric": x = yd / scale
            case "tf_crop_and_resize":
                let (r0, r1) = roi ?? (0, 1)
                x =
                    outWidth == 1
                    ? (r1 - r0) * Double(input - 1) / 2 : yd * (r1 - r0) * Double(input - 1) / (outWidth - 1)
                x += r0 * Double(input - 1)
                extrapolated[y] = x < 0 || x > Double(input - 1)
            case "pytorch_half_pixel": x = outWidth == 1 ? -0.5 : (yd + 0.5) / scale - 0.5
            case "half_pixel": x = (yd + 0.5) / scale - 0.5
            case "half_pixel_symmetric":
                let offset = Double(input) / 2 * (1 - Double(output) / outWidth)
                x = offset + (yd + 0.5) / scale - 0.5
            default: throw SinterError("coordinate_transformation_mode '\(s.coordinates)' is not supported")
            }
            // NaN or huge roi/scales values would send the index arithmetic below out of Int's range.
            guard x.isFinite, abs(x) <= 1e12 else {
                throw SinterError("roi and scales map an output position to \(x), outside any input")
            }
            let ratio = x == x.rounded(.down) ? 1 : x - x.rounded(.down)
            var coeffs = try resizeCoefficients(ratio, scale, s)
            let n = coeffs.count
            let pad = (n + 1) / 2
            let xp = x + Double(pad)
            let p = Int(xp.rounded(.down)), frac = xp - xp.rounded(.down)
            let offset =
                n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1) : (frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1)
            let start = p + offset
            let idx = (0..<n).map { start + $0 - pad }
            if s.excludeOutside {
                for k in 0..<n where idx[k] < 0 || idx[k] >= input { coeffs[k] = 0 }
                let sum = coeffs.reduce(0, +)
                if sum != 0 { coeffs = coeffs.map { $0 / sum } }
            }
            if extrapolated[y] { continue }
            for k in 0..<n { w[y][min(max(idx[k], 0), input - 1)] += coeffs[k] }
        }
        return (w, extrapolated)
    }

    static func resizeCoefficients(_ ratio: Double, _ scale: Double, _ s: ResizeSettings) throws(SinterError)
        -> [Double]
    {
        switch s.mode {
        case "nearest":
            if ratio == 1 { return [0, 1] }
            switch s.nearest {
            case "round_prefer_floor": return ratio <= 0.5 ? [1, 0] : [0, 1]
            case "round_prefer_ceil": return ratio < 0.5 ? [1, 0] : [0, 1]
            case "floor": return [1, 0]
            case "ceil": return [0, 1]
            default: throw SinterError("nearest_mode '\(s.nearest)' is not supported")
            }
        case "linear":
            guard s.antialias else { return [1 - ratio, ratio] }
            let sc = min(scale, 1)
            let start = Int((-1 / sc).rounded(.down)) + 1
            let c = (start..<(start + 2 - 2 * start)).map { max(0, min(1, 1 - abs((Double($0) - ratio) * sc))) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        case "cubic":
            let a = s.cubicA
            if !s.antialias {
                let r1 = ratio + 1, q = 1 - ratio, q1 = q + 1
                return [
                    ((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
                    ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
                    ((a + 2) * q - (a + 3)) * q * q + 1,
                    ((a * q1 - 5 * a) * q1 + 8 * a) * q1 - 4 * a,
                ]
            }
            let sc = min(scale, 1)
            func coeff(_ x0: Double) -> Double {
                let x = abs(x0), x2 = x * x, x3 = x2 * x
                if x <= 1 { return (a + 2) * x3 - (a + 3) * x2 + 1 }
                if x < 2 { return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a }
                return 0
            }
            let iStart = Int((-2 / sc).rounded(.down)) + 1
            let c = (iStart..<(2 - iStart)).map { coeff(sc * (Double($0) - ratio)) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        default: throw SinterError("resize mode '\(s.mode)' is not supported")
        }
    }

    /// Applies per-axis weight matrices to `x` (float math), axis by axis.
    static func applyResize(
        _ ctx: ImportContext, _ x0: ValueID, outputSize: [Int], scales: [Double], roi: [Double]?,
        _ settings: ResizeSettings, _ n: ONNXNode
    ) throws(SinterError) -> ValueID {
        let name = out(n)
        let dtype = ctx.type(x0).dtype
        var x =
            dtype == .f32 ? x0 : try ctx.emit(.cast, [x0], attrs(["to": .string("f32")]), name: "\(name).f32", at: n)
        let inShape = try ctx.staticShape(x, n)
        let r = inShape.count
        for d in 0..<r {
            let axisROI = roi.map { ($0[d], $0[d + r]) }
            let identityROI = axisROI.map { abs($0.0) < 1e-12 && abs($0.1 - 1) < 1e-12 } ?? true
            if abs(scales[d] - 1) < 1e-12 && outputSize[d] == inShape[d] && identityROI { continue }
            let (w, extrapolated) = try resizeWeights(
                input: inShape[d], output: outputSize[d], scale: scales[d], roi: axisROI, settings)
            let shape = try ctx.staticShape(x, n)
            var perm = Array(0..<r)
            perm.remove(at: d)
            perm.append(d)
            let moved =
                d == r - 1
                ? x : try ctx.emit(.transpose, [x], attrs(["perm": .ints(perm)]), name: "\(name).ax\(d)", at: n)
            let movedShape = perm.map { shape[$0] }
            let flat = try reshape(ctx, moved, [movedShape.dropLast().reduce(1, *), shape[d]], "\(name).ax\(d).2d", n)
            var wt: [Double] = []
            for i in 0..<inShape[d] { for y in 0..<outputSize[d] { wt.append(w[y][i]) } }
            let m = try ctx.constant(
                TensorData(dtype: .f32, shape: [inShape[d], outputSize[d]], values: wt), name: "\(name).w\(d)")
            var res = try ctx.emit(.matmul, [flat, m], name: "\(name).ax\(d).mm", at: n)
            if extrapolated.contains(true) {
                let e = try ctx.constant(
                    TensorData(
                        dtype: .f32, shape: [outputSize[d]],
                        values: extrapolated.map { $0 ? settings.extrapolation : 0 }), name: "\(name).e\(d)")
                res = try ctx.emit(.add, [res, e], name: "\(name).ax\(d).e", at: n)
            }
            let backShape = Array(movedShape.dropLast()) + [outputSize[d]]
            res = try reshape(ctx, res, backShape, "\(name).ax\(d).nd", n)
            var inverse = Array(repeating: 0, count: r)
            for (i, p) in perm.enumerated() { inverse[p] = i }
            x =
                d == r - 1
                ? res
                : try ctx.emit(.transpose, [res], attrs(["perm": .ints(inverse)]), name: "\(name).ax\(d).back", at: n)
        }
        if dtype != .f32 {
            if !dtype.isFloat { x = try ctx.emit(.round, [x], name: "\(name).rounded", at: n) }
            return try ctx.emit(.cast, [x], attrs(["to": .string(dtype.rawValue)]), name: name, at: n)
        }
        return try ctx.emit(.identity, [x], name: name, at: n)
    }

    static let resize: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        let shape = try ctx.staticShape(x, n)
        let r = shape.count
        var s = ResizeSettings()
        s.mode = n.string("mode") ?? "nearest"
        s.coordinates = n.string("coordinate_transformation_mode") ?? "half_pixel"
        s.nearest = n.string("nearest_mode") ?? "round_prefer_floor"
        s.cubicA = n.float("cubic_coeff_a", default: -0.75)
        s.antialias = n.int("antialias", default: 0) == 1
        s.excludeOutside = n.int("exclude_outside", default: 0) == 1
        s.extrapolation = n.float("extrapolation_value", default: 0)
        if let r = n.ints("axes"), Set(r.map { $0 < 0 ? $0 + shape.count : $0 }).count != r.count {
            throw n.error("axes \(r) repeat an axis")
        }
        var roi: [Double]?, scales: [Double]?, sizes: [Int]?
        if n.opset < 11 {
            scales = try ctx.constantInput(n, 1, "scales")?.doubles
            s.coordinates = "asymmetric"
            if s.mode == "nearest" { s.nearest = "floor" }
        } else {
            roi = try ctx.constantInput(n, 1, "roi")?.doubles
            scales = try ctx.constantInput(n, 2, "scales")?.doubles
            sizes = try ctx.constantInput(n, 3, "sizes")?.ints
        }
        if scales?.isEmpty ?? false { scales = nil }
        if roi?.isEmpty ?? false { roi = nil }
        // `axes` (opset 18) lists the axes the scales/sizes/roi refer to.
        let axes = try (n.ints("axes") ?? Array(0..<r)).map { a throws(SinterError) in try axis(a, r, n) }
        var fullScales = Array(repeating: 1.0, count: r), fullSizes = shape
        if let r0 = roi, r0.count != 2 * axes.count {
            throw n.error("roi needs \(2 * axes.count) values, got \(r0.count)")
        }
        if let r0 = roi, axes.count != r {
            var full = Array(repeating: 0.0, count: r) + Array(repeating: 1.0, count: r)
            for (i, a) in axes.enumerated() { full[a] = r0[i]; full[a + r] = r0[i + axes.count] }
            roi = full
        }
        guard shape.allSatisfy({ $0 > 0 }) else { throw n.error("cannot resize an empty tensor \(shape)") }
        if let sizes {
            guard sizes.count == axes.count, sizes.allSatisfy((0...maxOutputSize).contains) else {
                throw n.error("sizes \(sizes) must give one size (0...2^24) per resized axis (\(axes.count))")
            }
            for (i, a) in axes.enumerated() { fullSizes[a] = sizes[i] }
            fullScales = (0..<r).map { Double(fullSizes[$0]) / Double(shape[$0]) }
            let policy = n.string("keep_aspect_ratio_policy") ?? "stretch"
            if policy != "stretch" {
                let chosen = axes.map { fullScales[$0] }
                let scale = policy == "not_larger" ? chosen.min() ?? 1 : chosen.max() ?? 1
                for a in axes {
                    fullScales[a] = scale
                    fullSizes[a] = try outputSize(scale * Double(shape[a]) + 0.5, n)
                }
            }
        } else if let scales {
            guard scales.count == axes.count, scales.allSatisfy({ $0.isFinite && $0 > 0 && $0 <= Double(1 << 16) })
            else {
                throw n.error("scales \(scales) must give one finite positive scale per resized axis (\(axes.count))")
            }
            for (i, a) in axes.enumerated() { fullScales[a] = scales[i] }
            fullSizes = try (0..<r).map { i throws(SinterError) in try outputSize(fullScales[i] * Double(shape[i]), n) }
        } else {
            throw n.error("needs scales or sizes")
        }
        return [try applyResize(ctx, x, outputSize: fullSizes, scales: fullScales, roi: roi, s, n)]
    }

    /// The largest output size along one axis, given (`sizes`) or computed from a scale.
    static let maxOutputSize = 1 << 24

    /// An output size computed from a scale, refused past `maxOutputSize` before the
    /// conversion to Int could overflow.
    static func outputSize(_ v: Double, _ n: ONNXNode) throws(SinterError) -> Int {
        guard v.isFinite, v >= 0, v <= Double(maxOutputSize) else {
            throw n.error("an output size of \(v) is outside 0...2^24")
        }
        return Int(v)
    }

    static let upsample: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        let shape = try ctx.staticShape(x, n)
        let scales: [Double]
        if let a = n.attribute("scales") {
            scales = a.floats.map(Double.init)
        } else {
            guard let t = try ctx.constantInput(n, 1, "scales") else { throw n.error("needs scales") }
            scales = t.doubles
        }
        guard scales.count == shape.count, scales.allSatisfy({ $0.isFinite && $0 > 0 && $0 <= Double(1 << 16) }),
            shape.allSatisfy({ $0 > 0 })
        else {
            throw n.error("Upsample needs one finite positive scale per axis of a non-empty input")
        }
        var s = ResizeSettings()
        s.mode = n.string("mode") ?? "nearest"
        s.coordinates = "asymmetric"
        s.nearest = "floor"
        let sizes = try (0..<shape.count).map { i throws(SinterError) in
            try outputSize(scales[i] * Double(shape[i]), n)
        }
        return [try applyResize(ctx, x, outputSize: sizes, scales: scales, roi: nil, s, n)]
    }
}
