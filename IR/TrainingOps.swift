/// Losses and optimizer updates are ops like any other: a train step is a graph whose last
/// nodes are `cross-entropy` (or `mse-loss`) and one update per parameter, so dumps show the
/// step as written, and `expand-training` turns each into the arithmetic below, which fusion
/// and codegen treat like any elementwise or reduction work.
///
///     %loss = cross-entropy %logits, %labels {label_smoothing = 0.1} : f32[]
///     %w.1, %m.1, %v.1 = adam-update %w, %dw, %m, %v, %lr, %t : f32[64,10], f32[64,10], f32[64,10]
extension OpSchema {
    static func training(_ op: Op) -> OpSchema {
        func f(_ name: String, _ v: Double) -> AttributeSpec { AttributeSpec(name, .float, default: .float(v)) }
        let decay = f("weight_decay", 0)
        let expanded = KernelFamily.expanded(by: "expand-training")
        switch op {
        case .crossEntropy:
            return make(
                op, 2, [.float, .any], attributes: [f("label_smoothing", 0)], traits: [.pure], pattern: .opaque,
                shape: TrainingRules.crossEntropy, kernel: expanded,
                "mean over the batch of −Σ target·log_softmax(logits): logits [N,C], labels i32/i64 class "
                    + "indices [N] or class probabilities [N,C]; the target is (1−s)·labels + s/C")
        case .nllLoss:
            return make(
                op, 2, [.float, .any], traits: [.pure], pattern: .opaque, shape: TrainingRules.crossEntropy,
                kernel: expanded,
                "negative log-likelihood: mean over the batch of −Σ target·x for log-probabilities x [N,C]; "
                    + "labels i32/i64 class indices [N] (an index outside 0..<C contributes 0) or probabilities [N,C]")
        case .dropout:
            return make(
                op, 2, [.float, .any],
                attributes: [f("ratio", 0.5), AttributeSpec("seed", .int, default: .int(0))], traits: [.pure],
                pattern: .opaque, shape: TrainingRules.dropout, kernel: expanded,
                "training-mode dropout: x·keep/(1−ratio), keep_i = hash(seed, step, i) ≥ ratio·2³² with a "
                    + "counter-based u32 hash of the element index, so the backward recomputes the mask; operand "
                    + "1 is the step (a numeric scalar), which the train step feeds")
        case .batchNorm:
            return make(
                op, 5, [.float], results: 3, attributes: [f("epsilon", 1e-5), f("momentum", 0.9)], traits: [.pure],
                pattern: .opaque, shape: TrainingRules.batchNorm, kernel: expanded,
                "training-mode batch normalisation of x [N,C,...] with scale, bias, running mean and variance "
                    + "[C]: normalised by the batch's mean and (biased) variance over every axis but 1; results y "
                    + "and the running statistics momentum·running + (1−momentum)·batch. The train step keeps "
                    + "the running pair as state and uses it at inference")
        case .mseLoss:
            return make(
                op, 2, [.float], traits: [.pure], pattern: .opaque, shape: TrainingRules.mse, kernel: expanded,
                "mean of (prediction − target)² over all elements")
        case .bceLoss:
            return make(
                op, 2, [.float], traits: [.pure], pattern: .opaque, shape: TrainingRules.mse, kernel: expanded,
                "binary cross-entropy from logits z against targets y in [0, 1], mean over all elements: "
                    + "max(z, 0) − z·y + log(1 + e^−|z|)")
        case .sgdUpdate:
            return make(
                op, 3, [.float], attributes: [decay], traits: [.pure], pattern: .elementwise,
                shape: TrainingRules.update(state: 0), kernel: expanded, "p − lr·(g + weight_decay·p)")
        case .momentumUpdate:
            return make(
                op, 4, [.float], results: 2,
                attributes: [f("momentum", 0.9), AttributeSpec("nesterov", .bool, default: .bool(false)), decay],
                traits: [.pure], pattern: .elementwise, shape: TrainingRules.update(state: 1), kernel: expanded,
                "operands p, g, v, lr: v' = momentum·v + g'; p' = p − lr·(nesterov ? g' + momentum·v' : v') "
                    + "with g' = g + weight_decay·p; results p', v'")
        case .adamUpdate:
            return make(
                op, 6, [.float], results: 3,
                attributes: [
                    f("beta1", 0.9), f("beta2", 0.999), f("epsilon", 1e-8), decay,
                    AttributeSpec("decoupled", .bool, default: .bool(false)),
                ], traits: [.pure], pattern: .elementwise, shape: TrainingRules.update(state: 2), kernel: expanded,
                "operands p, g, m, v, lr, t (the 1-based step): Adam with bias correction; decoupled: AdamW "
                    + "(weight decay on p, not added to g); results p', m', v'")
        case .rmspropUpdate:
            return make(
                op, 4, [.float], results: 2, attributes: [f("alpha", 0.99), f("epsilon", 1e-8), decay],
                traits: [.pure], pattern: .elementwise, shape: TrainingRules.update(state: 1), kernel: expanded,
                "operands p, g, s, lr: s' = alpha·s + (1 − alpha)·g²; p' = p − lr·g/(√s' + epsilon)")
        default:
            return make(
                op, 4, [.float], results: 2, attributes: [f("epsilon", 1e-10), decay], traits: [.pure],
                pattern: .elementwise, shape: TrainingRules.update(state: 1), kernel: expanded,
                "operands p, g, s, lr: s' = s + g²; p' = p − lr·g/(√s' + epsilon)")
        }
    }
}

