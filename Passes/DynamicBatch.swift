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
        for (i, v, a) in batched {
            guard let coupled = coupledAxes(node, operand: i, g, axis) else {
                return "'\(op)' is not known to keep the entries of \(symbol) apart"
            }
            if coupled.contains(a) {
                return "'\(op)' combines entries along axis \(a) of '%\(g.name(of: v))', the \(symbol) axis"
            }
        }
        return nil
    }

    /// The axes of operand `i` along which the op combines entries (a result element reads
    /// several of them, or where an entry lands depends on the others); nil when not known.
    static func coupledAxes(_ node: Node, operand i: Int, _ g: Graph, _ axis: [Int?]) -> Set<Int>? {
        let t = g.type(of: node.operands[i])
        let r = t.rank
        let all = Set(0..<r)
        func axisAttribute(_ name: String, _ fallback: Int) -> Set<Int> {
            let a = node.attributes.int(name) ?? fallback
            return [a < 0 ? a + r : a]
        }
        if node.op.schema.kernel == .elementwise { return [] }
        if node.op.schema.traits.contains(.reducesAxes) {
            guard let axes = node.attributes.ints("axes") else { return all }
            return Set(axes.map { $0 < 0 ? $0 + r : $0 })
        }
        switch node.op {
        case .constant, .identity, .transpose: return []
        case .reshape:
            // Row-major order keeps rows apart only when the axes before N hold as many
            // elements in the result as in the operand.
            guard let opAxis = axis[node.operands[0].index], let resAxis = axis[node.results[0].index],
                let s = t.shape, let rs = g.type(of: node.results[0]).shape
            else { return nil }
            return checkedProduct(Array(s[..<opAxis])) == checkedProduct(Array(rs[..<resAxis])) ? [] : [opAxis]
        case .matmul:
            let transposed = node.attributes.bool(i == 0 ? "trans_a" : "trans_b") ?? false
            return [i == 0 ? (transposed ? r - 2 : r - 1) : (transposed ? r - 1 : r - 2)]
        case .softmax, .logSoftmax, .topK: return axisAttribute("axis", -1)
        case .cumSum, .argMax, .argMin, .concat, .split: return axisAttribute("axis", 0)
        case .gather: return i == 0 ? axisAttribute("axis", 0) : []
        case .layerNorm:
            guard i == 0 else { return all }
            let a = axisAttribute("axis", -1).first ?? 0
            return Set(a..<r)
        case .conv, .convNCHWc, .depthwiseConvNCHWc, .maxPool, .avgPool, .maxPoolNCHWc, .avgPoolNCHWc:
            return i == 0 ? Set(1..<r) : all
        case .slice, .pad, .tile:
            // Axes whose size changes, and slices with a step other than 1 (a reversal).
            guard let s = t.shape, let rs = g.type(of: node.results[0]).shape, rs.count == r else { return nil }
            let steps = node.op == .slice ? (node.attributes.ints("steps") ?? []) : []
            return Set((0..<r).filter { s[$0] != rs[$0] || (steps.indices.contains($0) && steps[$0] != 1) })
        default: return nil
        }
    }
}
