import SinterIR

/// ONNX's optimizer ops (domain `ai.onnx.preview.training`): Adagrad, Momentum and Adam, each
/// updating one or more tensors from a learning rate R and an int64 step count T. Their
/// formulas differ from Sinter's own update ops (the decayed rate, T = 0 as "first step", a
/// post-update norm), so they import as the arithmetic ONNX defines, written once here.
extension Converters {
    static let previewTrainingDomain = "ai.onnx.preview.training"

    static let training: [String: Converter] = [
        "Adagrad": { ctx, n throws(SinterError) in try optimizer(ctx, n, slots: 1, Updates.adagrad) },
        "Momentum": { ctx, n throws(SinterError) in try optimizer(ctx, n, slots: 1, Updates.momentum) },
        "Adam": { ctx, n throws(SinterError) in try optimizer(ctx, n, slots: 2, Updates.adam) },
    ]

    /// What one tensor's update sees: the op's emitter, R and T (as the tensor's float type),
    /// x, its gradient and slots; it returns x' and the slots'.
    struct UpdateInputs {
        let ctx: ImportContext
        let n: ONNXNode
        let r: ValueID, t: ValueID
        let x: ValueID, g: ValueID
        let slots: [ValueID]
        let tag: String

        func c(_ v: Double) throws(SinterError) -> ValueID {
            try ctx.scalar(v, ctx.type(x).dtype, name: "\(tag).c")
        }
        func op(_ o: Op, _ a: ValueID, _ b: ValueID) throws(SinterError) -> ValueID {
            try ctx.emit(o, [a, b], name: tag, at: n)
        }
        func unary(_ o: Op, _ a: ValueID) throws(SinterError) -> ValueID { try ctx.emit(o, [a], name: tag, at: n) }
        /// norm_coefficient·x + g.
        func regularized() throws(SinterError) -> ValueID {
            let k = n.float("norm_coefficient", default: 0)
            return k == 0 ? g : try op(.add, try op(.mul, x, try c(k)), g)
        }
        /// `a` where T > 0, else `b`.
        func afterFirst(_ a: ValueID, _ b: ValueID) throws(SinterError) -> ValueID {
            let positive = try op(.greater, t, try c(0))
            return try ctx.emit(.where, [positive, a, b], name: tag, at: n)
        }
    }

    enum Updates {
        static func adagrad(_ u: UpdateInputs) throws(SinterError) -> [ValueID] {
            let decay = try u.op(.mul, u.t, try u.c(u.n.float("decay_factor", default: 0)))
            let r = try u.op(.div, u.r, try u.op(.add, try u.c(1), decay))
            let g = try u.regularized()
            let h = try u.op(.add, u.slots[0], try u.op(.mul, g, g))
            let denom = try u.op(.add, try u.unary(.sqrt, h), try u.c(u.n.float("epsilon", default: 1e-6)))
            return [try u.op(.sub, u.x, try u.op(.div, try u.op(.mul, r, g), denom)), h]
        }

        static func momentum(_ u: UpdateInputs) throws(SinterError) -> [ValueID] {
            let alpha = u.n.float("alpha", default: 0.9), beta = u.n.float("beta", default: 1)
            let g = try u.regularized()
            let b = try u.afterFirst(try u.c(beta), try u.c(1))
            let v = try u.op(.add, try u.op(.mul, u.slots[0], try u.c(alpha)), try u.op(.mul, g, b))
            let nesterov = (u.n.string("mode") ?? "standard") == "nesterov"
            let step = nesterov ? try u.op(.add, g, try u.op(.mul, v, try u.c(alpha))) : v
            return [try u.op(.sub, u.x, try u.op(.mul, u.r, step)), v]
        }

        static func adam(_ u: UpdateInputs) throws(SinterError) -> [ValueID] {
            let alpha = u.n.float("alpha", default: 0.9), beta = u.n.float("beta", default: 0.999)
            let g = try u.regularized()
            let v = try u.op(.add, try u.op(.mul, u.slots[0], try u.c(alpha)), try u.op(.mul, g, try u.c(1 - alpha)))
            let gg = try u.op(.mul, g, g)
            let h = try u.op(.add, try u.op(.mul, u.slots[1], try u.c(beta)), try u.op(.mul, gg, try u.c(1 - beta)))
            let hs = try u.op(.add, try u.unary(.sqrt, h), try u.c(u.n.float("epsilon", default: 1e-6)))
            let c2 = try u.unary(.sqrt, try u.op(.sub, try u.c(1), try u.op(.pow, try u.c(beta), u.t)))
            let c1 = try u.op(.sub, try u.c(1), try u.op(.pow, try u.c(alpha), u.t))
            let adjusted = try u.afterFirst(try u.op(.div, try u.op(.mul, u.r, c2), c1), u.r)
            var x = try u.op(.sub, u.x, try u.op(.mul, adjusted, try u.op(.div, v, hs)))
            let post = u.n.float("norm_coefficient_post", default: 0)
            if post != 0 { x = try u.op(.mul, x, try u.c(1 - post)) }
            return [x, v, h]
        }
    }

    /// Inputs R, T, then the tensors, their gradients and each slot's tensors, group by group;
    /// outputs the new tensors, then each slot's new tensors.
    static func optimizer(
        _ ctx: ImportContext, _ n: ONNXNode, slots: Int, _ update: (UpdateInputs) throws(SinterError) -> [ValueID]
    ) throws(SinterError) -> [ValueID?] {
        let groups = n.inputCount - 2
        guard groups > 0, groups % (2 + slots) == 0 else {
            throw n.error("takes R, T and \(2 + slots) inputs per updated tensor, got \(n.inputCount) inputs")
        }
        let k = groups / (2 + slots)
        let x0 = try ctx.input(n, 2)
        let dtype = ctx.type(x0).dtype
        let cast = attrs(["to": .string(dtype.rawValue)])
        var r = try ctx.input(n, 0), t = try ctx.input(n, 1)
        if ctx.type(r).dtype != dtype { r = try ctx.emit(.cast, [r], cast, name: "\(out(n)).r", at: n) }
        t = try ctx.emit(.cast, [t], cast, name: "\(out(n)).t", at: n)
        var outputs: [ValueID?] = Array(repeating: nil, count: k * (1 + slots))
        for i in 0..<k {
            let u = UpdateInputs(
                ctx: ctx, n: n, r: r, t: t, x: try ctx.input(n, 2 + i), g: try ctx.input(n, 2 + k + i),
                slots: try (0..<slots).map { s throws(SinterError) in try ctx.input(n, 2 + (2 + s) * k + i) },
                tag: out(n, i))
            for (j, v) in try update(u).enumerated() {
                outputs[j * k + i] = try ctx.emit(.identity, [v], name: out(n, j * k + i), at: n)
            }
        }
        return outputs
    }
}
