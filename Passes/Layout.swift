import SinterIR

/// `layout`: runs 2-D convolutions on channel-blocked tensors (NCHWc, b channels per block,
/// b = the target's f32 vector width), where one vector holds b output channels of one pixel
/// and the kernel needs no im2col buffer. Elementwise ops between blocked convolutions (bias,
/// activation, residual adds, folded batch norm), channel concats, 2-D pooling and reductions
/// over the spatial axes (global pooling) of blocked values run blocked too, so a chain of
/// convolutions converts once on the way in and once on the way out. Conversions are a
/// reshape plus a transpose; a value that already has a blocked form is never converted
/// again, and unused conversions are removed. Weights are constants, blocked at compile time.
///
/// Dense convs with group 1 are blocked, and so are depthwise convs (group = channels, channels
/// filling whole blocks) whose input is already blocked; other depthwise convs run direct on
/// NCHW. A dense f32 conv whose input channels do not fill blocks (a first layer with 3
/// channels) reads its NCHW input as one-channel blocks; output channels that do not fill the
/// last block are zero-padded when that costs at most 1/4 more (see `padWaste`). A padded
/// dense conv on a blocked input reads it through an explicit blocked `pad`, so its kernel
/// tiles pixels across rows with no border cases (ResNet-50: 76.6 → 70.9 ms on one thread).
/// bf16 convs (`to = "f32"`) and int8 ones (`qconv` → `qconv-nchwc`, input padded with its zero
/// point) block the same way; their dot steps take channel pairs or quads, so input channels
/// that fill no block are padded to a whole pair or quad (against zero weights) and read as
/// one block. Byte max pools between int8 convs run blocked too.
/// Elementwise ops, concats and pools are blocked when that saves or moves a conversion (see
/// `worthBlocking`) and every operand has a blocked form or is a per-channel constant.
///
///     %c = conv %x, %w {pads = [1, 1, 1, 1]} : f32[1,32,8,8]
///     %r = relu %c : f32[1,32,8,8]
///     %y = conv %r, %w2 : f32[1,32,8,8]
///     ==>  (b = 16)
///     %x.r = reshape %x {shape = [1, 2, 16, 8, 8]} : f32[1,2,16,8,8]
///     %x.b = transpose %x.r {perm = [0, 1, 3, 4, 2]} : f32[1,2,8,8,16]
///     %c.b = conv-nchwc %x.b, %w.b {pads = [1, 1, 1, 1]} : f32[1,2,8,8,16]
///     %r.b = relu %c.b : f32[1,2,8,8,16]
///     %y.b = conv-nchwc %r.b, %w2.b : f32[1,2,8,8,16]
///     %y.t = transpose %y.b {perm = [0, 1, 4, 2, 3]} : f32[1,2,16,8,8]
///     %y = reshape %y.t {shape = [1, 32, 8, 8]} : f32[1,32,8,8]
public struct Layout: Pass {
    public static let name = "layout"
    public static let summary = "run conv chains on channel-blocked NCHWc tensors, converting only at the chain's ends"
    public static let options = [
        PassOption(
            "block", .int, default: "\(defaultBlock)",
            "channels per block; the driver sets the target's f32 vector width, "
                + "and 0 or 1 turns the pass off")
    ]
    static let defaultBlock = 16
    /// Channels per block (`layout{block=8}`).
    public var block = defaultBlock
    public init() {}
    public init(block: Int) { self.block = block }
    public init(options: PassOptionValues) throws(SinterError) { block = try options.int("block") }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        let b = block
        guard b > 1 else { return false }
        let defining = graph.definingNodes()
        var rw = Rewriter(graph)
        var blocked: [ValueID: ValueID] = [:]
        let worth = Self.worthBlocking(graph, b, defining)
        var current = 0  // the node being rewritten; new nodes go in front of it

