/// Affine quantization parameters, carried by an integer tensor's type: a stored integer `q`
/// stands for the real number `scale * (q - zeroPoint)`. Per tensor there is one pair; per
/// axis (`axis=k`) there is one pair for each index along axis `k` (ONNX's per-channel
/// quantization, used for conv and matmul weights).
///
/// In `.sir` the parameters sit between the element type and the shape, as in MLIR's quant
/// dialect: `u8<0.0235:128>[1,64]` per tensor, `i8<axis=0: 0.5:0, 0.25:0>[2,64]` per axis.
/// Scales print as the shortest text that reads back to the same f32, so a type round-trips
/// exactly.
public struct QuantParams: Hashable, Sendable, CustomStringConvertible {
    /// One scale per tensor, or one per index along `axis`. f32, as ONNX stores them.
    public var scales: [Float]
    /// The stored integer that stands for real 0, one per scale.
    public var zeroPoints: [Int]
    /// The axis the parameters vary along; nil for per-tensor parameters.
    public var axis: Int?

    public init(scale: Float, zeroPoint: Int) {
        self.init(scales: [scale], zeroPoints: [zeroPoint], axis: nil)
    }

    /// Parameters as read; `problem(dtype:dims:)` says whether they fit a type.
    public init(scales: [Float], zeroPoints: [Int], axis: Int?) {
        self.axis = axis
        self.scales = scales
        self.zeroPoints = zeroPoints
    }

    /// Every zero point is 0: real 0 is stored as 0 (symmetric weights, what the int8 GEMM's b needs).
    public var isSymmetric: Bool { zeroPoints.allSatisfy { $0 == 0 } }

    public var description: String {
        let pairs = zip(scales, zeroPoints).map { "\(formatFloat($0)):\($1)" }.joined(separator: ", ")
        return axis.map { "axis=\($0): \(pairs)" } ?? pairs
    }

    /// Why these parameters cannot describe a tensor of type `dtype[dims]`, or nil when they can:
    /// integer storage, finite positive scales, zero points the storage can hold, and per-axis
    /// counts that match the axis.
    public func problem(dtype: DType, dims: [Dim]) -> String? {
        guard let range = dtype.integerRange, dtype != .i64, dtype != .u64 else {
            return "quantization parameters need an 8-, 16- or 32-bit integer element type, not \(dtype.rawValue)"
        }
        guard !scales.isEmpty, scales.count == zeroPoints.count else {
            return "quantization parameters need one zero point per scale"
        }
        if let bad = scales.first(where: { !($0.isFinite && $0 > 0) }) {
            return "quantization scale \(formatFloat(bad)) is not a finite positive number"
        }
        if let bad = zeroPoints.first(where: { !range.contains($0) }) {
            let bounds = "\(range.lowerBound)...\(range.upperBound)"
            return "zero point \(bad) is outside the range of \(dtype.rawValue) (\(bounds))"
        }
        guard let axis else {
            return scales.count == 1 ? nil : "per-tensor quantization has one scale, got \(scales.count)"
        }
        guard axis >= 0, axis < dims.count else {
            return "quantization axis \(axis) is out of range for rank \(dims.count)"
        }
        if case .fixed(let n) = dims[axis], n != scales.count {
            return "quantization along axis \(axis) needs \(n) scales (the axis' size), got \(scales.count)"
        }
        return nil
    }

    /// The parameters of a qmatmul's or qconv's i32 bias [n]: zero point 0 and scale
    /// scale_a · scale_b[j] per output channel (per tensor when there is one), the product
    /// computed in f32 as onnxruntime's quantizer computes it. The int8 kernels take these
    /// scales for their sums too.
    public static func bias(a: QuantParams?, b: QuantParams?, channels n: Int) -> QuantParams {
        let scales = (0..<n).map { (a?.scales[0] ?? 0) * (b?.pair($0).scale ?? 0) }
        return QuantParams(scales: scales, zeroPoints: scales.map { _ in 0 }, axis: n > 1 ? 0 : nil)
    }

    /// Scale and zero point of index `i` along the axis (the one pair when per tensor).
    public func pair(_ i: Int) -> (scale: Float, zeroPoint: Int) {
        let k = scales.count == 1 ? 0 : i
        return (scales[k], zeroPoints[k])
    }
}

extension DType {
    /// The values an integer type holds; nil for floats and bool.
    public var integerRange: ClosedRange<Int>? {
        switch self {
        case .i8: -128...127
        case .u8: 0...255
        case .i16: -32768...32767
        case .u16: 0...65535
        case .i32: Int(Int32.min)...Int(Int32.max)
        case .u32: 0...Int(UInt32.max)
        case .i64: Int(Int64.min)...Int(Int64.max)
        case .u64: 0...Int(Int64.max)
        case .f32, .f16, .bf16, .f64, .bool: nil
        }
    }
}

