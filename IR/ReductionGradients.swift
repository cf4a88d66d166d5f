/// Gradient rules for the remaining reductions, cumulative sums and strided slices; the
/// others are in Gradients.swift.
extension Gradients {
    /// reduce-l2, y = ‖x‖ over the axes: g·x/y, and 0 where y = 0 (the subgradient PyTorch uses).
    static let reduceL2: GradientRule = { node, g, b throws(SinterError) in
        let x = node.operands[0]
        let (_, kept) = reduced(node, try b.staticShape(x))
        let dtype = b.graph.type(of: x).dtype
        let y = try b.reshape(node.results[0], to: kept)
        let zero = try b.apply(
            .cast, [try b.binary(.equal, y, try b.scalar(0, dtype))],
            attributes: Attributes(["to": .string(dtype.rawValue)]))[0]
        let safe = try b.add(y, zero)
        return [try b.mul(try b.reshape(g[0], to: kept), try b.binary(.div, x, safe))]
    }

    /// reduce-prod: g·y/x where x ≠ 0; at a zero, g times the product of the others when it is
    /// the slice's only zero, else 0 (exact, no division by zero).
    static let reduceProd: GradientRule = { node, g, b throws(SinterError) in
        let x = node.operands[0]
        let (axes, kept) = reduced(node, try b.staticShape(x))
        let dtype = b.graph.type(of: x).dtype
        let over = Attributes(["axes": .ints(axes), "keepdims": .bool(true)])
        func float(_ v: ValueID) throws(SinterError) -> ValueID {
            try b.apply(.cast, [v], attributes: Attributes(["to": .string(dtype.rawValue)]))[0]
        }
        let isZero = try float(try b.binary(.equal, x, try b.scalar(0, dtype)))
        let zeros = try b.apply(.reduceSum, [isZero], attributes: over)[0]
        let ones = try b.add(x, isZero)  // zeros replaced by ones
        let others = try b.apply(.reduceProd, [ones], attributes: over)[0]
        let gk = try b.reshape(g[0], to: kept), y = try b.reshape(node.results[0], to: kept)
        let one = try b.scalar(1, dtype)
        let nonzero = try b.mul(try b.binary(.div, try b.mul(gk, y), ones), try b.binary(.sub, one, isZero))
        let single = try float(try b.binary(.equal, zeros, one))
        let atZero = try b.mul(try b.mul(gk, others), try b.mul(isZero, single))
        return [try b.add(nonzero, atZero)]
    }

    /// cumsum: the cotangent summed the other way along the axis (exclusive stays exclusive).
    static let cumSum: GradientRule = { node, g, b throws(SinterError) in
        var attrs = node.attributes
        let reverse: Bool = if case .bool(let r)? = node.attribute("reverse") { r } else { false }
        attrs["reverse"] = .bool(!reverse)
        return [try b.apply(.cumSum, [g[0]], attributes: attrs)[0]]
    }

    /// A strided slice: the cotangent spread back to every step-th element (zeros between),
    /// then padded to the operand's extent; a negative step is the same after reversing the
    /// cotangent along that axis and starting from the lowest index taken.
    static func stridedSlice(
        _ cotangent: ValueID, _ given: [ShapeRules.SliceRange], _ shape: [Int], _ b: inout GraphBuilder
    ) throws(SinterError) -> ValueID {
        var g = cotangent, ranges = given
        let negative = Set(ranges.indices.filter { ranges[$0].step < 0 })
        if !negative.isEmpty {
            let gs = ranges.map(\.count)
            g = try b.apply(
                .slice, [g],
                attributes: Attributes([
                    "starts": .ints(gs.indices.map { negative.contains($0) ? -1 : 0 }),
                    "ends": .ints(gs.indices.map { negative.contains($0) ? -(gs[$0] + 1) : gs[$0] }),
                    "steps": .ints(gs.indices.map { negative.contains($0) ? -1 : 1 }),
                ]))[0]
            for a in negative {
                let r = ranges[a]
                ranges[a] = ShapeRules.SliceRange(
                    start: r.count > 0 ? r.start + (r.count - 1) * r.step : 0, count: r.count, step: -r.step)
            }
        }
        let counts = ranges.map(\.count)
        var d = try b.reshape(g, to: counts.flatMap { [$0, 1] })
        let spread = counts.indices.flatMap { _ in [0, 0] } + ranges.flatMap { [0, $0.step - 1] }
        d = try b.apply(.pad, [d], attributes: Attributes(["pads": .ints(spread)]))[0]
        let dilated = zip(counts, ranges).map { $0 * $1.step }
        d = try b.reshape(d, to: dilated)
        // Keep what lies inside the operand, then pad back to its extent.
        let lengths = zip(ranges, shape).map { r, n in Swift.min(r.count * r.step, n - r.start) }
        if lengths != dilated {
            d = try b.apply(
                .slice, [d],
                attributes: Attributes(["starts": .ints(lengths.map { _ in 0 }), "ends": .ints(lengths)]))[0]
        }
        let pads = ranges.map(\.start) + zip(zip(ranges, shape), lengths).map { rn, l in rn.1 - rn.0.start - l }
        return try b.apply(.pad, [d], attributes: Attributes(["pads": .ints(pads)]))[0]
    }
}

