import SinterIR

/// `fold-batchnorm`: folds per-channel affine chains (what inference batch normalisation
/// becomes: mul by a, add b, possibly after a bias add) into the constant weights of the
/// preceding conv or matmul, leaving one bias add.
///
///     %c = conv %x, %w : f32[1,8,6,6]
///     %b = add %c, %bias : f32[1,8,6,6]        // bias  f32[8,1,1]
///     %s = mul %b, %scale : f32[1,8,6,6]       // scale f32[8,1,1]
///     %y = add %s, %shift : f32[1,8,6,6]       // shift f32[8,1,1]
///     ==>
///     %c = conv %x, %w.folded : f32[1,8,6,6]   // w · scale per output channel
///     %y = add %c, %y.bias : f32[1,8,6,6]      // bias · scale + shift
public struct FoldBatchNorm: Pass {
    public static let name = "fold-batchnorm"
    public static let summary = "fold per-channel scale/shift chains into conv and matmul weights"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var changed = false
        while try foldOne(&graph) {
            changed = true
            _ = try DeadCodeElimination().run(&graph, context)
        }
        return changed
    }

    /// Channel count and the per-channel values of `c` for an anchor output of `shape`, or nil
    /// when `c` is not per-channel.
    func perChannel(_ c: TensorData, anchor: Op, shape: [Int]) -> [Double]? {
        guard c.dtype == .f32 else { return nil }
        let channels = anchor == .conv ? shape[1] : shape[shape.count - 1]
        let axis = anchor == .conv ? 1 : shape.count - 1
        if c.count == 1 { return Array(repeating: c.element(at: 0), count: channels) }
        // Right-aligned against the output: only the channel axis may be > 1.
        let pad = shape.count - c.shape.count
        guard pad >= 0 else { return nil }
        for (i, d) in c.shape.enumerated() where d != 1 && i + pad != axis { return nil }
        guard c.count == channels else { return nil }
        return c.doubles
    }

    func foldOne(_ g: inout Graph) throws(SinterError) -> Bool {
        let defining = g.definingNodes()
        let users = g.users()
        let outputs = Set(g.outputs)
        for (ai, anchor) in g.nodes.enumerated() where anchor.op == .conv || anchor.op == .matmul {
            guard let w = g.constantValue(anchor.operands[1], defining: defining), w.dtype == .f32,
                anchor.op == .conv || w.shape.count == 2, let shape = g.type(of: anchor.results[0]).shape
            else { continue }
            let channels = anchor.op == .conv ? shape[1] : shape[shape.count - 1]
            var scale = Array(repeating: 1.0, count: channels), shift = Array(repeating: 0.0, count: channels)
            var current = anchor.results[0]
            var chain: [Int] = []
            var sawMul = false
            while !outputs.contains(current) || chain.isEmpty, let us = users[current], us.count == 1 {
                let n = g.nodes[us[0]]
                guard n.op == .add || n.op == .mul, g.type(of: n.results[0]).shape == shape else { break }
                let other = n.operands[0] == current ? n.operands[1] : n.operands[0]
                guard n.operands.contains(current), other != current,
                    let c = g.constantValue(other, defining: defining),
                    let v = perChannel(c, anchor: anchor.op, shape: shape)
                else { break }
                if n.op == .add {
                    for k in 0..<channels { shift[k] += v[k] }
                } else {
                    for k in 0..<channels { scale[k] *= v[k]; shift[k] *= v[k] }
                    sawMul = true
                }
                chain.append(us[0])
                current = n.results[0]
                if outputs.contains(current) { break }
            }
            // The weights are copied out only here: every scan visits every anchor again, and
            // copying each one's weights each time was most of this pass on ResNet-50.
            guard sawMul, let last = chain.last, let weights = w.floats else { continue }
            // Scale the weights per output channel.
            // In f32 with the product taken in f64, without widening the whole tensor (weights
            // run to tens of millions of values).
            var folded = weights
            if anchor.op == .conv {
                let per = w.count / max(w.shape[0], 1)
                for i in folded.indices { folded[i] = Float(Double(folded[i]) * scale[i / per]) }
            } else {
                // Output channel j is column j of W, or row j with trans_b.
                let transB = anchor.attributes.bool("trans_b") ?? false
                let n = w.shape[1]
                for i in folded.indices { folded[i] = Float(Double(folded[i]) * scale[transB ? i / n : i % n]) }
            }
            let biasShape = anchor.op == .conv ? [channels] + Array(repeating: 1, count: shape.count - 2) : [channels]
            let biasData = TensorData(dtype: .f32, shape: biasShape, values: shift)
            var rw = Rewriter(g)
            let newW = try rw.insert1(
                .constant, [], name: g.name(of: anchor.operands[1]) + ".folded",
                payload: ConstantPayload(TensorData(folded, shape: w.shape)), at: .before(0),
                location: anchor.location)
            let bias = try rw.insert1(
                .constant, [], name: g.name(of: current) + ".bias", payload: ConstantPayload(biasData), at: .before(0),
                location: anchor.location)
            rw.update(ai) { $0.operands[1] = newW }
            // The chain's last node becomes the bias add; the rest of the chain dies.
            rw.update(last) {
                $0 = Node(op: .add, operands: [anchor.results[0], bias], results: $0.results, location: $0.location)
            }
            g = try rw.finish()
            return true
        }
        return false
    }
}
