/// The bytes of a constant tensor: little-endian, row-major, no padding.
public struct TensorData: Hashable, Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]
    /// Quantization parameters of a quantized constant (int8 weights); part of its type.
    public var quant: QuantParams?

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public var type: TensorType { TensorType(dtype, shape, quant: quant) }

    /// Hashes the dtype, the shape and at most 64 evenly spaced bytes: weights run to hundreds
    /// of megabytes, and hashing every byte made `cse` the slowest pass on ResNet-50 (1.7 s).
    /// Equal tensors still hash equal; unequal ones that collide are told apart by `==`.
    public func hash(into h: inout Hasher) {
        h.combine(dtype)
        h.combine(shape)
        h.combine(bytes.count)
        let step = max(1, bytes.count / 64)
        for i in stride(from: 0, to: bytes.count, by: step) { h.combine(bytes[i]) }
    }

    public static func == (a: TensorData, b: TensorData) -> Bool {
        a.dtype == b.dtype && a.shape == b.shape && a.quant == b.quant
            && a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
    public var count: Int { shape.reduce(1, *) }

    /// Builds a tensor from numbers, converting each to `dtype` (floats round to nearest,
    /// integers truncate toward zero and wrap like a C cast, bool is `v != 0`).
    public init(dtype: DType, shape: [Int], values: [Double]) {
        self.dtype = dtype
        self.shape = shape
        if dtype == .f32 {  // the common case, without the per-element switch (weights are large)
            self.bytes = values.map { Float($0) }.withUnsafeBytes { Array($0) }
            return
        }
        var out: [UInt8] = []
        out.reserveCapacity(values.count * dtype.byteSize)
        for v in values { appendElement(v, dtype, &out) }
        self.bytes = out
    }

    public init(_ values: [Float], shape: [Int]) {
        self.dtype = .f32
        self.shape = shape
        self.bytes = values.withUnsafeBytes { Array($0) }
    }

    /// f32 contents; nil for other dtypes.
    public var floats: [Float]? {
        guard dtype == .f32 else { return nil }
        return bytes.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
    }

    /// Integer contents (shape-like inputs, indices), exact for i64; other dtypes convert with
    /// NaN as 0 and values beyond Int's range clamped, so no value traps.
    public var ints: [Int] {
        if dtype == .i64 {
            return (0..<count).map { i in
                var v: UInt64 = 0
                for k in 0..<8 { v |= UInt64(bytes[i * 8 + k]) << (8 * k) }
                return Int(Int64(bitPattern: v))
            }
        }
        return doubles.map { $0.isNaN ? 0 : $0 >= 9.2e18 ? Int.max : $0 <= -9.2e18 ? Int.min : Int($0) }
    }

    /// Every element as a Double (exact for all dtypes but i64 beyond 2^53).
    public var doubles: [Double] {
        if let f = floats { return f.map { Double($0) } }
        return (0..<count).map { element(at: $0) }
    }

    public func element(at i: Int) -> Double {
        let o = i * dtype.byteSize
        func load<T: FixedWidthInteger>(_: T.Type) -> T {
            var v: T = 0
            for k in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[o + k]) << (8 * k) }
            return v
        }
        switch dtype {
        case .f32: return Double(Float(bitPattern: load(UInt32.self)))
        case .f64: return Double(bitPattern: load(UInt64.self))
        case .f16: return Double(halfToFloat(load(UInt16.self)))
        case .bf16: return Double(Float(bitPattern: UInt32(load(UInt16.self)) << 16))
        case .i8: return Double(Int8(bitPattern: bytes[o]))
        case .u8: return Double(bytes[o])
        case .i16: return Double(Int16(bitPattern: load(UInt16.self)))
        case .i32: return Double(Int32(bitPattern: load(UInt32.self)))
        case .i64: return Double(Int64(bitPattern: load(UInt64.self)))
        case .bool: return bytes[o] != 0 ? 1 : 0
        case .u16: return Double(load(UInt16.self))
        case .u32: return Double(load(UInt32.self))
        case .u64: return Double(load(UInt64.self))
        }
    }

    /// The tensor of `shape` whose element i is this one's element `sources[i]`, or zero where
    /// `sources[i]` is negative: a pure rearrangement (layout's blocked weights). Element bytes
    /// are copied as they are, so no value is converted, and ResNet-50's 25M weights take
    /// milliseconds where a round trip through `doubles` took half a second.
    public func gathering(_ sources: [Int], shape: [Int]) -> TensorData {
        let n = dtype.byteSize
        var out = [UInt8](repeating: 0, count: sources.count * n)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                guard let from = src.baseAddress, let to = dst.baseAddress else { return }
                for (i, s) in sources.enumerated() where s >= 0 {
                    (to + i * n).copyMemory(from: from + s * n, byteCount: n)
                }
            }
        }
        var t = TensorData(dtype: dtype, shape: shape, bytes: out)
        t.quant = quant
        return t
    }

    /// True when every element has the same bytes (printed as a splat).
    public var isSplat: Bool {
        let n = dtype.byteSize
        guard count > 1 else { return count == 1 }
        for i in 1..<count where bytes[(i * n)..<(i * n + n)] != bytes[0..<n] { return false }
        return true
    }
}

