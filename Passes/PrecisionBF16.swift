import SinterIR

/// `precision-bf16`: the matmuls whose weight is a constant f32 matrix, and the 2-D convs
/// with constant weights that are not depthwise, run in bf16 — the weight stored as bf16 (half
/// the bytes), the activation rounded to bf16 (nearest even) on its way in, products and sums
/// in f32 and an f32 result, so everything around them (bias, activations, the graph's edges)
/// stays f32. The bf16 GEMM and convolution (`vdpbf16ps`, BFDOT) run them. One cast per
/// activation, shared by every node that reads it; nodes whose result is named in `keep` stay
/// f32. A conv with one input channel per group (depthwise, a few multiply-adds per output, or
/// a dense conv of a single channel) stays f32.
///
///     %m = matmul %x, %w : f32[8,12]                 // %w: constant f32[16,12]
///     ==>
///     %x.bf16 = cast %x {to = "bf16"} : bf16[8,16]
///     %m.w.bf16 = constant ... : bf16[16,12]
///     %m = matmul %x.bf16, %m.w.bf16 {to = "f32"} : f32[8,12]
public struct PrecisionBF16: Pass {
    public static let name = "precision-bf16"
    public static let summary = "bf16 weights and activations for matmuls and convs with constant f32 weights, f32 sums"
    public static let options = [
        PassOption("keep", .string, default: "", "results of matmuls and convs to keep in f32, separated by ';'")
    ]

    let keep: Set<String>

    public init() { keep = [] }

    public init(options: PassOptionValues) throws(SinterError) {
        keep = Set(options.names("keep"))
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var rw = Rewriter(graph)
        let defining = graph.definingNodes(), users = graph.users()
        var rounded: [ValueID: ValueID] = [:]
        for (i, n) in graph.nodes.enumerated() where Self.candidate(graph, n) {
            let name = graph.name(of: n.results[0])
            guard !KeepFloat.kept(i, graph, users: users, keep), graph.type(of: n.operands[0]).dtype == .f32,
                let d = defining[n.operands[1]],
                let w = graph.nodes[d].payload?.data, w.dtype == .f32, w.shape.count == (n.op == .matmul ? 2 : 4)
            else { continue }
            let x = n.operands[0]
            let xb: ValueID
            if let shared = rounded[x] {
                xb = shared
            } else {
                xb = try rw.insert1(
                    .cast, [x], name: graph.name(of: x) + ".bf16", attributes: Attributes(["to": .string("bf16")]),
                    at: .before(i), location: n.location)
                rounded[x] = xb
            }
            let weight = TensorData(dtype: .bf16, shape: w.shape, values: w.doubles)
            let wb = try rw.insert1(
                .constant, [], name: name + ".w.bf16", payload: ConstantPayload(weight), at: .before(i),
                location: n.location)
            rw.update(i) {
                $0.operands = [xb, wb]
                $0.attributes["to"] = .string("f32")
            }
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }

    /// An f32 matmul, or a 2-D conv with more than one input channel per group.
    static func candidate(_ g: Graph, _ n: Node) -> Bool {
        guard n.attribute("to") == nil else { return false }
        if n.op == .matmul { return true }
        guard n.op == .conv, let x = g.type(of: n.operands[0]).shape, x.count == 4 else { return false }
        return x[1] != (n.attributes.int("group") ?? 1)
    }
}
