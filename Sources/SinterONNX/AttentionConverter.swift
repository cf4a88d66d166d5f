import SinterIR

/// ONNX `Attention` (opsets 23+) written out in IR ops, following the ONNX reference:
/// 3-D inputs split into heads, past key/value concatenated, causal / sliding-window /
/// padding biases built at import (shapes are static), boolean masks turned into additive
/// ones, grouped-query heads repeated, softcap, fully masked rows giving zeros. f16/bf16
/// inputs compute in f32 and convert back.
extension Converters {
    static let attention: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        var q = try ctx.input(n, 0), k = try ctx.input(n, 1), v = try ctx.input(n, 2)
        let mask = try ctx.optionalInput(n, 3)
        let pastKey = try ctx.optionalInput(n, 4), pastValue = try ctx.optionalInput(n, 5)
        let nonpad = try ctx.constantInput(n, 6, "nonpad_kv_seqlen")?.ints
        guard (pastKey == nil) == (pastValue == nil) else {
            throw n.error("past_key and past_value must be given together")
        }
        let dtype = ctx.type(q).dtype
        func f32(_ x: ValueID, _ tag: String) throws(SinterError) -> ValueID {
            ctx.type(x).dtype == .f32 || !ctx.type(x).dtype.isFloat
                ? x
                : try ctx.emit(.cast, [x], attrs(["to": .string("f32")]), name: "\(name).\(tag).f32", at: n)
        }
        func back(_ x: ValueID, _ outName: String) throws(SinterError) -> ValueID {
            dtype == .f32 ? x : try ctx.emit(.cast, [x], attrs(["to": .string(dtype.rawValue)]), name: outName, at: n)
        }
        q = try f32(q, "q"); k = try f32(k, "k"); v = try f32(v, "v")

        // 3-D [B, S, H·D] → 4-D [B, H, S, D]; each of Q, K and V is one or the other.
        let rank = ctx.type(q).rank
        func heads(_ x: ValueID, _ count: Int?, _ tag: String) throws(SinterError) -> ValueID {
            let r = ctx.type(x).rank
            guard r == 3 else {
                guard r == 4 else {
                    throw n.error(
                        "\(tag) must be 3-D [batch, sequence, hidden] or 4-D [batch, heads, sequence, size], "
                            + "got \(ctx.type(x))")
                }
                return x
            }
            guard let count, count > 0 else { throw n.error("3-D inputs need q_num_heads and kv_num_heads") }
            let s = try ctx.staticShape(x, n)
            let split = try reshape(ctx, x, [s[0], s[1], count, s[2] / count], "\(name).\(tag).heads", n)
            return try ctx.emit(
                .transpose, [split], attrs(["perm": .ints([0, 2, 1, 3])]), name: "\(name).\(tag).bhsd", at: n)
        }
        q = try heads(q, n.int("q_num_heads"), "q")
        k = try heads(k, n.int("kv_num_heads"), "k")
        v = try heads(v, n.int("kv_num_heads"), "v")
        if let pastKey, let pastValue {
            k = try ctx.emit(
                .concat, [try f32(pastKey, "past_k"), k], attrs(["axis": .int(2)]), name: "\(name).present_key", at: n)
            v = try ctx.emit(
                .concat, [try f32(pastValue, "past_v"), v], attrs(["axis": .int(2)]), name: "\(name).present_value",
                at: n)
        }
        let presentKey = k, presentValue = v
        let qs = try ctx.staticShape(q, n), ks = try ctx.staticShape(k, n)
        let (batch, qHeads, qLen, headSize) = (qs[0], qs[1], qs[2], qs[3])
        let kvLen = ks[2]
        let pastLen = try pastKey.map { p throws(SinterError) in try ctx.staticShape(p, n)[2] } ?? 0

        // Additive bias: the static parts (causal, window, padding) are computed here.
        var bias: ValueID?
        if var m = mask {
            m = try f32(m, "mask")
            let ms = try ctx.staticShape(m, n)
            if let last = ms.last, last < kvLen {
                var pads = Array(repeating: 0, count: 2 * ms.count)
                pads[2 * ms.count - 1] = kvLen - last
                let fill: Double = ctx.type(m).dtype == .bool ? 0 : -.infinity
                m = try ctx.emit(
                    .pad, [m], attrs(["pads": .ints(pads), "value": .float(fill)]), name: "\(name).mask.padded", at: n)
            }
            if ctx.type(m).dtype == .bool {
                let zero = try ctx.scalar(0, .f32, name: "\(name).zero"),
                    ninf = try ctx.scalar(-.infinity, .f32, name: "\(name).ninf")
                m = try ctx.emit(.where, [m, zero, ninf], name: "\(name).mask.bias", at: n)
            }
            bias = m
        }
        let isCausal = n.int("is_causal", default: 0) == 1
        let left = n.int("left_window_size", default: -1), right = n.int("right_window_size", default: -1)
        if let nonpad, !nonpad.allSatisfy((0...kvLen).contains) {
            throw n.error("nonpad_kv_seqlen \(nonpad) must lie in 0...\(kvLen), the key length")
        }
        if isCausal || left >= 0 || right >= 0 || nonpad != nil {
            // One offset per batch: keys j visible from query i when j <= i + offset.
            let offsets: [Int] = (0..<batch).map { b in
                if pastKey == nil, let nonpad { return (b < nonpad.count ? nonpad[b] : kvLen) - qLen }
                return pastLen
            }
            var values: [Double] = []
            for b in 0..<batch {
                for i in 0..<qLen {
                    for j in 0..<kvLen {
                        let diff = i + offsets[b] - j
                        var ok = true
                        if isCausal && j > i + offsets[b] { ok = false }
                        if left >= 0 && diff > left { ok = false }
                        if right >= 0 && -diff > right { ok = false }
                        if let nonpad, b < nonpad.count, j >= nonpad[b] { ok = false }
                        values.append(ok ? 0 : -.infinity)
                    }
                }
            }
            let structural = try ctx.constant(
                TensorData(dtype: .f32, shape: [batch, 1, qLen, kvLen], values: values),
                name: "\(name).structural_bias")
            bias =
                try bias.map { b throws(SinterError) in
                    try ctx.emit(.add, [b, structural], name: "\(name).bias", at: n)
                } ?? structural
        }

