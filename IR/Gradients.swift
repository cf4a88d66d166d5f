/// Gradient rules (vector-Jacobian products), read by `autodiff` from each op's schema entry.
///
/// Elementwise ops have one rule: the symbolic derivative of the scalar formula that defines
/// them (IR/ScalarDerivative.swift), times the cotangent, summed back over broadcast axes.
/// The other differentiable ops have a rule here, each a few lines of graph ops; an op with
/// no rule makes autodiff name it (with every other such op) instead of guessing.
public enum Gradients {
    static func rule(_ op: Op, _ schema: OpSchema) -> GradientRule? {
        if schema.kernel == .elementwise, op != .cast, op != .expand { return elementwise }
        switch op {
        case .cast:
            return { node, g, b throws(SinterError) in
                let from = b.graph.type(of: node.operands[0]).dtype
                guard from.isFloat else { return [nil] }
                return [try b.apply(.cast, [g[0]], attributes: Attributes(["to": .string(from.rawValue)]))[0]]
            }
        case .identity: return { _, g, _ in [g[0]] }
        case .expand: return { node, g, b throws(SinterError) in [try b.unbroadcast(g[0], to: node.operands[0])] }
        case .reshape:
            return { node, g, b throws(SinterError) in
                [try b.reshape(g[0], to: try b.staticShape(node.operands[0]))]
            }
        case .transpose:
            return { node, g, b throws(SinterError) in
                let perm = OpSchema.permutation(node.attributes, rank: b.graph.type(of: node.operands[0]).rank)
                var inverse = perm
                for (i, p) in perm.enumerated() { inverse[p] = i }
                return [try b.apply(.transpose, [g[0]], attributes: Attributes(["perm": .ints(inverse)]))[0]]
            }
        case .matmul: return matmul
        case .reduceSum, .reduceMean: return reduceSumOrMean
        case .softmax, .logSoftmax: return softmax
        case .concat: return concat
        case .split: return split
        case .slice: return slice
        case .pad: return pad
        case .layerNorm: return layerNorm
        case .gather: return gather
        case .reduceMax, .reduceMin: return reduceExtreme
        case .reduceL2: return reduceL2
        case .reduceProd: return reduceProd
        case .cumSum: return cumSum
        case .tile: return tile
        case .topK: return topK
        case .conv: return conv
        case .maxPool, .avgPool: return pool
        case .crossEntropy: return crossEntropy
        case .nllLoss: return nll
        case .dropout: return dropout
        case .batchNorm: return batchNorm
        case .mseLoss: return mse
        case .bceLoss: return bce
        default: return nil
        }
    }

    /// g · ∂f/∂x_i for each float operand, from the op's formula, summed over broadcast axes.
    static let elementwise: GradientRule = { node, g, b throws(SinterError) in
        guard let formula = node.op.schema.scalar else { return node.operands.map { _ in nil } }
        let dtype = b.graph.type(of: node.results[0]).dtype
        guard dtype.isFloat else { return node.operands.map { _ in nil } }
        let cotangent = ScalarExpr.operand(node.operands.count)
        // The forward result stands for the whole formula (tanh' reads tanh(x) back).
        var memo: [ScalarExpr: ValueID] = [formula: node.results[0]]
        var out: [ValueID?] = []
        for (i, x) in node.operands.enumerated() {
            guard b.graph.type(of: x).dtype.isFloat else {
                out.append(nil)
                continue
            }
            let d: ScalarExpr?
            do throws(ScalarExpr.NotDifferentiable) {
                d = try formula.derivative(i)
            } catch {
                throw SinterError("'\(node.op.rawValue)' has no gradient (its formula uses \(error.what))")
            }
            guard let d else {
                out.append(nil)
                continue
            }
            let full = try b.emit(
                ScalarExpr.product(cotangent, d), operands: node.operands + [g[0]], dtype: dtype,
                attribute: { name in
                    switch node.attribute(name) {
                    case .float(let v)?: v
                    case .int(let v)?: Double(v)
                    case .bool(let v)?: v ? 1 : 0
                    default: .nan
                    }
                }, memo: &memo)
            out.append(try b.unbroadcast(full, to: x))
        }
        return out
    }

