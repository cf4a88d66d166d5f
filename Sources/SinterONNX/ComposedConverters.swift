import SinterIR

/// ONNX ops that are compositions of IR ops: the normalisations and reductions written in
/// terms of others, one-hot style index ops, and the space/depth rearrangements. Each is a
/// handful of IR nodes that fusion turns back into one or two kernels, so none needs a kernel
/// of its own.
extension Converters {
    static let composed: [String: Converter] = [
        "ReduceL1": composedReduction(before: .abs, .reduceSum),
        "ReduceSumSquare": composedReduction(before: .mul, .reduceSum),
        "ReduceLogSum": composedReduction(.reduceSum, after: .log),
        "ReduceLogSumExp": reduceLogSumExp,
        "RMSNormalization": rmsNormalization,
        "LpNormalization": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let a = try axis(n.int("axis", default: -1), ctx.type(x).rank, n)
            let p = n.int("p", default: 2)
            guard p == 1 || p == 2 else { throw n.error("p must be 1 or 2, got \(p)") }
            let keep = attrs(["axes": .ints([a]), "keepdims": .bool(true)])
            let norm =
                p == 2
                ? try ctx.emit(.reduceL2, [x], keep, name: "\(out(n)).norm", at: n)
                : try ctx.emit(
                    .reduceSum, [try ctx.emit(.abs, [x], name: "\(out(n)).abs", at: n)], keep, name: "\(out(n)).norm",
                    at: n)
            return [try ctx.emit(.div, [x, norm], name: out(n), at: n)]
        },
        "Hardmax": hardmax,
        "LpPool": lpPool,
        "RotaryEmbedding": rotaryEmbedding,
        "Einsum": einsum,
        "GlobalLpPool": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let rank = ctx.type(x).rank
            guard rank >= 3 else { throw n.error("needs an input of rank >= 3 ([N, C, spatial...])") }
            let keep = attrs(["axes": .ints(Array(2..<rank)), "keepdims": .bool(true)])
            return [
                try lpNorm(ctx, x, p: n.int("p", default: 2), n) { y throws(SinterError) in
                    try ctx.emit(.reduceSum, [y], keep, name: "\(out(n)).sum", at: n)
                }
            ]
        },
        "GatherElements": gatherElements,
        "NegativeLogLikelihoodLoss": negativeLogLikelihoodLoss,
        "SoftmaxCrossEntropyLoss": softmaxCrossEntropyLoss,
        "Trilu": trilu,
        "OneHot": oneHot,
        "Swish": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let alpha = try ctx.scalar(n.float("alpha", default: 1), ctx.type(x).dtype, name: "\(out(n)).alpha")
            let ax = try ctx.emit(.mul, [x, alpha], name: "\(out(n)).ax", at: n)
            let s = try ctx.emit(.sigmoid, [ax], name: "\(out(n)).sigmoid", at: n)
            return [try ctx.emit(.mul, [x, s], name: out(n), at: n)]
        },
        "SpaceToDepth": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n), b = n.int("blocksize", default: 0)
            guard s.count == 4, blockFits(s, b),
                s[2] % b == 0, s[3] % b == 0
            else {
                throw n.error("needs a 4-D input whose H and W divide by blocksize \(b), got \(s)")
            }
            let split = try reshape(ctx, x, [s[0], s[1], s[2] / b, b, s[3] / b, b], "\(out(n)).split", n)
            // DCR (the default): block offsets outermost in the new channels; CRD: innermost.
            let perm = (n.string("mode") ?? "DCR") == "CRD" ? [0, 1, 3, 5, 2, 4] : [0, 3, 5, 1, 2, 4]
            let moved = try ctx.emit(.transpose, [split], attrs(["perm": .ints(perm)]), name: "\(out(n)).moved", at: n)
            return [try reshape(ctx, moved, [s[0], s[1] * b * b, s[2] / b, s[3] / b], out(n), n)]
        },
        "DepthToSpace": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            let s = try ctx.staticShape(x, n), b = n.int("blocksize", default: 0)
            guard s.count == 4, blockFits(s, b),
                s[1] % (b * b) == 0
            else {
                throw n.error("needs a 4-D input whose channels divide by blocksize² (blocksize \(b)), got \(s)")
            }
            let c = s[1] / (b * b)
            let crd = (n.string("mode") ?? "DCR") == "CRD"
            let split = try reshape(
                ctx, x, crd ? [s[0], c, b, b, s[2], s[3]] : [s[0], b, b, c, s[2], s[3]], "\(out(n)).split", n)
            let perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2]
            let moved = try ctx.emit(.transpose, [split], attrs(["perm": .ints(perm)]), name: "\(out(n)).moved", at: n)
            return [try reshape(ctx, moved, [s[0], c, s[2] * b, s[3] * b], out(n), n)]
        },
    ]

    /// A DepthToSpace/SpaceToDepth block size the shape arithmetic can take: at most 2^16, and
    /// every dimension (an empty one counted as 1) times b² within Int.
    static func blockFits(_ s: [Int], _ b: Int) -> Bool {
        (1...(1 << 16)).contains(b) && checkedProduct(s.map { max($0, 1) } + [b, b]) != nil
    }

    /// Elementwise work before and/or after one of the IR's reductions (ReduceL1 is |x| then a
    /// sum; `before: .mul` squares). With `noop_with_empty_axes` and no axes only the
    /// elementwise parts run.
    static func composedReduction(before pre: Op? = nil, _ op: Op, after post: Op? = nil) -> Converter {
        { ctx, n throws(SinterError) in
            var x = try ctx.input(n, 0)
            if let pre {
                x = try ctx.emit(pre, pre == .mul ? [x, x] : [x], name: "\(out(n)).pre", at: n)
            }
            var axes = try axesInput(ctx, n, input: 1, attributeUntil: 18)
            if axes?.isEmpty ?? false { axes = nil }
            var r = x
            if axes != nil || n.int("noop_with_empty_axes", default: 0) == 0 {
                var a = attrs(["keepdims": .bool(n.int("keepdims", default: 1) == 1)])
                if let axes { a["axes"] = .ints(axes) }
                r = try ctx.emit(op, [x], a, name: post == nil ? out(n) : "\(out(n)).reduced", at: n)
            }
            if let post { r = try ctx.emit(post, [r], name: out(n), at: n) }
            return [r]
        }
    }

    /// log(Σ exp(x − max)) + max, so large inputs do not overflow.
    static let reduceLogSumExp: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        let name = out(n)
        var axes = try axesInput(ctx, n, input: 1, attributeUntil: 18)
        if axes?.isEmpty ?? false { axes = nil }
        if axes == nil && n.int("noop_with_empty_axes", default: 0) == 1 {
            return [try ctx.emit(.identity, [x], name: name, at: n)]
        }
        var a = attrs(["keepdims": .bool(true)])
        if let axes { a["axes"] = .ints(axes) }
        let m = try ctx.emit(.reduceMax, [x], a, name: "\(name).max", at: n)
        let e = try ctx.emit(
            .exp, [try ctx.emit(.sub, [x, m], name: "\(name).shifted", at: n)], name: "\(name).exp", at: n)
        let s = try ctx.emit(.reduceSum, [e], a, name: "\(name).sum", at: n)
        let keep = n.int("keepdims", default: 1) == 1
        let r = try ctx.emit(
            .add, [try ctx.emit(.log, [s], name: "\(name).log", at: n), m], name: keep ? name : "\(name).kept", at: n)
        guard !keep else { return [r] }
        let shape = try ctx.staticShape(x, n)
        let reduced = Set((axes ?? Array(shape.indices)).map { ($0 + shape.count) % max(shape.count, 1) })
        return [try reshape(ctx, r, shape.indices.filter { !reduced.contains($0) }.map { shape[$0] }, name, n)]
    }

    /// X / sqrt(mean(X², axes from `axis` on) + ε) · scale, computed in f32 (stash_type 1).
    static let rmsNormalization: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        var x = try ctx.input(n, 0)
        let dtype = ctx.type(x).dtype
        let rank = ctx.type(x).rank
        let a = try axis(n.int("axis", default: -1), rank, n)
        guard n.int("stash_type", default: 1) == 1 else { throw n.error("only stash_type = 1 (f32) is supported") }
        if dtype != .f32 { x = try ctx.emit(.cast, [x], attrs(["to": .string("f32")]), name: "\(name).f32", at: n) }
        let sq = try ctx.emit(.mul, [x, x], name: "\(name).sq", at: n)
        let mean = try ctx.emit(
            .reduceMean, [sq], attrs(["axes": .ints(Array(a..<rank)), "keepdims": .bool(true)]), name: "\(name).mean",
            at: n)
        let eps = try ctx.scalar(n.float("epsilon", default: 1e-5), .f32, name: "\(name).eps")
        let rms = try ctx.emit(
            .sqrt, [try ctx.emit(.add, [mean, eps], name: "\(name).var", at: n)], name: "\(name).rms", at: n)
        var y = try ctx.emit(.div, [x, rms], name: "\(name).normalized", at: n)
        if dtype != .f32 {
            y = try ctx.emit(.cast, [y], attrs(["to": .string(dtype.rawValue)]), name: "\(name).back", at: n)
        }
        return [try ctx.emit(.mul, [y, try ctx.input(n, 1)], name: name, at: n)]
    }

    /// 1 where the first maximum along `axis` is, 0 elsewhere: arg-max compared with an iota.
    static let hardmax: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        var x = try ctx.input(n, 0)
        let shape = try ctx.staticShape(x, n)
        var a = try axis(n.int("axis", default: n.opset >= 13 ? -1 : 1), shape.count, n)
        if n.opset < 13 {  // coerced to 2-D at the axis
            x = try reshape(ctx, x, [shape[..<a].reduce(1, *), shape[a...].reduce(1, *)], "\(name).2d", n)
            a = 1
        }
        let s = try ctx.staticShape(x, n)
        let index = try ctx.emit(
            .argMax, [x], attrs(["axis": .int(a), "keepdims": .bool(true)]), name: "\(name).argmax", at: n)
        var iotaShape = Array(repeating: 1, count: s.count)
        iotaShape[a] = s[a]
        let iota = try ctx.constant(
            TensorData(dtype: .i64, shape: iotaShape, values: (0..<s[a]).map(Double.init)), name: "\(name).iota")
        let hit = try ctx.emit(.equal, [index, iota], name: "\(name).hit", at: n)
        let y = try ctx.emit(
            .cast, [hit], attrs(["to": .string(ctx.type(x).dtype.rawValue)]), name: n.opset < 13 ? "\(name).y" : name,
            at: n)
        return [n.opset < 13 ? try reshape(ctx, y, shape, name, n) : y]
    }

    /// out[p] = data[p with its `axis` coordinate replaced by indices[p]], as one gather from the
    /// flattened data: the linear index is indices·stride(axis) plus a constant offset per
    /// position (its other coordinates), computed at compile time from the static shapes.
    static let gatherElements: Converter = { ctx, n throws(SinterError) in
        [
            try gatherElements(
                ctx, try ctx.input(n, 0), try ctx.input(n, 1), axis: n.int("axis", default: 0), name: out(n), n)
        ]
    }

    static func gatherElements(
        _ ctx: ImportContext, _ data: ValueID, _ idx: ValueID, axis: Int, name: String, _ n: ONNXNode
    ) throws(SinterError) -> ValueID {
        var indices = idx
        let ds = try ctx.staticShape(data, n), isz = try ctx.staticShape(indices, n)
        guard ds.count == isz.count, !ds.isEmpty else {
            throw n.error("indices must have the data's rank (\(ds.count)), got shape \(isz)")
        }
        let a = try Converters.axis(axis, ds.count, n)
        if ctx.type(indices).dtype != .i64 {
            indices = try ctx.emit(.cast, [indices], attrs(["to": .string("i64")]), name: "\(name).i64", at: n)
        }
        let (_, linear) = try elementOffsets(ctx, indices, data: ds, indexShape: isz, axis: a, name, n)
        let flat = try reshape(ctx, data, [ds.reduce(1, *)], "\(name).flat", n)
        return try ctx.emit(.gather, [flat, linear], attrs(["axis": .int(0)]), name: name, at: n)
    }

    /// GatherElements/ScatterElements addressing: each i64 index along `axis` (negative ones
    /// wrapped) as an offset into the flattened data; returns the wrapped indices and offsets.
    static func elementOffsets(
        _ ctx: ImportContext, _ indices: ValueID, data ds: [Int], indexShape isz: [Int], axis a: Int,
        _ name: String, _ n: ONNXNode
    ) throws(SinterError) -> (wrapped: ValueID, linear: ValueID) {
        let strides = contiguousStrides(ds), istrides = contiguousStrides(isz)
        let base = (0..<isz.reduce(1, *)).map { i -> Double in
            var off = 0
            for d in isz.indices where d != a { off += (i / istrides[d]) % isz[d] * strides[d] }
            return Double(off)
        }
        let wrapped = try wrapNegative(ctx, indices, ds[a], name, n)
        let stride = try ctx.scalar(Double(strides[a]), .i64, name: "\(name).stride")
        let offsets = try ctx.constant(TensorData(dtype: .i64, shape: isz, values: base), name: "\(name).base")
        let linear = try ctx.emit(
            .add, [try ctx.emit(.mul, [wrapped, stride], name: "\(name).scaled", at: n), offsets],
            name: "\(name).linear", at: n)
        return (wrapped, linear)
    }

    /// i64 indices with negative ones counted from the end of an axis of `size`.
    static func wrapNegative(_ ctx: ImportContext, _ indices: ValueID, _ size: Int, _ name: String, _ n: ONNXNode)
        throws(SinterError) -> ValueID
    {
        let zero = try ctx.scalar(0, .i64, name: "\(name).zero")
        let dim = try ctx.scalar(Double(size), .i64, name: "\(name).dim")
        let negative = try ctx.emit(.less, [indices, zero], name: "\(name).negative", at: n)
        return try ctx.emit(
            .where, [negative, try ctx.emit(.add, [indices, dim], name: "\(name).up", at: n), indices],
            name: "\(name).wrapped", at: n)
    }

    /// NegativeLogLikelihoodLoss on log-probabilities [N, C, d...] and targets [N, d...]:
    /// −input[n, target, d...] per position, times the class weight, with `ignore_index`
    /// positions counting 0; `mean` divides by the summed weights.
    static func nllLoss(
        _ ctx: ImportContext, _ logProb: ValueID, _ target: ValueID, _ weight: ValueID?, _ n: ONNXNode, name: String
    ) throws(SinterError) -> ValueID {
        let xs = try ctx.staticShape(logProb, n), ts = try ctx.staticShape(target, n)
        guard xs.count >= 2, ts.count == xs.count - 1, ts[0] == xs[0], Array(ts.dropFirst()) == Array(xs.dropFirst(2))
        else { throw n.error("needs input [N, C, d...] and target [N, d...], got \(xs) and \(ts)") }
        let dtype = ctx.type(logProb).dtype
        var t = target
        if ctx.type(t).dtype != .i64 {
            t = try ctx.emit(.cast, [t], attrs(["to": .string("i64")]), name: "\(name).t64", at: n)
        }
        // The common case is the IR's own loss op (what training graphs differentiate).
        if simpleLoss(n, weight, xs) { return try ctx.emit(.nllLoss, [logProb, t], names: [name], at: n)[0] }
        var valid: ValueID? = nil
        if let ignore = n.int("ignore_index") {
            let eq = try ctx.emit(
                .equal, [t, try ctx.scalar(Double(ignore), .i64, name: "\(name).ignore")], name: "\(name).ignored",
                at: n)
            valid = try ctx.emit(.not, [eq], name: "\(name).valid", at: n)
            t = try ctx.emit(
                .where, [valid!, t, try ctx.scalar(0, .i64, name: "\(name).t0")], name: "\(name).safe", at: n)
        }
        var column = ts
        column.insert(1, at: 1)
        let picked = try gatherElements(
            ctx, logProb, try reshape(ctx, t, column, "\(name).column", n), axis: 1, name: "\(name).picked", n)
        var loss = try ctx.emit(.neg, [try reshape(ctx, picked, ts, "\(name).flat", n)], name: "\(name).neg", at: n)
        let zero = try ctx.scalar(0, dtype, name: "\(name).zero")
        var w: ValueID? = nil
        if let weight {
            let clamped = try ctx.emit(
                .clip, [t], attrs(["min": .float(0), "max": .float(Double(xs[1] - 1))]), name: "\(name).wt", at: n)
            w = try ctx.emit(.gather, [weight, clamped], attrs(["axis": .int(0)]), name: "\(name).w", at: n)
            if let valid { w = try ctx.emit(.where, [valid, w!, zero], name: "\(name).wv", at: n) }
        } else if let valid {
            w = try ctx.emit(.cast, [valid], attrs(["to": .string(dtype.rawValue)]), name: "\(name).w", at: n)
        }
        if let valid { loss = try ctx.emit(.where, [valid, loss, zero], name: "\(name).masked", at: n) }
        if let w { loss = try ctx.emit(.mul, [loss, w], name: "\(name).weighted", at: n) }
        let reduction = n.string("reduction") ?? "mean"
        let all = attrs(["keepdims": .bool(false)])
        switch reduction {
        case "none": return try ctx.emit(.identity, [loss], name: name, at: n)
        case "sum": return try ctx.emit(.reduceSum, [loss], all, name: name, at: n)
        case "mean":
            guard let w else { return try ctx.emit(.reduceMean, [loss], all, name: name, at: n) }
            let total = try ctx.emit(.reduceSum, [loss], all, name: "\(name).total", at: n)
            let weights = try ctx.emit(.reduceSum, [w], all, name: "\(name).weights", at: n)
            return try ctx.emit(.div, [total, weights], name: name, at: n)
        default: throw n.error("reduction must be none, sum or mean, got '\(reduction)'")
        }
    }

    /// Mean over a batch of [N, C] rows, without weights or an ignored index: the IR's
    /// `nll-loss` / `cross-entropy` compute exactly that.
    static func simpleLoss(_ n: ONNXNode, _ weight: ValueID?, _ shape: [Int]) -> Bool {
        weight == nil && n.int("ignore_index") == nil && (n.string("reduction") ?? "mean") == "mean" && shape.count == 2
    }

    static let negativeLogLikelihoodLoss: Converter = { ctx, n throws(SinterError) in
        [try nllLoss(ctx, try ctx.input(n, 0), try ctx.input(n, 1), try ctx.optionalInput(n, 2), n, name: out(n))]
    }

    /// SoftmaxCrossEntropyLoss: log-softmax over the class axis, then the NLL loss; the second
    /// output is the log-probabilities.
    static let softmaxCrossEntropyLoss: Converter = { ctx, n throws(SinterError) in
        let scores = try ctx.input(n, 0)
        let labels = try ctx.input(n, 1), weight = try ctx.optionalInput(n, 2)
        if n.output(1) == nil, simpleLoss(n, weight, try ctx.staticShape(scores, n)),
            [.i32, .i64].contains(ctx.type(labels).dtype)
        {
            return [try ctx.emit(.crossEntropy, [scores, labels], names: [out(n)], at: n)[0]]
        }
        let logProb = try ctx.emit(
            .logSoftmax, [scores], attrs(["axis": .int(1)]), name: n.output(1) ?? "\(out(n)).logprob", at: n)
        let loss = try nllLoss(ctx, logProb, labels, weight, n, name: out(n))
        return [loss, n.output(1) == nil ? nil : logProb]
    }

    /// The upper or lower triangle (from diagonal k) of the last two axes, as a constant mask.
    static let trilu: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        let s = try ctx.staticShape(x, n)
        guard s.count >= 2 else { throw n.error("needs an input of rank >= 2, got \(s)") }
        let k = try ctx.constantInput(n, 1, "k")?.ints.first ?? 0
        let upper = n.int("upper", default: 1) == 1
        let (rows, cols) = (s[s.count - 2], s[s.count - 1])
        let mask = (0..<rows * cols).map { i -> Double in
            let d = i % cols - i / cols
            return (upper ? d >= k : d <= k) ? 1 : 0
        }
        let m = try ctx.constant(TensorData(dtype: .bool, shape: [rows, cols], values: mask), name: "\(out(n)).mask")
        let zero = try ctx.scalar(0, ctx.type(x).dtype, name: "\(out(n)).zero")
        return [try ctx.emit(.where, [m, x, zero], name: out(n), at: n)]
    }

    /// values[1] where the (wrapped) index equals the position along the new axis, else values[0].
    static let oneHot: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        var indices = try ctx.input(n, 0)
        guard let depthData = try ctx.constantInput(n, 1, "depth"), let depthValue = depthData.doubles.first,
            depthValue >= 1, depthValue <= Double(1 << 24)
        else { throw n.error("depth must be a constant in 1...\(1 << 24)") }
        let depth = Int(depthValue)
        let values = try ctx.input(n, 2)
        let shape = try ctx.staticShape(indices, n)
        guard try ctx.staticShape(values, n) == [2] else { throw n.error("values must hold [off, on]") }
        let a = try axis(n.int("axis", default: -1), shape.count + 1, n)
        if ctx.type(indices).dtype != .i64 {
            indices = try ctx.emit(.cast, [indices], attrs(["to": .string("i64")]), name: "\(name).i64", at: n)
        }
        let wrapped = try wrapNegative(ctx, indices, depth, name, n)
        var outShape = shape
        outShape.insert(1, at: a)
        let column = try reshape(ctx, wrapped, outShape, "\(name).column", n)
        var iotaShape = Array(repeating: 1, count: outShape.count)
        iotaShape[a] = depth
        let iota = try ctx.constant(
            TensorData(dtype: .i64, shape: iotaShape, values: (0..<depth).map(Double.init)), name: "\(name).iota")
        let hit = try ctx.emit(.equal, [column, iota], name: "\(name).hit", at: n)
        func pick(_ i: Int, _ tag: String) throws(SinterError) -> ValueID {
            let one = try ctx.emit(
                .slice, [values], attrs(["starts": .ints([i]), "ends": .ints([i + 1])]), name: "\(name).\(tag)1", at: n)
            return try reshape(ctx, one, [], "\(name).\(tag)", n)
        }
        return [try ctx.emit(.where, [hit, try pick(1, "on"), try pick(0, "off")], name: name, at: n)]
    }
}

