import SinterIR

/// `quantize-dynamic`: int8 without calibration, for matmul-heavy models (MLPs, Transformers,
/// LSTMs). Each f32 matmul whose weight is a constant matrix becomes a `qmatmul` of the f32
/// activation — quantized per row at run time, while the int8 GEMM packs it — and the weight
/// as i8, symmetric, one scale per output column (a `trans_b` weight is transposed here).
/// Matmuls whose result is named in `keep` stay f32.
///
///     %m = matmul %x, %w : f32[8,12]                 // %w: constant f32[16,12]
///     ==>
///     %m.w.q = constant ... : i8<axis=1: 0.0078:0, ...>[16,12]
///     %m = qmatmul %x, %m.w.q : f32[8,12]
public struct QuantizeDynamic: Pass {
    public static let name = "quantize-dynamic"
    public static let summary =
        "dynamic int8: matmuls with constant weights as qmatmul of f32 rows quantized at run time"
    public static let options = [
        PassOption("keep", .string, default: "", "results of matmuls to keep in f32, separated by ';'")
    ]

    let keep: Set<String>

    public init() { keep = [] }

    public init(options: PassOptionValues) throws(SinterError) {
        keep = Set(options.names("keep"))
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var rw = Rewriter(graph)
        let users = graph.users()
        for (i, _, weight) in QuantizeInt8.candidates(graph) where graph.nodes[i].op == .matmul {
            let node = graph.nodes[i]
            let name = graph.name(of: node.results[0])
            guard !KeepFloat.kept(i, graph, users: users, keep) else { continue }
            let transposed = node.attribute("trans_b") == .bool(true)
            // fold-qdq's weight form: i8 [K, N] per column (a trans_b weight transposed).
            let perColumn = QuantizeInt8.weight(weight, columnsAxis: transposed ? 0 : 1)
            guard let w = FoldQDQ.weight(perColumn, transposed: transposed) else { continue }
            let wq = try rw.insert1(
                .constant, [], name: name + ".w.q", payload: ConstantPayload(w), at: .before(i), location: node.location
            )
            rw.update(i) {
                $0.op = .qmatmul
                $0.operands = [node.operands[0], wq]
                $0.attributes = Attributes()
            }
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }

}
