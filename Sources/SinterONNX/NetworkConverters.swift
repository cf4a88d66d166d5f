import SinterIR

/// Linear algebra, convolutions, pooling, normalisation, softmax and reductions.
extension Converters {
    /// numpy matmul semantics including 1-D operands (promoted, then the added axis removed).
    static func matmul(_ ctx: ImportContext, _ a: ValueID, _ b: ValueID, _ name: String, _ n: ONNXNode)
        throws(SinterError) -> ValueID
    {
        let sa = try ctx.staticShape(a, n), sb = try ctx.staticShape(b, n)
        let a2 = sa.count == 1 ? try reshape(ctx, a, [1, sa[0]], "\(name).lhs", n) : a
        let b2 = sb.count == 1 ? try reshape(ctx, b, [sb[0], 1], "\(name).rhs", n) : b
        if sa.count > 1 && sb.count > 1 { return try ctx.emit(.matmul, [a2, b2], name: name, at: n) }
        let y = try ctx.emit(.matmul, [a2, b2], name: "\(name).2d", at: n)
        var shape = try ctx.staticShape(y, n)
        if sb.count == 1 { shape.removeLast() }
        if sa.count == 1 { shape.remove(at: shape.count - (sb.count == 1 ? 1 : 2)) }
        return try reshape(ctx, y, shape, name, n)
    }

    /// The largest kernel, stride, dilation or padding a window attribute may hold: far above
    /// any real model's, and small enough that the window arithmetic cannot overflow.
    static let windowLimit = 1 << 20

    /// Refuses an attribute list of the wrong length or with values outside its range, before
    /// any arithmetic indexes or multiplies it.
    static func checkLists(_ n: ONNXNode, _ lists: [(name: String, values: [Int], count: Int, range: ClosedRange<Int>)])
        throws(SinterError)
    {
        for l in lists where l.values.count != l.count || !l.values.allSatisfy(l.range.contains) {
            throw n.error(
                "\(l.name) must be \(l.count) values in \(l.range.lowerBound)...\(l.range.upperBound), got \(l.values)")
        }
    }

    /// Explicit pads for auto_pad SAME_UPPER / SAME_LOWER / VALID (NOTSET keeps `pads`).
    static func pads(_ n: ONNXNode, input: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws(SinterError)
        -> [Int]
    {
        let d = input.count
        let mode = n.string("auto_pad") ?? "NOTSET"
        switch mode {
        case "NOTSET": return n.ints("pads") ?? Array(repeating: 0, count: 2 * d)
        case "VALID": return Array(repeating: 0, count: 2 * d)
        case "SAME_UPPER", "SAME_LOWER":
            let sizes = 1...windowLimit
            try checkLists(
                n,
                [
                    ("kernel_shape", kernel, d, sizes), ("strides", strides, d, sizes),
                    ("dilations", dilations, d, sizes),
                ])
            var begin: [Int] = [], end: [Int] = []
            for i in 0..<d {
                let outSize = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (outSize - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i])
                let small = total / 2
                begin.append(mode == "SAME_UPPER" ? small : total - small)
                end.append(mode == "SAME_UPPER" ? total - small : small)
            }
            return begin + end
        default: throw n.error("auto_pad '\(mode)' is not supported")
        }
    }

    static func windowAttributes(_ n: ONNXNode, input: [Int], kernel: [Int]) throws(SinterError) -> [String:
        AttributeValue]
    {
        let d = input.count
        let strides = n.ints("strides") ?? Array(repeating: 1, count: d)
        let dilations = n.ints("dilations") ?? Array(repeating: 1, count: d)
        let p = try pads(n, input: input, kernel: kernel, strides: strides, dilations: dilations)
        return ["strides": .ints(strides), "dilations": .ints(dilations), "pads": .ints(p)]
    }

