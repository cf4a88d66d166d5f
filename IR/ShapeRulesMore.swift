/// Shape rules for the ops beyond the first slice: comparisons, casts, data movement,
/// windows (conv, pooling) and index reductions.
extension ShapeRules {
    static let compare: ShapeRule = { q throws(ShapeError) in
        let t = try broadcast(q)[0]
        return [TensorType(.bool, t.dims)]
    }

    static let whereRule: ShapeRule = { q throws(ShapeError) in
        let c = q.operands[0], a = q.operands[1], b = q.operands[2]
        guard a.dtype == b.dtype else {
            throw ShapeError("operand types differ: \(a.dtype.rawValue) and \(b.dtype.rawValue)")
        }
        return [TensorType(a.dtype, try broadcastDims(try broadcastDims(c.dims, a.dims), b.dims))]
    }

    /// `to` names a dtype, or a quantized integer type (`u8<0.5:10>`): the conversion is the
    /// same, and the result carries the parameters (how `expand-quant` keeps a quantized
    /// value's type for the int8 kernels that read it).
    static let cast: ShapeRule = { q throws(ShapeError) in
        let dims = q.operands[0].dims
        guard case .string(let name)? = q.attributes["to"] else {
            throw ShapeError(
                "cast needs 'to' naming a dtype (\(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let d = DType(rawValue: name) { return [TensorType(d, dims)] }
        do throws(SinterError) {
            let (d, quant) = try Parser.parseElementType(name, dims: dims)
            return [TensorType(d, dims, quant: quant)]
        } catch {
            throw ShapeError(
                "cast needs 'to' naming a dtype (\(DType.allCases.map(\.rawValue).joined(separator: ", "))) or a "
                    + "quantized type; \(quoteString(name)): \(error.diagnostics.first?.message ?? "unreadable")")
        }
    }

    static let expand: ShapeRule = { q throws(ShapeError) in
        guard let shape = q.attributes.ints("shape"), shape.allSatisfy({ $0 >= 0 }) else {
            throw ShapeError("expand needs a 'shape' of sizes >= 0")
        }
        let t = q.operands[0]
        return [TensorType(t.dtype, try broadcastDims(t.dims, shape.map { .fixed($0) }))]
    }

    /// a + b, or a ShapeError when it overflows.
    static func add(_ a: Int, _ b: Int, _ what: String) throws(ShapeError) -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        if o { throw ShapeError("\(what) is too large") }
        return r
    }

    /// a · b, or a ShapeError when it overflows.
    static func mul(_ a: Int, _ b: Int, _ what: String) throws(ShapeError) -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        if o { throw ShapeError("\(what) is too large") }
        return r
    }

    /// Resolves a possibly negative axis against `rank`: the one place axes are normalised.
    public static func axis(_ a: Int, rank: Int) throws(ShapeError) -> Int {
        guard (-rank..<rank).contains(a) else { throw ShapeError("axis \(a) is out of range for rank \(rank)") }
        return normalizedAxis(a, rank: rank)
    }

    /// `axis` for an attribute the verifier has already checked (no error path).
    public static func normalizedAxis(_ a: Int, rank: Int) -> Int { a < 0 ? a + rank : a }

    static let concat: ShapeRule = { q throws(ShapeError) in
        let first = q.operands[0]
        let axis = try axis(q.attributes.int("axis") ?? 0, rank: first.rank)
        var total = 0
        for t in q.operands {
            guard t.dtype == first.dtype, t.rank == first.rank else {
                throw ShapeError("concat operands must share dtype and rank: \(first) vs \(t)")
            }
            for d in 0..<t.rank where d != axis && t.dims[d] != first.dims[d] {
                throw ShapeError("concat operands differ outside axis \(axis): \(fmt(first.dims)) vs \(fmt(t.dims))")
            }
            guard let n = t.dims[axis].fixedValue else {
                throw ShapeError("concat along a symbolic dimension is not supported")
            }
            total = try add(total, n, "concat result along axis \(axis)")
        }
        var dims = first.dims
        dims[axis] = .fixed(total)
        // Quantized values with one set of parameters keep them.
        let quant = q.operands.allSatisfy { $0.quant == first.quant } ? first.quant : nil
        return [TensorType(first.dtype, dims, quant: quant)]
    }

