import SinterIR

/// `infer-shapes`: binds symbolic dimensions from `--shape` and recomputes every result type
/// from the op table's shape rules, so later passes and codegen see concrete types.
///
///     graph @g(%x: f32[N,8]) -> (%y: f32[N,8]) {      // with --shape N=4
///       %y = relu %x : f32[N,8]
///     }
///     ==>
///     graph @g(%x: f32[4,8]) -> (%y: f32[4,8]) {
///       %y = relu %x : f32[4,8]
///     }
public struct InferShapes: Pass {
    public static let name = "infer-shapes"
    public static let summary = "bind symbolic dimensions (--shape) and recompute result types from the op schema"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var changed = false
        for v in graph.inputs {
            let bound = graph.type(of: v).binding(context.bindings)
            if bound != graph.type(of: v) { graph[v].type = bound; changed = true }
        }
        var diags: [Diagnostic] = []
        for node in graph.nodes {
            do throws(ShapeError) {
                let types = try graph.inferResultTypes(of: node)
                for (r, t) in zip(node.results, types) where graph.type(of: r) != t {
                    graph[r].type = t
                    changed = true
                }
            } catch {
                diags.append(Diagnostic("'\(node.op.rawValue)': \(error.message)", at: node.location))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return changed
    }
}
