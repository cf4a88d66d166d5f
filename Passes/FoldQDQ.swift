import SinterIR

/// `fold-qdq`: a float matmul whose operands are both dequantized 8-bit tensors — an
/// activation quantized per tensor and an i8 weight, symmetric, per tensor or per output
/// column, constant or computed at run time (attention's Kᵀ and V) — becomes one `qmatmul`,
/// the int8 GEMM. This is how a QDQ model (the form
/// ONNX quantization tools write) runs in int8: the dequantize nodes, now unused, go in `dce`.
/// A `trans_b` weight is transposed here, with its parameters' axis. A 2-D conv (dense, grouped or
/// depthwise) between such operands (weights per output channel) becomes `qconv` the same way.
///
///     %q = quantize %x {to = "u8<0.02:128>"} : u8<0.02:128>[8,16]
///     %a = dequantize %q : f32[8,16]
///     %w = constant ... : i8<axis=1: 0.005:0, ...>[16,12]
///     %b = dequantize %w : f32[16,12]
///     %m = matmul %a, %b : f32[8,12]
///     ==>
///     %m = qmatmul %q, %w : f32[8,12]
public struct FoldQDQ: Pass {
    public static let name = "fold-qdq"
    public static let summary = "run matmuls and convs between dequantized 8-bit operands as int8 qmatmul/qconv"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        let defining = graph.definingNodes(), users = graph.users()
        var rw = Rewriter(graph)
        for (i, node) in graph.nodes.enumerated() where node.op == .matmul || node.op == .conv {
            if node.op == .conv {
                try foldConv(i, node, graph, (defining, users), &rw)
                continue
            }
            guard node.attribute("trans_a") != .bool(true),
                let ai = defining[node.operands[0]], graph.nodes[ai].op == .dequantize,
                let bi = defining[node.operands[1]], graph.nodes[bi].op == .dequantize
            else { continue }
            let a = graph.nodes[ai].operands[0], w = graph.nodes[bi].operands[0]
            let at = graph.type(of: a)
            guard [.u8, .i8].contains(at.dtype), at.quant?.axis == nil, at.rank >= 2 else { continue }
            // b computed at run time (attention's Kᵀ and V): i8, symmetric, read as written.
            if Self.runTimeWeight(w, graph, defining), node.attribute("trans_b") != .bool(true) {
                let bt = graph.type(of: w)
                let n = bt.shape?.last ?? 0
                let scales = QuantParams.bias(a: at.quant, b: bt.quant, channels: n).scales
                try Self.replace(
                    i, graph, with: .qmatmul, [a, w], Attributes(), scales: scales, (defining, users), &rw)
                continue
            }
            guard let wi = defining[w], let data = graph.nodes[wi].payload?.data,
                let weight = Self.weight(data, transposed: node.attribute("trans_b") == .bool(true))
            else { continue }
            let b =
                weight == data
                ? w
                : try rw.insert1(
                    .constant, [], name: graph.name(of: w) + ".t", payload: ConstantPayload(weight), at: .before(i),
                    location: node.location)
            let scales = QuantParams.bias(a: at.quant, b: weight.quant, channels: weight.shape[1]).scales
            try Self.replace(i, graph, with: .qmatmul, [a, b], Attributes(), scales: scales, (defining, users), &rw)
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }

    /// A 2-D conv (any group count) between a dequantized activation (per tensor) and a dequantized
    /// constant i8 weight (symmetric, per tensor or per output channel) becomes `qconv`.
    private func foldConv(
        _ i: Int, _ node: Node, _ graph: Graph, _ maps: (defining: [ValueID: Int], users: [ValueID: [Int]]),
        _ rw: inout Rewriter
    ) throws(SinterError) {
        let defining = maps.defining
        guard Self.convRunsInt8(graph, node),
            let ai = defining[node.operands[0]], graph.nodes[ai].op == .dequantize,
            let bi = defining[node.operands[1]], graph.nodes[bi].op == .dequantize
        else { return }
        let a = graph.nodes[ai].operands[0], w = graph.nodes[bi].operands[0]
        let at = graph.type(of: a), wt = graph.type(of: w)
        guard [.u8, .i8].contains(at.dtype), at.quant?.axis == nil, at.rank == 4, wt.dtype == .i8, wt.rank == 4,
            let q = wt.quant, q.isSymmetric, q.axis == nil || q.axis == 0,
            let wi = defining[w], graph.nodes[wi].op == .constant
        else { return }
        var attributes = Attributes()
        for key in ["strides", "pads", "dilations", "group"] {
            if let v = node.attributes[key] { attributes[key] = v }
        }
        let scales = QuantParams.bias(a: at.quant, b: q, channels: wt.shape?[0] ?? 0).scales
        try Self.replace(i, graph, with: .qconv, [a, w], attributes, scales: scales, maps, &rw)
    }

    /// Replaces product node `i` with `op` of `operands`, taking in its i32 bias when the
    /// product's only user adds one (`bias`); the result keeps the last replaced node's name.
    private static func replace(
        _ i: Int, _ graph: Graph, with op: Op, _ operands: [ValueID], _ attributes: Attributes, scales: [Float],
        _ maps: (defining: [ValueID: Int], users: [ValueID: [Int]]), _ rw: inout Rewriter
    ) throws(SinterError) {
        let node = graph.nodes[i]
        var operands = operands, replaced = node.results[0], erased = [i]
        if let (add, values) = bias(of: i, graph, scales: scales, maps) {
            operands.append(
                try rw.insert1(
                    .constant, [], name: graph.name(of: graph.nodes[add].results[0]) + ".bias",
                    payload: ConstantPayload(values), at: .before(i), location: node.location))
            replaced = graph.nodes[add].results[0]
            erased.append(add)
        }
        let y = try rw.insert1(
            op, operands, name: graph.name(of: replaced), attributes: attributes, at: .before(i),
            location: node.location)
        rw.replaceAllUses(of: replaced, with: y)
        rw.takeName(of: replaced, for: y)
        for e in erased { rw.erase(e) }
    }

