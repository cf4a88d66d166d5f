import SinterIR

/// `cse`: merges nodes that compute the same thing (same op, operands, attributes and
/// constant payload). Graph outputs keep their own nodes so their names survive.
///
///     %a = exp %x : f32[4]
///     %b = exp %x : f32[4]
///     %y = add %a, %b : f32[4]
///     ==>
///     %a = exp %x : f32[4]
///     %y = add %a, %a : f32[4]
public struct CommonSubexpressions: Pass {
    public static let name = "cse"
    public static let summary = "merge nodes that compute the same value"
    public init() {}

    struct Key: Hashable {
        var op: Op
        var operands: [ValueID]
        var attributes: Attributes
        var payload: ConstantPayload?
        var types: [TensorType]
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var seen: [Key: [ValueID]] = [:]
        let outputs = Set(graph.outputs)
        var rw = Rewriter(graph)
        // Values merged away, and what replaces them: each node's operands are renamed when the
        // scan reaches it (one pass; replacing all uses at every merge was quadratic).
        var merged: [ValueID: ValueID] = [:]
        for i in graph.nodes.indices {
            rw.renameOperands(of: i, merged)
            let node = rw.graph.nodes[i]
            guard node.op.schema.traits.contains(.pure), !node.results.contains(where: outputs.contains) else {
                continue
            }
            let key = Key(
                // Operands of a commutative op in a fixed order, so `add %a, %b` meets `add %b, %a`.
                op: node.op,
                operands: node.op.schema.traits.contains(.commutative) ? node.operands.sorted() : node.operands,
                attributes: node.attributes,
                payload: node.payload.map { ConstantPayload($0.data) }, types: node.results.map(graph.type(of:)))
            if let earlier = seen[key] {
                for (old, new) in zip(node.results, earlier) { merged[old] = new }
                rw.erase(i)
            } else {
                seen[key] = node.results
            }
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }
}
