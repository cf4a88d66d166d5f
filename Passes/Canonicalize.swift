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
            "max-rewrites", .int, default: "\(defaultMaxRewrites)",
            "rewrites after which the pass reports that it does not converge")
    ]
    /// Rewrites allowed before the pass gives up with a located error. Every rewrite removes a
    /// node's use or a node, so real graphs converge far below this; reaching it means two
    /// patterns undo each other.
    static let defaultMaxRewrites = 10000
    public var maxRewrites = defaultMaxRewrites
    public init() {}
    public init(options: PassOptionValues) throws(SinterError) { maxRewrites = try options.int("max-rewrites") }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var changed = false
        var rewrites = 0
        while let at = try rewriteOnce(&graph) {
            rewrites += 1
            if rewrites > maxRewrites {
                throw SinterError(
                    "canonicalize did not converge after \(maxRewrites) rewrites; the last one was here "
                        + "(raise canonicalize{max-rewrites=N} if the graph is that large)", at: at)
            }
            changed = true
            _ = try DeadCodeElimination().run(&graph, context)
        }
        return changed
    }

    /// Applies the first pattern of the first node that matches; returns that node's location, or nil.
    func rewriteOnce(_ g: inout Graph) throws(SinterError) -> SourceLocation? {
        let defining = g.definingNodes()
        let outputs = Set(g.outputs)
        for i in g.nodes.indices {
            let n = g.nodes[i]
            guard n.results.count == 1 else { continue }
            let site = PatternSite(graph: g, node: n, defining: defining)
            for pattern in n.op.schema.canonicalizations {
                switch pattern.apply(site) {
                case .forward(let v)?:
                    // Graph outputs keep their nodes so their names survive.
                    guard g.type(of: v) == site.resultType, !outputs.contains(n.results[0]) else { continue }
                    var rw = Rewriter(g)
                    rw.replaceAllUses(of: n.results[0], with: v)
                    g = try rw.finish()
                    return n.location
                case .update(let operands, let attributes)?:
                    var rw = Rewriter(g)
                    rw.update(i) {
                        $0.operands = operands
                        $0.attributes = attributes
                    }
                    g = try rw.finish()
                    return n.location
                case nil:
                    continue
                }
            }
        }
        return nil
    }
}