    /// C = op(A)·op(B): dA = g·Bᵀ and dB = Aᵀ·g, written with the transpose flags so that no
    /// operand is copied, then summed over batch axes the operand broadcast along.
    static let matmul: GradientRule = { node, g, b throws(SinterError) in
        let ta = node.attributes.bool("trans_a") ?? false, tb = node.attributes.bool("trans_b") ?? false
        let (x, y) = (node.operands[0], node.operands[1])
        func mm(_ p: ValueID, _ q: ValueID, _ t1: Bool, _ t2: Bool) throws(SinterError) -> ValueID {
            try b.apply(.matmul, [p, q], attributes: Attributes(["trans_a": .bool(t1), "trans_b": .bool(t2)]))[0]
        }
        let dx = ta ? try mm(y, g[0], tb, true) : try mm(g[0], y, false, !tb)
        let dy = tb ? try mm(g[0], x, true, ta) : try mm(x, g[0], !ta, false)
        return [try b.unbroadcast(dx, to: x), try b.unbroadcast(dy, to: y)]
    }

    /// A reduction's axes (non-negative; all when `axes` is absent) and its result shape with
    /// those axes kept as 1, which a cotangent is reshaped to before broadcasting back.
    static func reduced(_ node: Node, _ shape: [Int]) -> (axes: [Int], kept: [Int]) {
        let axes =
            node.attributes.ints("axes").map { $0.map { $0 < 0 ? $0 + shape.count : $0 } } ?? Array(shape.indices)
        return (axes, shape.indices.map { axes.contains($0) ? 1 : shape[$0] })
    }

    /// The cotangent broadcast back over the reduced axes (divided by their size for a mean).
    static let reduceSumOrMean: GradientRule = { node, g, b throws(SinterError) in
        let x = node.operands[0]
        let shape = try b.staticShape(x)
        let (axes, kept) = reduced(node, shape)
        var d = try b.reshape(g[0], to: kept)
        if node.op == .reduceMean {
            let n = axes.reduce(1) { $0 * shape[$1] }
            d = try b.binary(.mul, d, try b.scalar(1 / Double(Swift.max(n, 1)), b.graph.type(of: x).dtype))
        }
        return [try b.apply(.expand, [d], attributes: Attributes(["shape": .ints(shape)]))[0]]
    }

    /// softmax: y·(g − Σ g·y); log-softmax: g − e^y·Σ g (sums along the axis), from the result y.
    static let softmax: GradientRule = { node, g, b throws(SinterError) in
        let y = node.results[0]
        let rank = b.graph.type(of: y).rank
        let axis = ShapeRules.normalizedAxis(node.attributes.int("axis") ?? -1, rank: rank)
        let sumAttrs = Attributes(["axes": .ints([axis]), "keepdims": .bool(true)])
        if node.op == .softmax {
            let s = try b.apply(.reduceSum, [try b.mul(g[0], y)], attributes: sumAttrs)[0]
            return [try b.mul(y, try b.binary(.sub, g[0], s))]
        }
        let s = try b.apply(.reduceSum, [g[0]], attributes: sumAttrs)[0]
        return [try b.binary(.sub, g[0], try b.mul(try b.unary(.exp, y), s))]
    }

    static let concat: GradientRule = { node, g, b throws(SinterError) in
        let shapes = try node.operands.map { v throws(SinterError) in try b.staticShape(v) }
        let axis = ShapeRules.normalizedAxis(node.attributes.int("axis") ?? 0, rank: shapes[0].count)
        let parts = try b.apply(
            .split, [g[0]],
            attributes: Attributes(["axis": .int(axis), "sizes": .ints(shapes.map { $0[axis] })]),
            names: [])
        return parts.map { Optional($0) }
    }