enum TrainingRules {
    static let batchNorm: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0]
        guard x.rank >= 2, let c = x.dims[1].fixedValue else { throw ShapeError("x must be [N, C, ...], got \(x)") }
        for (i, t) in q.operands.enumerated().dropFirst() where t.dims != [.fixed(c)] || t.dtype != x.dtype {
            throw ShapeError("operand \(i) must be \(x.dtype.rawValue)[\(c)], got \(t)")
        }
        return [x, q.operands[3], q.operands[4]]
    }

    static let dropout: ShapeRule = { q throws(ShapeError) in
        guard q.operands[1].rank == 0 else { throw ShapeError("the step must be a scalar, got \(q.operands[1])") }
        return [q.operands[0]]
    }

    static let crossEntropy: ShapeRule = { q throws(ShapeError) in
        let (logits, labels) = (q.operands[0], q.operands[1])
        guard logits.rank == 2 else { throw ShapeError("logits must be [N, C], got \(logits)") }
        if labels.dtype.isFloat {
            guard labels.dims == logits.dims, labels.dtype == logits.dtype else {
                throw ShapeError("probability labels must match the logits \(logits), got \(labels)")
            }
        } else {
            guard labels.dtype == .i32 || labels.dtype == .i64, labels.dims == [logits.dims[0]] else {
                throw ShapeError("class-index labels must be i32/i64 [\(logits.dims[0])], got \(labels)")
            }
        }
        return [TensorType(logits.dtype, [Dim]())]
    }

    static let mse: ShapeRule = { q throws(ShapeError) in
        guard q.operands[0] == q.operands[1] else {
            throw ShapeError("prediction \(q.operands[0]) and target \(q.operands[1]) differ")
        }
        return [TensorType(q.operands[0].dtype, [Dim]())]
    }

    /// p, g, `state` optimizer slots shaped like p, then rank-0 lr (and t for Adam).
    static func update(state: Int) -> ShapeRule {
        { q throws(ShapeError) in
            let p = q.operands[0]
            for (i, t) in q.operands.enumerated() {
                if i < 2 + state {
                    guard t == p else { throw ShapeError("operand \(i) is \(t), but the parameter is \(p)") }
                } else {
                    guard t.rank == 0, t.dtype == p.dtype else {
                        throw ShapeError("operand \(i) (\(i == 2 + state ? "lr" : "step")) must be \(p.dtype)[]")
                    }
                }
            }
            return Array(repeating: p, count: 1 + state)
        }
    }
}

extension OpEmitter {
    mutating func literal(_ v: Double, _ d: DType) throws(SinterError) -> ValueID {
        try emitConstant(TensorData(dtype: d, shape: [], values: [v]))
    }

    mutating func emitBinary(_ op: Op, _ a: ValueID, _ b: ValueID) throws(SinterError) -> ValueID {
        try emit(op, [a, b], Attributes())
    }