    /// Adds a per-channel vector to an NC[spatial] tensor.
    static func addChannelBias(_ ctx: ImportContext, _ y: ValueID, _ bias: ValueID, _ name: String, _ n: ONNXNode)
        throws(SinterError) -> ValueID
    {
        let rank = ctx.type(y).rank
        let c = try ctx.staticShape(bias, n).reduce(1, *)
        let b = try reshape(ctx, bias, [c] + Array(repeating: 1, count: max(rank - 2, 0)), "\(name).bias", n)
        return try ctx.emit(.add, [y, b], name: name, at: n)
    }

    static func reduction(_ op: Op) -> Converter {
        { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let keep = n.int("keepdims", default: 1) == 1
            let axesFromInput = op == .reduceSum ? 13 : 18
            var axes = try axesInput(ctx, n, input: 1, attributeUntil: axesFromInput)
            if axes?.isEmpty ?? false { axes = nil }
            if axes == nil && n.int("noop_with_empty_axes", default: 0) == 1 {
                return [try ctx.emit(.identity, [x], name: out(n), at: n)]
            }
            var a = attrs(["keepdims": .bool(keep)])
            if let axes { a["axes"] = .ints(axes) }
            // Bool max/min (any/all) run on 0/1 floats.
            if ctx.type(x).dtype == .bool && (op == .reduceMax || op == .reduceMin) {
                let f = try ctx.emit(.cast, [x], attrs(["to": .string("f32")]), name: "\(out(n)).f32", at: n)
                let r = try ctx.emit(op, [f], a, name: "\(out(n)).reduced", at: n)
                return [try ctx.emit(.cast, [r], attrs(["to": .string("bool")]), name: out(n), at: n)]
            }
            return [try ctx.emit(op, [x], a, name: out(n), at: n)]
        }
    }

    static func argReduction(_ op: Op) -> Converter {
        { ctx, n throws(SinterError) in
            [
                try ctx.emit(
                    op, [try ctx.input(n, 0)],
                    attrs([
                        "axis": .int(n.int("axis", default: 0)),
                        "keepdims": .bool(n.int("keepdims", default: 1) == 1),
                        "select_last_index": .bool(n.int("select_last_index", default: 0) == 1),
                    ]),
                    name: out(n), at: n)
            ]
        }
    }

    /// Softmax and LogSoftmax: before opset 13 the input is coerced to 2-D at `axis`.
    static func softmax(_ op: Op) -> Converter {
        { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            if n.opset >= 13 {
                return [try ctx.emit(op, [x], attrs(["axis": .int(n.int("axis", default: -1))]), name: out(n), at: n)]
            }
            let s = try ctx.staticShape(x, n)
            let a = try axis(n.int("axis", default: 1), s.count, n)
            let flat = try reshape(ctx, x, [s[..<a].reduce(1, *), s[a...].reduce(1, *)], "\(out(n)).2d", n)
            let y = try ctx.emit(op, [flat], attrs(["axis": .int(-1)]), name: "\(out(n)).flat", at: n)
            return [try reshape(ctx, y, s, out(n), n)]
        }
    }

    /// (x − mean) / sqrt(var + eps) over `axes`, all kept as size-1 dims; also returns the
    /// mean and the standard deviation.
    static func normalize(
        _ ctx: ImportContext, _ x: ValueID, axes: [Int], epsilon: Double, _ name: String, _ n: ONNXNode
    )
        throws(SinterError) -> ValueID
    {
        try normalizeWithStatistics(ctx, x, axes: axes, epsilon: epsilon, name, n).normalized
    }

