/// Canonicalization patterns: small local rewrites that belong to an op (x + 0 → x belongs to
/// `add`), read from the op's schema entry (`OpSchema.canonicalizations`) by the
/// `canonicalize` pass, which only drives them to a fixed point. MLIR keeps patterns with
/// their ops the same way (`getCanonicalizationPatterns`).
public struct CanonicalizationPattern: Sendable {
    /// Short description, used in reports and tests.
    public let name: String
    public let apply: @Sendable (PatternSite) -> Rewrite?

    public init(_ name: String, _ apply: @escaping @Sendable (PatternSite) -> Rewrite?) {
        self.name = name
        self.apply = apply
    }
}

/// What a pattern may do to the node it matched.
public enum Rewrite: Sendable {
    /// The node's result is this value: every use is pointed at it. The driver refuses when the
    /// types differ or the result is a graph output (its name must survive).
    case forward(ValueID)
    /// The node computes the same with these operands and attributes.
    case update(operands: [ValueID], attributes: Attributes)
}

/// One node and the graph around it, as a pattern sees them.
public struct PatternSite {
    public let graph: Graph
    public let node: Node
    let defining: [ValueID: Int]

    public init(graph: Graph, node: Node, defining: [ValueID: Int]) {
        self.graph = graph
        self.node = node
        self.defining = defining
    }

    /// The node defining operand `k`, if a node does.
    public func producer(_ k: Int) -> Node? { defining[node.operands[k]].map { graph.nodes[$0] } }
    /// The constant data of operand `k`, if a constant defines it.
    public func constant(_ k: Int) -> TensorData? { graph.constantValue(node.operands[k], defining: defining) }
    /// True when operand `k` is a constant whose every element is `v`.
    public func isSplat(_ k: Int, _ v: Double) -> Bool {
        guard let t = constant(k), t.count > 0 else { return false }
        return t.isSplat && t.element(at: 0) == v
    }
    public var resultType: TensorType { graph.type(of: node.results[0]) }
}

enum CanonicalPatterns {
    /// `op(x, c)` or `op(c, x)` with c a splat of `unit` is x.
    static func unit(_ name: String, _ unit: Double, sides: [Int]) -> CanonicalizationPattern {
        CanonicalizationPattern(name) { s in
            for k in sides where s.isSplat(k, unit) { return .forward(s.node.operands[1 - k]) }
            return nil
        }
    }

    static let identity = CanonicalizationPattern("identity(x) → x") { s in .forward(s.node.operands[0]) }

    static let doubleNeg = CanonicalizationPattern("neg(neg x) → x") { s in
        guard let p = s.producer(0), p.op == .neg else { return nil }
        return .forward(p.operands[0])
    }

    static let reshapeNoop = CanonicalizationPattern("reshape to the same shape → x") { s in
        s.graph.type(of: s.node.operands[0]).shape == s.resultType.shape ? .forward(s.node.operands[0]) : nil
    }

    static let reshapeChain = CanonicalizationPattern("reshape(reshape x) → reshape x") { s in
        guard let p = s.producer(0), p.op == .reshape else { return nil }
        return .update(operands: [p.operands[0]], attributes: s.node.attributes)
    }

    /// (An identity composition is then removed by `transposeNoop`.)
    static let transposeChain = CanonicalizationPattern("transpose(transpose x) → one transpose") { s in
        guard let p = s.producer(0), p.op == .transpose else { return nil }
        let rank = s.resultType.rank
        let inner = OpSchema.permutation(p.attributes, rank: rank)
        let composed = OpSchema.permutation(s.node.attributes, rank: rank).map { inner[$0] }
        var attributes = s.node.attributes
        attributes["perm"] = .ints(composed)
        return .update(operands: [p.operands[0]], attributes: attributes)
    }

    static let transposeNoop = CanonicalizationPattern("transpose by the identity permutation → x") { s in
        let rank = s.resultType.rank
        return OpSchema.permutation(s.node.attributes, rank: rank) == Array(0..<rank)
            ? .forward(s.node.operands[0]) : nil
    }

    /// A transpose of the last two axes in front of a matmul becomes the operand's trans flag.
    /// Transposes of constants stay: fold-constants turns them into pre-transposed weights,
    /// which the kernel reads faster than a flag.
    static let matmulTransposeFlags = CanonicalizationPattern("matmul(transpose x) → trans_a/trans_b") { s in
        for k in 0..<2 {
            guard let p = s.producer(k), p.op == .transpose, s.constant(k) == nil,
                s.graph.constantValue(p.operands[0], defining: s.defining) == nil
            else { continue }
            let rank = s.graph.type(of: p.results[0]).rank
            guard rank >= 2,
                OpSchema.permutation(p.attributes, rank: rank) == Array(0..<(rank - 2)) + [rank - 1, rank - 2]
            else { continue }
            let flag = k == 0 ? "trans_a" : "trans_b"
            var operands = s.node.operands
            operands[k] = p.operands[0]
            var attributes = s.node.attributes
            attributes[flag] = (attributes.bool(flag) ?? false) ? nil : .bool(true)
            return .update(operands: operands, attributes: attributes)
        }
        return nil
    }

    /// The patterns of `op`, in the order the driver tries them.
    static func patterns(_ op: Op) -> [CanonicalizationPattern] {
        switch op {
        case .add: [unit("x + 0 → x", 0, sides: [1, 0])]
        case .sub: [unit("x - 0 → x", 0, sides: [1])]
        case .mul: [unit("x * 1 → x", 1, sides: [1, 0])]
        case .div: [unit("x / 1 → x", 1, sides: [1])]
        case .identity: [identity]
        case .neg: [doubleNeg]
        case .reshape: [reshapeNoop, reshapeChain]
        case .transpose: [transposeChain, transposeNoop]
        case .matmul: [matmulTransposeFlags]
        default: []
        }
    }
}