    mutating func sumAll(_ x: ValueID) throws(SinterError) -> ValueID {
        try emit(.reduceSum, [x], Attributes(["keepdims": .bool(false)]))
    }

    /// Cross-entropy's target distribution [N,C]: one-hot rows for class indices (all zero for
    /// an index outside 0..<C), the labels themselves for probabilities, then label smoothing.
    mutating func crossEntropyTarget(logits: ValueID, labels: ValueID, smoothing: Double) throws(SinterError)
        -> ValueID
    {
        let lt = typeOf(logits), labelType = typeOf(labels)
        guard let shape = lt.shape else { throw SinterError("cross-entropy needs fixed logits, got \(lt)") }
        var target = labels
        if !labelType.dtype.isFloat {
            let classes = TensorData(
                dtype: labelType.dtype, shape: [1, shape[1]], values: (0..<shape[1]).map(Double.init))
            let column = try emit(.reshape, [labels], Attributes(["shape": .ints([shape[0], 1])]))
            let hit = try emitBinary(.equal, column, try emitConstant(classes))
            target = try emit(.cast, [hit], Attributes(["to": .string(lt.dtype.rawValue)]))
        }
        guard smoothing != 0 else { return target }
        target = try emitBinary(.mul, target, try literal(1 - smoothing, lt.dtype))
        return try emitBinary(.add, target, try literal(smoothing / Double(shape[1]), lt.dtype))
    }

    /// batch-norm's arithmetic. Training: the batch's statistics over every axis but 1, and the
    /// updated running pair; inference (`training: false`): the running pair, and the results
    /// 1 and 2 are the running statistics unchanged.
    public mutating func batchNorm(_ node: Node, _ x: [ValueID], training: Bool) throws(SinterError) -> [ValueID] {
        func attr(_ name: String, _ fallback: Double) -> Double {
            if case .float(let v)? = node.attribute(name) { v } else { fallback }
        }
        let t = typeOf(x[0])
        guard let shape = t.shape, shape.count >= 2 else {
            throw SinterError("batch-norm needs a static [N, C, ...] x")
        }
        let channel = [shape[1]] + Array(repeating: 1, count: shape.count - 2)
        func perChannel(_ v: ValueID) throws(SinterError) -> ValueID {
            try emit(.reshape, [v], Attributes(["shape": .ints(channel)]))
        }
        let keep = Attributes(["axes": .ints([0] + Array(2..<shape.count)), "keepdims": .bool(true)])
        let mean = training ? try emit(.reduceMean, [x[0]], keep) : try perChannel(x[3])
        let centered = try emitBinary(.sub, x[0], mean)
        let variance =
            training ? try emit(.reduceMean, [try emitBinary(.mul, centered, centered)], keep) : try perChannel(x[4])
        let std = try emit(
            .sqrt, [try emitBinary(.add, variance, try literal(attr("epsilon", 1e-5), t.dtype))], Attributes())
        let y = try emitBinary(
            .add, try emitBinary(.mul, try emitBinary(.div, centered, std), try perChannel(x[1])), try perChannel(x[2]))
        guard training else { return [y, x[3], x[4]] }
        let m = attr("momentum", 0.9)
        let running = try [(x[3], mean), (x[4], variance)].map { old, batch throws(SinterError) in
            let flat = try emit(.reshape, [batch], Attributes(["shape": .ints([shape[1]])]))
            return try emitBinary(
                .add, try emitBinary(.mul, old, try literal(m, t.dtype)),
                try emitBinary(.mul, flat, try literal(1 - m, t.dtype)))
        }
        return [y] + running
    }

