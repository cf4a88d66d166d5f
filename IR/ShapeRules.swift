/// Shape rules referenced from the op table. Each maps operand types and attributes to
/// result types, or explains why the combination is invalid.
public enum ShapeRules {
    static let payload: ShapeRule = { q throws(ShapeError) in
        guard let p = q.payload else { throw ShapeError("constant has no value") }
        return [p.type]
    }

    static let sameAsOperand: ShapeRule = { q throws(ShapeError) in [q.operands[0]] }

    static let broadcast: ShapeRule = { q throws(ShapeError) in
        let a = q.operands[0]
        var dims = a.dims
        for b in q.operands.dropFirst() {
            guard a.dtype == b.dtype else {
                throw ShapeError("operand types differ: \(a.dtype.rawValue) and \(b.dtype.rawValue)")
            }
            dims = try broadcastDims(dims, b.dims)
        }
        return [TensorType(a.dtype, dims)]
    }

    /// numpy broadcasting: align from the right; sizes must match or one must be 1.
    static func broadcastDims(_ a: [Dim], _ b: [Dim]) throws(ShapeError) -> [Dim] {
        let r = Swift.max(a.count, b.count)
        var out: [Dim] = []
        for i in 0..<r {
            let da = i < r - a.count ? Dim.fixed(1) : a[i - (r - a.count)]
            let db = i < r - b.count ? Dim.fixed(1) : b[i - (r - b.count)]
            if da == db {
                out.append(da)
            } else if da == .fixed(1) {
                out.append(db)
            } else if db == .fixed(1) {
                out.append(da)
            } else {
                throw ShapeError("shapes \(fmt(a)) and \(fmt(b)) do not broadcast (dimension \(da) vs \(db))")
            }
        }
        return out
    }

    static let matmul: ShapeRule = { q throws(ShapeError) in
        let a = q.operands[0], b = q.operands[1]
        guard a.dtype == b.dtype else {
            throw ShapeError("operand types differ: \(a.dtype.rawValue) and \(b.dtype.rawValue)")
        }
        guard a.rank >= 2, b.rank >= 2 else {
            throw ShapeError("matmul needs operands of rank >= 2, got \(fmt(a.dims)) and \(fmt(b.dims))")
        }
        let ta = q.attributes.bool("trans_a") ?? false, tb = q.attributes.bool("trans_b") ?? false
        let m = a.dims[a.rank - (ta ? 1 : 2)], k1 = a.dims[a.rank - (ta ? 2 : 1)]
        let k2 = b.dims[b.rank - (tb ? 1 : 2)], n = b.dims[b.rank - (tb ? 2 : 1)]
        guard k1 == k2 else {
            let flags = (ta ? " (trans_a)" : "") + (tb ? " (trans_b)" : "")
            throw ShapeError("contracting dimensions differ: \(fmt(a.dims)) x \(fmt(b.dims))\(flags) (\(k1) vs \(k2))")
        }
        let batch = try broadcastDims(Array(a.dims.dropLast(2)), Array(b.dims.dropLast(2)))
        // `to`: 16-bit float operands whose products are summed and returned in f32 (the bf16
        // dot-product instructions' contract), so only the weights' storage narrows.
        guard let to = q.attributes["to"] else { return [TensorType(a.dtype, batch + [m, n])] }
        guard case .string("f32") = to, [.bf16, .f16].contains(a.dtype) else {
            throw ShapeError("matmul's 'to' may only be \"f32\", on bf16 or f16 operands (got \(to) on \(a.dtype))")
        }
        return [TensorType(.f32, batch + [m, n])]
    }

    static let reshape: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        guard let target = q.attributes.ints("shape") else { throw ShapeError("reshape needs a 'shape' attribute") }
        guard let inShape = t.shape, let count = checkedProduct(inShape) else {
            throw ShapeError("reshape of symbolic shape \(fmt(t.dims)) is not supported; bind the symbols first")
        }
        var out = target
        let unknown = target.indices.filter { target[$0] == -1 }
        guard unknown.count <= 1, target.allSatisfy({ $0 >= -1 }) else {
            throw ShapeError("reshape shape \(target) may hold only sizes >= 0 and at most one -1")
        }
        guard let known = checkedProduct(target.filter { $0 != -1 }) else {
            throw ShapeError("reshape shape \(target) is too large")
        }
        if let u = unknown.first {
            guard known > 0, count % known == 0 else {
                throw ShapeError("cannot reshape \(fmt(t.dims)) (\(count) elements) to \(target)")
            }
            out[u] = count / known
        } else if known != count {
            throw ShapeError("cannot reshape \(fmt(t.dims)) (\(count) elements) to \(target) (\(known) elements)")
        }
        // Moving quantized values keeps parameters that are per tensor (an axis does not survive).
        return [TensorType(t.dtype, out, quant: t.quant?.axis == nil ? t.quant : nil)]
    }

    static let transpose: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        let perm = OpSchema.permutation(q.attributes, rank: t.rank)
        guard perm.count == t.rank, Set(perm) == Set(0..<t.rank) else {
            throw ShapeError("perm \(perm) is not a permutation of the \(t.rank) dimensions of \(fmt(t.dims))")
        }
        // Quantized values keep their parameters; a per-axis one follows its axis.
        var quant = t.quant
        if let axis = quant?.axis { quant?.axis = perm.firstIndex(of: axis) }
        return [TensorType(t.dtype, perm.map { t.dims[$0] }, quant: quant)]
    }

    static let softmax: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        let axis = q.attributes.int("axis") ?? -1
        guard t.rank > 0, (-t.rank..<t.rank).contains(axis) else {
            throw ShapeError("axis \(axis) is out of range for \(fmt(t.dims))")
        }
        return [t]
    }

    static let reduce: ShapeRule = { q throws(ShapeError) in
        let t = q.operands[0]
        let axes = try normalizedAxes(q.attributes.ints("axes"), rank: t.rank)
        let keep = q.attributes.bool("keepdims") ?? false
        var dims: [Dim] = []
        for (i, d) in t.dims.enumerated() {
            if axes.contains(i) { if keep { dims.append(.fixed(1)) } } else { dims.append(d) }
        }
        return [TensorType(t.dtype, dims)]
    }

    /// Resolves negative axes; nil means all axes. Rejects duplicates and out-of-range axes.
    public static func normalizedAxes(_ axes: [Int]?, rank: Int) throws(ShapeError) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        var out: [Int] = []
        for a in axes {
            let n = try axis(a, rank: rank)
            guard !out.contains(n) else { throw ShapeError("axis \(a) appears twice") }
            out.append(n)
        }
        return out.sorted()
    }

    static func fmt(_ dims: [Dim]) -> String { "[\(dims.map(\.description).joined(separator: ","))]" }
}