        // Grouped-query attention: repeat each KV head (h0, h0, h1, h1, ...).
        let kvHeads = ks[1]
        if qHeads != kvHeads, kvHeads > 0, qHeads % kvHeads == 0 {
            let reps = qHeads / kvHeads
            func repeatHeads(_ x: ValueID, _ tag: String) throws(SinterError) -> ValueID {
                let s = try ctx.staticShape(x, n)
                let wide = try reshape(ctx, x, [s[0], s[1], 1, s[2], s[3]], "\(name).\(tag).5d", n)
                let e = try ctx.emit(
                    .expand, [wide], attrs(["shape": .ints([s[0], s[1], reps, s[2], s[3]])]),
                    name: "\(name).\(tag).rep", at: n)
                return try reshape(ctx, e, [s[0], qHeads, s[2], s[3]], "\(name).\(tag).gqa", n)
            }
            k = try repeatHeads(k, "k")
            v = try repeatHeads(v, "v")
        }
        let scale = (n.float("scale") ?? 1 / Double(headSize).squareRoot()).squareRoot()
        let s = try ctx.scalar(scale, .f32, name: "\(name).scale")
        let qScaled = try ctx.emit(.mul, [q, s], name: "\(name).qs", at: n)
        let kScaled = try ctx.emit(.mul, [k, s], name: "\(name).ks", at: n)
        let kt = try ctx.emit(.transpose, [kScaled], attrs(["perm": .ints([0, 1, 3, 2])]), name: "\(name).kt", at: n)
        var qk = try ctx.emit(.matmul, [qScaled, kt], name: "\(name).qk", at: n)
        if let cap = n.float("softcap"), cap > 0 {
            let c = try ctx.scalar(cap, .f32, name: "\(name).softcap")
            let t = try ctx.emit(
                .tanh, [try ctx.emit(.div, [qk, c], name: "\(name).qk_c", at: n)], name: "\(name).qk_tanh", at: n)
            qk = try ctx.emit(.mul, [t, c], name: "\(name).qk_capped", at: n)
        }
        let mode = n.int("qk_matmul_output_mode", default: 0)
        var qkOutput = qk
        var logits = qk
        if let bias {
            logits = try ctx.emit(.add, [qk, bias], name: "\(name).logits", at: n)
            if mode == 2 { qkOutput = logits }
        }
        var probs = try ctx.emit(.softmax, [logits], attrs(["axis": .int(-1)]), name: "\(name).probs", at: n)
        if let bias {
            // Rows whose bias is -inf everywhere attend nothing: zeros, not NaN.
            let rowMax = try ctx.emit(
                .reduceMax, [bias], attrs(["axes": .ints([-1]), "keepdims": .bool(true)]), name: "\(name).bias_max",
                at: n)
            let masked = try ctx.emit(
                .equal, [rowMax, try ctx.scalar(-.infinity, .f32, name: "\(name).ninf2")], name: "\(name).row_masked",
                at: n)
            probs = try ctx.emit(
                .where, [masked, try ctx.scalar(0, .f32, name: "\(name).zero2"), probs], name: "\(name).probs_safe",
                at: n)
        }
        if mode == 3 { qkOutput = probs }
        var y = try ctx.emit(.matmul, [probs, v], name: "\(name).y4", at: n)
        if rank == 3 {
            let t = try ctx.emit(.transpose, [y], attrs(["perm": .ints([0, 2, 1, 3])]), name: "\(name).y_t", at: n)
            let ts = try ctx.staticShape(t, n)
            y = try reshape(ctx, t, [ts[0], ts[1], ts[2] * ts[3]], "\(name).y3", n)
        }
        return [
            try back(y, name),
            n.output(1) == nil ? nil : try back(presentKey, out(n, 1)),
            n.output(2) == nil ? nil : try back(presentValue, out(n, 2)),
            n.output(3) == nil ? nil : try back(qkOutput, out(n, 3)),
        ]
    }
}
