import SinterIR

/// Constants, shapes and data movement.
extension Converters {
    static func axis(_ a: Int, _ rank: Int, _ n: ONNXNode) throws(SinterError) -> Int {
        do throws(ShapeError) { return try ShapeRules.axis(a, rank: rank) } catch { throw n.error(error.message) }
    }

    /// Axes from the attribute (older opsets) or from a constant input (newer ones).
    static func axesInput(_ ctx: ImportContext, _ n: ONNXNode, input: Int, attributeUntil opset: Int)
        throws(SinterError) -> [Int]?
    {
        if n.opset < opset { return n.ints("axes") }
        return try ctx.constantInput(n, input, "axes")?.ints
    }

    static func reshape(_ ctx: ImportContext, _ x: ValueID, _ shape: [Int], _ name: String, _ n: ONNXNode)
        throws(SinterError) -> ValueID
    {
        if ctx.type(x).shape == shape { return try ctx.emit(.identity, [x], name: name, at: n) }
        return try ctx.emit(.reshape, [x], attrs(["shape": .ints(shape)]), name: name, at: n)
    }

    /// x[start:end:step] along `axis` (which must be static), every other axis whole.
    static func slice(
        _ ctx: ImportContext, _ x: ValueID, axis: Int, _ start: Int, _ end: Int, step: Int = 1, _ name: String,
        _ n: ONNXNode
    ) throws(SinterError) -> ValueID {
        let s = try ctx.staticShape(x, n)
        guard s.indices.contains(axis) else { throw n.error("needs an axis \(axis) on an input of shape \(s)") }
        var starts = Array(repeating: 0, count: s.count), ends = s, steps = Array(repeating: 1, count: s.count)
        (starts[axis], ends[axis], steps[axis]) = (start, end, step)
        let a = attrs(["starts": .ints(starts), "ends": .ints(ends), "steps": .ints(steps)])
        return try ctx.emit(.slice, [x], a, name: name, at: n)
    }

    static func constantValue(_ n: ONNXNode, _ ctx: ImportContext) throws(SinterError) -> TensorData {
        if let t = n.attribute("value") { return try t.t.tensorData(directory: ctx.directory, location: n.location) }
        if let a = n.attribute("value_float") { return TensorData([a.f], shape: []) }
        if let a = n.attribute("value_floats") { return TensorData(a.floats, shape: [a.floats.count]) }
        if let a = n.attribute("value_int") { return TensorData(dtype: .i64, shape: [], values: [Double(a.i)]) }
        if let a = n.attribute("value_ints") {
            return TensorData(dtype: .i64, shape: [a.ints.count], values: a.ints.map { Double($0) })
        }
        throw n.error("Constant without a supported value attribute (sparse and string values are not supported)")
    }

