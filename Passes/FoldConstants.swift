import SinterIR

/// `fold-constants`: evaluates nodes whose operands are all constants with the IR's
/// `Evaluator` (elementwise ops through their schema expressions, any dtype; reshape,
/// transpose, slice, concat, split, gather, tile) and replaces them by constants. Results
/// larger than the `limit` option's elements are left alone.
///
///     %a = constant dense<2.0> : f32[2]
///     %b = exp %a : f32[2]
///     %y = add %x, %b : f32[2]
///     ==>
///     %a = constant dense<2.0> : f32[2]
///     %b = constant dense<7.389056> : f32[2]
///     %y = add %x, %b : f32[2]
public struct FoldConstants: Pass {
    public static let name = "fold-constants"
    public static let summary = "evaluate ops whose operands are all constants (elementwise and data movement)"
    public static let options = [
        PassOption("limit", .int, default: "\(defaultLimit)", "largest result, in elements, the pass may create")
    ]
    static let defaultLimit = 1 << 20
    /// Largest constant (in elements) the pass may create.
    public var limit = defaultLimit
    public init() {}
    public init(limit: Int) { self.limit = limit }
    public init(options: PassOptionValues) throws(SinterError) { limit = try options.int("limit") }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var known: [ValueID: TensorData] = [:]
        var rw = Rewriter(graph)
        for (i, node) in graph.nodes.enumerated() {
            if let p = node.payload { known[node.results[0]] = p.data; continue }
            let inputs = node.operands.compactMap { known[$0] }
            let types = node.results.map(graph.type(of:))
            guard inputs.count == node.operands.count,
                types.allSatisfy({ $0.elementCount.map { $0 <= limit } ?? false }),
                let folded = Evaluator.evaluate(
                    node.op, attributes: node.attributes, inputs: inputs, resultTypes: types)
            else { continue }
            // Each result gets a constant node that takes over its definition.
            for (r, t) in zip(node.results, folded) {
                known[r] = t
                try rw.insert(
                    .constant, [], name: "", payload: ConstantPayload(t), results: [r], at: .before(i),
                    location: node.location)
            }
            rw.erase(i)
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }
}
