/// Along which axes an op combines entries: for operand `i`, the axes where a result element
/// reads several of its entries, or where an entry lands depends on the others (a reduction's
/// axes, softmax's axis, a matmul's k, a reshape that moves rows across an axis). Axes not in
/// the set are kept apart, entry for entry. The schema's `couples` slot holds the op's rule;
/// the dynamic-batch check (`DynamicBatch`) reads it, since a run-time batch axis must be one
/// the whole graph keeps apart.
public struct CouplingQuery: Sendable {
    public let operand: Int
    public let operands: [TensorType]
    public let results: [TensorType]
    public let attributes: Attributes

    public init(operand: Int, operands: [TensorType], results: [TensorType], attributes: Attributes) {
        self.operand = operand
        self.operands = operands
        self.results = results
        self.attributes = attributes
    }

    /// The queried operand's rank.
    public var rank: Int { operands[operand].rank }

    /// Attribute `name` (or `fallback`) as a non-negative axis of the queried operand.
    public func axis(_ name: String, _ fallback: Int) -> Int {
        let a = attributes.int(name) ?? fallback
        return a < 0 ? a + rank : a
    }
}

public typealias CouplingRule = @Sendable (CouplingQuery) -> Set<Int>

/// Rules that several ops share.
public enum Coupling {
    /// Entries stay apart along every axis (elementwise ops, transposes, copies).
    public static let none: CouplingRule = { _ in [] }

    /// Operand 0 along the axis in attribute `name`; other operands (indices) along none.
    public static func axis(_ name: String, default d: Int) -> CouplingRule {
        { q in q.operand == 0 ? [q.axis(name, d)] : [] }
    }

    /// A window or convolution: operand 0 along every axis but the batch (0); weights along all.
    public static let window: CouplingRule = { q in q.operand == 0 ? Set(1..<q.rank) : Set(0..<q.rank) }

    /// Data movement that keeps an axis apart only where its size is unchanged and (for slices)
    /// its step is 1: a crop, pad, tile or reversal rearranges entries along it.
    public static let resizing: CouplingRule = { q in
        guard let s = q.operands[0].shape, let rs = q.results.first?.shape, rs.count == s.count else {
            return Set(0..<q.rank)
        }
        let steps = q.attributes.ints("steps") ?? []
        return Set(s.indices.filter { s[$0] != rs[$0] || (steps.indices.contains($0) && steps[$0] != 1) })
    }

    /// Row-major reshape: operand axis a stays whole only when the result has an axis of the same
    /// size with as many elements before it.
    public static let reshape: CouplingRule = { q in
        guard let s = q.operands[0].shape, let rs = q.results.first?.shape else { return Set(0..<q.rank) }
        return Set(
            s.indices.filter { a in
                let before = checkedProduct(Array(s[..<a]))
                return !rs.indices.contains { b in rs[b] == s[a] && checkedProduct(Array(rs[..<b])) == before }
            })
    }
}
