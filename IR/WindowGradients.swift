/// Gradients of the sliding-window ops (conv, max-pool, avg-pool) in N spatial dimensions, built
/// from ops that already have fast kernels: the input gradient of a convolution is a
/// convolution of the stride-dilated cotangent with the flipped, channel-swapped weights; the
/// weight gradient is a convolution of the input with the cotangent (batch and channels
/// swapped, stride and dilation exchanged), per group; a pool's gradient places each window
/// offset's share of the cotangent back with a strided pad.
extension Gradients {
    static let conv: GradientRule = { node, g, b throws(SinterError) in
        let (x, w) = (node.operands[0], node.operands[1])
        let xs = try b.staticShape(x), ws = try b.staticShape(w), gs = try b.staticShape(g[0])
        let sp = xs.count - 2
        let win: ShapeRules.Window
        do throws(ShapeError) {
            win = try ShapeRules.window(
                input: Array(xs[2...]), kernel: Array(ws[2...]), attributes: node.attributes, ceilMode: false)
        } catch {
            throw SinterError("conv: \(error.message)")
        }
        let groups = node.attributes.int("group") ?? 1
        let (m, cg) = (ws[0], ws[1])
        // dx: full correlation of the stride-dilated cotangent with the flipped weights.
        var gd = try b.dilate(g[0], by: win.strides)
        let dilated = try b.staticShape(gd)
        var pads = [Int](repeating: 0, count: 2 * (sp + 2))
        for a in 0..<sp {
            let span = win.dilations[a] * (win.kernel[a] - 1)
            let begin = span - win.padBegin[a]
            pads[2 + a] = begin
            pads[sp + 4 + a] = xs[2 + a] + span - dilated[2 + a] - begin
        }
        gd = try b.apply(.pad, [gd], attributes: Attributes(["pads": .ints(pads)]))[0]
        let flip = Attributes([
            "starts": .ints([0, 0] + win.kernel.map { $0 - 1 }), "ends": .ints([m, cg] + win.kernel.map { -$0 - 1 }),
            "steps": .ints([1, 1] + Array(repeating: -1, count: sp)),
        ])
        var wt = try b.apply(.slice, [w], attributes: flip)[0]
        wt = try b.reshape(wt, to: [groups, m / groups, cg] + win.kernel)
        wt = try b.apply(.transpose, [wt], attributes: Attributes(["perm": .ints([0, 2, 1] + (3..<(sp + 3)))]))[0]
        wt = try b.reshape(wt, to: [groups * cg, m / groups] + win.kernel)
        let dx = try b.apply(
            .conv, [gd, wt],
            attributes: Attributes(["dilations": .ints(win.dilations), "group": .int(groups)]))[0]
        // dw: per group, x (channels as batch) correlated with g (channels as filters).
        let swap = Attributes(["perm": .ints([1, 0] + (2..<(sp + 2)))])
        var parts: [ValueID] = []
        for gi in 0..<groups {
            func channels(_ v: ValueID, _ shape: [Int], _ lo: Int, _ n: Int) throws(SinterError) -> ValueID {
                guard groups > 1 else { return v }
                let starts = [0, lo] + Array(repeating: 0, count: sp)
                let ends = [shape[0], lo + n] + shape[2...]
                return try b.apply(
                    .slice, [v], attributes: Attributes(["starts": .ints(starts), "ends": .ints(ends)]))[0]
            }
            let xg = try b.apply(.transpose, [try channels(x, xs, gi * cg, cg)], attributes: swap)[0]
            let gg = try b.apply(.transpose, [try channels(g[0], gs, gi * m / groups, m / groups)], attributes: swap)[0]
            var dw = try b.apply(
                .conv, [xg, gg],
                attributes: Attributes([
                    "strides": .ints(win.dilations), "dilations": .ints(win.strides),
                    "pads": .ints(win.padBegin + win.padEnd),
                ]))[0]
            let have = try b.staticShape(dw)
            if Array(have[2...]) != win.kernel {
                let attrs = Attributes([
                    "starts": .ints(Array(repeating: 0, count: sp + 2)), "ends": .ints(Array(have[..<2]) + win.kernel),
                ])
                dw = try b.apply(.slice, [dw], attributes: attrs)[0]
            }
            parts.append(try b.apply(.transpose, [dw], attributes: swap)[0])
        }
        let dw = parts.count == 1 ? parts[0] : try b.apply(.concat, parts, attributes: Attributes(["axis": .int(0)]))[0]
        return [dx, dw]
    }