    static func normalizeWithStatistics(
        _ ctx: ImportContext, _ x: ValueID, axes: [Int], epsilon: Double, _ name: String, _ n: ONNXNode
    )
        throws(SinterError) -> (normalized: ValueID, mean: ValueID, std: ValueID)
    {
        let dtype = ctx.type(x).dtype
        let reduce = attrs(["axes": .ints(axes), "keepdims": .bool(true)])
        let mean = try ctx.emit(.reduceMean, [x], reduce, name: "\(name).mean", at: n)
        let centered = try ctx.emit(.sub, [x, mean], name: "\(name).centered", at: n)
        let square = try ctx.emit(.mul, [centered, centered], name: "\(name).square", at: n)
        let variance = try ctx.emit(.reduceMean, [square], reduce, name: "\(name).var", at: n)
        let eps = try ctx.scalar(epsilon, dtype, name: "\(name).eps")
        let std = try ctx.emit(
            .sqrt, [try ctx.emit(.add, [variance, eps], name: "\(name).var_eps", at: n)], name: "\(name).std", at: n)
        return (try ctx.emit(.div, [centered, std], name: "\(name).normalized", at: n), mean, std)
    }

    static let networks: [String: Converter] = [
        "MatMul": { ctx, n throws(SinterError) in [try matmul(ctx, try ctx.input(n, 0), try ctx.input(n, 1), out(n), n)]
        },
        "Gemm": { ctx, n throws(SinterError) in
            let name = out(n)
            var a = try ctx.input(n, 0), b = try ctx.input(n, 1)
            if n.int("transA", default: 0) == 1 { a = try ctx.emit(.transpose, [a], name: "\(name).At", at: n) }
            if n.int("transB", default: 0) == 1 { b = try ctx.emit(.transpose, [b], name: "\(name).Bt", at: n) }
            let alpha = n.float("alpha", default: 1), beta = n.float("beta", default: 1)
            let c = try ctx.optionalInput(n, 2)
            let dtype = ctx.type(a).dtype
            var y = try ctx.emit(.matmul, [a, b], name: c == nil && alpha == 1 ? name : "\(name).ab", at: n)
            if alpha != 1 {
                y = try ctx.emit(
                    .mul, [y, try ctx.scalar(alpha, dtype, name: "\(name).alpha")],
                    name: c == nil ? name : "\(name).alpha_ab", at: n)
            }
            if var c {
                if beta != 1 {
                    c = try ctx.emit(
                        .mul, [c, try ctx.scalar(beta, dtype, name: "\(name).beta")], name: "\(name).beta_c", at: n)
                }
                y = try ctx.emit(.add, [y, c], name: name, at: n)
            }
            return [y]
        },
        "Conv": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0), w = try ctx.input(n, 1)
            let xs = try ctx.staticShape(x, n), ws = try ctx.staticShape(w, n)
            guard xs.count >= 3, ws.count == xs.count else {
                throw n.error("Conv needs input [N,C,...] and weights of the same rank")
            }
            var a = try windowAttributes(n, input: Array(xs[2...]), kernel: Array(ws[2...]))
            a["group"] = .int(n.int("group", default: 1))
            let bias = try ctx.optionalInput(n, 2)
            let y = try ctx.emit(.conv, [x, w], attrs(a), name: bias == nil ? out(n) : "\(out(n)).conv", at: n)
            return [bias == nil ? y : try addChannelBias(ctx, y, bias!, out(n), n)]
        },
        "MaxPool": pool(.maxPool),
        "AveragePool": pool(.avgPool),
        "GlobalAveragePool": globalPool(.reduceMean),
        "GlobalMaxPool": globalPool(.reduceMax),
        "BatchNormalization": { ctx, n throws(SinterError) in
            // Training mode, or loaded for training: the IR's batch-norm (batch statistics; the
            // running ones updated as results 1 and 2, which the train step keeps as state).
            if n.output(1) != nil || n.int("training_mode", default: 0) == 1 || ctx.keepInitializers {
                return try trainingBatchNorm(ctx, n)
            }
            let x = try ctx.input(n, 0)
            let eps = n.float("epsilon", default: 1e-5)
            let channels = try ctx.staticShape(try ctx.input(n, 1), n).reduce(1, *)
            let params = [try ctx.input(n, 1), try ctx.input(n, 2), try ctx.input(n, 3), try ctx.input(n, 4)]
            let rank = ctx.type(x).rank
            let shape = [channels] + Array(repeating: 1, count: max(rank - 2, 0))
            // y = x·a + b with a = scale / sqrt(var + eps), b = bias − mean·a (folded when constant).
            let name = out(n)
            let scale = try reshape(ctx, params[0], shape, "\(name).scale", n)
            let bias = try reshape(ctx, params[1], shape, "\(name).bias", n)
            let mean = try reshape(ctx, params[2], shape, "\(name).mean", n)
            let variance = try reshape(ctx, params[3], shape, "\(name).var", n)
            let dtype = ctx.type(variance).dtype
            let std = try ctx.emit(
                .sqrt,
                [
                    try ctx.emit(
                        .add, [variance, try ctx.scalar(eps, dtype, name: "\(name).eps")],
                        name: "\(name).var_eps", at: n)
                ], name: "\(name).std", at: n)
            let mul = try ctx.emit(.div, [scale, std], name: "\(name).a", at: n)
            let shift = try ctx.emit(
                .sub, [bias, try ctx.emit(.mul, [mean, mul], name: "\(name).mean_a", at: n)], name: "\(name).b", at: n)
            let scaled = try ctx.emit(.mul, [x, mul], name: "\(name).xa", at: n)
            return [try ctx.emit(.add, [scaled, shift], name: name, at: n)]
        },
        "LayerNormalization": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let rank = ctx.type(x).rank
            let a = try axis(n.int("axis", default: -1), rank, n)
            let name = out(n)
            // One fused kernel when the statistics outputs are not needed and x is f32.
            if n.output(1) == nil && n.output(2) == nil && ctx.type(x).dtype == .f32 {
                let normalized = try ctx.staticShape(x, n).suffix(rank - a)
                func full(_ v: ValueID?, _ fill: Double, _ tag: String) throws(SinterError) -> ValueID {
                    guard let v else {
                        return try ctx.constant(
                            TensorData(
                                dtype: .f32, shape: Array(normalized),
                                values: Array(repeating: fill, count: normalized.reduce(1, *))), name: "\(name).\(tag)")
                    }
                    if try ctx.staticShape(v, n) == Array(normalized) { return v }
                    return try ctx.emit(
                        .expand, [v], attrs(["shape": .ints(Array(normalized))]), name: "\(name).\(tag)", at: n)
                }
                let scale = try full(try ctx.optionalInput(n, 1), 1, "scale"),
                    bias = try full(try ctx.optionalInput(n, 2), 0, "bias")
                return [
                    try ctx.emit(
                        .layerNorm, [x, scale, bias],
                        attrs(["axis": .int(a), "epsilon": .float(n.float("epsilon", default: 1e-5))]),
                        name: name, at: n)
                ]
            }
            let stats = try normalizeWithStatistics(
                ctx, x, axes: Array(a..<rank), epsilon: n.float("epsilon", default: 1e-5), name, n)
            let bias = try ctx.optionalInput(n, 2)
            var y = try ctx.emit(
                .mul, [stats.normalized, try ctx.input(n, 1)], name: bias == nil ? name : "\(name).scaled", at: n)
            if let bias { y = try ctx.emit(.add, [y, bias], name: name, at: n) }
            let invStd = n.output(2) == nil ? nil : try ctx.emit(.reciprocal, [stats.std], name: out(n, 2), at: n)
            return [y, stats.mean, invStd]
        },
        "InstanceNormalization": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let rank = ctx.type(x).rank
            guard rank >= 3 else { throw n.error("needs an input of rank >= 3 ([N, C, spatial...])") }
            let name = out(n)
            let y = try normalize(ctx, x, axes: Array(2..<rank), epsilon: n.float("epsilon", default: 1e-5), name, n)
            let c = try ctx.staticShape(try ctx.input(n, 1), n).reduce(1, *)
            let shape = [c] + Array(repeating: 1, count: rank - 2)
            let scale = try reshape(ctx, try ctx.input(n, 1), shape, "\(name).scale", n)
            let scaled = try ctx.emit(.mul, [y, scale], name: "\(name).scaled", at: n)
            return [try addChannelBias(ctx, scaled, try ctx.input(n, 2), name, n)]
        },
        "LRN": { ctx, n throws(SinterError) in
            // y = x / (bias + alpha/size · Σ_window x²)^beta, the window over channels.
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n)
            guard let size = n.int("size"), (1...Converters.unrollLimit).contains(size), s.count >= 3 else {
                throw n.error("LRN needs size in 1...\(Converters.unrollLimit) and input [N,C,...]")
            }
            let name = out(n)
            let dtype = ctx.type(x).dtype
            let square = try ctx.emit(.mul, [x, x], name: "\(name).sq", at: n)
            var pads = Array(repeating: 0, count: 2 * s.count)
            pads[1] = (size - 1) / 2
            pads[1 + s.count] = size - 1 - (size - 1) / 2
            let padded = try ctx.emit(.pad, [square], attrs(["pads": .ints(pads)]), name: "\(name).padded", at: n)
            var sum: ValueID?
            for i in 0..<size {
                var starts = Array(repeating: 0, count: s.count), ends = s
                starts[1] = i
                ends[1] = i + s[1]
                let part = try ctx.emit(
                    .slice, [padded], attrs(["starts": .ints(starts), "ends": .ints(ends)]), name: "\(name).win\(i)",
                    at: n)
                sum =
                    try sum.map { acc throws(SinterError) in
                        try ctx.emit(.add, [acc, part], name: "\(name).sum\(i)", at: n)
                    } ?? part
            }
            let alpha = n.float("alpha", default: 1e-4), beta = n.float("beta", default: 0.75),
                bias = n.float("bias", default: 1)
            let scaled = try ctx.emit(
                .mul, [sum!, try ctx.scalar(alpha / Double(size), dtype, name: "\(name).alpha")],
                name: "\(name).scaled", at: n)
            let base = try ctx.emit(
                .add, [scaled, try ctx.scalar(bias, dtype, name: "\(name).bias")], name: "\(name).base", at: n)
            let denom = try ctx.emit(
                .pow, [base, try ctx.scalar(beta, dtype, name: "\(name).beta")], name: "\(name).denom", at: n)
            return [try ctx.emit(.div, [x, denom], name: name, at: n)]
        },
        "Attention": attention,
        "RNN": recurrent(.rnn),
        "GRU": recurrent(.gru),
        "LSTM": recurrent(.lstm),
        "ConvTranspose": convTranspose,
        "Resize": resize,
        "Upsample": upsample,
        "Softmax": softmax(.softmax),
        "LogSoftmax": softmax(.logSoftmax),
        "ReduceSum": reduction(.reduceSum),
        "ReduceMean": reduction(.reduceMean),
        "ReduceMax": reduction(.reduceMax),
        "ReduceMin": reduction(.reduceMin),
        "ReduceProd": reduction(.reduceProd),
        "ReduceL2": reduction(.reduceL2),
        "ArgMax": argReduction(.argMax),
        "ArgMin": argReduction(.argMin),
    ]

    static func pool(_ op: Op) -> Converter {
        { ctx, n throws(SinterError) in
            if n.output(1) != nil { throw n.error("the Indices output of MaxPool is not supported") }
            if n.int("storage_order", default: 0) != 0 { throw n.error("storage_order = 1 is not supported") }
            let x = try ctx.input(n, 0)
            let xs = try ctx.staticShape(x, n)
            guard let kernel = n.ints("kernel_shape"), xs.count >= 3, kernel.count == xs.count - 2 else {
                throw n.error("needs kernel_shape with one entry per spatial axis")
            }
            var a = try windowAttributes(n, input: Array(xs[2...]), kernel: kernel)
            a["kernel"] = .ints(kernel)
            a["ceil_mode"] = .bool(n.int("ceil_mode", default: 0) == 1)
            if op == .avgPool { a["count_include_pad"] = .bool(n.int("count_include_pad", default: 0) == 1) }
            return [try ctx.emit(op, [x], attrs(a), name: out(n), at: n)]
        }
    }

    static func globalPool(_ op: Op) -> Converter {
        { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let rank = ctx.type(x).rank
            guard rank >= 3 else { throw n.error("needs an input of rank >= 3 ([N, C, spatial...])") }
            return [
                try ctx.emit(
                    op, [x], attrs(["axes": .ints(Array(2..<rank)), "keepdims": .bool(true)]), name: out(n), at: n)
            ]
        }
    }
}

