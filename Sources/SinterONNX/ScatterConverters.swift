import SinterIR

/// ScatterND imports to the `scatter-nd` op; ScatterElements (and the old Scatter) to the
/// same op on the flattened data, each index turned into a linear offset the way
/// GatherElements does it, with an index outside its axis made an offset the kernel skips
/// (it would otherwise land in a neighbouring row).
extension Converters {
    static let scatter: [String: Converter] = [
        "ScatterND": { ctx, n throws(SinterError) in
            let a = attrs(["reduction": .string(n.string("reduction") ?? "none")])
            let operands = [try ctx.input(n, 0), try ctx.input(n, 1), try ctx.input(n, 2)]
            return [try ctx.emit(.scatterND, operands, a, name: out(n), at: n)]
        },
        "ScatterElements": scatterElements,
        "Scatter": scatterElements,
    ]

    static let scatterElements: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        let data = try ctx.input(n, 0), updates = try ctx.input(n, 2)
        var indices = try ctx.input(n, 1)
        let ds = try ctx.staticShape(data, n), isz = try ctx.staticShape(indices, n)
        guard ds.count == isz.count, !ds.isEmpty, try ctx.staticShape(updates, n) == isz else {
            throw n.error("indices and updates must have one shape, of the data's rank \(ds.count)")
        }
        let a = try axis(n.int("axis", default: 0), ds.count, n)
        if ctx.type(indices).dtype != .i64 {
            indices = try ctx.emit(.cast, [indices], attrs(["to": .string("i64")]), name: "\(name).i64", at: n)
        }
        let count = isz.reduce(1, *), total = ds.reduce(1, *)
        let (wrapped, linear) = try elementOffsets(ctx, indices, data: ds, indexShape: isz, axis: a, name, n)
        let zero = try ctx.scalar(0, .i64, name: "\(name).zero")
        let size = try ctx.scalar(Double(ds[a]), .i64, name: "\(name).size")
        let inRange = try ctx.emit(
            .and,
            [
                try ctx.emit(.greaterEqual, [wrapped, zero], name: "\(name).low", at: n),
                try ctx.emit(.less, [wrapped, size], name: "\(name).high", at: n),
            ], name: "\(name).valid", at: n)
        // Still negative after the kernel adds `total` once: skipped.
        let skip = try ctx.scalar(Double(-2 * total - 1), .i64, name: "\(name).skip")
        let checked = try ctx.emit(.where, [inRange, linear, skip], name: "\(name).checked", at: n)
        let flat = try ctx.emit(
            .scatterND,
            [
                try reshape(ctx, data, [total], "\(name).flat", n),
                try reshape(ctx, checked, [count, 1], "\(name).index", n),
                try reshape(ctx, updates, [count], "\(name).updates", n),
            ], attrs(["reduction": .string(n.string("reduction") ?? "none")]), name: "\(name).scattered", at: n)
        return [try reshape(ctx, flat, ds, name, n)]
    }
}