/// Quantizing and dequantizing single numbers, exactly as ONNX QuantizeLinear and
/// DequantizeLinear define them; constant folding and the reference tests use these, and the
/// `expand-quant` pass builds the same arithmetic as graph ops.
public enum QuantMath {
    /// `saturate(round_half_even(x / scale) + zeroPoint)` in f32, as ONNX computes it.
    public static func quantize(_ x: Float, scale: Float, zeroPoint: Int, range: ClosedRange<Int>) -> Int {
        let q = Double((x / scale).rounded(.toNearestOrEven)) + Double(zeroPoint)
        if q.isNaN { return Swift.max(range.lowerBound, Swift.min(range.upperBound, zeroPoint)) }
        return Int(Swift.min(Double(range.upperBound), Swift.max(Double(range.lowerBound), q)))
    }

    /// `(q - zeroPoint) * scale` in f32.
    public static func dequantize(_ q: Int, scale: Float, zeroPoint: Int) -> Float {
        Float(q - zeroPoint) * scale
    }
}

/// Shape rules of the quantization ops: the quantized side's type carries the parameters.
enum QuantRules {
    /// The quantized type named by `to` over `dims`, checked.
    static func target(_ q: ShapeQuery, _ dims: [Dim]) throws(ShapeError) -> TensorType {
        guard case .string(let text)? = q.attributes["to"] else {
            throw ShapeError("needs 'to' naming a quantized type like \"u8<0.02:128>\"")
        }
        let parsed: (DType, QuantParams?)
        do throws(SinterError) {
            parsed = try Parser.parseElementType(text, dims: dims)
        } catch {
            throw ShapeError("'to' = \(quoteString(text)): \(error.diagnostics.first?.message ?? "unreadable")")
        }
        guard let quant = parsed.1 else {
            throw ShapeError("'to' = \(quoteString(text)) has no quantization parameters (write \"\(text)<0.02:0>\")")
        }
        return TensorType(parsed.0, dims, quant: quant)
    }

    static func source(_ q: ShapeQuery) throws(ShapeError) -> TensorType {
        let t = q.operands[0]
        guard t.quant != nil else {
            throw ShapeError("needs a quantized operand (a type like u8<0.02:128>[...]), got \(t)")
        }
        return t
    }

    /// The optional third operand of qmatmul and qconv: an i32 bias [n], one per output column
    /// or channel, at scale scale_a · scale_b[j] (zero point 0), added to the i32 sums. It has
    /// no scale of its own to carry, so its type is plain i32.
    static func bias(_ q: ShapeQuery, count n: Int) throws(ShapeError) {
        guard q.operands.count <= 3 else { throw ShapeError("takes 2 or 3 operands, got \(q.operands.count)") }
        guard q.operands.count == 3 else { return }
        let b = q.operands[2]
        guard q.operands[0].dtype != .f32 else {
            throw ShapeError(
                "an i32 bias needs a quantized a (its scale is scale_a · scale_b); add an f32 one instead")
        }
        guard b.dtype == .i32, b.quant == nil, b.rank == 1, b.shape == [n] else {
            throw ShapeError("the bias must be i32[\(n)] (one per output channel, at scale_a · scale_b), got \(b)")
        }
    }

    /// qmatmul: a [..., M, K] quantized per tensor, b [..., K, N] per tensor or per column (its
    /// last axis), both 8-bit, batch dimensions broadcast as matmul's, and an optional i32 bias
    /// [N]; the result is f32 [..., M, N]. An f32 a is quantized dynamically, per row. b is a
    /// constant weight (packed at compile time) or a value computed at run time (attention's
    /// Kᵀ and V, packed by the kernel as it runs).
    static let qmatmul: ShapeRule = { q throws(ShapeError) in
        let a = q.operands[0], b = q.operands[1]
        for t in a.dtype == .f32 ? [b] : [a, b] where ![DType.i8, .u8].contains(t.dtype) || t.quant == nil {
            throw ShapeError("needs quantized 8-bit operands (like u8<0.02:128>[...]) or an f32 a, got \(t)")
        }
        guard a.rank >= 2, b.rank >= 2 else {
            throw ShapeError("needs operands of rank >= 2, got \(a) and \(b)")
        }
        if a.quant?.axis != nil { throw ShapeError("a must be quantized per tensor, got \(a)") }
        if let axis = b.quant?.axis, axis != b.rank - 1 {
            throw ShapeError("b must be quantized per tensor or per column (axis \(b.rank - 1)), got \(b)")
        }
        guard a.dims[a.rank - 1] == b.dims[b.rank - 2] else {
            throw ShapeError("contracting dimensions differ: \(a) x \(b)")
        }
        let batch = try ShapeRules.broadcastDims(Array(a.dims.dropLast(2)), Array(b.dims.dropLast(2)))
        let n = b.dims[b.rank - 1]
        if case .fixed(let n) = n {
            try bias(q, count: n)
        } else if q.operands.count > 2 {
            throw ShapeError("a bias needs a static b, got \(b)")
        }
        return [TensorType(.f32, batch + [a.dims[a.rank - 2], n])]
    }