extension Converters {
    /// ConvTranspose as a convolution: the input is dilated by the stride (zeros between
    /// elements), padded by (k−1)·d minus the given pads (plus output_padding), and convolved
    /// with the weights transposed per group and flipped in space (all folded at import).
    static let convTranspose: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        let x = try ctx.input(n, 0), w = try ctx.input(n, 1)
        let xs = try ctx.staticShape(x, n), ws = try ctx.staticShape(w, n)
        let d = xs.count - 2
        guard d >= 1, ws.count == xs.count else {
            throw n.error("ConvTranspose needs input [N,C,...] and weights [C,M/group,...]")
        }
        let group = n.int("group", default: 1)
        guard group >= 1, group <= max(ws[0], 1), ws[0] % group == 0 else {
            throw n.error("group \(group) must be positive and divide the \(ws[0]) input channels")
        }
        let kernel = Array(ws[2...])
        let strides = n.ints("strides") ?? Array(repeating: 1, count: d)
        let dilations = n.ints("dilations") ?? Array(repeating: 1, count: d)
        let outputPadding = n.ints("output_padding") ?? Array(repeating: 0, count: d)
        var pads = n.ints("pads") ?? Array(repeating: 0, count: 2 * d)
        // Attribute lists of the wrong length or with absurd values (a fuzzed model) are
        // refused here, before any of the arithmetic below could index or overflow.
        let limit = windowLimit
        try checkLists(
            n,
            [
                ("strides", strides, d, 1...limit), ("dilations", dilations, d, 1...limit),
                ("output_padding", outputPadding, d, 0...limit), ("pads", pads, 2 * d, -limit...limit),
            ])
        if let shape = n.ints("output_shape"), shape.count < d || !shape.suffix(d).allSatisfy((0...limit).contains) {
            throw n.error("output_shape must end with \(d) sizes in 0...\(limit), got \(shape)")
        }
        guard kernel.allSatisfy((1...limit).contains), xs.allSatisfy((0...limit).contains) else {
            throw n.error("kernel \(kernel) or input \(xs) too large for a transposed convolution")
        }
        let span = (0..<d).map { (kernel[$0] - 1) * dilations[$0] + 1 }
        let autoPad = n.string("auto_pad") ?? "NOTSET"
        if let shape = n.ints("output_shape") {
            let target = Array(shape.suffix(d))
            for i in 0..<d {
                let total = strides[i] * (xs[i + 2] - 1) + outputPadding[i] + span[i] - target[i]
                let half = Int((Double(total) / 2).rounded(.down))  // floor, as the reference does for negative totals
                pads[i] = autoPad == "SAME_UPPER" ? half : total - half
                pads[i + d] = autoPad == "SAME_UPPER" ? total - half : half
            }
        } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            for i in 0..<d {
                let total = max(0, strides[i] * (xs[i + 2] - 1) + outputPadding[i] + span[i] - xs[i + 2] * strides[i])
                let half = total / 2
                pads[i] = autoPad == "SAME_UPPER" ? half : total - half
                pads[i + d] = autoPad == "SAME_UPPER" ? total - half : half
            }
        } else if autoPad == "VALID" {
            pads = Array(repeating: 0, count: 2 * d)
        }
        // Dilate by the stride along each spatial axis.
        var z = x
        for i in 0..<d where strides[i] > 1 {
            let s = try ctx.staticShape(z, n)
            let axis = i + 2
            let outer = s[..<axis].reduce(1, *), len = s[axis], inner = s[(axis + 1)...].reduce(1, *)
            let r = try reshape(ctx, z, [outer, len, 1, inner], "\(name).dil\(i)", n)
            let p = try ctx.emit(
                .pad, [r], attrs(["pads": .ints([0, 0, 0, 0, 0, 0, strides[i] - 1, 0])]), name: "\(name).dil\(i).pad",
                at: n)
            let flat = try reshape(ctx, p, [outer, len * strides[i], inner], "\(name).dil\(i).flat", n)
            let cut = try ctx.emit(
                .slice, [flat],
                attrs(["starts": .ints([0, 0, 0]), "ends": .ints([outer, (len - 1) * strides[i] + 1, inner])]),
                name: "\(name).dil\(i).cut", at: n)
            var newShape = s
            newShape[axis] = (len - 1) * strides[i] + 1
            z = try reshape(ctx, cut, newShape, "\(name).dil\(i).nd", n)
        }
        var padAttr = Array(repeating: 0, count: 2 * (d + 2))
        for i in 0..<d {
            padAttr[i + 2] = span[i] - 1 - pads[i]
            padAttr[i + 2 + d + 2] = span[i] - 1 - pads[i + d] + outputPadding[i]
        }
        if padAttr.contains(where: { $0 != 0 }) {
            z = try ctx.emit(.pad, [z], attrs(["pads": .ints(padAttr)]), name: "\(name).padded", at: n)
        }
        // Weights [C, M/g, k...] → [M, C/g, k...], flipped in space.
        let c = ws[0], mg = ws[1]
        let grouped = try reshape(ctx, w, [group, c / group, mg] + kernel, "\(name).wg", n)
        let swapped = try ctx.emit(
            .transpose, [grouped], attrs(["perm": .ints([0, 2, 1] + (3..<(3 + d)).map { $0 })]), name: "\(name).wt",
            at: n)
        let merged = try reshape(ctx, swapped, [group * mg, c / group] + kernel, "\(name).wm", n)
        let flipped = try ctx.emit(
            .slice, [merged],
            attrs([
                "starts": .ints([0, 0] + kernel.map { $0 - 1 }),
                "ends": .ints([group * mg, c / group] + Array(repeating: -(1 << 40), count: d)),
                "steps": .ints([1, 1] + Array(repeating: -1, count: d)),
            ]),
            name: "\(name).wflip", at: n)
        let bias = try ctx.optionalInput(n, 2)
        let y = try ctx.emit(
            .conv, [z, flipped], attrs(["dilations": .ints(dilations), "group": .int(group)]),
            name: bias == nil ? name : "\(name).conv", at: n)
        return [bias == nil ? y : try addChannelBias(ctx, y, bias!, name, n)]
    }
}

extension Converters {
    /// BatchNormalization in training mode: the IR's `batch-norm` (normalised by the batch's own
    /// mean and population variance over every axis but the channels; the running statistics
    /// updated as `input·momentum + batch·(1 − momentum)`, outputs 1 and 2 when asked for).
    static func trainingBatchNorm(_ ctx: ImportContext, _ n: ONNXNode) throws(SinterError) -> [ValueID?] {
        let operands = try (0..<5).map { i throws(SinterError) in try ctx.input(n, i) }
        let attributes = attrs([
            "epsilon": .float(n.float("epsilon", default: 1e-5)), "momentum": .float(n.float("momentum", default: 0.9)),
        ])
        let names = [out(n), n.output(1) ?? out(n) + ".running_mean", n.output(2) ?? out(n) + ".running_var"]
        let results = try ctx.emit(.batchNorm, operands, attributes, names: names, at: n)
        return [results[0], n.output(1) == nil ? nil : results[1], n.output(2) == nil ? nil : results[2]]
    }
}