        /// Inserts a node before the current one; its result type comes from the op's shape
        /// rule, or it defines `result` (the current node's value, which it takes over).
        func add(
            _ op: Op, _ operands: [ValueID], _ name: String, _ attrs: Attributes = Attributes(),
            payload: ConstantPayload? = nil, result: ValueID? = nil, at loc: SourceLocation
        ) throws(SinterError) -> ValueID {
            try rw.insert(
                op, operands, name: name, attributes: attrs, payload: payload, results: result.map { [$0] },
                at: .before(current), location: loc)[0]
        }
        var g: Graph { rw.graph }
        /// [N, C, H, W] → [N, C/b, H, W, b], reusing a blocked form when there is one.
        func toBlocked(_ v: ValueID, at loc: SourceLocation) throws(SinterError) -> ValueID {
            if let vb = blocked[v] { return vb }
            let s = g.type(of: v).shape ?? []
            let r = try add(
                .reshape, [v], g.name(of: v) + ".r", Attributes(["shape": .ints([s[0], s[1] / b, b, s[2], s[3]])]),
                at: loc)
            let vb = try add(
                .transpose, [r], g.name(of: v) + ".b", Attributes(["perm": .ints([0, 1, 3, 4, 2])]), at: loc)
            blocked[v] = vb
            return vb
        }
        /// A dot step's input whose channels fill no block, [N, C, H, W], as one block of bi
        /// channels: `padChannels` (to bi, with the stored `value`), then `asOneBlock` [N, 1, H, W, bi].
        func padChannels(_ v: ValueID, _ bi: Int, value: Double, at loc: SourceLocation) throws(SinterError)
            -> ValueID
        {
            let c = (g.type(of: v).shape ?? [])[1]
            guard bi != c else { return v }
            var attrs = Attributes(["pads": .ints([0, 0, 0, 0, 0, bi - c, 0, 0])])
            if value != 0 { attrs["value"] = .float(value) }
            return try add(.pad, [v], g.name(of: v) + ".c\(bi)", attrs, at: loc)
        }
        func asOneBlock(_ v: ValueID, named base: ValueID, at loc: SourceLocation) throws(SinterError) -> ValueID {
            let s = g.type(of: v).shape ?? []
            let r = try add(
                .reshape, [v], g.name(of: base) + ".r\(s[1])",
                Attributes(["shape": .ints([s[0], 1, s[1], s[2], s[3]])]), at: loc)
            return try add(
                .transpose, [r], g.name(of: base) + ".b\(s[1])", Attributes(["perm": .ints([0, 1, 3, 4, 2])]),
                at: loc)
        }
        /// Records `vb` as the blocked form of `v` and writes `v` (its original value, so users
        /// and outputs are untouched) from it, dropping the padding channels of a last partial block.
        func produce(_ v: ValueID, blocked vb: ValueID, at loc: SourceLocation) throws(SinterError) {
            blocked[v] = vb
            let t = g.type(of: v)
            let s = g.type(of: vb).shape ?? []
            var r = try add(
                .transpose, [vb], g.name(of: v) + ".t", Attributes(["perm": .ints([0, 1, 4, 2, 3])]), at: loc)
            let channels = (t.shape ?? [])[1]
            if channels != s[1] * s[4] {
                r = try add(
                    .reshape, [r], g.name(of: v) + ".p", Attributes(["shape": .ints([s[0], s[1] * s[4], s[2], s[3]])]),
                    at: loc)
                r = try add(
                    .slice, [r], g.name(of: v) + ".s",
                    Attributes(["starts": .ints([0, 0, 0, 0]), "ends": .ints([s[0], channels, s[2], s[3]])]), at: loc)
            }
            _ = try add(.reshape, [r], "", Attributes(["shape": .ints(t.shape ?? [])]), result: v, at: loc)
        }
        /// Blocked copies of constants, made once per constant and shape.
        var constants: [String: ValueID] = [:]
        func constant(_ source: ValueID, _ make: () -> TensorData, at loc: SourceLocation) throws(SinterError)
            -> ValueID
        {
            let data = make()
            let key = "\(source.index) \(data.shape)"
            if let v = constants[key] { return v }
            let v = try add(.constant, [], g.name(of: source) + ".b", payload: ConstantPayload(data), at: loc)
            constants[key] = v
            return v
        }