    static let split: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        let axis = try axis(q.attributes.int("axis") ?? 0, rank: t.rank)
        guard let sizes = q.attributes.ints("sizes"), !sizes.isEmpty, sizes.allSatisfy({ $0 >= 0 }) else {
            throw ShapeError("split needs 'sizes' >= 0")
        }
        var total = 0
        for size in sizes { total = try add(total, size, "split sizes \(sizes)") }
        guard t.dims[axis] == .fixed(total) else {
            throw ShapeError("split sizes \(sizes) do not add up to dimension \(t.dims[axis]) of \(fmt(t.dims))")
        }
        return sizes.map { s in
            var dims = t.dims
            dims[axis] = .fixed(s)
            return TensorType(t.dtype, dims)
        }
    }

    /// One axis of a slice after ONNX/numpy clamping: first index, element count, step.
    public struct SliceRange: Hashable, Sendable {
        public var start: Int
        public var count: Int
        public var step: Int
    }

    public static func sliceRanges(shape: [Int], starts: [Int], ends: [Int], steps: [Int]?) throws(ShapeError)
        -> [SliceRange]
    {
        let steps = steps ?? Array(repeating: 1, count: shape.count)
        guard starts.count == shape.count, ends.count == shape.count, steps.count == shape.count else {
            throw ShapeError("slice needs one start, end and step per axis (rank \(shape.count))")
        }
        var out: [SliceRange] = []
        for d in shape.indices {
            let n = shape[d]
            guard steps[d] != 0, steps[d] != Int.min else {
                throw ShapeError("slice step \(steps[d]) on axis \(d) is not allowed")
            }
            // A step longer than the axis takes one element, as a step of the axis' length does:
            // clamping it keeps strides × step (views, lowering) from overflowing.
            let step = Swift.min(Swift.max(steps[d], -Swift.max(n, 1)), Swift.max(n, 1))
            // Clamp first (starts/ends may be any Int), then count without overflow.
            func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(v, lo), hi) }
            let rawS = starts[d] < 0 ? clamp(starts[d], -n - 1, -1) + n : starts[d]
            let rawE = ends[d] < 0 ? clamp(ends[d], -n - 1, -1) + n : ends[d]
            if step > 0 {
                let s = clamp(rawS, 0, n), e = clamp(rawE, 0, n)
                out.append(SliceRange(start: s, count: e > s ? (e - s - 1) / step + 1 : 0, step: step))
            } else {
                let s = clamp(rawS, -1, n - 1), e = clamp(rawE, -1, n - 1)
                out.append(SliceRange(start: s, count: s > e ? (s - e - 1) / (-step) + 1 : 0, step: step))
            }
        }
        return out
    }

    static let slice: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        guard let shape = t.shape else { throw ShapeError("slice of symbolic shape \(fmt(t.dims)) is not supported") }
        guard let starts = q.attributes.ints("starts"), let ends = q.attributes.ints("ends") else {
            throw ShapeError("slice needs 'starts' and 'ends'")
        }
        let ranges = try sliceRanges(shape: shape, starts: starts, ends: ends, steps: q.attributes.ints("steps"))
        return [TensorType(t.dtype, ranges.map(\.count))]
    }

    static let gather: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0], idx = q.operands[1]
        guard t.rank > 0 else { throw ShapeError("gather needs an operand of rank >= 1") }
        let axis = try axis(q.attributes.int("axis") ?? 0, rank: t.rank)
        return [TensorType(t.dtype, Array(t.dims[..<axis]) + idx.dims + Array(t.dims[(axis + 1)...]))]
    }

    static let tile: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        guard let reps = q.attributes.ints("repeats"), reps.count == t.rank, reps.allSatisfy({ $0 >= 0 }) else {
            throw ShapeError("tile needs one repeat >= 0 per axis (rank \(t.rank))")
        }
        guard let shape = t.shape else { throw ShapeError("tile of symbolic shape \(fmt(t.dims)) is not supported") }
        var out: [Int] = []
        for (d, r) in zip(shape, reps) { out.append(try mul(d, r, "tile of \(fmt(t.dims)) by \(reps)")) }
        return [TensorType(t.dtype, out)]
    }

    static let pad: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        guard let pads = q.attributes.ints("pads"), pads.count == 2 * t.rank else {
            throw ShapeError("pad needs 'pads' with 2 × rank = \(2 * t.rank) entries")
        }
        guard let shape = t.shape else { throw ShapeError("pad of symbolic shape \(fmt(t.dims)) is not supported") }
        var out: [Int] = []
        for i in shape.indices {
            out.append(try add(try add(shape[i], pads[i], "padding"), pads[i + t.rank], "padding"))
        }
        guard out.allSatisfy({ $0 >= 0 }) else { throw ShapeError("pads \(pads) crop \(fmt(t.dims)) below zero") }
        // Quantized values keep their parameters unless the padding changes the axis they vary along.
        let keeps = t.quant.map { p in p.axis.map { out[$0] == shape[$0] } ?? true } ?? false
        return [TensorType(t.dtype, out, quant: keeps ? t.quant : nil)]
    }

    /// Geometry of a sliding window (conv, pooling) per spatial axis.
    public struct Window: Hashable, Sendable {
        public var kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int], output: [Int]
    }

    public static func window(input: [Int], kernel: [Int], attributes: Attributes, ceilMode: Bool) throws(ShapeError)
        -> Window
    {
        let n = input.count
        let strides = attributes.ints("strides") ?? Array(repeating: 1, count: n)
        let dilations = attributes.ints("dilations") ?? Array(repeating: 1, count: n)
        let pads = attributes.ints("pads") ?? Array(repeating: 0, count: 2 * n)
        guard kernel.count == n, strides.count == n, dilations.count == n, pads.count == 2 * n else {
            throw ShapeError("window attributes need \(n) spatial entries (pads: \(2 * n))")
        }
        guard strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }),
            pads.allSatisfy({ $0 >= 0 })
        else {
            throw ShapeError("window sizes, strides and dilations must be > 0 and pads >= 0")
        }
        guard input.allSatisfy({ $0 > 0 }) else { throw ShapeError("window over an empty input \(input)") }
        var out: [Int] = []
        for d in 0..<n {
            let span = try add(try mul(kernel[d] - 1, dilations[d], "window"), 1, "window")
            let room = try add(try add(input[d], pads[d], "padding"), pads[d + n], "padding") - span
            guard room >= 0 else {
                throw ShapeError("window \(span) is larger than padded input \(input[d] + pads[d] + pads[d + n])")
            }
            var o = (ceilMode ? room / strides[d] + (room % strides[d] == 0 ? 0 : 1) : room / strides[d]) + 1
            // A window must start inside the input or the leading padding.
            if ceilMode && (o - 1) * strides[d] >= input[d] + pads[d] { o -= 1 }
            out.append(o)
        }
        return Window(
            kernel: kernel, strides: strides, dilations: dilations, padBegin: Array(pads[..<n]),
            padEnd: Array(pads[n...]), output: out)
    }

    static let conv: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0], w = q.operands[1]
        guard x.dtype == w.dtype else {
            throw ShapeError("operand types differ: \(x.dtype.rawValue) and \(w.dtype.rawValue)")
        }
        guard x.rank >= 3, w.rank == x.rank, let xs = x.shape, let ws = w.shape else {
            throw ShapeError("conv needs static input [N,C,...] and weights [M,C/group,...] of equal rank >= 3")
        }
        let group = q.attributes.int("group") ?? 1
        guard group > 0, xs[1] % group == 0, ws[0] % group == 0, ws[1] == xs[1] / group else {
            throw ShapeError("conv channels do not match: input \(fmt(x.dims)), weights \(fmt(w.dims)), group \(group)")
        }
        let win = try window(input: Array(xs[2...]), kernel: Array(ws[2...]), attributes: q.attributes, ceilMode: false)
        // `to`: bf16 operands summed and returned in f32 (the bf16 convolution).
        guard let to = q.attributes["to"] else { return [TensorType(x.dtype, [xs[0], ws[0]] + win.output)] }
        guard case .string("f32") = to, x.dtype == .bf16 else {
            throw ShapeError("conv's 'to' may only be \"f32\", on bf16 operands (got \(to) on \(x.dtype))")
        }
        return [TensorType(.f32, [xs[0], ws[0]] + win.output)]
    }

    static let convNCHWc: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0], w = q.operands[1]
        guard x.dtype == w.dtype else {
            throw ShapeError("operand types differ: \(x.dtype.rawValue) and \(w.dtype.rawValue)")
        }
        guard x.rank == 5, w.rank == 6, let xs = x.shape, let ws = w.shape else {
            throw ShapeError("conv-nchwc needs static input [N, C/bi, H, W, bi] and weights [M/b, C/bi, kh, kw, bi, b]")
        }
        let group = q.attributes.int("group") ?? 1
        guard xs[4] > 0, ws[5] > 0, ws[4] == xs[4], group > 0, xs[1] * xs[4] % group == 0,
            ws[0] * ws[5] % group == 0,
            ws[1]
                == groupedInBlockSpan(
                    inChannels: xs[1] * xs[4], outChannels: ws[0] * ws[5], group: group, x: xs[4], y: ws[5])
        else {
            throw ShapeError(
                "conv-nchwc blocks do not match: input \(fmt(x.dims)), weights \(fmt(w.dims)), group \(group)")
        }
        let win = try window(input: [xs[2], xs[3]], kernel: [ws[2], ws[3]], attributes: q.attributes, ceilMode: false)
        // `to`: bf16 operands summed and returned in f32, as conv's (dense only).
        guard let to = q.attributes["to"] else { return [TensorType(x.dtype, [xs[0], ws[0]] + win.output + [ws[5]])] }
        guard case .string("f32") = to, x.dtype == .bf16, group == 1, xs[4] % 2 == 0 else {
            throw ShapeError(
                "conv-nchwc's 'to' may only be \"f32\", on bf16 operands in blocks of whole pairs and one group "
                    + "(got \(to) on \(x.dtype), \(xs[4]) per block, group \(group))")
        }
        return [TensorType(.f32, [xs[0], ws[0]] + win.output + [ws[5]])]
    }

    /// The input blocks [lo, hi) that output block `ob` of a grouped `conv-nchwc` reads: the
    /// groups its `y` output channels belong to, their input channels rounded out to blocks of
    /// `x` (all blocks when `group` is 1). Weights hold `groupedInBlockSpan` blocks per output
    /// block, from lo on, zero outside the group.
    public static func groupedInBlocks(
        _ ob: Int, inChannels c: Int, outChannels m: Int, group: Int, x: Int, y: Int
    ) -> Range<Int> {
        guard group > 1 else { return 0..<(c / x) }
        let (cg, mg) = (c / group, m / group)
        let g0 = ob * y / mg, g1 = (ob * y + y - 1) / mg
        return (g0 * cg / x)..<(((g1 + 1) * cg + x - 1) / x)
    }

    /// Input blocks held per output block of a grouped `conv-nchwc`'s weights: the widest range.
    public static func groupedInBlockSpan(inChannels c: Int, outChannels m: Int, group: Int, x: Int, y: Int) -> Int {
        guard group > 1, c % group == 0, m % group == 0, m % y == 0 else { return c / x }
        return (0..<(m / y)).map { groupedInBlocks($0, inChannels: c, outChannels: m, group: group, x: x, y: y).count }
            .max() ?? 0
    }

    static let pool: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0]
        guard x.rank >= 3, let xs = x.shape, let k = q.attributes.ints("kernel") else {
            throw ShapeError("pooling needs a static input [N,C,...] and 'kernel'")
        }
        let win = try window(
            input: Array(xs[2...]), kernel: k, attributes: q.attributes,
            ceilMode: q.attributes.bool("ceil_mode") ?? false)
        // A max pool of quantized values keeps their parameters.
        return [TensorType(x.dtype, Array(xs[..<2]) + win.output, quant: x.quant)]
    }

    static let depthwiseNCHWc: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0], w = q.operands[1]
        guard x.dtype == w.dtype else {
            throw ShapeError("operand types differ: \(x.dtype.rawValue) and \(w.dtype.rawValue)")
        }
        guard x.rank == 5, w.rank == 4, let xs = x.shape, let ws = w.shape, xs[4] > 0, ws[0] == xs[1], ws[3] == xs[4]
        else {
            throw ShapeError(
                "depthwise-conv-nchwc needs static input [N, C/b, H, W, b] and weights [C/b, kh, kw, b], got "
                    + "\(fmt(x.dims)) and \(fmt(w.dims))"
            )
        }
        let win = try window(input: [xs[2], xs[3]], kernel: [ws[1], ws[2]], attributes: q.attributes, ceilMode: false)
        return [TensorType(x.dtype, [xs[0], xs[1]] + win.output + [xs[4]])]
    }

    static let poolNCHWc: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0]
        guard x.rank == 5, let xs = x.shape, let k = q.attributes.ints("kernel"), xs[4] > 0 else {
            throw ShapeError("blocked pooling needs a static input [N, C/b, H, W, b] with b > 0 and 'kernel'")
        }
        let win = try window(
            input: [xs[2], xs[3]], kernel: k, attributes: q.attributes,
            ceilMode: q.attributes.bool("ceil_mode") ?? false)
        // A max pool of quantized values keeps their parameters.
        return [TensorType(x.dtype, [xs[0], xs[1]] + win.output + [xs[4]], quant: x.quant)]
    }

    static let layerNorm: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0]
        let axis = try axis(q.attributes.int("axis") ?? -1, rank: x.rank)
        let normalized = Array(x.dims[axis...])
        for t in q.operands.dropFirst() {
            guard t.dtype == x.dtype, t.dims == normalized else {
                throw ShapeError("layer-norm scale and bias must be \(TensorType(x.dtype, normalized)), got \(t)")
            }
        }
        return [x]
    }

    static let argReduce: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        let axis = try axis(q.attributes.int("axis") ?? 0, rank: t.rank)
        var dims = t.dims
        if q.attributes.bool("keepdims") ?? false { dims[axis] = .fixed(1) } else { dims.remove(at: axis) }
        return [TensorType(.i64, dims)]
    }
}
