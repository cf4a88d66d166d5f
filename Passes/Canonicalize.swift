import SinterIR

/// `canonicalize`: algebraic identities, applied until nothing changes. x+0, x-0, x*1, x/1,
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
            "max-rewrites", .int, default: "10000", "rewrites after which the pass reports that it does not converge")
    ]
    /// Rewrites allowed before the pass gives up with a located error. Every rewrite removes a
    /// node's use or a node, so real graphs converge far below this; reaching it means two
    /// patterns undo each other.
    public var maxRewrites = 10000
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

    func isSplat(_ t: TensorData?, _ v: Double) -> Bool {
        guard let t, t.count > 0 else { return false }
        return t.isSplat && t.element(at: 0) == v
    }

    /// Applies the first pattern that matches; returns the rewritten node's location, or nil.
    func rewriteOnce(_ g: inout Graph) throws(SinterError) -> SourceLocation? {
        let defining = g.definingNodes()
        let outputs = Set(g.outputs)
        for i in g.nodes.indices {
            let n = g.nodes[i]
            guard n.results.count == 1 else { continue }
            let r = n.results[0]
            let rt = g.type(of: r)
            func producer(_ k: Int) -> Node? { defining[n.operands[k]].map { g.nodes[$0] } }
            func const(_ k: Int) -> TensorData? { g.constantValue(n.operands[k], defining: defining) }
            func forward(_ v: ValueID) -> Bool {
                guard g.type(of: v) == rt, !outputs.contains(r) else { return false }
                g.replaceAllUses(of: r, with: v)
                return true
            }
            switch n.op {
            case .add where isSplat(const(1), 0): if forward(n.operands[0]) { return n.location }
            case .add where isSplat(const(0), 0): if forward(n.operands[1]) { return n.location }
            case .sub where isSplat(const(1), 0): if forward(n.operands[0]) { return n.location }
            case .mul where isSplat(const(1), 1): if forward(n.operands[0]) { return n.location }
            case .mul where isSplat(const(0), 1): if forward(n.operands[1]) { return n.location }
            case .div where isSplat(const(1), 1): if forward(n.operands[0]) { return n.location }
            case .identity: if forward(n.operands[0]) { return n.location }
            case .matmul:
                // A transpose of the last two axes becomes the operand's trans flag. Transposes
                // of constants stay: fold-constants turns them into pre-transposed weights,
                // which the kernel reads faster than a flag.
                for k in 0..<2 {
                    guard let p = producer(k), p.op == .transpose, const(k) == nil,
                        g.constantValue(p.operands[0], defining: defining) == nil
                    else { continue }
                    let rank = g.type(of: p.results[0]).rank
                    let perm = p.attributes.ints("perm") ?? Array((0..<rank).reversed())
                    guard rank >= 2, perm == Array(0..<(rank - 2)) + [rank - 1, rank - 2] else { continue }
                    let flag = k == 0 ? "trans_a" : "trans_b"
                    g.nodes[i].operands[k] = p.operands[0]
                    g.nodes[i].attributes[flag] = (n.attributes.bool(flag) ?? false) ? nil : .bool(true)
                    return n.location
                }
            case .neg:
                if let p = producer(0), p.op == .neg, forward(p.operands[0]) { return n.location }
            case .reshape:
                if g.type(of: n.operands[0]).shape == rt.shape, forward(n.operands[0]) { return n.location }
                if let p = producer(0), p.op == .reshape {
                    g.nodes[i].operands = [p.operands[0]]
                    return n.location
                }
            case .transpose:
                if let p = producer(0), p.op == .transpose {
                    let rank = rt.rank
                    let inner = p.attributes.ints("perm") ?? Array((0..<rank).reversed())
                    let outer = n.attributes.ints("perm") ?? Array((0..<rank).reversed())
                    let composed = outer.map { inner[$0] }
                    if composed == Array(0..<rank), forward(p.operands[0]) { return n.location }
                    g.nodes[i].operands = [p.operands[0]]
                    g.nodes[i].attributes["perm"] = .ints(composed)
                    return n.location
                }
                let perm = n.attributes.ints("perm") ?? Array((0..<rt.rank).reversed())
                if perm == Array(0..<rt.rank), forward(n.operands[0]) { return n.location }
            default:
                break
            }
        }
        return nil
    }
}