        /// qconv → qconv-nchwc on the blocked input, padded with its zero point (real 0) first. An
        /// input whose channels do not fill blocks (a first layer's 3) is read as one block of
        /// its channels padded to a multiple of 4, against zero weights for the padding.
        func blockQConv(_ node: Node, _ r: ValueID, _ name: String, at loc: SourceLocation) throws(SinterError) {
            let x = node.operands[0], xs = g.type(of: x).shape ?? []
            let zero = g.type(of: x).quant?.zeroPoints.first ?? 0
            var input: ValueID, weights = node.operands[1]
            var attrs = Attributes()
            if xs[1] % b == 0 {
                input = try toBlocked(x, at: loc)
            } else {
                let bi = (xs[1] + 3) / 4 * 4
                input = try padChannels(x, bi, value: Double(zero), at: loc)
                if bi != xs[1], let w = graph.constantValue(weights, defining: defining) {
                    weights = try constant(weights, { Self.padInputChannels(w, to: bi) }, at: loc)
                }
                input = try asOneBlock(input, named: x, at: loc)
                attrs["block"] = .int(b)
            }
            if let pads = node.attributes.ints("pads"), pads.count == 4, pads.contains(where: { $0 != 0 }) {
                input = try add(
                    .pad, [input], g.name(of: node.operands[0]) + ".pad",
                    Attributes([
                        "pads": .ints([0, 0, pads[0], pads[1], 0, 0, 0, pads[2], pads[3], 0]),
                        "value": .float(Double(zero)),
                    ]), at: loc)
            }
            for key in ["strides", "dilations"] { attrs[key] = node.attributes[key] }
            let operands = [input, weights] + node.operands.dropFirst(2)
            try produce(r, blocked: try add(.qconvNCHWc, operands, name, attrs, at: loc), at: loc)
        }