    /// An int8 conv's operands (qconv, qconv-nchwc): both 8-bit and quantized, x per tensor, the
    /// weights per tensor or per output channel (axis 0).
    static func convOperands(_ x: TensorType, _ w: TensorType) throws(ShapeError) {
        for t in [x, w] where ![DType.i8, .u8].contains(t.dtype) || t.quant == nil {
            throw ShapeError("needs quantized 8-bit operands (like u8<0.02:128>[...]), got \(t)")
        }
        if x.quant?.axis != nil { throw ShapeError("x must be quantized per tensor, got \(x)") }
        if let axis = w.quant?.axis, axis != 0 {
            throw ShapeError("weights must be quantized per tensor or per output channel (axis 0), got \(w)")
        }
    }

    /// qconv: x [N, C, H, W] quantized per tensor, weights [M, C/group, kh, kw] symmetric, per tensor
    /// or per output channel (axis 0), both 8-bit, and an optional i32 bias [M]; the result is f32
    /// [N, M, OH, OW] (conv's window).
    static let qconv: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0], w = q.operands[1]
        try convOperands(x, w)
        guard x.rank == 4, w.rank == 4, let xs = x.shape, let ws = w.shape else {
            throw ShapeError("needs static x [N,C,H,W] and weights [M,C/group,kh,kw], got \(x) and \(w)")
        }
        let group = q.attributes.int("group") ?? 1
        guard group > 0, xs[1] % group == 0, ws[0] % group == 0, ws[1] == xs[1] / group else {
            throw ShapeError("channels do not match: x \(x), weights \(w), group \(group)")
        }
        try bias(q, count: ws[0])
        let win = try ShapeRules.window(
            input: Array(xs[2...]), kernel: Array(ws[2...]), attributes: q.attributes, ceilMode: false)
        return [TensorType(.f32, [xs[0], ws[0]] + win.output)]
    }

    /// qconv-nchwc: x [N, C/bi, H, W, bi] quantized per tensor (bi a multiple of 4: whole k quads
    /// per block), weights as qconv's [M, C, kh, kw] (group 1), and an optional i32 bias [M]; the
    /// result is f32 [N, M/b, OH, OW, b] with b = `block` (bi unless set) dividing M. No `pads`.
    static let qconvNCHWc: ShapeRule = { q throws(ShapeError) in
        let x = q.operands[0], w = q.operands[1]
        try convOperands(x, w)
        guard x.rank == 5, w.rank == 4, let xs = x.shape, let ws = w.shape else {
            throw ShapeError("needs static x [N,C/b,H,W,b] and weights [M,C,kh,kw], got \(x) and \(w)")
        }
        let bi = xs[4], b = q.attributes.int("block") ?? xs[4]
        guard bi > 0, bi % 4 == 0, b > 0, ws[1] == xs[1] * bi, ws[0] % b == 0 else {
            throw ShapeError(
                "blocks do not match: x \(x) (blocks of 4k channels), weights \(w), \(b) output channels per block")
        }
        try bias(q, count: ws[0])
        let win = try ShapeRules.window(
            input: [xs[2], xs[3]], kernel: [ws[2], ws[3]], attributes: q.attributes, ceilMode: false)
        return [TensorType(.f32, [xs[0], ws[0] / b] + win.output + [b])]
    }

    static let quantize: ShapeRule = { q throws(ShapeError) in [try target(q, q.operands[0].dims)] }
    static let dequantize: ShapeRule = { q throws(ShapeError) in [TensorType(.f32, try source(q).dims)] }
    static let requantize: ShapeRule = { q throws(ShapeError) in [try target(q, try source(q).dims)] }
}

/// Where quantization arithmetic is built: a pass's rewriter or the ONNX importer. The
/// expansions below are written once against it.
public protocol OpEmitter {
    func typeOf(_ v: ValueID) -> TensorType
    mutating func emit(_ op: Op, _ operands: [ValueID], _ attributes: Attributes) throws(SinterError) -> ValueID
    mutating func emitConstant(_ data: TensorData) throws(SinterError) -> ValueID
}

extension OpEmitter {
    /// The parameters as a constant that broadcasts against a rank-`rank` tensor: a scalar per
    /// tensor, `[1,..,C,..,1]` per axis.
    private mutating func parameter(_ values: [Double], _ q: QuantParams, rank: Int, _ dtype: DType)
        throws(SinterError) -> ValueID
    {
        guard let axis = q.axis, values.count > 1 else {
            return try emitConstant(TensorData(dtype: dtype, shape: [], values: [values[0]]))
        }
        let shape = (0..<rank).map { $0 == axis ? values.count : 1 }
        return try emitConstant(TensorData(dtype: dtype, shape: shape, values: values))
    }

