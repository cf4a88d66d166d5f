import SinterIR

/// `dce`: removes pure nodes whose results no output depends on.
///
///     graph @g(%x: f32[4]) -> (%y: f32[4]) {
///       %unused = exp %x : f32[4]
///       %y = relu %x : f32[4]
///     }
///     ==>
///     graph @g(%x: f32[4]) -> (%y: f32[4]) {
///       %y = relu %x : f32[4]
///     }
public struct DeadCodeElimination: Pass {
    public static let name = "dce"
    public static let summary = "remove nodes whose results are never used"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var live = Set(graph.outputs)
        var keep = Array(repeating: false, count: graph.nodes.count)
        for i in graph.nodes.indices.reversed() {
            let node = graph.nodes[i]
            if !node.op.schema.traits.contains(.pure) || node.results.contains(where: live.contains) {
                keep[i] = true
                live.formUnion(node.operands)
            }
        }
        guard keep.contains(false) else { return false }
        var rw = Rewriter(graph)
        for i in graph.nodes.indices where !keep[i] { rw.erase(i) }
        graph = try rw.finish()
        return true
    }
}
