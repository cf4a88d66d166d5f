import SinterIR

/// `sink-transposes`: moves a transpose below the chain of unary elementwise ops that consumes
/// it, so that transposes meet and cancel in `canonicalize`. A chain continues while each value
/// has exactly one user, a unary elementwise op, and is not a graph output; every chain moves
/// in one scan, so the pass is linear in the graph however long the chains are.
///
///     %t = transpose %x {perm = [1, 0]} : f32[3,2]
///     %r = relu %t : f32[3,2]
///     %e = exp %r : f32[3,2]
///     %y = transpose %e {perm = [1, 0]} : f32[2,3]
///     ==>
///     %r.sunk = relu %x : f32[2,3]
///     %e.sunk = exp %r.sunk : f32[2,3]
///     %e = transpose %e.sunk {perm = [1, 0]} : f32[3,2]
///     %y = transpose %e {perm = [1, 0]} : f32[2,3]       // canonicalize: %y = %e.sunk
public struct SinkTransposes: Pass {
    public static let name = "sink-transposes"
    public static let summary = "move transposes below unary elementwise ops so they can cancel"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        let users = graph.users()
        let outputs = Set(graph.outputs)
        /// The one user of `v` when it is a unary elementwise op and `v` is not an output.
        func unaryUser(of v: ValueID) -> Int? {
            guard !outputs.contains(v), let u = users[v], u.count == 1 else { return nil }
            let n = graph.nodes[u[0]]
            // A per-axis quantization names an axis the transpose would move.
            let perAxis = graph.type(of: n.results[0]).quant?.axis != nil
            return n.op.schema.pattern == .elementwise && n.operands.count == 1 && !perAxis ? u[0] : nil
        }
        var rw = Rewriter(graph)
        for t in graph.nodes where t.op == .transpose {
            var chain: [Int] = []
            var v = t.results[0]
            while let next = unaryUser(of: v) {
                chain.append(next)
                v = graph.nodes[next].results[0]
            }
            guard let last = chain.last else { continue }
            var x = t.operands[0]
            for i in chain {
                let n = graph.nodes[i]
                let was = graph.type(of: n.results[0])
                let resultType = TensorType(was.dtype, rw.graph.type(of: x).dims, quant: was.quant)
                x = try rw.insert1(
                    n.op, [x], name: graph.name(of: n.results[0]) + ".sunk", attributes: n.attributes,
                    at: .before(last), location: n.location)
                guard rw.graph.type(of: x) == resultType else {
                    throw SinterError("internal: sink-transposes changed a type", at: n.location)
                }
                rw.erase(i)
            }
            // The transpose takes over the chain's last result; the original becomes dead.
            try rw.insert(
                .transpose, [x], name: "", attributes: t.attributes, results: graph.nodes[last].results,
                at: .before(last), location: t.location)
        }
        if rw.isUnchanged { return false }
        graph = try rw.finish()
        _ = try DeadCodeElimination().run(&graph, context)
        return true
    }
}
