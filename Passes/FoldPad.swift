import SinterIR

/// `fold-pad`: a constant pad on the spatial axes in front of a conv (value 0), an int8 conv
/// (value: its input's zero point, real 0), a max-pool (value −inf) or an average pool that
/// counts padding (value 0) becomes the window's own padding. A conv's pad may sit behind the
/// cast to bf16 that `precision-bf16` puts in front of it (the cast keeps 0, the window's
/// padding): the cast then applies to the unpadded input.
///
///     %p = pad %x {pads = [0, 0, 1, 1, 0, 0, 1, 1]} : f32[1,3,10,10]
///     %y = conv %p, %w : f32[1,8,8,8]
///     ==>
///     %y = conv %x, %w {pads = [1, 1, 1, 1]} : f32[1,8,8,8]
public struct FoldPad: Pass {
    public static let name = "fold-pad"
    public static let summary = "fold explicit constant padding into conv and pooling windows"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        // A pad must have the window as its only user: dead users (what `expand-quant` leaves of
        // a folded dequantize) go first.
        let pruned = try DeadCodeElimination().run(&graph, context)
        let defining = graph.definingNodes()
        let users = graph.users()
        let outputs = Set(graph.outputs)
        var rw = Rewriter(graph)
        for i in graph.nodes.indices {
            let n = graph.nodes[i]
            guard [.conv, .qconv, .maxPool, .avgPool].contains(n.op), var pi = defining[n.operands[0]] else {
                continue
            }
            // A bf16 cast between the pad and a conv (its only user) is moved in front of the pad.
            var conversion: Int? = nil
            if n.op == .conv, Self.castsToBf16(graph, graph.nodes[pi]),
                users[graph.nodes[pi].results[0]]?.count == 1, !outputs.contains(graph.nodes[pi].results[0]),
                let inner = defining[graph.nodes[pi].operands[0]]
            {
                conversion = pi
                pi = inner
            }
            let pad = graph.nodes[pi]
            guard pad.op == .pad, users[pad.results[0]]?.count == 1, !outputs.contains(pad.results[0]) else { continue }
            let mode = PadMode(pad.attributes)
            let value: Double = if case .float(let v)? = pad.attribute("value") { v } else { 0 }
            guard mode == .constant, let pads = pad.attributes.ints("pads") else { continue }
            let rank = pads.count / 2, spatial = rank - 2
            guard spatial > 0, pads.allSatisfy({ $0 >= 0 }), pads[0] == 0, pads[1] == 0, pads[rank] == 0,
                pads[rank + 1] == 0
            else { continue }
            switch n.op {
            case .conv: guard value == 0 else { continue }
            case .qconv:
                // Real 0 is the zero point (per tensor: the int8 conv's input is quantized so).
                guard let q = graph.type(of: pad.operands[0]).quant, q.axis == nil,
                    value == Double(q.zeroPoints.first ?? 0)
                else { continue }
            case .maxPool: guard value == -.infinity else { continue }
            default:
                guard value == 0, n.attribute("count_include_pad") == .bool(true) else { continue }
            }
            let old = n.attributes.ints("pads") ?? Array(repeating: 0, count: 2 * spatial)
            let merged =
                (0..<spatial).map { old[$0] + pads[2 + $0] }
                + (0..<spatial).map { old[spatial + $0] + pads[rank + 2 + $0] }
            // The window reads the unpadded input with the merged pads; the pad, now unused, goes.
            var input = pad.operands[0]
            if let ci = conversion {
                let c = graph.nodes[ci]
                input = try rw.insert1(
                    c.op, [input], name: graph.name(of: c.results[0]), attributes: c.attributes, at: .before(i),
                    location: c.location)
                rw.takeName(of: c.results[0], for: input)
                rw.erase(ci)
            }
            rw.update(i) {
                $0.attributes["pads"] = .ints(merged)
                $0.operands[0] = input
            }
            rw.erase(pi)
        }
        guard !rw.isUnchanged else { return pruned }
        graph = try rw.finish()
        return true
    }

    /// A cast to bf16: it turns the pad's 0 into the bf16 0 the conv pads with.
    static func castsToBf16(_ g: Graph, _ n: Node) -> Bool {
        n.op == .cast && g.type(of: n.results[0]).dtype == .bf16
    }
}