extension Converters {
    /// (Σ |x|^p)^(1/p) with the sum taken by `sum`; p = 2 squares and takes sqrt, p = 1 is Σ |x|.
    static func lpNorm(
        _ ctx: ImportContext, _ x: ValueID, p: Int, _ n: ONNXNode,
        sum: (ValueID) throws(SinterError) -> ValueID
    ) throws(SinterError) -> ValueID {
        guard p >= 1 else { throw n.error("p must be >= 1, got \(p)") }
        let dtype = ctx.type(x).dtype
        let powered: ValueID
        switch p {
        case 1: powered = try ctx.emit(.abs, [x], name: "\(out(n)).abs", at: n)
        case 2: powered = try ctx.emit(.mul, [x, x], name: "\(out(n)).square", at: n)
        default:
            let a = try ctx.emit(.abs, [x], name: "\(out(n)).abs", at: n)
            let e = try ctx.scalar(Double(p), dtype, name: "\(out(n)).p")
            powered = try ctx.emit(.pow, [a, e], name: "\(out(n)).pow", at: n)
        }
        let total = try sum(powered)
        switch p {
        case 1: return try ctx.emit(.identity, [total], name: out(n), at: n)
        case 2: return try ctx.emit(.sqrt, [total], name: out(n), at: n)
        default:
            let e = try ctx.scalar(1 / Double(p), dtype, name: "\(out(n)).inverse")
            return try ctx.emit(.pow, [total, e], name: out(n), at: n)
        }
    }