    static let split: GradientRule = { node, g, b throws(SinterError) in
        let axis = node.attributes.int("axis") ?? 0
        return [try b.apply(.concat, g, attributes: Attributes(["axis": .int(axis)]))[0]]
    }

    /// A unit-step slice's cotangent, zero-padded back to the operand's shape.
    static let slice: GradientRule = { node, g, b throws(SinterError) in
        let shape = try b.staticShape(node.operands[0])
        let ranges: [ShapeRules.SliceRange]
        do throws(ShapeError) {
            ranges = try ShapeRules.sliceRanges(
                shape: shape, starts: node.attributes.ints("starts") ?? [], ends: node.attributes.ints("ends") ?? [],
                steps: node.attributes.ints("steps"))
        } catch {
            throw SinterError("slice: \(error.message)")
        }
        guard ranges.allSatisfy({ $0.step == 1 }) else { return [try stridedSlice(g[0], ranges, shape, &b)] }
        let pads = ranges.map(\.start) + zip(ranges, shape).map { r, n in n - r.start - r.count }
        return [try b.apply(.pad, [g[0]], attributes: Attributes(["pads": .ints(pads)]))[0]]
    }

    /// A constant-mode pad's cotangent, sliced back to the operand's extent.
    static let pad: GradientRule = { node, g, b throws(SinterError) in
        let mode = PadMode(node.attributes) ?? .constant
        guard mode != .wrap else { throw SinterError("'pad' has no gradient in wrap mode") }
        let shape = try b.staticShape(node.operands[0])
        let pads = node.attributes.ints("pads") ?? []
        guard pads.count == 2 * shape.count, pads.allSatisfy({ $0 >= 0 }) else {
            throw SinterError("'pad' has a gradient for non-negative pads only")
        }
        if mode != .constant { return [try foldedPad(g[0], shape, pads, reflect: mode == .reflect, &b)] }
        let starts = Array(pads[..<shape.count])
        let ends = zip(starts, shape).map { $0 + $1 }
        return [try b.apply(.slice, [g[0]], attributes: Attributes(["starts": .ints(starts), "ends": .ints(ends)]))[0]]
    }
}

extension Gradients {
    /// y = x̂·scale + bias with x̂ = (x − μ)·r, r = 1/√(σ² + ε) over axes axis..<rank:
    /// dx = r·(d − mean(d) − x̂·mean(d·x̂)) with d = g·scale; dscale = Σ g·x̂, dbias = Σ g.
    static let layerNorm: GradientRule = { node, g, b throws(SinterError) in
        let (x, scale, bias) = (node.operands[0], node.operands[1], node.operands[2])
        let shape = try b.staticShape(x)
        let axis = ShapeRules.normalizedAxis(node.attributes.int("axis") ?? -1, rank: shape.count)
        let eps: Double = if case .float(let e)? = node.attribute("epsilon") { e } else { 1e-5 }
        let dtype = b.graph.type(of: x).dtype
        let over = Attributes(["axes": .ints(Array(axis..<shape.count)), "keepdims": .bool(true)])
        func mean(_ v: ValueID) throws(SinterError) -> ValueID { try b.apply(.reduceMean, [v], attributes: over)[0] }
        let centered = try b.binary(.sub, x, try mean(x))
        let variance = try mean(try b.mul(centered, centered))
        let r = try b.unary(.reciprocal, try b.unary(.sqrt, try b.add(variance, try b.scalar(eps, dtype))))
        let xhat = try b.mul(centered, r)
        let d = try b.mul(g[0], scale)
        let inner = try b.binary(
            .sub, try b.binary(.sub, d, try mean(d)), try b.mul(xhat, try mean(try b.mul(d, xhat))))
        return [
            try b.mul(r, inner), try b.unbroadcast(try b.mul(g[0], xhat), to: scale), try b.unbroadcast(g[0], to: bias),
        ]
    }