    /// Dropout's arithmetic: the element index i (a u32 constant), s = step·0x9E3779B9 +
    /// seed·0x632BE5AB, h = lowbias32(i·0x85EBCA6B ^ s) (Wellons' integer hash), keep when
    /// h ≥ ratio·2³²; all in wrapping u32, so the same (seed, step) always gives the same mask.
    mutating func dropout(_ x: ValueID, step: ValueID, ratio: Double, seed: Int) throws(SinterError) -> ValueID {
        let t = typeOf(x)
        guard ratio > 0 else { return x }
        guard let shape = t.shape else { throw SinterError("dropout needs a static shape, got \(t)") }
        guard ratio < 1 else { return try emitBinary(.mul, x, try literal(0, t.dtype)) }
        func u(_ v: UInt32) throws(SinterError) -> ValueID { try literal(Double(v), .u32) }
        let index = try emitConstant(
            TensorData(dtype: .u32, shape: shape, values: (0..<shape.reduce(1, *)).map(Double.init)))
        let s = try emitBinary(
            .add, try emitBinary(.mul, try emit(.cast, [step], Attributes(["to": .string("u32")])), try u(0x9E37_79B9)),
            try u(UInt32(truncatingIfNeeded: UInt64(bitPattern: Int64(seed)) &* 0x632B_E5AB)))
        var h = try emitBinary(.bitXor, try emitBinary(.mul, index, try u(0x85EB_CA6B)), s)
        for (shift, factor) in [(16, UInt32(0x7FEB_352D)), (15, 0x846C_A68B), (16, 0)] {
            h = try emitBinary(.bitXor, h, try emitBinary(.shiftRight, h, try u(UInt32(shift))))
            if factor != 0 { h = try emitBinary(.mul, h, try u(factor)) }
        }
        let threshold = UInt32(min(ratio * 4_294_967_296, 4_294_967_295))
        let keep = try emit(
            .cast, [try emitBinary(.greaterEqual, h, try u(threshold))], Attributes(["to": .string(t.dtype.rawValue)]))
        return try emitBinary(.mul, x, try emitBinary(.mul, keep, try literal(1 / (1 - ratio), t.dtype)))
    }

    /// The arithmetic a loss or optimizer op stands for, given its (possibly rewritten)
    /// operands; one value per result.
    public mutating func expandTraining(_ node: Node, _ x: [ValueID]) throws(SinterError) -> [ValueID] {
        func attr(_ name: String) -> Double {
            switch node.attribute(name) {
            case .float(let v)?: v
            case .bool(let v)?: v ? 1 : 0
            default: 0
            }
        }
        let d = typeOf(x[0]).dtype
        func c(_ v: Double) throws(SinterError) -> ValueID { try literal(v, d) }
        switch node.op {
        case .crossEntropy:
            let logp = try emit(.logSoftmax, [x[0]], Attributes(["axis": .int(1)]))
            let target = try crossEntropyTarget(logits: x[0], labels: x[1], smoothing: attr("label_smoothing"))
            let n = typeOf(x[0]).shape?.first ?? 1
            return [try emitBinary(.mul, try sumAll(try emitBinary(.mul, target, logp)), try c(-1 / Double(max(n, 1))))]
        case .batchNorm:
            return try batchNorm(node, x, training: true)
        case .dropout:
            let seed: Int = if case .int(let s)? = node.attribute("seed") { s } else { 0 }
            return [try dropout(x[0], step: x[1], ratio: attr("ratio"), seed: seed)]
        case .nllLoss:
            let target = try crossEntropyTarget(logits: x[0], labels: x[1], smoothing: 0)
            let n = typeOf(x[0]).shape?.first ?? 1
            return [try emitBinary(.mul, try sumAll(try emitBinary(.mul, target, x[0])), try c(-1 / Double(max(n, 1))))]
        case .bceLoss:
            let z = x[0]
            let stable = try emit(
                .softplus, [try emit(.neg, [try emit(.abs, [z], Attributes())], Attributes())], Attributes())
            let terms = try emitBinary(
                .add, try emitBinary(.sub, try emit(.relu, [z], Attributes()), try emitBinary(.mul, z, x[1])), stable)
            let n = typeOf(z).elementCount ?? 1
            return [try emitBinary(.mul, try sumAll(terms), try c(1 / Double(max(n, 1))))]
        case .mseLoss:
            let diff = try emitBinary(.sub, x[0], x[1])
            let n = typeOf(x[0]).elementCount ?? 1
            return [try emitBinary(.mul, try sumAll(try emitBinary(.mul, diff, diff)), try c(1 / Double(max(n, 1))))]
        default: break
        }
        let (p, lr) = (x[0], x[node.op == .adamUpdate ? 4 : node.op == .sgdUpdate ? 2 : 3])
        var g = x[1]
        let decay = attr("weight_decay"), decoupled = node.op == .adamUpdate && attr("decoupled") != 0
        if decay != 0 && !decoupled { g = try emitBinary(.add, g, try emitBinary(.mul, p, try c(decay))) }
        func step(_ delta: ValueID) throws(SinterError) -> ValueID {
            try emitBinary(.sub, p, try emitBinary(.mul, lr, delta))
        }
        func mix(_ a: ValueID, _ wa: Double, _ b: ValueID, _ wb: Double) throws(SinterError) -> ValueID {
            try emitBinary(.add, try emitBinary(.mul, a, try c(wa)), try emitBinary(.mul, b, try c(wb)))
        }
        func scaled(_ num: ValueID, by s: ValueID, eps: Double) throws(SinterError) -> ValueID {
            try emitBinary(.div, num, try emitBinary(.add, try emit(.sqrt, [s], Attributes()), try c(eps)))
        }
        switch node.op {
        case .sgdUpdate:
            return [try step(g)]
        case .momentumUpdate:
            let mu = attr("momentum")
            let v = try emitBinary(.add, try emitBinary(.mul, x[2], try c(mu)), g)
            let delta = attr("nesterov") != 0 ? try emitBinary(.add, g, try emitBinary(.mul, v, try c(mu))) : v
            return [try step(delta), v]
        case .rmspropUpdate:
            let a = attr("alpha")
            let s = try mix(x[2], a, try emitBinary(.mul, g, g), 1 - a)
            return [try step(try scaled(g, by: s, eps: attr("epsilon"))), s]
        case .adagradUpdate:
            let s = try emitBinary(.add, x[2], try emitBinary(.mul, g, g))
            return [try step(try scaled(g, by: s, eps: attr("epsilon"))), s]
        default:  // adam-update
            let (b1, b2) = (attr("beta1"), attr("beta2"))
            let m = try mix(x[2], b1, g, 1 - b1)
            let v = try mix(x[3], b2, try emitBinary(.mul, g, g), 1 - b2)
            // Bias corrections 1 − β^t from the run-time step t.
            let t = x[5]
            let c1 = try emitBinary(.sub, try c(1), try emitBinary(.pow, try c(b1), t))
            let c2 = try emitBinary(.sub, try c(1), try emitBinary(.pow, try c(b2), t))
            let mHat = try emitBinary(.div, m, c1), vHat = try emitBinary(.div, v, c2)
            var delta = try scaled(mHat, by: vHat, eps: attr("epsilon"))
            if decoupled && decay != 0 { delta = try emitBinary(.add, delta, try emitBinary(.mul, p, try c(decay))) }
            return [try step(delta), m, v]
        }
    }
}