    /// LpPool: the window sums are a depthwise convolution with weights of ones (zero padding
    /// adds nothing to a sum of |x|^p), so strides, pads, dilations and auto_pad mean what they
    /// mean for Conv.
    static let lpPool: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        let xs = try ctx.staticShape(x, n)
        guard let kernel = n.ints("kernel_shape"), xs.count >= 3, kernel.count == xs.count - 2 else {
            throw n.error("needs kernel_shape with one entry per spatial axis")
        }
        if n.int("ceil_mode", default: 0) != 0 { throw n.error("ceil_mode = 1 is not supported") }
        try checkLists(n, [("kernel_shape", kernel, kernel.count, 1...windowLimit)])
        guard checkedProduct([xs[1]] + kernel) != nil else { throw n.error("kernel_shape \(kernel) is too large") }
        var a = try windowAttributes(n, input: Array(xs[2...]), kernel: kernel)
        a["group"] = .int(xs[1])
        let ones = TensorData(
            dtype: ctx.type(x).dtype, shape: [xs[1], 1] + kernel,
            values: Array(repeating: 1, count: xs[1] * kernel.reduce(1, *)))
        let w = try ctx.constant(ones, name: "\(out(n)).window")
        return [
            try lpNorm(ctx, x, p: n.int("p", default: 2), n) { y throws(SinterError) in
                try ctx.emit(.conv, [y, w], attrs(a), name: "\(out(n)).sum", at: n)
            }
        ]
    }
}
