import SinterIR

/// `fold-qdq`: a float matmul whose operands are both dequantized 8-bit tensors — an
/// activation quantized per tensor and a constant i8 weight, symmetric, per tensor or per
/// output column — becomes one `qmatmul`, the int8 GEMM. This is how a QDQ model (the form
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
        let defining = graph.definingNodes()
        var rw = Rewriter(graph)
        for (i, node) in graph.nodes.enumerated() where node.op == .matmul || node.op == .conv {
            if node.op == .conv {
                try foldConv(i, node, graph, defining, &rw)
                continue
            }
            guard node.attribute("trans_a") != .bool(true),
                let ai = defining[node.operands[0]], graph.nodes[ai].op == .dequantize,
                let bi = defining[node.operands[1]], graph.nodes[bi].op == .dequantize
            else { continue }
            let a = graph.nodes[ai].operands[0], w = graph.nodes[bi].operands[0]
            let at = graph.type(of: a)
            guard [.u8, .i8].contains(at.dtype), at.quant?.axis == nil, at.rank >= 2,
                let wi = defining[w], let data = graph.nodes[wi].payload?.data,
                let weight = Self.weight(data, transposed: node.attribute("trans_b") == .bool(true))
            else { continue }
            let b =
                weight == data
                ? w
                : try rw.insert1(
                    .constant, [], name: graph.name(of: w) + ".t", payload: ConstantPayload(weight), at: .before(i),
                    location: node.location)
            let y = try rw.insert1(
                .qmatmul, [a, b], name: graph.name(of: node.results[0]), at: .before(i), location: node.location)
            rw.replaceAllUses(of: node.results[0], with: y)
            rw.takeName(of: node.results[0], for: y)
            rw.erase(i)
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }

    /// A 2-D conv (any group count) between a dequantized activation (per tensor) and a dequantized
    /// constant i8 weight (symmetric, per tensor or per output channel) becomes `qconv`.
    private func foldConv(
        _ i: Int, _ node: Node, _ graph: Graph, _ defining: [ValueID: Int], _ rw: inout Rewriter
    ) throws(SinterError) {
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
        let y = try rw.insert1(
            .qconv, [a, w], name: graph.name(of: node.results[0]), attributes: attributes, at: .before(i),
            location: node.location)
        rw.replaceAllUses(of: node.results[0], with: y)
        rw.takeName(of: node.results[0], for: y)
        rw.erase(i)
    }

    /// The convs `qconv` covers: 2-D (an input of rank 4), any group count (dense, grouped and
    /// depthwise). `quantize` picks its candidates by the same rule.
    static func convRunsInt8(_ g: Graph, _ n: Node) -> Bool {
        n.op == .conv && g.type(of: n.operands[0]).rank == 4
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
