import SinterIR

/// Proves that a graph treats the entries of one symbolic dimension (usually the batch)
/// independently, so that a run over `n` entries can be cut into runs over parts of them:
/// what `sinter compile --dynamic N` needs before it builds one artifact out of graphs
/// specialised to a few sizes of N.
///
/// The graph is given at two sizes of N (imported twice; ONNX converters need static shapes).
/// The two graphs must have the same nodes; a value's N axis is the one axis whose size is
/// the size of N in both (a value with equal shapes does not depend on N). Then every node
/// that reads an N axis must give each result exactly one N axis and must not combine entries
/// along it (a reduction over the batch, a softmax over it, a reshape that moves rows across
/// it). Inputs and outputs carry N on axis 0, so a part of the batch is a contiguous slice.
///
///     graph @mlp(%x: f32[N,784]) -> (%y: f32[N,10])   // matmul, add, relu, softmax{axis=-1}: ok
///     %s = reduce-mean %x {axes = [0]}                 // error: combines entries along N
public enum DynamicBatch {
    /// Which inputs and outputs carry N (on axis 0).
    public struct Axes: Hashable, Sendable {
        public var inputs: [Bool]
        public var outputs: [Bool]
    }

    /// Checks the graph at size `a` of N against the same graph at size `b` (a ≠ b).
    public static func check(_ ga: Graph, size a: Int, against gb: Graph, size b: Int, symbol: String)
        throws(SinterError) -> Axes
    {
        guard a != b else { throw SinterError("internal: --dynamic compares two different sizes") }
        let where_ = "--dynamic \(symbol)"
        guard ga.nodes.count == gb.nodes.count, ga.values.count == gb.values.count,
            ga.inputs == gb.inputs, ga.outputs == gb.outputs,
            zip(ga.nodes, gb.nodes).allSatisfy({ $0.op == $1.op && $0.operands == $1.operands })
        else {
            throw SinterError(
                "\(where_): the graph's structure depends on \(symbol) (it imports to different nodes at "
                    + "\(symbol)=\(a) and \(symbol)=\(b)), so one artifact cannot serve every size", at: ga.location)
        }
        var diags: [Diagnostic] = []
        var axis: [Int?] = Array(repeating: nil, count: ga.values.count)
        for v in ga.values.indices {
            let (ta, tb) = (ga.values[v].type, gb.values[v].type)
            guard let sa = ta.shape, let sb = tb.shape, sa.count == sb.count, ta.dtype == tb.dtype else {
                diags.append(
                    Diagnostic(
                        "\(where_): '%\(ga.values[v].name)' is \(ta) at \(symbol)=\(a) but \(tb) at "
                            + "\(symbol)=\(b)"))
                continue
            }
            let differing = sa.indices.filter { sa[$0] != sb[$0] }
            if differing.isEmpty { continue }
            guard differing.count == 1, sa[differing[0]] == a, sb[differing[0]] == b else {
                diags.append(
                    Diagnostic(
                        "\(where_): '%\(ga.values[v].name)' is \(ta) at \(symbol)=\(a) and \(tb) at "
                            + "\(symbol)=\(b): \(symbol) must stay one whole axis of every tensor"))
                continue
            }
            axis[v] = differing[0]
        }
        if !diags.isEmpty { throw SinterError(diags) }
        for node in ga.nodes {
            if let d = problem(node, ga, axis, symbol) {
                diags.append(Diagnostic("\(where_): \(d)", at: node.location))
            }
        }
        for (kind, values) in [("input", ga.inputs), ("output", ga.outputs)] {
            for v in values where (axis[v.index] ?? 0) != 0 {
                diags.append(
                    Diagnostic(
                        "\(where_): \(kind) '\(ga.name(of: v))' (\(ga.type(of: v))) carries "
                            + "\(symbol) on axis \(axis[v.index] ?? 0); it must be the first axis of inputs and outputs"
                    ))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return Axes(
            inputs: ga.inputs.map { axis[$0.index] != nil }, outputs: ga.outputs.map { axis[$0.index] != nil })
    }

    /// Why `node` does not keep the entries of N apart, or nil when it does.
    static func problem(_ node: Node, _ g: Graph, _ axis: [Int?], _ symbol: String) -> String? {
        let batched = node.operands.enumerated().compactMap { i, v in axis[v.index].map { (i, v, $0) } }
        if batched.isEmpty { return nil }
        let op = node.op.rawValue
        for r in node.results where axis[r.index] == nil {
            return "'\(op)' turns \(symbol) entries into '%\(g.name(of: r))' (\(g.type(of: r))), which has no "
                + "\(symbol) axis: it combines entries across \(symbol)"
        }
        guard let rule = node.op.schema.couples else {
            return "'\(op)' is not known to keep the entries of \(symbol) apart"
        }
        let operands = node.operands.map(g.type(of:)), results = node.results.map(g.type(of:))
        for (i, v, a) in batched {
            let coupled = rule(
                CouplingQuery(operand: i, operands: operands, results: results, attributes: node.attributes))
            if coupled.contains(a) {
                return "'\(op)' combines entries along axis \(a) of '%\(g.name(of: v))', the \(symbol) axis"
            }
        }
        return nil
    }
}
