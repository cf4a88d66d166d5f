/// One dimension of a tensor type: a fixed extent or a named symbol (`N`, `batch`) that is
/// bound later (`--shape N=4`) or kept symbolic where codegen supports it.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case symbol(String)

    public var description: String {
        switch self {
        case .fixed(let n): String(n)
        case .symbol(let s): s
        }
    }

    public var fixedValue: Int? {
        if case .fixed(let n) = self { return n }
        return nil
    }
}

/// A static tensor type `dtype[d0,d1,...]`. Rank 0 prints as `f32[]`. An integer type may
/// carry quantization parameters, printed between the element type and the shape
/// (`u8<0.02:128>[1,64]`, see `QuantParams`).
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var dims: [Dim]
    /// What the stored integers stand for, when the tensor is quantized.
    public var quant: QuantParams?

    public init(_ dtype: DType, _ dims: [Dim], quant: QuantParams? = nil) {
        self.dtype = dtype
        self.dims = dims
        self.quant = quant
    }

    public init(_ dtype: DType, _ shape: [Int], quant: QuantParams? = nil) {
        self.init(dtype, shape.map { Dim.fixed($0) }, quant: quant)
    }

    public var rank: Int { dims.count }

    /// The concrete shape, or nil when a dimension is still symbolic.
    public var shape: [Int]? {
        var out: [Int] = []
        out.reserveCapacity(dims.count)
        for d in dims {
            guard let n = d.fixedValue else { return nil }
            out.append(n)
        }
        return out
    }

    /// Element count, or nil when symbolic or too large for memory.
    public var elementCount: Int? { shape.flatMap { checkedProduct($0) } }

    public var byteCount: Int? { shape.flatMap { checkedProduct($0 + [dtype.byteSize]) } }

    /// True when the shape is static but its byte size does not fit in an Int, or would not
    /// if its zero dimensions were 1 (so strides, which skip the zeros, cannot overflow either).
    public var isTooLarge: Bool {
        guard let shape else { return false }
        return checkedProduct(shape.map { Swift.max($0, 1) } + [dtype.byteSize]) == nil
    }

    /// Why no tensor can have this type (a negative dimension, more than `maxRank` dimensions,
    /// more bytes than an Int counts), or nil. Checked wherever a type enters a graph from
    /// outside (graph inputs, initializers, the builder) so that no later shape arithmetic
    /// overflows.
    public var problem: String? {
        if dims.count > Self.maxRank { return "\(self) has more than \(Self.maxRank) dimensions" }
        if dims.contains(where: { ($0.fixedValue ?? 0) < 0 }) { return "\(self) has a negative dimension" }
        if isTooLarge { return "\(self) has more bytes than memory can hold" }
        return nil
    }

    /// The most dimensions a tensor may have. Far above any real model's; it bounds the
    /// loop nests that codegen writes per dimension.
    public static let maxRank = 32

    public var isStatic: Bool { shape != nil }

    /// Symbols that appear in the dims, in order of first appearance.
    public var symbols: [String] {
        var seen: [String] = []
        for case .symbol(let s) in dims where !seen.contains(s) { seen.append(s) }
        return seen
    }

    public var description: String {
        "\(elementDescription)[\(dims.map(\.description).joined(separator: ","))]"
    }

    /// The element type as written: `f32`, or `u8<0.02:128>` with quantization parameters.
    public var elementDescription: String {
        quant.map { "\(dtype.rawValue)<\($0)>" } ?? dtype.rawValue
    }

    /// Replaces bound symbols by their values.
    public func binding(_ bindings: [String: Int]) -> TensorType {
        TensorType(
            dtype,
            dims.map { d in
                if case .symbol(let s) = d, let v = bindings[s] { return .fixed(v) }
                return d
            }, quant: quant)
    }
}

/// Row-major strides of a concrete shape, in elements.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = Array(repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = acc
        acc *= shape[i]
    }
    return strides
}

/// Product of non-negative extents, or nil on overflow (shapes come from user files).
public func checkedProduct(_ xs: [Int]) -> Int? {
    var acc = 1
    for x in xs {
        guard x >= 0 else { return nil }
        let (p, o) = acc.multipliedReportingOverflow(by: x)
        if o { return nil }
        acc = p
    }
    return acc
}