    /// max-pool and avg-pool: for each offset in the window, that offset's share of the
    /// cotangent (max: where the input equals the window's maximum and no earlier offset
    /// took it, so ties go to the first, as in PyTorch; avg: divided by the window's count)
    /// is placed back at stride spacing and summed.
    static let pool: GradientRule = { node, g, b throws(SinterError) in
        let x = node.operands[0], y = node.results[0]
        let xs = try b.staticShape(x), ys = try b.staticShape(y)
        let sp = xs.count - 2
        let win: ShapeRules.Window
        do throws(ShapeError) {
            win = try ShapeRules.window(
                input: Array(xs[2...]), kernel: node.attributes.ints("kernel") ?? [], attributes: node.attributes,
                ceilMode: node.attributes.bool("ceil_mode") ?? false)
        } catch {
            throw SinterError("\(node.op.rawValue): \(error.message)")
        }
        let dtype = b.graph.type(of: x).dtype
        // The padded extent every window fits in (ceil_mode windows may run past the end pad).
        let extent = (0..<sp).map { (a: Int) -> Int in
            let padded: Int = xs[2 + a] + win.padBegin[a] + win.padEnd[a]
            let last: Int = (ys[2 + a] - 1) * win.strides[a] + win.dilations[a] * (win.kernel[a] - 1) + 1
            return max(padded, last)
        }
        let endPad = (0..<sp).map { (a: Int) -> Int in extent[a] - xs[2 + a] - win.padBegin[a] }
        let isMax = node.op == .maxPool
        var xp = x
        if isMax {
            let pads = [0, 0] + win.padBegin + [0, 0] + endPad
            let attrs = Attributes(["pads": .ints(pads), "value": .float(-Double(Float.greatestFiniteMagnitude))])
            xp = try b.apply(.pad, [x], attributes: attrs)[0]
        }
        var share = g[0]
        if !isMax {
            let includePad = node.attributes.bool("count_include_pad") ?? false
            let counts = windowCounts(win, input: Array(xs[2...]), output: Array(ys[2...]), includePad: includePad)
            let c = try b.constant(
                TensorData(dtype: dtype, shape: Array(ys[2...]), values: counts.map { 1 / Double($0) }))
            share = try b.mul(g[0], c)
        }
        let zero = try b.scalar(0, dtype)
        var taken: ValueID?
        var total: ValueID?
        for offset in offsets(win.kernel) {
            let start = (0..<sp).map { offset[$0] * win.dilations[$0] }
            var part = share
            if isMax {
                let ends = (0..<sp).map { (a: Int) -> Int in start[a] + (ys[2 + a] - 1) * win.strides[a] + 1 }
                let attrs = Attributes([
                    "starts": .ints([0, 0] + start), "ends": .ints(Array(xs[..<2]) + ends),
                    "steps": .ints([1, 1] + win.strides),
                ])
                let seen = try b.apply(.slice, [xp], attributes: attrs)[0]
                var hit = try b.binary(.equal, seen, y)
                if let t = taken {
                    hit = try b.binary(.and, hit, try b.unary(.not, t))
                    taken = try b.binary(.or, t, hit)
                } else {
                    taken = hit
                }
                part = try b.apply(.where, [hit, share, zero])[0]
            }
            let spread = try b.dilate(part, by: win.strides)
            let spreadShape = try b.staticShape(spread)
            let after = (0..<sp).map { (a: Int) -> Int in extent[a] - start[a] - spreadShape[2 + a] }
            let placed = try b.apply(
                .pad, [spread], attributes: Attributes(["pads": .ints([0, 0] + start + [0, 0] + after)]))[0]
            if let t = total { total = try b.add(t, placed) } else { total = placed }
        }
        guard let total else { throw SinterError("internal: empty pooling window") }
        let attrs = Attributes([
            "starts": .ints([0, 0] + win.padBegin),
            "ends": .ints(Array(xs[..<2]) + (0..<sp).map { (a: Int) -> Int in win.padBegin[a] + xs[2 + a] }),
        ])
        return [try b.apply(.slice, [total], attributes: attrs)[0]]
    }

    /// Every offset in a window of size `kernel`, row-major (the order ties are broken in).
    static func offsets(_ kernel: [Int]) -> [[Int]] {
        var out: [[Int]] = [[]]
        for k in kernel { out = out.flatMap { p in (0..<k).map { p + [$0] } } }
        return out
    }

    /// How many elements each average-pool window divides by: the window's positions inside the
    /// input (and the pads with `count_include_pad`), never past the padded input.
    static func windowCounts(_ w: ShapeRules.Window, input: [Int], output: [Int], includePad: Bool) -> [Int] {
        let perAxis = (0..<input.count).map { a in
            (0..<output[a]).map { o in
                (0..<w.kernel[a]).filter { k in
                    let i = o * w.strides[a] + k * w.dilations[a] - w.padBegin[a]
                    return includePad ? i < input[a] + w.padEnd[a] : i >= 0 && i < input[a]
                }.count
            }
        }
        var counts = [1]
        for axis in perAxis { counts = counts.flatMap { c in axis.map { c * $0 } } }
        return counts
    }
}

extension GraphBuilder {
    /// [N, C, D...] with s−1 zeros inserted between neighbours along each spatial axis:
    /// [N, C, (D−1)·s + 1 ...], by reshape, pad and slice (no scatter needed).
    public mutating func dilate(_ t: ValueID, by strides: [Int]) throws(SinterError) -> ValueID {
        guard strides.contains(where: { $0 > 1 }) else { return t }
        let shape = try staticShape(t)
        let sp = strides.count
        var interleaved = Array(shape[..<2])
        for a in 0..<sp { interleaved += [shape[2 + a], 1] }
        let r = try reshape(t, to: interleaved)
        let rank = interleaved.count
        var pads = [Int](repeating: 0, count: 2 * rank)
        for a in 0..<sp { pads[rank + 3 + 2 * a] = strides[a] - 1 }
        let padded = try apply(.pad, [r], attributes: Attributes(["pads": .ints(pads)]))[0]
        let wide = try reshape(padded, to: Array(shape[..<2]) + (0..<sp).map { shape[2 + $0] * strides[$0] })
        let ends = Array(shape[..<2]) + (0..<sp).map { (shape[2 + $0] - 1) * strides[$0] + 1 }
        let attrs = Attributes(["starts": .ints(Array(repeating: 0, count: sp + 2)), "ends": .ints(ends)])
        return try apply(.slice, [wide], attributes: attrs)[0]
    }
}
