import SinterIR

/// `quantize`: post-training int8 quantization of the matmuls whose weight is a constant f32
/// matrix, of the 2-D convs (any group count) with constant weights, and of the matmuls
/// between two computed values (attention's QKᵀ and PV: b i8, symmetric, per tensor). The activation gets a
/// quantize/dequantize pair with parameters from its calibrated range — u8 asymmetric (x86:
/// VNNI multiplies u8 by s8) or i8 (`activations=i8`, ARM's SDOT) — widened to include 0 so
/// that 0 is exact; the weight becomes an i8 constant, symmetric, one scale per output column
/// (a conv's output channel). The result is the QDQ form that `fold-qdq` turns into the int8
/// GEMM and conv and `sinter export` writes for onnxruntime. Nodes whose activation has no
/// range, or whose result is named in `keep`, stay f32.
///
///     %m = matmul %x, %w : f32[8,12]                 // %w: constant f32[16,12]; %x in [-2.5, 2.5]
///     ==>
///     %x.q = quantize %x {to = "u8<0.019607844:128>"} : u8<0.019607844:128>[8,16]
///     %x.dq = dequantize %x.q : f32[8,16]
///     %w.q = constant ... : i8<axis=1: 0.0078:0, ...>[16,12]
///     %w.dq = dequantize %w.q : f32[16,12]
///     %m = matmul %x.dq, %w.dq : f32[8,12]
public struct QuantizeInt8: Pass {
    public static let name = "quantize"
    public static let summary = "post-training int8: QDQ around matmuls with constant weights, from calibrated ranges"
    public static let options = [
        PassOption("activations", .string, default: "u8", "storage of quantized activations: u8 or i8"),
        PassOption("ranges", .string, default: "", "calibrated ranges, NAME:MIN:MAX separated by ';'"),
        PassOption("keep", .string, default: "", "results of matmuls to keep in f32, separated by ';'"),
    ]

    let signed: Bool
    let ranges: [String: (Float, Float)]
    let keep: Set<String>

    public init() {
        signed = false
        ranges = [:]
        keep = []
    }

    public init(options: PassOptionValues) throws(SinterError) {
        let storage = options.string("activations")
        guard storage == "u8" || storage == "i8" else {
            throw SinterError("pass 'quantize': activations must be u8 or i8, got '\(storage)'")
        }
        signed = storage == "i8"
        var ranges: [String: (Float, Float)] = [:]
        for entry in options.string("ranges").split(separator: ";") where !entry.isEmpty {
            // Names may contain ':' (ONNX names), so the two numbers are taken from the end.
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3, let lo = Float(parts[parts.count - 2]), let hi = Float(parts[parts.count - 1]),
                lo.isFinite, hi.isFinite, lo <= hi
            else { throw SinterError("pass 'quantize': range '\(entry)' must be NAME:MIN:MAX with MIN <= MAX") }
            ranges[parts.dropLast(2).joined(separator: ":")] = (lo, hi)
        }
        self.ranges = ranges
        keep = Set(options.names("keep"))
    }