    /// The i32 bias of a QDQ product, the form onnxruntime writes a conv's bias in: the
    /// product's only user is `add(y, dequantize(c))`, possibly through a reshape, either order,
    /// with c an i32 constant of one value per output channel (column), zero point 0 and scale
    /// `scales[j]` = scale_a · scale_w[j] exactly — so c is what the int8 kernel adds to its sums.
    /// Returns the add and c's values as i32[channels].
    static func bias(
        of i: Int, _ g: Graph, scales: [Float], _ maps: (defining: [ValueID: Int], users: [ValueID: [Int]])
    ) -> (add: Int, values: TensorData)? {
        guard let (add, other) = channelAdd(after: i, g, users: maps.users) else { return nil }
        var source = other
        if let r = maps.defining[source], g.nodes[r].op == .reshape { source = g.nodes[r].operands[0] }
        guard let d = maps.defining[source], g.nodes[d].op == .dequantize,
            let ci = maps.defining[g.nodes[d].operands[0]], var data = g.nodes[ci].payload?.data,
            data.dtype == .i32, let q = data.quant, q.zeroPoints.allSatisfy({ $0 == 0 }),
            data.shape.reduce(1, *) == scales.count, q.axis == nil || q.scales.count == scales.count,
            scales.indices.allSatisfy({ q.pair($0).scale == scales[$0] })
        else { return nil }
        data.quant = nil
        data.shape = [scales.count]
        return (add, data)
    }

    /// The add of one value per output channel after product node `i`: the product's only user
    /// `add(y, c)` (either order), c shaped to add per channel (`perChannel`) without widening
    /// y. Returns the add and c.
    static func channelAdd(after i: Int, _ g: Graph, users: [ValueID: [Int]]) -> (add: Int, other: ValueID)? {
        let y = g.nodes[i].results[0]
        guard let uses = users[y], uses.count == 1, !g.outputs.contains(y), g.nodes[uses[0]].op == .add else {
            return nil
        }
        let add = g.nodes[uses[0]]
        guard add.operands.filter({ $0 == y }).count == 1, g.type(of: add.results[0]) == g.type(of: y),
            let other = add.operands.first(where: { $0 != y }),
            perChannel(g.type(of: other), of: g.type(of: y), channelAxis: g.nodes[i].op == .conv ? 1 : -1)
        else { return nil }
        return (uses[0], other)
    }

    /// Whether a value of type `t` adds one value per channel to a product of type `y`: its
    /// dimension aligned with y's channel axis (1 for a conv, the last for a matmul) is the
    /// channel count, and all its others are 1.
    static func perChannel(_ t: TensorType, of y: TensorType, channelAxis: Int) -> Bool {
        guard let s = t.shape, let ys = y.shape, s.count <= ys.count else { return false }
        let axis = channelAxis < 0 ? ys.count - 1 : channelAxis
        let at = s.count - (ys.count - axis)
        return at >= 0 && s[at] == ys[axis] && s.indices.allSatisfy { $0 == at || s[$0] == 1 }
    }

    /// The convs `qconv` covers: 2-D (an input of rank 4), any group count (dense, grouped and
    /// depthwise). `quantize` picks its candidates by the same rule.
    static func convRunsInt8(_ g: Graph, _ n: Node) -> Bool {
        n.op == .conv && g.type(of: n.operands[0]).rank == 4
    }

    /// Whether `b` is an i8 tensor computed at run time, symmetric (per tensor or per column),
    /// which qmatmul's kernel packs as it runs.
    static func runTimeWeight(_ b: ValueID, _ g: Graph, _ defining: [ValueID: Int]) -> Bool {
        let t = g.type(of: b)
        guard t.dtype == .i8, t.rank >= 2, t.shape != nil, let q = t.quant, q.isSymmetric,
            q.axis == nil || q.axis == t.rank - 1
        else { return false }
        return defining[b].map { g.nodes[$0].op != .constant } ?? true
    }

    /// The weight as qmatmul takes it — i8 [K, N], zero point 0, per tensor or per column —
    /// transposed from [N, K] when the matmul reads it so; nil when it cannot be.
    static func weight(_ data: TensorData, transposed: Bool) -> TensorData? {
        guard data.dtype == .i8, data.shape.count == 2, let q = data.quant, q.isSymmetric else {
            return nil
        }
        guard transposed else { return q.axis == nil || q.axis == 1 ? data : nil }
        guard q.axis == nil || q.axis == 0 else { return nil }
        let (n, k) = (data.shape[0], data.shape[1])
        var bytes = [UInt8](repeating: 0, count: n * k)
        for r in 0..<n {
            for col in 0..<k { bytes[col * n + r] = data.bytes[r * k + col] }
        }
        var t = TensorData(dtype: .i8, shape: [k, n], bytes: bytes)
        t.quant = q.axis == nil ? q : QuantParams(scales: q.scales, zeroPoints: q.zeroPoints, axis: 1)
        return t
    }
}