/// The one place loss and update ops are expanded: the `expand-training` pass and the ONNX
/// exporter (ONNX has no such ops with these semantics) both call it.
public enum TrainingExpansion {
    /// The graph with every loss and optimizer op replaced by its arithmetic (results keep their
    /// names); nil when there is none.
    public static func expand(_ graph: Graph) throws(SinterError) -> Graph? {
        var emitter = RewriteEmitter(rewriter: Rewriter(graph))
        emitter.constantSuffix = ".c"
        for (i, node) in graph.nodes.enumerated() {
            guard case .expanded(by: "expand-training") = node.op.schema.kernel else { continue }
            emitter.position = .before(i)
            emitter.name = graph.name(of: node.results[0])
            emitter.location = node.location
            let operands = emitter.rewriter.graph.nodes[i].operands
            let results = try emitter.expandTraining(node, operands)
            for (old, new) in zip(node.results, results) {
                emitter.rewriter.replaceAllUses(of: old, with: new)
                emitter.rewriter.takeName(of: old, for: new)
            }
            emitter.rewriter.erase(i)
        }
        guard !emitter.rewriter.isUnchanged else { return nil }
        return try emitter.rewriter.finish()
    }
}

extension Gradients {
    /// cross-entropy: (softmax(logits) − target)·g/N; no gradient for the labels.
    static let crossEntropy: GradientRule = { node, g, b throws(SinterError) in
        let (logits, labels) = (node.operands[0], node.operands[1])
        let smoothing: Double = if case .float(let s)? = node.attribute("label_smoothing") { s } else { 0 }
        let target = try b.crossEntropyTarget(logits: logits, labels: labels, smoothing: smoothing)
        let n = try b.staticShape(logits)[0]
        let p = try b.softmax(logits, axis: 1)
        let scale = try b.mul(g[0], try b.scalar(1 / Double(max(n, 1)), b.graph.type(of: logits).dtype))
        return [try b.mul(try b.binary(.sub, p, target), scale), nil]
    }

