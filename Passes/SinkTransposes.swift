import SinterIR

/// `sink-transposes`: moves a transpose below the unary elementwise op that consumes it, so
/// that transposes meet and cancel in `canonicalize`.
///
///     %t = transpose %x {perm = [1, 0]} : f32[3,2]
///     %r = relu %t : f32[3,2]
///     %y = transpose %r {perm = [1, 0]} : f32[2,3]
///     ==>
///     %r.sunk = relu %x : f32[2,3]
///     %r = transpose %r.sunk {perm = [1, 0]} : f32[3,2]
///     %y = transpose %r {perm = [1, 0]} : f32[2,3]       // canonicalize: %y = %r.sunk
public struct SinkTransposes: Pass {
    public static let name = "sink-transposes"
    public static let summary = "move transposes below unary elementwise ops so they can cancel"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var changed = false
        var moved = true
        while moved {
            moved = false
            let defining = graph.definingNodes()
            let users = graph.users()
            let outputs = Set(graph.outputs)
            for i in graph.nodes.indices {
                let n = graph.nodes[i]
                guard n.op.schema.pattern == .elementwise, n.operands.count == 1, let ti = defining[n.operands[0]]
                else { continue }
                let t = graph.nodes[ti]
                guard t.op == .transpose, users[t.results[0]]?.count == 1, !outputs.contains(t.results[0]) else {
                    continue
                }
                let x = t.operands[0]
                let resultType = TensorType(graph.type(of: n.results[0]).dtype, graph.type(of: x).dims)
                // The elementwise op moves above the transpose; the transpose takes over its result.
                var rw = Rewriter(graph)
                let sunk = try rw.insert1(
                    n.op, [x], name: graph.name(of: n.results[0]) + ".sunk", attributes: n.attributes, at: .before(i),
                    location: n.location)
                try rw.insert(
                    .transpose, [sunk], name: "", attributes: t.attributes, results: n.results, at: .before(i),
                    location: t.location)
                rw.erase(i)
                guard rw.graph.type(of: sunk) == resultType else {
                    throw SinterError("internal: sink-transposes changed a type", at: n.location)
                }
                graph = try rw.finish()
                moved = true
                changed = true
                break
            }
        }
        if changed { _ = try DeadCodeElimination().run(&graph, context) }
        return changed
    }
}
