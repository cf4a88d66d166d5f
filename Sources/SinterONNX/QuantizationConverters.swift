import SinterIR

/// ONNX's quantization ops. QuantizeLinear and DequantizeLinear with constant parameters
/// become `quantize` / `dequantize`, with the parameters in the quantized type where the
/// quantize pass and QDQ folding read them; an int8 initializer read by DequantizeLinear
/// becomes a quantized constant. The integer ops (MatMulInteger, QLinearMatMul,
/// DynamicQuantizeLinear) are written as their ONNX definitions: integer products summed in
/// f64, which holds them exactly, then scaled and rounded like the reference.
extension Converters {
    static let quantization: [String: Converter] = [
        "QuantizeLinear": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0)
            guard try constantParameters(ctx, n) else {
                let p = try runtimeParameters(ctx, n, x, storage: nil)
                var e = ImportEmitter(ctx: ctx, node: n, name: out(n))
                return [try e.quantizeArithmetic(x, scale: p.scale, zeroPoint: p.zeroPoint, to: p.dtype)]
            }
            let (dtype, q) = try quantParams(ctx, n, scale: 1, zeroPoint: 2, rank: ctx.type(x).rank)
            let target = TensorType(dtype, [Dim](), quant: q).elementDescription
            return [try ctx.emit(.quantize, [x], attrs(["to": .string(target)]), name: out(n), at: n)]
        },
        "DequantizeLinear": { ctx, n throws(SinterError) in
            var x = try ctx.input(n, 0)
            let t = ctx.type(x)
            var y: ValueID
            var e = ImportEmitter(ctx: ctx, node: n, name: out(n))
            if try constantParameters(ctx, n) {
                let (dtype, q) = try quantParams(ctx, n, scale: 1, zeroPoint: 2, rank: t.rank, storage: t.dtype)
                if let problem = q.problem(dtype: dtype, dims: t.dims) { throw n.error(problem) }
                if t.quant == q {
                    y = try ctx.emit(.dequantize, [x], name: out(n), at: n)
                } else if var data = try ctx.knownInput(n, 0) {
                    // An int8 weight: the constant carries its parameters, and the dequantize stays
                    // visible (the quantize pass folds it into an int8 kernel).
                    data.quant = q
                    x = try ctx.constant(data, name: "\(out(n)).q")
                    y = try ctx.emit(.dequantize, [x], name: out(n), at: n)
                } else {
                    // A plain integer computed at run time: the arithmetic itself.
                    y = try e.expandDequantize(x, from: TensorType(dtype, t.dims, quant: q))
                }
            } else {
                let p = try runtimeParameters(ctx, n, x, storage: t.dtype)
                y = try e.dequantizeArithmetic(x, scale: p.scale, zeroPoint: p.zeroPoint)
            }
            // The result has the scale's type (f16 scales give f16).
            let scaleType = ctx.type(try ctx.input(n, 1)).dtype
            if scaleType != .f32 {
                y = try ctx.emit(.cast, [y], attrs(["to": .string(scaleType.rawValue)]), name: out(n), at: n)
            }
            return [y]
        },
        "DynamicQuantizeLinear": dynamicQuantize,
        "MatMulInteger": { ctx, n throws(SinterError) in
            let acc = try integerMatmul(ctx, n, a: (0, 2), b: (1, 3))
            return [try ctx.emit(.cast, [acc], attrs(["to": .string("i32")]), name: out(n), at: n)]
        },
        "QLinearMatMul": { ctx, n throws(SinterError) in
            let acc = try integerMatmul(ctx, n, a: (0, 2), b: (3, 5))
            return [try requantizeSum(ctx, n, acc, scales: [1, 4], output: (6, 7), channelAxis: -1)]
        },
        "ConvInteger": { ctx, n throws(SinterError) in
            let acc = try integerConv(ctx, n, x: (0, 2), w: (1, 3), bias: nil)
            return [try ctx.emit(.cast, [acc], attrs(["to": .string("i32")]), name: out(n), at: n)]
        },
        "QLinearConv": { ctx, n throws(SinterError) in
            let acc = try integerConv(ctx, n, x: (0, 2), w: (3, 5), bias: 8)
            return [try requantizeSum(ctx, n, acc, scales: [1, 4], output: (6, 7), channelAxis: 1)]
        },
    ]

    /// The quantized storage type: the zero point's, else the input's (dequantize), else
    /// `output_dtype`, else u8 (ONNX's default).
    static func storageType(_ n: ONNXNode, zeroPoint: DType?, storage: DType?) throws(SinterError) -> DType {
        var dtype = zeroPoint ?? storage ?? .u8
        if zeroPoint == nil, storage == nil, let code = n.int("output_dtype"), code != 0 {
            guard let d = Int32(exactly: code).flatMap(ONNXType.dtype) else {
                throw n.error("output_dtype \(code) is not a type Sinter quantizes to")
            }
            dtype = d
        }
        guard [.i8, .u8, .i16, .u16, .i32].contains(dtype) else {
            throw n.error(
                "quantized type \(dtype.rawValue) is not supported (Sinter quantizes to i8, u8, i16, u16 and i32)")
        }
        return dtype
    }

    /// Whether the scale and zero point are constants a quantized type can hold (not blocked).
    static func constantParameters(_ ctx: ImportContext, _ n: ONNXNode) throws(SinterError) -> Bool {
        guard n.int("block_size", default: 0) == 0, try ctx.knownInput(n, 1) != nil else { return false }
        guard n.input(2) != nil else { return true }
        return try ctx.knownInput(n, 2) != nil
    }

    /// Scale and zero point as graph values shaped to broadcast against `x`: a 1-D per-axis list
    /// reshaped onto its axis, a blocked one repeated along its axis by a gather.
    static func runtimeParameters(_ ctx: ImportContext, _ n: ONNXNode, _ x: ValueID, storage: DType?)
        throws(SinterError) -> (scale: ValueID, zeroPoint: ValueID?, dtype: DType)
    {
        let xt = ctx.type(x), rank = xt.rank
        let zero = try ctx.optionalInput(n, 2)
        let dtype = try storageType(n, zeroPoint: zero.map { ctx.type($0).dtype }, storage: storage)
        let axisAttr = n.int("axis", default: 1)
        let axis = axisAttr < 0 ? axisAttr + rank : axisAttr
        let block = n.int("block_size", default: 0)
        func shaped(_ v: ValueID, _ tag: String) throws(SinterError) -> ValueID {
            let t = ctx.type(v)
            let perAxis = block > 0 || (t.rank == 1 && t.dims[0] != .fixed(1))
            guard !perAxis || (axis >= 0 && axis < rank) else {
                throw n.error("axis \(axisAttr) is out of range for rank \(rank)")
            }
            if block > 0 {
                guard let extent = xt.dims[axis].fixedValue, t.rank == rank else {
                    throw n.error("blocked \(tag) must have x's rank and x a static size along axis \(axis)")
                }
                let index = TensorData(dtype: .i64, shape: [extent], values: (0..<extent).map { Double($0 / block) })
                let i = try ctx.constant(index, name: "\(out(n)).\(tag).blocks")
                return try ctx.emit(.gather, [v, i], attrs(["axis": .int(axis)]), name: "\(out(n)).\(tag)", at: n)
            }
            guard t.rank == 1, let c = t.dims[0].fixedValue, c > 1 else { return v }
            let shape = (0..<rank).map { $0 == axis ? c : 1 }
            return try ctx.emit(.reshape, [v], attrs(["shape": .ints(shape)]), name: "\(out(n)).\(tag)", at: n)
        }
        let scale = try shaped(try ctx.input(n, 1), "scale")
        return (scale, try zero.map { z throws(SinterError) in try shaped(z, "zero") }, dtype)
    }

    /// Storage type and parameters from a node's scale and zero-point inputs (constants), its
    /// `axis` (default 1) and `output_dtype`.
    static func quantParams(
        _ ctx: ImportContext, _ n: ONNXNode, scale si: Int, zeroPoint zi: Int, rank: Int, storage: DType? = nil
    ) throws(SinterError) -> (DType, QuantParams) {
        if let block = n.int("block_size"), block != 0 {
            throw n.error("blocked quantization (block_size \(block)) is not supported")
        }
        guard let scale = try ctx.constantInput(n, si, "scale") else {
            throw n.error("input \(si) (scale) is required")
        }
        let zero = try ctx.constantInput(n, zi, "zero_point")
        let dtype = try storageType(n, zeroPoint: zero?.dtype, storage: storage)
        let scales = scale.doubles.map { Float($0) }
        let zeros = zero.map { $0.doubles.map { Int($0) } } ?? Array(repeating: 0, count: scales.count)
        guard zeros.count == scales.count else {
            throw n.error("zero_point has \(zeros.count) elements but scale has \(scales.count)")
        }
        guard scales.count > 1 || scale.shape.count > 1 else {
            return (dtype, QuantParams(scale: scales.first ?? 1, zeroPoint: zeros.first ?? 0))
        }
        guard scale.shape.count == 1 else { throw n.error("scale must be a scalar or 1-D, got shape \(scale.shape)") }
        let axis = n.int("axis", default: 1)
        guard axis >= -rank, axis < rank else { throw n.error("axis \(axis) is out of range for rank \(rank)") }
        return (dtype, QuantParams(scales: scales, zeroPoints: zeros, axis: axis < 0 ? axis + rank : axis))
    }

    /// (A - a_zero_point) @ (B - b_zero_point) summed exactly in f64. A's zero point may be per
    /// row ([M]), B's per column ([N]).
    static func integerMatmul(_ ctx: ImportContext, _ n: ONNXNode, a: (Int, Int), b: (Int, Int))
        throws(SinterError) -> ValueID
    {
        func centred(_ x: (Int, Int), perRow: Bool) throws(SinterError) -> ValueID {
            let v = try ctx.input(n, x.0)
            guard ctx.type(v).dtype.integerRange != nil else {
                throw n.error("input \(x.0) must be an integer tensor, got \(ctx.type(v))")
            }
            var y = try ctx.emit(.cast, [v], attrs(["to": .string("f64")]), name: "\(out(n)).in\(x.0)", at: n)
            guard let z = try ctx.optionalInput(n, x.1) else { return y }
            var zf = try ctx.emit(.cast, [z], attrs(["to": .string("f64")]), name: "\(out(n)).zp\(x.1)", at: n)
            let zt = ctx.type(zf)
            if perRow, zt.rank == 1, zt.dims.first != .fixed(1) {
                zf = try ctx.emit(.reshape, [zf], attrs(["shape": .ints([-1, 1])]), name: "\(out(n)).zp", at: n)
            }
            y = try ctx.emit(.sub, [y, zf], name: "\(out(n)).c\(x.0)", at: n)
            return y
        }
        let left = try centred(a, perRow: true), right = try centred(b, perRow: false)
        return try ctx.emit(.matmul, [left, right], name: "\(out(n)).acc", at: n)
    }

    /// The integer convolution of (x - x_zero_point) and (w - w_zero_point) (per output channel),
    /// plus an optional i32 bias, in f64. Conv runs in f32, which adds products exactly only up
    /// to 2^24, so the centred weights (|w| <= 255) are split as 16·hi + lo with lo in [0, 15]:
    /// each half's products stay under 4096 and its sums exact for reductions up to 4096 terms
    /// (C/group × kernel area), and the halves recombine exactly in f64.
    static func integerConv(_ ctx: ImportContext, _ n: ONNXNode, x: (Int, Int), w: (Int, Int), bias: Int?)
        throws(SinterError) -> ValueID
    {
        let name = out(n)
        let xv = try ctx.input(n, x.0), wv = try ctx.input(n, w.0)
        let xs = try ctx.staticShape(xv, n), ws = try ctx.staticShape(wv, n)
        guard xs.count >= 3, ws.count == xs.count else {
            throw n.error("needs input [N,C,...] and weights of the same rank")
        }
        for v in [xv, wv] where ctx.type(v).dtype.integerRange == nil {
            throw n.error("needs integer inputs, got \(ctx.type(v))")
        }
        let f32 = attrs(["to": .string("f32")]), f64 = attrs(["to": .string("f64")])
        func centred(_ v: ValueID, _ zeroIndex: Int, perChannel: Bool, _ tag: String) throws(SinterError) -> ValueID {
            let y = try ctx.emit(.cast, [v], f32, name: "\(name).\(tag)", at: n)
            guard let z = try ctx.optionalInput(n, zeroIndex) else { return y }
            var zf = try ctx.emit(.cast, [z], f32, name: "\(name).\(tag).zero", at: n)
            if perChannel, ctx.type(zf).rank == 1, ctx.type(zf).dims[0] != .fixed(1) {
                let shape = [-1] + Array(repeating: 1, count: ws.count - 1)
                zf = try ctx.emit(.reshape, [zf], attrs(["shape": .ints(shape)]), name: "\(name).\(tag).zc", at: n)
            }
            return try ctx.emit(.sub, [y, zf], name: "\(name).\(tag).c", at: n)
        }
        let xc = try centred(xv, x.1, perChannel: false, "x"), wc = try centred(wv, w.1, perChannel: true, "w")
        let sixteen = try ctx.scalar(16, .f32, name: "\(name).16")
        let hi = try ctx.emit(
            .floor, [try ctx.emit(.div, [wc, sixteen], name: "\(name).w16", at: n)], name: "\(name).whi", at: n)
        let lo = try ctx.emit(
            .sub, [wc, try ctx.emit(.mul, [hi, sixteen], name: "\(name).whi16", at: n)], name: "\(name).wlo", at: n)
        var a = try windowAttributes(n, input: Array(xs[2...]), kernel: Array(ws[2...]))
        a["group"] = .int(n.int("group", default: 1))
        func conv(_ weights: ValueID, _ tag: String) throws(SinterError) -> ValueID {
            let c = try ctx.emit(.conv, [xc, weights], attrs(a), name: "\(name).\(tag)", at: n)
            return try ctx.emit(.cast, [c], f64, name: "\(name).\(tag).f64", at: n)
        }
        let sixteen64 = try ctx.scalar(16, .f64, name: "\(name).16d")
        var acc = try ctx.emit(
            .add,
            [try ctx.emit(.mul, [try conv(hi, "hi"), sixteen64], name: "\(name).hi16", at: n), try conv(lo, "lo")],
            name: "\(name).acc", at: n)
        if let bias, let b = try ctx.optionalInput(n, bias) {
            let shape = [-1] + Array(repeating: 1, count: xs.count - 2)
            let bf = try ctx.emit(.cast, [b], f64, name: "\(name).bias", at: n)
            let br = try ctx.emit(.reshape, [bf], attrs(["shape": .ints(shape)]), name: "\(name).biasc", at: n)
            acc = try ctx.emit(.add, [acc, br], name: "\(name).acc.b", at: n)
        }
        return acc
    }

    /// The QLinear* output: `saturate(rint(acc * (s_a * s_b / s_y)) + y_zero_point)`, the
    /// multiplier computed in f32 like the reference, the rest in f64.
    static func requantizeSum(
        _ ctx: ImportContext, _ n: ONNXNode, _ acc: ValueID, scales: [Int], output: (Int, Int), channelAxis: Int
    ) throws(SinterError) -> ValueID {
        var multiplier: [Float] = [1]
        var shape: [Int] = []
        for (k, i) in (scales + [output.0]).enumerated() {
            guard let s = try ctx.constantInput(n, i, "scale") else { throw n.error("input \(i) (scale) is required") }
            let v = s.doubles.map { Float($0) }
            guard !v.isEmpty, v.count == 1 || multiplier.count == 1 || v.count == multiplier.count else {
                throw n.error("input \(i) (scale) has \(v.count) values; needs 1 or one per channel")
            }
            if v.count > 1 {
                // Per output channel: the columns of a matmul, axis 1 of a conv.
                let rank = ctx.type(acc).rank
                shape = channelAxis < 0 ? [v.count] : (0..<(rank - channelAxis)).map { $0 == 0 ? v.count : 1 }
            }
            let m = max(multiplier.count, v.count)
            multiplier = (0..<m).map { j in
                let a = multiplier[multiplier.count == 1 ? 0 : j], b = v[v.count == 1 ? 0 : j]
                return k == scales.count ? a / b : a * b
            }
        }
        let zero = try ctx.constantInput(n, output.1, "y_zero_point")
        let first = try ctx.input(n, 0)
        let dtype = zero?.dtype ?? ctx.type(first).dtype
        guard let range = dtype.integerRange else { throw n.error("output type \(dtype.rawValue) is not an integer") }
        let m = try ctx.constant(
            TensorData(dtype: .f64, shape: shape, values: multiplier.map(Double.init)), name: "\(out(n)).multiplier")
        var y = try ctx.emit(.mul, [acc, m], name: "\(out(n)).scaled", at: n)
        if let zero {
            let z = try ctx.constant(
                TensorData(dtype: .f64, shape: zero.shape, values: zero.doubles), name: "\(out(n)).zero")
            y = try ctx.emit(.add, [y, z], name: "\(out(n)).shifted", at: n)
        }
        y = try ctx.emit(.round, [y], name: "\(out(n)).rounded", at: n)
        let limits = attrs(["min": .float(Double(range.lowerBound)), "max": .float(Double(range.upperBound))])
        y = try ctx.emit(.clip, [y], limits, name: "\(out(n)).saturated", at: n)
        return try ctx.emit(.cast, [y], attrs(["to": .string(dtype.rawValue)]), name: out(n), at: n)
    }

    /// DynamicQuantizeLinear: u8 with the scale and zero point of x's range widened to hold 0.
    static let dynamicQuantize: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        func f(_ v: Double, _ tag: String) throws(SinterError) -> ValueID { try ctx.scalar(v, .f32, name: tag) }
        let lo = try ctx.emit(
            .min, [try ctx.emit(.reduceMin, [x], name: "\(out(n)).min", at: n), try f(0, "\(out(n)).zero")],
            name: "\(out(n)).lo", at: n)
        let hi = try ctx.emit(
            .max, [try ctx.emit(.reduceMax, [x], name: "\(out(n)).max", at: n), try f(0, "\(out(n)).zero")],
            name: "\(out(n)).hi", at: n)
        let scale = try ctx.emit(
            .div, [try ctx.emit(.sub, [hi, lo], name: "\(out(n)).span", at: n), try f(255, "\(out(n)).levels")],
            name: out(n, 1), at: n)
        // The zero point is 0 quantized from the shifted range, -lo / scale; then x itself.
        let minusLow = try ctx.emit(.neg, [lo], name: "\(out(n)).nlo", at: n)
        var zeroEmitter = ImportEmitter(ctx: ctx, node: n, name: out(n, 2))
        let zero = try zeroEmitter.quantizeArithmetic(minusLow, scale: scale, zeroPoint: nil, to: .u8)
        var e = ImportEmitter(ctx: ctx, node: n, name: out(n))
        return [try e.quantizeArithmetic(x, scale: scale, zeroPoint: zero, to: .u8), scale, zero]
    }
}

/// Emits quantization arithmetic through the importer (constants fold as they are made).
struct ImportEmitter: OpEmitter {
    let ctx: ImportContext
    let node: ONNXNode
    let name: String

    func typeOf(_ v: ValueID) -> TensorType { ctx.type(v) }

    mutating func emit(_ op: Op, _ operands: [ValueID], _ attributes: Attributes) throws(SinterError) -> ValueID {
        try ctx.emit(op, operands, attributes, name: name, at: node)
    }

    mutating func emitConstant(_ data: TensorData) throws(SinterError) -> ValueID {
        try ctx.constant(data, name: name + ".q")
    }
}
