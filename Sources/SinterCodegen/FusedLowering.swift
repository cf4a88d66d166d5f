import SinterIR
import SinterPasses

/// Lowering of fused groups: elementwise chains read through their prologue's views, and
/// matmul/conv anchors with their epilogues.
extension Lowering {
    /// One kernel for a fused group: a composed elementwise expression, a transpose or slice
    /// read through its prologue, or the anchor's kernel (its unit's) with the rest as its
    /// epilogue. Prologue members are not computed: the kernel reads their operand through a
    /// strided view. `defining` is the graph's (computed once per lowering, not per kernel).
    /// Returns the body and the operand values.
    static func fusedKernel(
        _ group: FusionGroup, _ g: Graph, _ schedules: Schedules, defining: [ValueID: Int]
    ) throws(SinterError) -> (KernelBody, [ValueID]) {
        let members = Set(group.nodes)
        let prologue = Set(group.prologue)
        let root = g.nodes[group.root]
        let anchorResult = group.anchor.map { g.nodes[$0].results[0] }
        /// `v` as the kernel reads it: through the prologue's views down to a value computed elsewhere.
        func view(_ v: ValueID) throws(SinterError) -> StridedView {
            guard let d = defining[v], prologue.contains(d) else {
                return StridedView.contiguous(v, g.type(of: v).shape ?? [])
            }
            let n = g.nodes[d]
            guard let out = try view(n.operands[0]).applying(n, result: g.type(of: v).shape ?? []) else {
                throw SinterError("internal: '\(n.op.rawValue)' in a prologue is not a strided view", at: n.location)
            }
            return out
        }
        /// Lowers `node` by its unit, reading its operands through `views`.
        func lowered(_ node: Node, _ views: [StridedView], _ epilogue: Epilogue?) throws(SinterError) -> KernelBody {
            guard let unit = KernelUnits.unit(for: node.op.schema.kernel) else {
                throw SinterError("internal: no kernel unit for '\(node.op.rawValue)'", at: node.location)
            }
            var c = UnitLowering(
                node: node, operandTypes: node.operands.map(g.type(of:)), resultTypes: node.results.map(g.type(of:)),
                schedules: schedules)
            c.views = views
            c.epilogue = epilogue
            guard let body = try unit.lower(c).first else {
                throw SinterError("internal: '\(node.op.rawValue)' lowered to no kernel", at: node.location)
            }
            return KernelBody(unit: unit.name, body: body)
        }
        // A transpose or slice reading through its prologue: one strided copy.
        if group.anchor == nil, StridedView.isStridedCopy(root.op) {
            let seen = try view(root.operands[0])
            return (try lowered(root, [seen], nil), [seen.value])
        }
        var externals: [StridedView] = []
        let first = anchorResult == nil ? 0 : 1
        func exprFor(_ v: ValueID) throws(SinterError) -> ScalarExpr {
            if v == anchorResult { return .operand(0) }
            if let d = defining[v], members.contains(d), d != group.anchor, !prologue.contains(d) {
                let n = g.nodes[d]
                guard let e = n.op.schema.scalar else {
                    throw SinterError("internal: '\(n.op.rawValue)' in a fused group", at: n.location)
                }
                var args: [ScalarExpr] = []
                for o in n.operands { args.append(try exprFor(o)) }
                return substitute(
                    e.substituting { name in
                        switch n.attribute(name) {
                        case .float(let x)?: x
                        case .int(let x)?: Double(x)
                        default: .nan
                        }
                    }, args)
            }
            let seen = try view(v)
            if let k = externals.firstIndex(of: seen) { return .operand(k + first) }
            externals.append(seen)
            return .operand(externals.count - 1 + first)
        }
        let expr = try exprFor(root.results[0])
        let outType = g.type(of: root.results[0])
        let outShape = outType.shape ?? []
        guard let anchorIndex = group.anchor else {
            let body = ElementwiseUnit.Body(
                expr: expr, views: externals, operandTypes: externals.map { g.type(of: $0.value).dtype },
                result: outType)
            return (KernelBody(unit: ElementwiseUnit.name, body: body), externals.map(\.value))
        }
        let anchor = g.nodes[anchorIndex]
        guard let unit = KernelUnits.unit(for: anchor.op.schema.kernel) else {
            throw SinterError("internal: no kernel unit for '\(anchor.op.rawValue)'", at: anchor.location)
        }
        var operands: [Epilogue.Operand] = []
        for v in externals {
            guard
                let operand = unit.epilogueOperand(
                    broadcastStrides(v.shape, to: outShape), g.type(of: v.value).dtype)
            else {
                throw SinterError(
                    "internal: anchor '\(anchor.op.rawValue)' cannot take an epilogue", at: anchor.location)
            }
            operands.append(operand)
        }
        // A bare accumulator needs no epilogue (a matmul whose group is only its prologue).
        let epilogue: Epilogue? =
            expr == .operand(0) && externals.isEmpty
            ? nil : Epilogue(expr: expr, operands: operands, result: outType.dtype)
        var views: [StridedView] = []
        for v in anchor.operands { views.append(try view(v)) }
        let body = try lowered(anchor, views, epilogue)
        return (body, views.map(\.value) + externals.map(\.value))
    }

    /// Replaces operand i of `e` by `args[i]`.
    static func substitute(_ e: ScalarExpr, _ args: [ScalarExpr]) -> ScalarExpr {
        switch e {
        case .operand(let i): args[i]
        case .constant, .attribute: e
        case .unary(let f, let a): .unary(f, substitute(a, args))
        case .cast(let a): .cast(substitute(a, args))
        case .binary(let f, let a, let b): .binary(f, substitute(a, args), substitute(b, args))
        case .compare(let c, let a, let b): .compare(c, substitute(a, args), substitute(b, args))
        case .select(let c, let a, let b): .select(substitute(c, args), substitute(a, args), substitute(b, args))
        }
    }
}