        for (i, node) in graph.nodes.enumerated() {
            current = i
            let loc = node.location
            let r = node.results.first
            let name = r.map { g.name(of: $0) + ".b" } ?? ""
            // Convolutions: a depthwise kernel, or a dense one (whose input may be NCHW, read
            // as [N, C, H, W, 1] one-channel blocks when its channels do not fill a block).
            // A depthwise conv runs blocked only inside a blocked chain: on its own, the direct
            // NCHW kernel beats the two conversions it would need.
            // So does a grouped conv (ShuffleNet's: 1×1, 4 groups): on its own, converting its
            // result back costs more than blocking saves (ShuffleNet v1's channel shuffles
            // follow them: 5.19 → 5.27 ms on one thread blocking every grouped conv there), and
            // its groups of 68 channels straddle blocks of 16: blocked it did 1.34× the
            // multiply-adds at 177 GFLOP/s, the NCHW GEMM per group 247 (Benchmarks/grouped.py).
            if let r, Self.blockableQConv(graph, node, b, defining) {
                try blockQConv(node, r, name, at: loc)
                rw.erase(i)
                continue
            }
            let insideChain = node.operands.first.map { blocked[$0] != nil } == true
            let depthwise = insideChain ? Self.blockableDepthwise(graph, node, b, defining) : nil
            let group = depthwise == nil ? node.attributes.int("group") ?? 1 : 1
            if let r, group == 1 || insideChain, let w = depthwise ?? Self.blockableConv(graph, node, b, defining) {
                let xs = graph.type(of: node.operands[0]).shape ?? []
                // A bf16 conv's dot step takes channel pairs: a first layer's 3 channels are
                // padded to 4 (zeros against zero weights) and read as one block.
                let bf16 = graph.type(of: node.operands[0]).dtype == .bf16
                let oneBlock = depthwise == nil && xs[1] % b != 0
                let bi = oneBlock ? (bf16 ? (xs[1] + 1) / 2 * 2 : 1) : b
                var xb: ValueID
                if !oneBlock {
                    xb = try toBlocked(node.operands[0], at: loc)
                } else if bi == 1 {
                    xb = try add(
                        .reshape, [node.operands[0]], g.name(of: node.operands[0]) + ".c1",
                        Attributes(["shape": .ints(xs + [1])]), at: loc)
                } else {
                    let x = node.operands[0]
                    xb = try asOneBlock(try padChannels(x, bi, value: 0, at: loc), named: x, at: loc)
                }
                let wb = try constant(
                    node.operands[1],
                    {
                        depthwise != nil
                            ? Self.blockDepthwise(w, b)
                            : Self.blockWeights(
                                oneBlock && bi > 1 && bi != xs[1] ? Self.padInputChannels(w, to: bi) : w, inBlock: bi,
                                outBlock: b, group: group)
                    }, at: loc)
                var attrs = Attributes()
                for key in ["strides", "pads", "dilations", "to"] { attrs[key] = node.attributes[key] }
                if group > 1 { attrs["group"] = .int(group) }
                // A dense conv on a blocked input reads it through an explicit pad: every tap
                // of every pixel is then inside the image, and the kernel tiles pixels across
                // rows (a 7 × 7 output in tiles of 12, not rows of 7 with single-pixel borders).
                var input = xb
                if depthwise == nil, bi > 1, let pads = node.attributes.ints("pads"), pads.count == 4,
                    pads.contains(where: { $0 != 0 })
                {
                    input = try add(
                        .pad, [xb], g.name(of: node.operands[0]) + ".pad",
                        Attributes(["pads": .ints([0, 0, pads[0], pads[1], 0, 0, 0, pads[2], pads[3], 0])]), at: loc)
                    attrs["pads"] = nil
                }
                try produce(
                    r,
                    blocked: try add(
                        depthwise != nil ? .depthwiseConvNCHWc : .convNCHWc, [input, wb], name, attrs, at: loc), at: loc
                )
                rw.erase(i)
                continue
            }
            guard let r, worth.contains(r) else { continue }
            if let op = Self.blockedWindowOp(graph, node, b), let xb = blocked[node.operands[0]] {
                var attrs = node.attributes
                if op.schema.traits.contains(.reducesAxes) {
                    // A reduction over H and W keeps its dims while blocked; the conversion reshapes.
                    attrs["keepdims"] = .bool(true)
                    attrs["axes"] = .ints(Set((node.attributes.ints("axes") ?? []).map { ($0 + 4) % 4 }).sorted())
                }
                try produce(r, blocked: try add(op, [xb], name, attrs, at: loc), at: loc)
            } else if Self.blockableConcat(graph, node, b, blocked: blocked) {
                try produce(
                    r,
                    blocked: try add(
                        .concat, node.operands.map { blocked[$0] ?? $0 }, name, Attributes(["axis": .int(1)]), at: loc),
                    at: loc)
            } else if let plan = Self.blockableElementwise(graph, node, b, blocked: blocked, defining) {
                var operands: [ValueID] = []
                for (o, data) in zip(node.operands, plan) {
                    if let data {
                        operands.append(try constant(o, { data }, at: loc))
                    } else {
                        operands.append(try toBlocked(o, at: loc))
                    }
                }
                try produce(r, blocked: try add(node.op, operands, name, node.attributes, at: loc), at: loc)
            } else {
                continue
            }
            rw.erase(i)
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        _ = try DeadCodeElimination().run(&graph, context)
        return true
    }

    /// A conv that runs blocked, as a dense or a depthwise kernel, or an int8 one.
    static func blockable(_ g: Graph, _ n: Node, _ b: Int, _ defining: [ValueID: Int]) -> Bool {
        blockableConv(g, n, b, defining) != nil || blockableDepthwise(g, n, b, defining) != nil
            || blockableQConv(g, n, b, defining)
    }

    /// A qconv that runs as `qconv-nchwc`: 2-D, one group, output channels filling whole blocks
    /// of a multiple of 4 (whole k quads), constant weights (packed at compile time). Input
    /// channels that do not fill blocks are read as one block (`blockQConv`). Grouped and
    /// depthwise qconvs stay NCHW.
    static func blockableQConv(_ g: Graph, _ n: Node, _ b: Int, _ defining: [ValueID: Int]) -> Bool {
        guard n.op == .qconv, b % 4 == 0, (n.attributes.int("group") ?? 1) == 1,
            let x = g.type(of: n.operands[0]).shape, x.count == 4, x[1] > 0,
            g.type(of: n.operands[0]).quant?.axis == nil, let w = g.type(of: n.operands[1]).shape,
            w.count == 4, w[0] % b == 0, g.constantValue(n.operands[1], defining: defining) != nil
        else { return false }
        return true
    }