    /// `quantize`: `cast(clip(round(x / scale) + zero_point, lo, hi))` in f32, ONNX's
    /// QuantizeLinear with saturation. The result is the plain integer type of `target`.
    public mutating func expandQuantize(_ x: ValueID, to target: TensorType) throws(SinterError) -> ValueID {
        guard let q = target.quant else {
            throw SinterError("internal: quantize to \(target), which has no quantization parameters")
        }
        let rank = typeOf(x).rank
        let scale = try parameter(q.scales.map(Double.init), q, rank: rank, .f32)
        let zero =
            !q.isSymmetric
            ? try parameter(q.zeroPoints.map(Double.init), q, rank: rank, .f32) : nil
        return try quantizeArithmetic(x, scale: scale, zeroPoint: zero, to: target.dtype, keeping: q)
    }

    /// QuantizeLinear over parameters that are graph values (computed at run time, or blocked),
    /// each broadcastable against `x`. With `keeping`, the final cast gives the quantized type
    /// (kernels such as qmatmul read the parameters from their operands' types).
    public mutating func quantizeArithmetic(
        _ x: ValueID, scale: ValueID, zeroPoint: ValueID?, to dtype: DType, keeping quant: QuantParams? = nil
    ) throws(SinterError) -> ValueID {
        guard let range = dtype.integerRange else {
            throw SinterError("internal: quantize to \(dtype.rawValue), which is not an integer type")
        }
        let f32 = Attributes(["to": .string("f32")])
        var y = x
        if typeOf(y).dtype != .f32 { y = try emit(.cast, [y], f32) }
        y = try emit(.div, [y, scale], Attributes())
        y = try emit(.round, [y], Attributes())
        if var zero = zeroPoint {
            if typeOf(zero).dtype != .f32 { zero = try emit(.cast, [zero], f32) }
            y = try emit(.add, [y, zero], Attributes())
        }
        // The bounds as f32 values the integer type holds (i32's max is not an f32).
        func bound(_ v: Int, down: Bool) -> Double {
            let f = Float(v)
            return Double(down ? (Double(f) > Double(v) ? f.nextDown : f) : (Double(f) < Double(v) ? f.nextUp : f))
        }
        let limits = Attributes([
            "min": .float(bound(range.lowerBound, down: false)), "max": .float(bound(range.upperBound, down: true)),
        ])
        y = try emit(.clip, [y], limits)
        let element = TensorType(dtype, [Dim](), quant: quant).elementDescription
        return try emit(.cast, [y], Attributes(["to": .string(element)]))
    }

    /// `dequantize`: `f32(i32(x) - zero_point) * scale`, ONNX's DequantizeLinear; the
    /// subtraction is exact in i32 (i64 for u32 storage). `type` is x's quantized type (x
    /// itself may already be a plain integer built by an earlier expansion).
    public mutating func expandDequantize(_ x: ValueID, from type: TensorType? = nil) throws(SinterError) -> ValueID {
        let t = type ?? typeOf(x)
        guard let q = t.quant else { throw SinterError("internal: dequantize of \(t), which is not quantized") }
        let wide: DType = t.dtype == .u32 ? .i64 : .i32
        let zero =
            !q.isSymmetric
            ? try parameter(q.zeroPoints.map(Double.init), q, rank: t.rank, wide) : nil
        let scale = try parameter(q.scales.map(Double.init), q, rank: t.rank, .f32)
        return try dequantizeArithmetic(x, scale: scale, zeroPoint: zero)
    }

    /// DequantizeLinear over parameters that are graph values, broadcastable against `x`.
    public mutating func dequantizeArithmetic(_ x: ValueID, scale: ValueID, zeroPoint: ValueID?)
        throws(SinterError) -> ValueID
    {
        var y = x
        if var zero = zeroPoint {
            let wide: DType = typeOf(x).dtype == .u32 ? .i64 : .i32
            let to = Attributes(["to": .string(wide.rawValue)])
            if typeOf(y).dtype != wide { y = try emit(.cast, [y], to) }
            if typeOf(zero).dtype != wide { zero = try emit(.cast, [zero], to) }
            y = try emit(.sub, [y, zero], Attributes())
        }
        y = try emit(.cast, [y], Attributes(["to": .string("f32")]))
        var scale = scale
        if typeOf(scale).dtype != .f32 { scale = try emit(.cast, [scale], Attributes(["to": .string("f32")])) }
        return try emit(.mul, [y, scale], Attributes())
    }
}
