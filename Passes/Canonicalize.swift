import SinterIR

/// `canonicalize`: drives the ops' own canonicalization patterns (IR/Canonicalization.swift,
/// `OpSchema.canonicalizations`) to a fixed point. x+0, x-0, x*1, x/1,
/// neg(neg x) and identity become x; transpose(transpose x) becomes one transpose (or x);
/// reshape chains become one reshape (or x when the shape is unchanged); a matmul operand
/// that is a transpose of its last two axes becomes a `trans_a`/`trans_b` flag. Graph outputs
/// keep their nodes so their names survive.
///
///     %kt = transpose %k {perm = [0, 2, 1]} : f32[2,16,8]
///     %s = matmul %q, %kt : f32[2,8,8]
///     ==>
///     %s = matmul %q, %k {trans_b = true} : f32[2,8,8]
///
///     %t = transpose %x {perm = [1, 0]} : f32[3,2]
///     %u = transpose %t {perm = [1, 0]} : f32[2,3]
///     %one = constant dense<1.0> : f32[3]
///     %y = mul %u, %one : f32[2,3]
///     ==>
///     %y = ... uses %x directly
public struct Canonicalize: Pass {
    public static let name = "canonicalize"
    public static let summary =
        "algebraic identities (x+0, x*1, double transpose/neg, reshape chains, transpose→matmul flags)"
    public static let options = [
        PassOption(
            "max-rewrites", .int, default: "0",
            "rewrites after which the pass reports that it does not converge (0: 10000 or 4 per node, "
                + "whichever is more)")
    ]
    /// Rewrites allowed before the pass gives up with a located error (0: automatic). Every
    /// rewrite removes a node's use or a node, so real graphs converge far below the automatic
    /// budget; reaching it means two patterns undo each other.
    public var maxRewrites = 0
    public init() {}
    public init(options: PassOptionValues) throws(SinterError) { maxRewrites = try options.int("max-rewrites") }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var changed = false
        var rewrites = 0
        let budget = maxRewrites > 0 ? maxRewrites : max(10000, 4 * graph.nodes.count)
        // Each scan applies every rewrite it finds, in order, so a graph with many identities
        // takes a few linear scans rather than one scan per rewrite.
        while true {
            let (scanned, count) = try scan(graph, budget: budget - rewrites, limit: budget)
            guard count > 0 else { return changed }
            rewrites += count
            graph = scanned
            changed = true
            _ = try DeadCodeElimination().run(&graph, context)
        }
    }

    /// What one pattern does to one node.
    private enum Action {
        case forward(ValueID)
        case update([ValueID], Attributes)
    }

    /// One pass over the nodes in order: each node's operands first follow the forwards made
    /// earlier in the scan, then its first matching pattern applies. Forwarded nodes stay until
    /// dead-code elimination. Throws at the rewrite that exceeds `budget`.
    private func scan(_ graph: Graph, budget: Int, limit: Int) throws(SinterError) -> (Graph, Int) {
        let defining = graph.definingNodes()
        let outputs = Set(graph.outputs)
        var rw = Rewriter(graph)
        var forwarded: [ValueID: ValueID] = [:]
        var count = 0
        for i in graph.nodes.indices {
            rw.renameOperands(of: i, forwarded)
            guard let action = match(rw.graph, i, defining: defining, outputs: outputs) else { continue }
            count += 1
            if count > budget {
                throw SinterError(
                    "canonicalize did not converge after \(limit) rewrites; the last one was here "
                        + "(raise canonicalize{max-rewrites=N} if the graph is that large)",
                    at: graph.nodes[i].location)
            }
            switch action {
            case .forward(let v): forwarded[graph.nodes[i].results[0]] = v
            case .update(let operands, let attributes):
                rw.update(i) {
                    $0.operands = operands
                    $0.attributes = attributes
                }
            }
        }
        return (count == 0 ? graph : try rw.finish(), count)
    }

    /// The first pattern of node `i` that applies. A separate function, so the pattern site's
    /// copy of the graph is released before the caller edits the graph (no copy on write).
    private func match(
        _ g: Graph, _ i: Int, defining: [ValueID: Int], outputs: Set<ValueID>
    ) -> Action? {
        let n = g.nodes[i]
        guard n.results.count == 1 else { return nil }
        let site = PatternSite(graph: g, node: n, defining: defining)
        for pattern in n.op.schema.canonicalizations {
            switch pattern.apply(site) {
            case .forward(let v)?:
                // Graph outputs keep their nodes so their names survive.
                guard g.type(of: v) == site.resultType, !outputs.contains(n.results[0]) else { continue }
                return .forward(v)
            case .update(let operands, let attributes)?: return .update(operands, attributes)
            case nil: continue
            }
        }
        return nil
    }
}