    /// The bias added after a quantized product — its only user `add(y, c)`, c a constant f32
    /// with one value per output channel — becomes i32 at scale scale_x · scale_w[j], the form
    /// ONNX's QLinearConv and onnxruntime's QDQ models use, which `fold-qdq` folds into the int8
    /// kernel's sums: `add(y, dequantize(c.q))`. A bias that does not fit i32 stays f32.
    ///
    ///     %y = add %c, %b : f32[1,16,8,8]          // %b: constant f32[16,1,1]
    ///     ==>
    ///     %b.q = constant ... : i32<axis=0: s_x·s_w[0]:0, ...>[16,1,1]
    ///     %b.dq = dequantize %b.q : f32[16,1,1]
    ///     %y = add %c, %b.dq : f32[1,16,8,8]
    static func quantizeBias(
        of i: Int, _ g: Graph, scales: [Float], _ maps: (defining: [ValueID: Int], users: [ValueID: [Int]]),
        _ rw: inout Rewriter
    ) throws(SinterError) {
        guard let (addIndex, b) = FoldQDQ.channelAdd(after: i, g, users: maps.users), let d = maps.defining[b],
            let data = g.nodes[d].payload?.data, data.dtype == .f32, let values = data.floats,
            values.count == scales.count
        else { return }
        let add = g.nodes[addIndex]
        var q: [Double] = []
        for (v, s) in zip(values, scales) {
            let r = (Double(v) / Double(s)).rounded(.toNearestOrEven)
            guard s > 0, r.isFinite, abs(r) <= Double(Int32.max) else { return }
            q.append(r)
        }
        // The channel's dimension in c's own shape: the only one that is not 1 (0 for one channel).
        let axis = data.shape.firstIndex { $0 != 1 } ?? 0
        var c = TensorData(dtype: .i32, shape: data.shape, values: q)
        c.quant = QuantParams(scales: scales, zeroPoints: scales.map { _ in 0 }, axis: scales.count > 1 ? axis : nil)
        let name = g.name(of: b)
        let cq = try rw.insert1(
            .constant, [], name: name + ".q", payload: ConstantPayload(c), at: .before(addIndex), location: add.location
        )
        let cdq = try rw.insert1(.dequantize, [cq], name: name + ".dq", at: .before(addIndex), location: add.location)
        rw.update(addIndex) { $0.operands = $0.operands.map { $0 == b ? cdq : $0 } }
    }