private func appendElement(_ v: Double, _ dtype: DType, _ out: inout [UInt8]) {
    func put<T: FixedWidthInteger>(_ x: T) {
        for k in 0..<MemoryLayout<T>.size { out.append(UInt8(truncatingIfNeeded: x >> (8 * k))) }
    }
    func uint64(_ v: Double) -> UInt64 {
        guard v.isFinite, v > 0 else { return v.isFinite ? UInt64(bitPattern: int64(v)) : 0 }
        return v >= 1.8e19 ? UInt64.max : UInt64(v.rounded(.towardZero))
    }
    func int64(_ v: Double) -> Int64 {
        guard v.isFinite else { return 0 }
        if v >= 9.2e18 { return Int64.max }
        if v <= -9.2e18 { return Int64.min }
        return Int64(v.rounded(.towardZero))
    }
    switch dtype {
    case .f32: put(Float(v).bitPattern)
    case .f64: put(v.bitPattern)
    case .f16: put(floatToHalf(Float(v)))
    case .bf16: put(floatToBF16(Float(v)))
    case .i8: put(Int8(truncatingIfNeeded: int64(v)))
    case .u8: put(UInt8(truncatingIfNeeded: int64(v)))
    case .i16: put(Int16(truncatingIfNeeded: int64(v)))
    case .i32: put(Int32(truncatingIfNeeded: int64(v)))
    case .i64: put(int64(v))
    case .bool: out.append(v != 0 ? 1 : 0)
    case .u16: put(UInt16(truncatingIfNeeded: uint64(v)))
    case .u32: put(UInt32(truncatingIfNeeded: uint64(v)))
    case .u64: put(uint64(v))
    }
}

/// IEEE half → float, written out so that it works on every platform Swift runs on.
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exp = Int((h >> 10) & 0x1F)
    let mant = UInt32(h & 0x3FF)
    if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    if exp == 0 {
        let mag = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -mag : mag
    }
    return Float(bitPattern: sign | (UInt32(exp - 15 + 127) << 23) | (mant << 13))
}

/// Float → IEEE half with round-to-nearest-even, overflow to inf, NaN kept quiet.
public func floatToHalf(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    if f.isNaN { return sign | 0x7E00 }
    let a = abs(f)
    if a >= 65520 { return sign | 0x7C00 }
    if a < Float(sign: .plus, exponent: -14, significand: 1) {
        // Subnormal half: value / 2^-24, rounded to nearest even.
        let q = (a * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
        return sign | UInt16(q)
    }
    let e = Int((bits >> 23) & 0xFF) - 127 + 15
    var m = bits & 0x7F_FFFF
    var he = UInt32(e)
    let rem = m & 0x1FFF
    m >>= 13
    if rem > 0x1000 || (rem == 0x1000 && (m & 1) == 1) {
        m += 1
        if m == 0x400 { m = 0; he += 1 }
    }
    return sign | UInt16(he << 10) | UInt16(m)
}

/// Float → bfloat16 with round-to-nearest-even.
public func floatToBF16(_ f: Float) -> UInt16 {
    if f.isNaN { return UInt16((f.bitPattern >> 16) | 0x40) }
    let bits = f.bitPattern
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}