    /// The cotangent scatter-added back to the rows it was gathered from (repeated indices add
    /// up): scatter-nd with reduction add into zeros, the gathered axis moved to the front.
    static let gather: GradientRule = { node, g, b throws(SinterError) in
        let (x, indices) = (node.operands[0], node.operands[1])
        let xs = try b.staticShape(x), ishape = try b.staticShape(indices), gs = try b.staticShape(g[0])
        let axis = ShapeRules.normalizedAxis(node.attributes.int("axis") ?? 0, rank: xs.count)
        let ni = ishape.count
        // g is xs[..<axis] + ishape + xs[axis+1...]; put the index axes first.
        let gPerm = Array(axis..<(axis + ni)) + Array(0..<axis) + Array((axis + ni)..<gs.count)
        let gFront = try b.apply(.transpose, [g[0]], attributes: Attributes(["perm": .ints(gPerm)]))[0]
        let xPerm = [axis] + Array(0..<axis) + Array((axis + 1)..<xs.count)
        let moved = xPerm.map { xs[$0] }
        let zeros = try b.filled(0, b.graph.type(of: x).dtype, shape: moved)
        let idx = try b.reshape(indices, to: ishape + [1])
        let added = try b.apply(
            .scatterND, [zeros, idx, gFront], attributes: Attributes(["reduction": .string("add")]))[0]
        var back = xPerm
        for (i, p) in xPerm.enumerated() { back[p] = i }
        return [try b.apply(.transpose, [added], attributes: Attributes(["perm": .ints(back)]))[0], nil]
    }

    /// reduce-max/min: the cotangent shared evenly among the entries equal to the extreme.
    static let reduceExtreme: GradientRule = { node, g, b throws(SinterError) in
        let x = node.operands[0]
        let shape = try b.staticShape(x)
        let (axes, kept) = reduced(node, shape)
        let dtype = b.graph.type(of: x).dtype
        let hit = try b.binary(.equal, x, try b.reshape(node.results[0], to: kept))
        let mask = try b.apply(.cast, [hit], attributes: Attributes(["to": .string(dtype.rawValue)]))[0]
        let count = try b.apply(
            .reduceSum, [mask], attributes: Attributes(["axes": .ints(axes), "keepdims": .bool(true)]))[0]
        return [try b.mul(mask, try b.binary(.div, try b.reshape(g[0], to: kept), count))]
    }
}

extension GraphBuilder {
    /// The value's shape, which gradient rules need to be fixed (bind symbols first).
    public func staticShape(_ v: ValueID) throws(SinterError) -> [Int] {
        guard let s = graph.type(of: v).shape else {
            throw SinterError(
                "'%\(graph.name(of: v))' has symbolic shape \(graph.type(of: v)); bind it to differentiate")
        }
        return s
    }

    public mutating func reshape(_ x: ValueID, to shape: [Int]) throws(SinterError) -> ValueID {
        if graph.type(of: x).shape == shape { return x }
        return try apply(.reshape, [x], attributes: Attributes(["shape": .ints(shape)]))[0]
    }

    /// `g` (a gradient of broadcast shape) summed over the axes along which `x` was broadcast,
    /// so it has x's shape: numpy broadcasting's adjoint.
    public mutating func unbroadcast(_ g: ValueID, to x: ValueID) throws(SinterError) -> ValueID {
        let target = try staticShape(x), have = try staticShape(g)
        if have == target { return g }
        let lead = have.count - target.count
        guard lead >= 0 else { throw SinterError("internal: gradient \(have) is narrower than its operand \(target)") }
        let axes = have.indices.filter { $0 < lead || (target[$0 - lead] == 1 && have[$0] != 1) }
        var r = g
        if !axes.isEmpty {
            r = try apply(.reduceSum, [g], attributes: Attributes(["axes": .ints(axes), "keepdims": .bool(true)]))[0]
        }
        return try reshape(r, to: target)
    }
}
