import SinterIR

/// RotaryEmbedding (opset 23) composed from IR ops: the input is brought to
/// [batch, seq, heads, head_size], its first `rotary_embedding_dim` features are split in
/// halves (or even/odd lanes when `interleaved`), rotated by the cos/sin rows chosen by
/// `position_ids` (a gather; without them the caches are already [batch, seq, dim/2]),
/// and joined back with the features left alone. Fusion makes the arithmetic one kernel.
extension Converters {
    static let rotaryEmbedding: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        let x = try ctx.input(n, 0), cosCache = try ctx.input(n, 1), sinCache = try ctx.input(n, 2)
        let xs = try ctx.staticShape(x, n)
        let interleaved = n.int("interleaved", default: 0) == 1
        var step = 0
        func emit(_ op: Op, _ operands: [ValueID], _ a: [String: AttributeValue] = [:]) throws(SinterError) -> ValueID {
            step += 1
            return try ctx.emit(op, operands, attrs(a), name: "\(name).r\(step)", at: n)
        }
        func slice(_ v: ValueID, last start: Int, _ end: Int, every stride: Int = 1) throws(SinterError) -> ValueID {
            step += 1
            let last = ctx.type(v).rank - 1
            return try Converters.slice(ctx, v, axis: last, start, end, step: stride, "\(name).r\(step)", n)
        }
        // [batch, seq, heads, head_size]
        let x4: ValueID
        switch xs.count {
        case 4: x4 = try emit(.transpose, [x], ["perm": .ints([0, 2, 1, 3])])
        case 3:
            let heads = n.int("num_heads", default: 0)
            guard heads > 0, xs[2] % heads == 0 else {
                throw n.error("a 3-D input needs num_heads that divides its hidden size \(xs[2])")
            }
            x4 = try reshape(ctx, x, [xs[0], xs[1], heads, xs[2] / heads], "\(name).heads", n)
        default: throw n.error("needs a 3-D or 4-D input, got \(ctx.type(x))")
        }
        let s4 = try ctx.staticShape(x4, n)
        let headSize = s4[3]
        let dim = n.int("rotary_embedding_dim", default: 0) == 0 ? headSize : n.int("rotary_embedding_dim", default: 0)
        guard dim > 0, dim <= headSize, dim % 2 == 0 else {
            throw n.error("rotary_embedding_dim \(dim) must be even and at most the head size \(headSize)")
        }
        let half = dim / 2
        // cos/sin as [batch, seq, 1, dim/2]
        func table(_ cache: ValueID) throws(SinterError) -> ValueID {
            var t = cache
            if n.input(3) != nil { t = try emit(.gather, [cache, try ctx.input(n, 3)], ["axis": .int(0)]) }
            let ts = try ctx.staticShape(t, n)
            guard ts.count == 3, ts[0] == s4[0], ts[1] == s4[1], ts[2] >= half else {
                throw n.error("cos/sin rows must be [batch, seq, >= \(half)], got \(ts)")
            }
            t = try slice(t, last: 0, half)
            return try reshape(ctx, t, [s4[0], s4[1], 1, half], "\(name).table\(step)", n)
        }
        let cos = try table(cosCache), sin = try table(sinCache)
        let rotated = dim == headSize ? x4 : try slice(x4, last: 0, dim)
        let x1 = interleaved ? try slice(rotated, last: 0, dim, every: 2) : try slice(rotated, last: 0, half)
        let x2 = interleaved ? try slice(rotated, last: 1, dim, every: 2) : try slice(rotated, last: half, dim)
        let real = try emit(.sub, [try emit(.mul, [cos, x1]), try emit(.mul, [sin, x2])])
        let imag = try emit(.add, [try emit(.mul, [sin, x1]), try emit(.mul, [cos, x2])])
        var joined: ValueID
        if interleaved {
            let pair = [s4[0], s4[1], s4[2], half, 1]
            let r = try reshape(ctx, real, pair, "\(name).real", n), i = try reshape(ctx, imag, pair, "\(name).imag", n)
            let both = try emit(.concat, [r, i], ["axis": .int(4)])
            joined = try reshape(ctx, both, [s4[0], s4[1], s4[2], dim], "\(name).pairs", n)
        } else {
            joined = try emit(.concat, [real, imag], ["axis": .int(3)])
        }
        if dim < headSize {
            joined = try emit(.concat, [joined, try slice(x4, last: dim, headSize)], ["axis": .int(3)])
        }
        if xs.count == 4 {
            return [try ctx.emit(.transpose, [joined], attrs(["perm": .ints([0, 2, 1, 3])]), name: name, at: n)]
        }
        return [try reshape(ctx, joined, xs, name, n)]
    }
}