extension Gradients {
    /// tile: every copy's cotangent summed back: g reshaped to [r0, s0, r1, s1, ...] (copies
    /// outermost per axis), summed over the repeat axes.
    static let tile: GradientRule = { node, g, b throws(SinterError) in
        let shape = try b.staticShape(node.operands[0])
        let repeats = node.attributes.ints("repeats") ?? []
        guard repeats.count == shape.count else { throw SinterError("tile: one repeat per axis expected") }
        let split = try b.reshape(g[0], to: zip(repeats, shape).flatMap { [$0, $1] })
        let summed = try b.apply(
            .reduceSum, [split],
            attributes: Attributes(["axes": .ints(shape.indices.map { 2 * $0 }), "keepdims": .bool(false)]))[0]
        return [try b.reshape(summed, to: shape)]
    }

    /// top-k: each value's cotangent back at the position its index names (a one-hot
    /// comparison of the indices with every position along the axis, summed over k); the
    /// indices have none.
    static let topK: GradientRule = { node, g, b throws(SinterError) in
        let x = node.operands[0]
        let shape = try b.staticShape(x), dtype = b.graph.type(of: x).dtype
        let axis = ShapeRules.normalizedAxis(node.attributes.int("axis") ?? -1, rank: shape.count)
        let last = shape.count - 1
        // The axis last: [..., k] against positions [n].
        var perm = Array(shape.indices)
        perm.swapAt(axis, last)
        func moved(_ v: ValueID) throws(SinterError) -> ValueID {
            axis == last ? v : try b.apply(.transpose, [v], attributes: Attributes(["perm": .ints(perm)]))[0]
        }
        let gl = try moved(g[0]), il = try moved(node.results[1])
        let ks = try b.staticShape(gl)
        let n = shape[axis]
        let positions = try b.constant(TensorData(dtype: .i64, shape: [n], values: (0..<n).map(Double.init)))
        let hit = try b.binary(.equal, try b.reshape(il, to: ks + [1]), positions)
        let mask = try b.apply(.cast, [hit], attributes: Attributes(["to": .string(dtype.rawValue)]))[0]
        let spread = try b.mul(mask, try b.reshape(gl, to: ks + [1]))
        let dx = try b.apply(
            .reduceSum, [spread], attributes: Attributes(["axes": .ints([ks.count - 1]), "keepdims": .bool(false)]))[0]
        return [try moved(dx)]
    }
}

extension Gradients {
    /// reflect and edge pads: the cotangent's middle, plus what each padded band copied, added
    /// back where it came from (reflect: mirrored, one in from the edge; edge: summed onto the
    /// edge element), one axis at a time.
    static func foldedPad(_ cotangent: ValueID, _ shape: [Int], _ pads: [Int], reflect: Bool, _ b: inout GraphBuilder)
        throws(SinterError) -> ValueID
    {
        var g = cotangent
        let rank = shape.count
        for a in 0..<rank {
            let (before, after, n) = (pads[a], pads[rank + a], shape[a])
            guard before > 0 || after > 0 else { continue }
            var current = try b.staticShape(g)
            func band(_ from: Int, _ to: Int, reversed: Bool) throws(SinterError) -> ValueID {
                var starts = current.map { _ in 0 }, ends = current, steps = current.map { _ in 1 }
                // Reversed: from to − 1 down to from (an end before index 0 is written −(n + 1)).
                (starts[a], ends[a]) = reversed ? (to - 1, from == 0 ? -(current[a] + 1) : from - 1) : (from, to)
                if reversed { steps[a] = -1 }
                return try b.apply(
                    .slice, [g],
                    attributes: Attributes(["starts": .ints(starts), "ends": .ints(ends), "steps": .ints(steps)]))[0]
            }
            func placed(_ v: ValueID, _ lead: Int, _ trail: Int) throws(SinterError) -> ValueID {
                var p = current.map { _ in 0 } + current.map { _ in 0 }
                (p[a], p[rank + a]) = (lead, trail)
                return try b.apply(.pad, [v], attributes: Attributes(["pads": .ints(p)]))[0]
            }
            var d = try band(before, before + n, reversed: false)
            current[a] = n
            let keep = Attributes(["axes": .ints([a]), "keepdims": .bool(true)])
            current[a] = before + n + after
            if before > 0 {
                let left = try band(0, before, reversed: reflect)
                current[a] = n
                d = try b.add(
                    d,
                    reflect
                        ? try placed(left, 1, n - 1 - before)
                        : try placed(try b.apply(.reduceSum, [left], attributes: keep)[0], 0, n - 1))
                current[a] = before + n + after
            }
            if after > 0 {
                let right = try band(before + n, before + n + after, reversed: reflect)
                current[a] = n
                d = try b.add(
                    d,
                    reflect
                        ? try placed(right, n - 1 - after, 1)
                        : try placed(try b.apply(.reduceSum, [right], attributes: keep)[0], n - 1, 0))
            }
            g = d
        }
        return g
    }
}
