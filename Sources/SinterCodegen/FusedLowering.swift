import SinterIR
import SinterPasses

/// Lowering of fused groups: elementwise chains read through their prologue's views, and
/// matmul/conv anchors with their epilogues.
extension Lowering {
    /// One kernel for a fused group: a composed elementwise expression, or the anchor's
    /// matmul/conv with the rest as its epilogue. Prologue members are not computed: the
    /// kernel reads their operand through a strided view. Returns the body, the operand
    /// values and the scratch size.
    static func fusedKernel(_ group: FusionGroup, _ g: Graph) throws(SinterError) -> (KernelBody, [ValueID], Int) {
        let members = Set(group.nodes)
        let prologue = Set(group.prologue)
        let defining = g.definingNodes()
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
        // A transpose or slice reading through its prologue: one strided copy.
        if Fuse.isStridedCopy(root), group.anchor == nil, let outShape = g.type(of: root.results[0]).shape,
            let seen = try view(root.operands[0]).applying(root, result: outShape)
        {
            return (
                .stridedCopy(strided(outShape, seen.strides, seen.offset, g.type(of: root.results[0]).dtype.byteSize)),
                [seen.value], 0
            )
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
        let outShape = g.type(of: root.results[0]).shape ?? []
        guard let anchorIndex = group.anchor else {
            let (shape, strides) = collapse(outShape, externals.map { $0.broadcast(to: outShape).strides })
            return (
                .elementwise(
                    expr: expr, shape: shape, strides: strides, offsets: externals.map(\.offset),
                    operandTypes: externals.map { g.type(of: $0.value).dtype },
                    resultType: g.type(of: root.results[0]).dtype),
                externals.map(\.value), 0
            )
        }
        let anchor = g.nodes[anchorIndex]
        let operands = externals.map { v -> Epilogue.Operand in
            let st = broadcastStrides(v.shape, to: outShape)
            if anchor.op == .convNCHWc || anchor.op == .depthwiseConvNCHWc {
                return Epilogue.Operand(
                    dtype: g.type(of: v.value).dtype, batch: Array(st.prefix(4)), row: 0, col: st[4])
            }
            if anchor.op == .conv {
                return Epilogue.Operand(
                    dtype: g.type(of: v.value).dtype, batch: [st[0]], row: st[1],
                    col: st.dropFirst(2).allSatisfy { $0 == 0 } ? 0 : 1)
            }
            return Epilogue.Operand(
                dtype: g.type(of: v.value).dtype, batch: Array(st.dropLast(2)), row: st[st.count - 2],
                col: st[st.count - 1])
        }
        // A bare accumulator needs no epilogue (a matmul whose group is only its prologue).
        let epilogue: Epilogue? =
            expr == .operand(0) && externals.isEmpty ? nil : Epilogue(expr: expr, operands: operands)
        let extras = externals.map(\.value)
        switch anchor.op {
        case .matmul:
            let a = try view(anchor.operands[0]), b = try view(anchor.operands[1])
            func flag(_ name: String) -> Bool { anchor.attributes.bool(name) ?? false }
            let (body, scratch) = matmulBody(
                a: a, b: b, transA: flag("trans_a"), transB: flag("trans_b"),
                outShape: g.type(of: anchor.results[0]).shape ?? [])
            guard case .matmul(let batch, let la, let lb, let m, let n, let k, _) = body else {
                throw SinterError("internal: matmul body")
            }
            return (
                .matmul(batch: batch, a: la, b: lb, m: m, n: n, k: k, epilogue: epilogue), [a.value, b.value] + extras,
                scratch
            )
        case .conv:
            let parts = try kernels(anchor, g)
            guard case .conv(let geo, _) = parts[0].body else {
                throw SinterError("internal: conv body", at: anchor.location)
            }
            return (.conv(geo, epilogue: epilogue), anchor.operands + extras, parts[0].scratch)
        case .convNCHWc:
            let parts = try kernels(anchor, g)
            guard case .convBlocked(let geo, _) = parts[0].body else {
                throw SinterError("internal: conv-nchwc body", at: anchor.location)
            }
            return (.convBlocked(geo, epilogue: epilogue), anchor.operands + extras, 0)
        case .depthwiseConvNCHWc:
            let parts = try kernels(anchor, g)
            guard case .depthwiseBlocked(let geo, _) = parts[0].body else {
                throw SinterError("internal: depthwise-conv-nchwc body", at: anchor.location)
            }
            return (.depthwiseBlocked(geo, epilogue: epilogue), anchor.operands + extras, 0)
        default:
            throw SinterError("internal: anchor '\(anchor.op.rawValue)' cannot take an epilogue", at: anchor.location)
        }
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

    static func operandView(_ g: Graph, _ v: ValueID) -> StridedView {
        StridedView.contiguous(v, g.type(of: v).shape ?? [])
    }

    /// The matmul kernel body for operands seen through `a` and `b` (their own shape and
    /// strides, after any fused transposes), with `trans_a`/`trans_b` swapping the last two axes.
    static func matmulBody(a: StridedView, b: StridedView, transA: Bool, transB: Bool, outShape: [Int]) -> (
        KernelBody, Int
    ) {
        func matrix(_ v: StridedView, _ flip: Bool) -> (rows: Int, cols: Int, layout: MatrixLayout) {
            let r = v.shape.count
            // Batch strides: the view's own stride where the dim is real, 0 where it broadcasts.
            let outBatch = Array(outShape.dropLast(2))
            let lead = outBatch.count - (r - 2)
            let batchStrides = outBatch.indices.map { i in
                i < lead || v.shape[i - lead] == 1 ? 0 : v.strides[i - lead]
            }
            var (rows, cols) = (v.shape[r - 2], v.shape[r - 1])
            var (rs, cs) = (v.strides[r - 2], v.strides[r - 1])
            if flip { (rows, cols, rs, cs) = (cols, rows, cs, rs) }
            return (rows, cols, MatrixLayout(offset: v.offset, batch: batchStrides, rowStride: rs, colStride: cs))
        }
        let ma = matrix(a, transA), mb = matrix(b, transB)
        let body = KernelBody.matmul(
            batch: Array(outShape.dropLast(2)), a: ma.layout, b: mb.layout, m: ma.rows, n: mb.cols, k: ma.cols,
            epilogue: nil)
        let scratch = mb.layout.colStride == 1 ? 0 : KernelEmitter.packedBFloats(n: mb.cols, k: ma.cols) * 4
        return (body, scratch)
    }
}