    /// batch-norm (training): with x̂ = (x − μ)/σ over the batch axes and d = g·scale,
    /// dx = (d − mean(d) − x̂·mean(d·x̂))/σ, dscale = Σ g·x̂, dbias = Σ g; the running statistics
    /// get no gradient (nor do they pass one on).
    static let batchNorm: GradientRule = { node, g, b throws(SinterError) in
        let (x, scale) = (node.operands[0], node.operands[1])
        let shape = try b.staticShape(x), dtype = b.graph.type(of: x).dtype
        let eps: Double = if case .float(let e)? = node.attribute("epsilon") { e } else { 1e-5 }
        let axes = [0] + Array(2..<shape.count), channel = [shape[1]] + Array(repeating: 1, count: shape.count - 2)
        let keep = Attributes(["axes": .ints(axes), "keepdims": .bool(true)])
        let drop = Attributes(["axes": .ints(axes), "keepdims": .bool(false)])
        func mean(_ v: ValueID) throws(SinterError) -> ValueID { try b.apply(.reduceMean, [v], attributes: keep)[0] }
        let centered = try b.binary(.sub, x, try mean(x))
        let r = try b.unary(
            .reciprocal,
            try b.unary(.sqrt, try b.add(try mean(try b.mul(centered, centered)), try b.scalar(eps, dtype))))
        let xhat = try b.mul(centered, r)
        let d = try b.mul(g[0], try b.reshape(scale, to: channel))
        let inner = try b.binary(
            .sub, try b.binary(.sub, d, try mean(d)), try b.mul(xhat, try mean(try b.mul(d, xhat))))
        return [
            try b.mul(r, inner), try b.apply(.reduceSum, [try b.mul(g[0], xhat)], attributes: drop)[0],
            try b.apply(.reduceSum, [g[0]], attributes: drop)[0], nil, nil,
        ]
    }

    /// dropout: the same mask on the cotangent (it is recomputed from seed and step).
    static let dropout: GradientRule = { node, g, b throws(SinterError) in
        [try b.apply(.dropout, [g[0], node.operands[1]], attributes: node.attributes)[0], nil]
    }

    /// nll-loss: −target·g/N for the log-probabilities; no gradient for the labels.
    static let nll: GradientRule = { node, g, b throws(SinterError) in
        let (x, labels) = (node.operands[0], node.operands[1])
        let target = try b.crossEntropyTarget(logits: x, labels: labels, smoothing: 0)
        let n = try b.staticShape(x)[0]
        let scale = try b.mul(g[0], try b.scalar(-1 / Double(max(n, 1)), b.graph.type(of: x).dtype))
        return [try b.mul(target, scale), nil]
    }

    /// bce-loss: (σ(z) − y)·g/n for the logits, (−z)·g/n for the targets.
    static let bce: GradientRule = { node, g, b throws(SinterError) in
        let (z, y) = (node.operands[0], node.operands[1])
        let dtype = b.graph.type(of: z).dtype
        let n = try b.staticShape(z).reduce(1, *)
        let scale = try b.mul(g[0], try b.scalar(1 / Double(max(n, 1)), dtype))
        let dz = try b.mul(try b.binary(.sub, try b.unary(.sigmoid, z), y), scale)
        return [dz, try b.mul(try b.unary(.neg, z), scale)]
    }

    /// mse-loss: ±2·(p − t)·g/n.
    static let mse: GradientRule = { node, g, b throws(SinterError) in
        let dtype = b.graph.type(of: node.operands[0]).dtype
        let n = try b.staticShape(node.operands[0]).reduce(1, *)
        let diff = try b.binary(.sub, node.operands[0], node.operands[1])
        let dp = try b.mul(diff, try b.mul(g[0], try b.scalar(2 / Double(max(n, 1)), dtype)))
        return [dp, try b.unary(.neg, dp)]
    }
}