    /// A depthwise conv's constant weights [C, 1, kh, kw] when it can run blocked: 2-D, one
    /// group per channel, as many outputs as inputs, and C filling whole blocks.
    static func blockableDepthwise(_ g: Graph, _ n: Node, _ b: Int, _ defining: [ValueID: Int]) -> TensorData? {
        guard n.op == .conv, let x = g.type(of: n.operands[0]).shape, x.count == 4, x[1] > 0, x[1] % b == 0,
            (n.attributes.int("group") ?? 1) == x[1], g.type(of: n.operands[0]).dtype == .f32,
            g.type(of: n.results[0]).dtype == .f32,
            let w = g.constantValue(n.operands[1], defining: defining), w.shape.count == 4, w.shape[0] == x[1],
            w.shape[1] == 1
        else { return nil }
        return w
    }

    /// Weights [M, C, kh, kw] → [M, bi, kh, kw], zero for the input channels past C.
    static func padInputChannels(_ w: TensorData, to bi: Int) -> TensorData {
        let (m, c, taps) = (w.shape[0], w.shape[1], w.shape[2] * w.shape[3])
        var sources: [Int] = []
        sources.reserveCapacity(m * bi * taps)
        for o in 0..<m {
            for ci in 0..<bi {
                for t in 0..<taps { sources.append(ci < c ? (o * c + ci) * taps + t : -1) }
            }
        }
        return w.gathering(sources, shape: [m, bi, w.shape[2], w.shape[3]])
    }

