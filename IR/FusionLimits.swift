/// Limits that keep every fused kernel small, whether `fuse` planned it or a `.sir` file's
/// `kernel [...]` line named it.
///
/// A fused elementwise group lowers to one scalar expression in which each member's formula
/// is written out once per path from the root to that member, so a value a formula uses twice
/// is expanded twice: 30 chained `mul %a, %a` would expand to 2^30 terms and hang the
/// compiler. The expression-size limit bounds that expansion; the node limit keeps each
/// generated function a size LLVM compiles quickly (a 100,000-op elementwise chain becomes
/// kernels of 64 ops, not one).
public enum FusionLimits {
    /// Most nodes one fused kernel takes.
    public static let maxNodes = 64
    /// The most a fused kernel's written-out expression may cost (`ScalarExpr.cost`, in adds:
    /// a transcendental counts 8, a libm call 24). A chain of 64 `erf` costs about 600.
    public static let maxExpressionCost = 1024

    /// The cost of the expression that the elementwise members `members` (node indices; not
    /// the anchor or prologue views) expand to below `root`, or nil when it is above
    /// `maxExpressionCost`. Linear in the members: each member's multiplicity (the
    /// number of times the expansion writes it out) is the sum over its users in the group.
    public static func expressionCost(_ g: Graph, members: Set<Int>, root: Int) -> Int? {
        var defining: [ValueID: Int] = [:]
        for m in members { for r in g.nodes[m].results { defining[r] = m } }
        var multiplicity: [Int: Int] = [root: 1]
        var cost = 0
        // Nodes are in graph order, so users come after what they use.
        for m in members.sorted(by: >) {
            guard let times = multiplicity[m], let formula = g.nodes[m].op.schema.scalar else { continue }
            if times > maxExpressionCost { return nil }
            let (t, overflow) = formula.cost.multipliedReportingOverflow(by: times)
            cost += t
            if overflow || cost > maxExpressionCost { return nil }
            for (k, o) in g.nodes[m].operands.enumerated() {
                guard let producer = defining[o] else { continue }
                let uses = formula.uses(ofOperand: k)
                let (more, overflow) = uses.multipliedReportingOverflow(by: times)
                if overflow || more > maxExpressionCost { return nil }
                multiplicity[producer, default: 0] += more
            }
        }
        return cost
    }
}

extension ScalarExpr {
    /// How many times operand `k` appears in the expression.
    public func uses(ofOperand k: Int) -> Int {
        switch self {
        case .operand(let i): i == k ? 1 : 0
        case .constant, .attribute: 0
        case .unary(_, let a), .cast(let a): a.uses(ofOperand: k)
        case .binary(_, let a, let b), .compare(_, let a, let b): a.uses(ofOperand: k) + b.uses(ofOperand: k)
        case .select(let c, let a, let b): c.uses(ofOperand: k) + a.uses(ofOperand: k) + b.uses(ofOperand: k)
        }
    }
}