    static let shapes: [String: Converter] = [
        "Constant": { ctx, n throws(SinterError) in [try ctx.constant(try constantValue(n, ctx), name: out(n))] },
        "Shape": { ctx, n throws(SinterError) in
            let s = try ctx.staticShape(try ctx.input(n, 0), n)
            let r = s.count
            var start = n.int("start", default: 0), end = n.int("end", default: r)
            start = min(max(start < 0 ? start + r : start, 0), r)
            end = min(max(end < 0 ? end + r : end, 0), r)
            let dims = start < end ? Array(s[start..<end]) : []
            return [
                try ctx.constant(
                    TensorData(dtype: .i64, shape: [dims.count], values: dims.map(Double.init)), name: out(n))
            ]
        },
        "ConstantOfShape": { ctx, n throws(SinterError) in
            guard let shapeT = try ctx.constantInput(n, 0, "shape") else { throw n.error("needs a shape input") }
            let shape = shapeT.ints
            var value = TensorData([0], shape: [1])
            if let t = n.attribute("value") {
                value = try t.t.tensorData(directory: ctx.directory, location: n.location)
            }
            guard shape.allSatisfy({ $0 >= 0 }), checkedProduct(shape) != nil else {
                throw n.error("invalid shape \(shape)")
            }
            // A broadcast scalar: small results fold to constants, huge ones stay a fill.
            let scalar = try ctx.constant(
                TensorData(dtype: value.dtype, shape: [], values: [value.doubles.first ?? 0]), name: "\(out(n)).value")
            return [try ctx.emit(.expand, [scalar], attrs(["shape": .ints(shape)]), name: out(n), at: n)]
        },
        "Range": { ctx, n throws(SinterError) in
            guard let s = try ctx.constantInput(n, 0, "start"), let l = try ctx.constantInput(n, 1, "limit"),
                let d = try ctx.constantInput(n, 2, "delta")
            else { throw n.error("needs start, limit and delta") }
            guard s.count == 1, l.count == 1, d.count == 1 else {
                throw n.error("start, limit and delta must be scalars")
            }
            let start = s.doubles[0], limit = l.doubles[0], delta = d.doubles[0]
            guard delta != 0, start.isFinite, limit.isFinite, delta.isFinite else {
                throw n.error("start, limit and delta must be finite, delta non-zero")
            }
            let steps = ((limit - start) / delta).rounded(.up)
            guard steps <= Double(1 << 24) else { throw n.error("Range would have \(steps) elements") }
            let count = steps > 0 ? Int(steps) : 0
            return [
                try ctx.constant(
                    TensorData(dtype: s.dtype, shape: [count], values: (0..<count).map { start + Double($0) * delta }),
                    name: out(n))
            ]
        },
        "Reshape": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let inShape = try ctx.staticShape(x, n)
            let target: [Int]
            if n.opset < 5 {
                target = n.ints("shape") ?? []
            } else {
                guard let t = try ctx.constantInput(n, 1, "shape") else { throw n.error("needs a shape") }
                target = t.ints
            }
            let allowZero = n.int("allowzero", default: 0) == 1
            // 0 copies the input dimension (unless allowzero); -1 is inferred by the IR.
            let shape = target.enumerated().map { i, d in d == 0 && !allowZero && i < inShape.count ? inShape[i] : d }
            guard let known = checkedProduct(shape.filter { $0 != -1 }), let total = checkedProduct(inShape) else {
                throw n.error("reshape to \(shape) is too large")
            }
            let resolved = shape.map { $0 == -1 && known > 0 ? total / known : $0 }
            return [try reshape(ctx, x, resolved, out(n), n)]
        },
        "Flatten": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n)
            let raw = n.int("axis", default: 1)
            let a = raw < 0 ? raw + s.count : raw
            guard (0...s.count).contains(a) else { throw n.error("axis \(raw) is out of range for rank \(s.count)") }
            guard let rows = checkedProduct(Array(s[..<a])), let cols = checkedProduct(Array(s[a...])) else {
                throw n.error("input shape \(s) has more elements than a tensor can hold")
            }
            return [try reshape(ctx, x, [rows, cols], out(n), n)]
        },
        "Squeeze": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n)
            let given = try axesInput(ctx, n, input: 1, attributeUntil: 13)
            var drop = Set<Int>()
            for a in given ?? s.indices.filter({ s[$0] == 1 }) {
                let k = try axis(a, s.count, n)
                guard s[k] == 1 else { throw n.error("cannot squeeze axis \(a) of size \(s[k])") }
                drop.insert(k)
            }
            return [try reshape(ctx, x, s.indices.filter { !drop.contains($0) }.map { s[$0] }, out(n), n)]
        },
        "Unsqueeze": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n)
            guard let given = try axesInput(ctx, n, input: 1, attributeUntil: 13) else { throw n.error("needs axes") }
            let rank = s.count + given.count
            var axes = Set<Int>()
            for a in given { axes.insert(try axis(a, rank, n)) }
            var it = s.makeIterator()
            let shape = (0..<rank).map { axes.contains($0) ? 1 : (it.next() ?? 1) }
            return [try reshape(ctx, x, shape, out(n), n)]
        },
        "Transpose": { ctx, n throws(SinterError) in
            var a = Attributes()
            if let p = n.ints("perm") { a["perm"] = .ints(p) }
            return [try ctx.emit(.transpose, [try ctx.input(n, 0)], a, name: out(n), at: n)]
        },
        "Concat": { ctx, n throws(SinterError) in
            var inputs: [ValueID] = []
            for i in 0..<n.inputCount { inputs.append(try ctx.input(n, i)) }
            guard let a = n.int("axis") else { throw n.error("needs an axis") }
            return [try ctx.emit(.concat, inputs, attrs(["axis": .int(a)]), name: out(n), at: n)]
        },
        "Split": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n)
            let a = try axis(n.int("axis", default: 0), s.count, n)
            let parts = n.proto.output.count
            var sizes: [Int]
            if n.opset < 13, let split = n.ints("split") {
                sizes = split
            } else if n.opset >= 13, let t = try ctx.constantInput(n, 1, "split") {
                sizes = t.ints
            } else {
                let k = n.int("num_outputs") ?? parts
                guard k == parts, k >= 1 else { throw n.error("num_outputs \(k) does not match \(parts) outputs") }
                let chunk = (s[a] + k - 1) / k
                sizes = (0..<k).map { min(chunk, max(s[a] - $0 * chunk, 0)) }
            }
            guard sizes.count == parts, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, { $0 &+ $1 }) == s[a] else {
                throw n.error(
                    "split sizes \(sizes.prefix(8))\(sizes.count > 8 ? "..." : "") must be \(parts) "
                        + "non-negative sizes adding up to \(s[a]), the size of axis \(a)")
            }
            let names = (0..<sizes.count).map { out(n, $0) }
            return try ctx.emit(.split, [x], attrs(["axis": .int(a), "sizes": .ints(sizes)]), names: names, at: n).map {
                Optional($0)
            }
        },
        "Slice": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n)
            var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
            if n.opset < 10 {
                starts = n.ints("starts") ?? []
                ends = n.ints("ends") ?? []
                axes = n.ints("axes")
            } else {
                starts = try ctx.constantInput(n, 1, "starts")?.ints ?? []
                ends = try ctx.constantInput(n, 2, "ends")?.ints ?? []
                axes = try ctx.constantInput(n, 3, "axes")?.ints
                steps = try ctx.constantInput(n, 4, "steps")?.ints
            }
            var fullStarts = Array(repeating: 0, count: s.count), fullEnds = s,
                fullSteps = Array(repeating: 1, count: s.count)
            let ax = axes ?? Array(0..<starts.count)
            guard ax.count == starts.count, ends.count == starts.count, (steps?.count ?? starts.count) == starts.count
            else {
                throw n.error("starts, ends, axes and steps must have equal lengths")
            }
            for (i, a) in ax.enumerated() {
                let k = try axis(a, s.count, n)
                // Clamp huge sentinels (INT64_MAX/MIN) so the IR's arithmetic stays in range.
                fullStarts[k] = max(min(starts[i], 1 << 40), -(1 << 40))
                fullEnds[k] = max(min(ends[i], 1 << 40), -(1 << 40))
                fullSteps[k] = steps?[i] ?? 1
            }
            return [
                try ctx.emit(
                    .slice, [x],
                    attrs(["starts": .ints(fullStarts), "ends": .ints(fullEnds), "steps": .ints(fullSteps)]),
                    name: out(n), at: n)
            ]
        },
        "Gather": { ctx, n throws(SinterError) in
            [
                try ctx.emit(
                    .gather, [try ctx.input(n, 0), try ctx.input(n, 1)],
                    attrs(["axis": .int(n.int("axis", default: 0))]),
                    name: out(n), at: n)
            ]
        },
        "Expand": { ctx, n throws(SinterError) in
            guard let shape = try ctx.constantInput(n, 1, "shape")?.ints else { throw n.error("needs a shape") }
            return [try ctx.emit(.expand, [try ctx.input(n, 0)], attrs(["shape": .ints(shape)]), name: out(n), at: n)]
        },
        "Tile": { ctx, n throws(SinterError) in
            guard let reps = try ctx.constantInput(n, 1, "repeats")?.ints else { throw n.error("needs repeats") }
            return [try ctx.emit(.tile, [try ctx.input(n, 0)], attrs(["repeats": .ints(reps)]), name: out(n), at: n)]
        },
        "Pad": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let rank = ctx.type(x).rank
            var pads: [Int]
            var value = 0.0
            if n.opset < 11 {
                pads = n.ints("pads") ?? n.ints("paddings") ?? []
                value = n.float("value", default: 0)
            } else {
                pads = try ctx.constantInput(n, 1, "pads")?.ints ?? []
                value = try ctx.constantInput(n, 2, "constant_value")?.doubles.first ?? 0
                if let axes = try ctx.constantInput(n, 3, "axes")?.ints {
                    guard pads.count == 2 * axes.count else {
                        throw n.error("has \(pads.count) pads for \(axes.count) axes; needs \(2 * axes.count)")
                    }
                    var full = Array(repeating: 0, count: 2 * rank)
                    for (i, a) in axes.enumerated() {
                        let k = try axis(a, rank, n)
                        full[k] = pads[i]
                        full[k + rank] = pads[i + axes.count]
                    }
                    pads = full
                }
            }
            let mode = n.string("mode") ?? "constant"
            return [
                try ctx.emit(
                    .pad, [x], attrs(["pads": .ints(pads), "mode": .string(mode), "value": .float(value)]),
                    name: out(n), at: n)
            ]
        },
    ]
}