    /// [C, 1, kh, kw] → [C/b, kh, kw, b]: one weight vector per tap for b channels.
    static func blockDepthwise(_ w: TensorData, _ b: Int) -> TensorData {
        let (c, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        var sources: [Int] = []
        sources.reserveCapacity(w.count)
        for cb in 0..<(c / b) {
            for y in 0..<kh {
                for x in 0..<kw {
                    for l in 0..<b { sources.append(((cb * b + l) * kh + y) * kw + x) }
                }
            }
        }
        return w.gathering(sources, shape: [c / b, kh, kw, b])
    }

    /// The convolution's constant weights when it can run blocked: a dense conv, or a grouped
    /// one (not depthwise) whose input and output channels fill whole blocks and whose output
    /// blocks, reading the input blocks their groups span, do at most twice the multiply-adds
    /// (groups of 34 or 68 channels; not ResNeXt's groups of 4 at b = 16).
    static func blockableConv(_ g: Graph, _ n: Node, _ b: Int, _ defining: [ValueID: Int]) -> TensorData? {
        let group = n.attributes.int("group") ?? 1
        guard n.op == .conv else { return nil }
        // A bf16 conv (`to = "f32"`, what precision-bf16 makes) runs blocked when dense: the dot
        // step takes two channels per word, so an odd first layer is padded to a pair.
        let bf16 =
            g.type(of: n.operands[0]).dtype == .bf16 && n.attribute("to") != nil && group == 1 && b % 2 == 0
        guard let x = g.type(of: n.operands[0]).shape,
            x.count == 4, g.type(of: n.operands[0]).dtype == .f32 || bf16,
            g.type(of: n.results[0]).dtype == .f32, let w = g.constantValue(n.operands[1], defining: defining),
            w.shape.count == 4, x[1] > 0, w.shape[0] > 0, padWaste(w.shape[0], b)
        else { return nil }
        guard group > 1 else { return w }
        let (c, m) = (x[1], w.shape[0])
        guard w.shape[1] > 1, c % b == 0, m % group == 0, m % b == 0 else { return nil }
        let reads = (0..<(m / b)).reduce(0) { sum, ob in
            sum + ShapeRules.groupedInBlocks(ob, inChannels: c, outChannels: m, group: group, x: b, y: b).count
        }
        return reads * b * b <= 2 * m * w.shape[1] ? w : nil
    }

    /// Output channels that do not fill the last block are zero-padded (1000 classes → 1008)
    /// when that adds at most 1/4 of the work: ShuffleNet's first conv (3 → 24 channels, 3 × 3
    /// stride 2 at 224²) padded to 32 ran 0.170 → 0.095 ms against NCHW im2col on a Zen 5
    /// core, and the model 4.6% faster. Padded lanes only flow through lane-wise ops
    /// (elementwise, pooling, spatial reductions) and are sliced off at the conversion back:
    /// a concat or a conv never reads a padded blocked value.
    static func padWaste(_ channels: Int, _ b: Int) -> Bool {
        let padded = (channels + b - 1) / b * b
        return (padded - channels) * 4 <= padded
    }

    /// Results worth producing blocked. A blockable convolution's always. An elementwise op's
    /// or concat's when it can be blocked at all and either a user wants its result blocked or
    /// it is the only user of an operand that can be blocked: then the conversion happens after
    /// it rather than before (same bytes), and it can run in the convolution's epilogue. An op
    /// whose blocked operand is needed in NCHW anyway, and whose users all need NCHW, stays
    /// NCHW: blocking it would only add a conversion back.
    static func worthBlocking(_ g: Graph, _ b: Int, _ defining: [ValueID: Int]) -> Set<ValueID> {
        let users = g.users()
        func candidate(_ n: Node) -> Bool {
            if blockedWindowOp(g, n, b) != nil { return true }
            return ((n.op.schema.kernel == .elementwise && n.op != .expand) || n.op == .concat) && n.results.count == 1
                && (g.type(of: n.results[0]).shape.map {
                    $0.count == 4 && $0[1] > 0 && (n.op != .concat || $0[1] % b == 0)
                } ?? false)
        }
        // Optimistically: values that could have a blocked form.
        var can = Set<ValueID>()
        for n in g.nodes where n.results.count == 1 {
            if blockable(g, n, b, defining) || (candidate(n) && n.operands.contains(where: can.contains)) {
                can.insert(n.results[0])
            }
        }
        var worth = Set<ValueID>()
        for n in g.nodes.reversed() where n.results.count == 1 && can.contains(n.results[0]) {
            let r = n.results[0]
            if n.op == .conv || n.op == .qconv {
                worth.insert(r)
                continue
            }
            let wanted = (users[r] ?? []).contains { u in
                let user = g.nodes[u]
                return user.op == .conv || user.op == .qconv
                    ? blockable(g, user, b, defining) && user.operands[0] == r : worth.contains(user.results[0])
            }
            let soleUser = n.operands.contains { o in
                can.contains(o) && (users[o] ?? []).count == 1 && !g.outputs.contains(o)
            }
            if wanted || soleUser { worth.insert(r) }
        }
        return worth
    }

    /// The blocked form of a 2-D pooling, or of a reduction over only the spatial axes of an
    /// [N, C, H, W] tensor (global average pooling), when C fills whole blocks. f32, or bytes
    /// for a max pool (quantized values between int8 convs).
    static func blockedWindowOp(_ g: Graph, _ n: Node, _ b: Int) -> Op? {
        guard n.results.count == 1, let x = g.type(of: n.operands.first ?? n.results[0]).shape, x.count == 4, x[1] > 0
        else { return nil }
        let dtype = g.type(of: n.results[0]).dtype
        guard dtype == .f32 || (n.op == .maxPool && [.u8, .i8].contains(dtype) && x[1] % b == 0) else { return nil }
        if n.op.schema.traits.contains(.reducesAxes) {
            // Every reduction is lane-wise over H and W, so it runs on blocks unchanged.
            guard let axes = n.attributes.ints("axes"), !axes.isEmpty,
                axes.allSatisfy({ [2, 3].contains(($0 + 4) % 4) })
            else { return nil }
            return n.op
        }
        switch n.op {
        case .maxPool: return .maxPoolNCHWc
        case .avgPool: return .avgPoolNCHWc
        default: return nil
        }
    }

    /// A channel concat of blocked values whose channel counts fill whole blocks concatenates
    /// the blocks (fire modules, inception branches).
    static func blockableConcat(_ g: Graph, _ n: Node, _ b: Int, blocked: [ValueID: ValueID]) -> Bool {
        guard n.op == .concat, let s = g.type(of: n.results[0]).shape, s.count == 4,
            let axis = n.attributes.int("axis"),
            (axis + 4) % 4 == 1
        else { return false }
        return n.operands.allSatisfy { o in blocked[o] != nil && (g.type(of: o).shape?[1] ?? 1) % b == 0 }
    }

    /// For a blockable elementwise node, per operand: nil (use its blocked form) or the
    /// constant's blocked data. Nil overall when the node stays as it is.
    static func blockableElementwise(
        _ g: Graph, _ n: Node, _ b: Int, blocked: [ValueID: ValueID],
        _ defining: [ValueID: Int]
    ) -> [TensorData?]? {
        // expand's `shape` attribute is NCHW: it stays as it is.
        guard n.op.schema.kernel == .elementwise, n.op != .expand, n.results.count == 1,
            let s = g.type(of: n.results[0]).shape, s.count == 4,
            s[1] > 0, n.operands.contains(where: { blocked[$0] != nil })
        else { return nil }
        var plan: [TensorData?] = []
        for o in n.operands {
            if blocked[o] != nil {
                guard g.type(of: o).shape == s else { return nil }
                plan.append(nil)
            } else if let c = g.constantValue(o, defining: defining), c.shape.count <= 4 {
                let c4 = Array(repeating: 1, count: 4 - c.shape.count) + c.shape
                guard c4[1] == 1 || c4[1] == s[1] else { return nil }
                plan.append(blockConstant(c, c4, b))
            } else {
                return nil
            }
        }
        return plan
    }

    /// A constant broadcasting against [N, C, H, W], as one broadcasting against
    /// [N, C/b, H, W, b]: channels split into blocks and lanes, or size-1 dims kept.
    static func blockConstant(_ c: TensorData, _ c4: [Int], _ b: Int) -> TensorData {
        guard c4[1] != 1 else {
            var reshaped = c
            reshaped.shape = [c4[0], 1, c4[2], c4[3], 1]
            return reshaped
        }
        let st = contiguousStrides(c4)
        var sources: [Int] = []
        sources.reserveCapacity(c.count + b * c4[0] * c4[2] * c4[3])
        for n in 0..<c4[0] {
            for cb in 0..<((c4[1] + b - 1) / b) {
                for h in 0..<c4[2] {
                    for w in 0..<c4[3] {
                        for l in 0..<b {
                            let ch = cb * b + l
                            sources.append(ch < c4[1] ? n * st[0] + ch * st[1] + h * st[2] + w * st[3] : -1)
                        }
                    }
                }
            }
        }
        return c.gathering(sources, shape: [c4[0], (c4[1] + b - 1) / b, c4[2], c4[3], b])
    }

    /// [M, C/group, kh, kw] → [⌈M/b⌉, span, kh, kw, bi (input lane), b (output lane)]: for one
    /// input channel and tap, the b output channels of a block are one contiguous vector. Dense
    /// (group 1): span = C/bi. Grouped: output block ob holds the `span` input blocks from
    /// `ShapeRules.groupedInBlocks(ob)`'s start, zero where a channel is outside its group.
    static func blockWeights(_ w: TensorData, inBlock bi: Int, outBlock b: Int, group: Int = 1) -> TensorData {
        let s = w.shape
        let (m, cg, kh, kw) = (s[0], s[1], s[2], s[3])
        let (c, mg) = (cg * group, m / group)
        let mb = (m + b - 1) / b
        let span = ShapeRules.groupedInBlockSpan(inChannels: c, outChannels: m, group: group, x: bi, y: b)
        var sources = [Int](repeating: -1, count: mb * b * span * bi * kh * kw)
        var i = 0
        for ob in 0..<mb {
            let first = ShapeRules.groupedInBlocks(ob, inChannels: c, outChannels: m, group: group, x: bi, y: b)
                .lowerBound
            // Each lane's output channel and its group's first input channel.
            let lanes = (0..<b).map { ol in (o: ob * b + ol, start: (ob * b + ol) / mg * cg) }
            for ib in first..<(first + span) {
                for y in 0..<kh {
                    for x in 0..<kw {
                        for il in 0..<bi {
                            for lane in lanes {
                                // Output channels past m (a padded last block) and input channels
                                // outside the output channel's group get zero weights.
                                let ci = ib * bi + il - lane.start
                                if lane.o < m, ci >= 0, ci < cg {
                                    sources[i] = ((lane.o * cg + ci) * kh + y) * kw + x
                                }
                                i += 1
                            }
                        }
                    }
                }
            }
        }
        return w.gathering(sources, shape: [mb, span, kh, kw, bi, b])
    }
}