    /// The nodes this pass quantizes: f32 matmuls not transposing a, with b a constant f32
    /// matrix, and 2-D f32 convs (dense, grouped, depthwise) with constant weights (the int8 kernels' cases).
    public static func candidates(_ g: Graph) -> [(node: Int, activation: ValueID, weight: TensorData)] {
        let defining = g.definingNodes()
        var out: [(Int, ValueID, TensorData)] = []
        for (i, n) in g.nodes.enumerated() where n.op == .matmul || n.op == .conv {
            let rank = n.op == .matmul ? 2 : 4
            guard g.type(of: n.operands[0]).dtype == .f32, let d = defining[n.operands[1]],
                let w = g.nodes[d].payload?.data, w.dtype == .f32, w.shape.count == rank
            else { continue }
            let takes = n.op == .matmul ? n.attribute("trans_a") != .bool(true) : FoldQDQ.convRunsInt8(g, n)
            if takes { out.append((i, n.operands[0], w)) }
        }
        return out
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var rw = Rewriter(graph)
        let defining = graph.definingNodes(), users = graph.users()
        // One quantize/dequantize pair per activation, shared by every node that reads it.
        var dequantized: [ValueID: ValueID] = [:]
        for (i, activation, weight) in Self.candidates(graph) {
            let node = graph.nodes[i]
            let name = graph.name(of: node.results[0])
            guard !KeepFloat.kept(i, graph, users: users, keep), let range = ranges[graph.name(of: activation)]
            else { continue }
            let dq: ValueID
            if let shared = dequantized[activation] {
                dq = shared
            } else {
                dq = try quantize(activation, activationParams(range), graph, defining, &rw, before: i)
                dequantized[activation] = dq
            }
            // Per output channel: a conv's weights' axis 0, a matmul's columns.
            let axis = node.op == .conv || node.attribute("trans_b") == .bool(true) ? 0 : 1
            let quantizedWeight = Self.weight(weight, columnsAxis: axis)
            let wq = try rw.insert1(
                .constant, [], name: name + ".w.q", payload: ConstantPayload(quantizedWeight),
                at: .before(i), location: node.location)
            let wdq = try rw.insert1(.dequantize, [wq], name: name + ".w.dq", at: .before(i), location: node.location)
            rw.update(i) { $0.operands = [dq, wdq] }
            let scales = QuantParams.bias(
                a: activationParams(range), b: quantizedWeight.quant,
                channels: quantizedWeight.quant?.scales.count ?? 0
            ).scales
            try Self.quantizeBias(of: i, graph, scales: scales, (defining, users), &rw)
        }
        // Products of two activations: b as i8, symmetric, per tensor (the GEMM's weight side).
        var weights: [ValueID: ValueID] = [:]
        for (i, a, b) in Self.activationProducts(graph) {
            guard !KeepFloat.kept(i, graph, users: users, keep), let ra = ranges[graph.name(of: a)],
                let rb = ranges[graph.name(of: b)]
            else { continue }
            if dequantized[a] == nil {
                dequantized[a] = try quantize(a, activationParams(ra), graph, defining, &rw, before: i)
            }
            if weights[b] == nil {
                let params = QuantParams(scale: Self.symmetricScale(peak: max(abs(rb.0), abs(rb.1))), zeroPoint: 0)
                weights[b] = try quantize(b, params, graph, defining, &rw, before: i, as: .i8, suffix: ".w")
            }
            if let adq = dequantized[a], let bdq = weights[b] { rw.update(i) { $0.operands = [adq, bdq] } }
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }

    /// The matmuls between two f32 values computed at run time (attention's QKᵀ and PV), neither
    /// transposed: a is quantized as any activation, b as i8, symmetric, per tensor, and
    /// `qmatmul`'s kernel packs b as it runs.
    public static func activationProducts(_ g: Graph) -> [(node: Int, a: ValueID, b: ValueID)] {
        let defining = g.definingNodes()
        return g.nodes.indices.compactMap { i in
            let n = g.nodes[i]
            guard n.op == .matmul, n.attribute("trans_a") != .bool(true), n.attribute("trans_b") != .bool(true)
            else { return nil }
            let (a, b) = (n.operands[0], n.operands[1])
            let (at, bt) = (g.type(of: a), g.type(of: b))
            guard at.dtype == .f32, bt.dtype == .f32, at.shape != nil, bt.shape != nil, at.rank >= 2, bt.rank >= 2,
                defining[b].map({ g.nodes[$0].op != .constant }) ?? true
            else { return nil }
            return (i, a, b)
        }
    }

    /// Quantizes `activation` with `params` and dequantizes it again, before node `i`: stored
    /// as the pass's activation type, or `dtype`; the nodes' names take `suffix`.
    func quantize(
        _ activation: ValueID, _ params: QuantParams, _ graph: Graph, _ defining: [ValueID: Int],
        _ rw: inout Rewriter, before i: Int, as dtype: DType? = nil, suffix: String = ""
    ) throws(SinterError) -> ValueID {
        let storage = dtype ?? (signed ? .i8 : .u8)
        let to = Attributes(["to": .string(TensorType(storage, [Dim](), quant: params).elementDescription)])
        let name = graph.name(of: activation) + suffix
        let q = try quantized(activation, name + ".q", to, graph, defining, &rw, before: i)
        return try rw.insert1(.dequantize, [q], name: name + ".dq", at: .before(i), location: graph.nodes[i].location)
    }

    /// `value` quantized (`to`), its nodes named from `base`. A 2-D max pool's result is
    /// quantized at the pool's input and pooled as bytes: quantization is monotonic, so the max
    /// of quantized values is the quantized max, exactly. A concat's result is quantized at each
    /// input (elementwise, so exact too) and concatenated as bytes; a reshape's or transpose's
    /// (a channel shuffle) at its input, and the bytes are moved. Either way the kernels that make
    /// the inputs store them quantized, and the float op goes in `dce` when nothing else reads it.
    ///
    ///     %p = max-pool %r {kernel = [3, 3], ...} : f32[1,64,55,55]
    ///     ==>
    ///     %p.q = quantize %r {to = "u8<...>"} : u8<...>[1,64,111,111]
    ///     %p.qpool = max-pool %p.q {kernel = [3, 3], ...} : u8<...>[1,64,55,55]
    private func quantized(
        _ value: ValueID, _ base: String, _ to: Attributes, _ graph: Graph, _ defining: [ValueID: Int],
        _ rw: inout Rewriter, before i: Int
    ) throws(SinterError) -> ValueID {
        if let p = defining[value], graph.type(of: value).rank == 4, [.maxPool, .concat].contains(graph.nodes[p].op) {
            let n = graph.nodes[p]
            var parts: [ValueID] = []
            for (k, input) in n.operands.enumerated() {
                let suffix = n.op == .maxPool ? "" : "\(k)"
                parts.append(try quantized(input, base + suffix, to, graph, defining, &rw, before: i))
            }
            return try rw.insert1(
                n.op, parts, name: base + (n.op == .maxPool ? "pool" : "cat"), attributes: n.attributes,
                at: .before(i), location: n.location)
        }
        // A constant pad of zeros in front of a conv: pad the bytes with the zero point (real 0),
        // which `fold-pad` then folds into the int8 conv's window.
        if let p = defining[value], graph.nodes[p].op == .pad, graph.type(of: value).rank == 4,
            PadMode(graph.nodes[p].attributes) == .constant,
            (graph.nodes[p].attribute("value").map { $0 == .float(0) } ?? true),
            graph.type(of: graph.nodes[p].operands[0]).dtype == .f32
        {
            let n = graph.nodes[p]
            let moved = try quantized(n.operands[0], base + ".m", to, graph, defining, &rw, before: i)
            let zero = rw.graph.type(of: moved).quant?.zeroPoints.first ?? 0
            var attributes = n.attributes
            attributes["value"] = .float(Double(zero))
            return try rw.insert1(
                .pad, [moved], name: base + "pad", attributes: attributes, at: .before(i), location: n.location)
        }
        // A reshape or transpose only moves values (a channel shuffle): move the bytes instead.
        if let p = defining[value], [.reshape, .transpose].contains(graph.nodes[p].op),
            graph.type(of: graph.nodes[p].operands[0]).dtype == .f32
        {
            let n = graph.nodes[p]
            let moved = try quantized(n.operands[0], base + ".m", to, graph, defining, &rw, before: i)
            return try rw.insert1(
                n.op, [moved], name: base + (n.op == .reshape ? "reshape" : "perm"), attributes: n.attributes,
                at: .before(i), location: n.location)
        }
        return try rw.insert1(
            .quantize, [value], name: base, attributes: to, at: .before(i), location: graph.nodes[i].location)
    }

    /// Scale and zero point for a range, widened to hold 0: u8 asymmetric over [lo, hi], or i8
    /// with the zero point shifted by −128.
    func activationParams(_ range: (Float, Float)) -> QuantParams {
        let lo = min(range.0, 0), hi = max(range.1, 0)
        let scale = hi > lo ? (hi - lo) / 255 : 1
        let zero = Int(max(0, min(255, (-lo / scale).rounded(.toNearestOrEven))))
        return QuantParams(scale: scale, zeroPoint: signed ? zero - 128 : zero)
    }

    /// The scale of symmetric i8 for values in [−peak, peak]: peak / 127 (1 when all are 0).
    /// Weights per column and a run-time b per tensor take it.
    static func symmetricScale(peak: Float) -> Float { peak > 0 ? peak / 127 : 1 }

    /// The weight as i8, symmetric, one scale per output column (`columnsAxis` 1 for [K, N],
    /// 0 for a transposed [N, K] or a conv's [M, C, kh, kw]); an all-zero column gets scale 1.
    static func weight(_ w: TensorData, columnsAxis axis: Int) -> TensorData {
        let values = w.floats ?? []
        let rows = w.shape[0], cols = rows > 0 ? values.count / rows : 0
        let count = axis == 1 ? cols : rows
        var peak = [Float](repeating: 0, count: count)
        for r in 0..<rows {
            for c in 0..<cols { peak[axis == 1 ? c : r] = max(peak[axis == 1 ? c : r], abs(values[r * cols + c])) }
        }
        let scales = peak.map { Self.symmetricScale(peak: $0) }
        let q = (0..<values.count).map { i -> Double in
            let s = scales[axis == 1 ? i % cols : i / cols]
            return Double(max(-127, min(127, (values[i] / s).rounded(.toNearestOrEven))))
        }
        var out = TensorData(dtype: .i8, shape: w.shape, values: q)
        out.quant = QuantParams(scales: scales, zeroPoints: scales.map { _ in 0 }, axis: axis)
        return out
    }
}
