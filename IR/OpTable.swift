/// Every op Sinter knows. The raw value is the mnemonic in `.sir` text.
public enum Op: String, CaseIterable, Sendable, Hashable {
    case constant
    // Elementwise arithmetic and activations.
    case add, sub, mul, div, max, min, pow
    case neg, abs, exp, log, sqrt, reciprocal, erf, floor, ceil, round, sign
    case relu, sigmoid, tanh, softplus, gelu
    case geluTanh = "gelu-tanh"
    case leakyRelu = "leaky-relu"
    case prelu, elu, selu
    case hardSigmoid = "hard-sigmoid"
    case hardSwish = "hard-swish"
    case clip
    case sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh
    case mod, fmod
    case isNaN = "is-nan"
    case isInf = "is-inf"
    // Bitwise integer ops.
    case bitAnd = "bit-and"
    case bitOr = "bit-or"
    case bitXor = "bit-xor"
    case bitNot = "bit-not"
    case shiftLeft = "shift-left"
    case shiftRight = "shift-right"
    // Logic and comparison.
    case not, and, or, xor, equal, less, greater
    case `where`
    case lessEqual = "less-equal"
    case greaterEqual = "greater-equal"
    case cast, expand
    // Linear algebra and normalisation.
    case matmul, softmax
    case logSoftmax = "log-softmax"
    case layerNorm = "layer-norm"
    case conv
    case convNCHWc = "conv-nchwc"
    case depthwiseConvNCHWc = "depthwise-conv-nchwc"
    case maxPool = "max-pool"
    case avgPool = "avg-pool"
    case maxPoolNCHWc = "max-pool-nchwc"
    case avgPoolNCHWc = "avg-pool-nchwc"
    // Data movement.
    case identity, reshape, transpose, concat, split, slice, gather, tile, pad
    // Reductions.
    case reduceSum = "reduce-sum"
    case reduceMean = "reduce-mean"
    case reduceMax = "reduce-max"
    case reduceMin = "reduce-min"
    case reduceProd = "reduce-prod"
    case reduceL2 = "reduce-l2"
    case argMax = "arg-max"
    case argMin = "arg-min"
    case cumSum = "cumsum"
    case topK = "top-k"
    case scatterND = "scatter-nd"
    // Quantization (IR/Quantization.swift); `expand-quant` rewrites them into arithmetic.
    case quantize, dequantize, requantize, qmatmul, qconv
    case qconvNCHWc = "qconv-nchwc"
    // Training (IR/TrainingOps.swift); `expand-training` rewrites them into arithmetic.
    case crossEntropy = "cross-entropy"
    case nllLoss = "nll-loss"
    case dropout
    case batchNorm = "batch-norm"
    case mseLoss = "mse-loss"
    case bceLoss = "bce-loss"
    case sgdUpdate = "sgd-update"
    case momentumUpdate = "momentum-update"
    case adamUpdate = "adam-update"
    case rmspropUpdate = "rmsprop-update"
    case adagradUpdate = "adagrad-update"

    /// The op's one schema entry: everything the verifier, printer, parser, shape
    /// inference, folding, fusion and lowering know about it.
    public var schema: OpSchema { OpSchema.table[self] ?? OpSchema.entry(self) }
}

/// The op table: one entry per op, and the only place an op's meaning is written.
extension OpSchema {
    static let table: [Op: OpSchema] = Dictionary(uniqueKeysWithValues: Op.allCases.map { ($0, entry($0)) })

    private static func spec(
        _ name: String, _ kind: AttributeKind, _ value: AttributeValue? = nil, required: Bool = false
    ) -> AttributeSpec {
        AttributeSpec(name, kind, default: value, required: required)
    }

    private static let windowAttributes = [
        spec("kernel", .ints, required: true), spec("strides", .ints), spec("pads", .ints), spec("dilations", .ints),
        spec("ceil_mode", .bool, .bool(false)),
    ]

    static func entry(_ op: Op) -> OpSchema {
        switch op {
        case .constant:
            return make(
                op, 0, [.any], traits: [.pure, .payload], pattern: .opaque, shape: ShapeRules.payload, kernel: .none,
                couples: Coupling.none,
                "A tensor literal, inline (`dense<...>`) or from a .npy file.")
        // MARK: elementwise, written as scalar expressions
        case .add: return binary(op, .x + .y, [.commutative], "x + y")
        case .sub: return binary(op, .x - .y, [], "x - y")
        case .mul: return binary(op, .x * .y, [.commutative], "x * y")
        case .div: return binary(op, .x / .y, [], "x / y (integers truncate; x / 0 is 0 for integers)")
        case .max: return binary(op, .max(.x, .y), [.commutative], "maximum, NaN-propagating")
        case .min: return binary(op, .min(.x, .y), [.commutative], "minimum, NaN-propagating")
        case .pow:
            return binary(op, .pow(.x, .y), [], "x ** y (C pow rules for negative bases and zero)", dtypes: .float)
        case .prelu:
            return binary(op, .select(.lt(.x, .c(0)), .y * .x, .x), [], "x < 0 ? slope * x : x", dtypes: .float)
        case .neg: return unary(op, -.x, "-x", dtypes: .numeric)
        case .abs: return unary(op, .abs(.x), "|x|", dtypes: .numeric)
        case .exp: return unary(op, .exp(.x), "e^x")
        case .log: return unary(op, .log(.x), "natural logarithm")
        case .sqrt: return unary(op, .sqrt(.x), "square root")
        case .reciprocal: return unary(op, .c(1) / .x, "1 / x")
        case .erf: return unary(op, .erf(.x), "error function")
        case .floor: return unary(op, .floor(.x), "round down")
        case .ceil: return unary(op, .unary(.ceil, .x), "round up")
        case .round: return unary(op, .unary(.round, .x), "round half to even")
        case .sign:
            return unary(
                op, .select(.eq(.x, .x), .select(.gt(.x, .c(0)), .c(1), .select(.lt(.x, .c(0)), .c(-1), .c(0))), .x),
                "-1, 0 or 1 (NaN stays NaN)", dtypes: .numeric)
        case .relu: return unary(op, .max(.x, .c(0)), "max(x, 0)", dtypes: .numeric)
        case .sigmoid: return unary(op, .c(1) / (.c(1) + .exp(-.x)), "1 / (1 + e^-x)")
        case .tanh: return unary(op, .tanh(.x), "hyperbolic tangent")
        case .softplus: return unary(op, .log(.c(1) + .exp(.x)), "log(1 + e^x)")
        case .gelu: return unary(op, .c(0.5) * .x * (.c(1) + .erf(.x * .c(0.7071067811865476))), "x·Φ(x) with erf")
        case .geluTanh:
            return unary(
                op, .c(0.5) * .x * (.c(1) + .tanh(.c(0.7978845608028654) * (.x + .c(0.044715) * .x * .x * .x))),
                "GELU, tanh approximation")
        case .leakyRelu:
            return unary(
                op, .select(.lt(.x, .c(0)), .attr("alpha") * .x, .x), "x < 0 ? alpha·x : x",
                attributes: [spec("alpha", .float, .float(0.01))])
        case .elu:
            return unary(
                op, .select(.lt(.x, .c(0)), .attr("alpha") * (.exp(.x) - .c(1)), .x), "x < 0 ? alpha·(e^x − 1) : x",
                attributes: [spec("alpha", .float, .float(1))])
        case .selu:
            return unary(
                op, .attr("gamma") * .select(.le(.x, .c(0)), .attr("alpha") * (.exp(.x) - .c(1)), .x), "scaled ELU",
                attributes: [
                    spec("alpha", .float, .float(1.6732632423543772)),
                    spec("gamma", .float, .float(1.0507009873554805)),
                ])
        case .hardSigmoid:
            return unary(
                op, .max(.c(0), .min(.c(1), .attr("alpha") * .x + .attr("beta"))), "clamp(alpha·x + beta, 0, 1)",
                attributes: [spec("alpha", .float, .float(0.2)), spec("beta", .float, .float(0.5))])
        case .hardSwish:
            return unary(op, .x * .max(.c(0), .min(.c(1), .x / .c(6) + .c(0.5))), "x · hard-sigmoid(x, 1/6, 1/2)")
        case .clip:
            return unary(
                op, .min(.max(.x, .attr("min")), .attr("max")), "clamp(x, min, max)", dtypes: .numeric,
                attributes: [spec("min", .float, .float(-.infinity)), spec("max", .float, .float(.infinity))])
        case .sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh, .atanh:
            let f = ScalarExpr.UnaryFn(rawValue: op.rawValue) ?? .sin
            return unary(op, .unary(f, .x), "\(op.rawValue)(x), the C library's (libm) on each element")
        case .mod:
            return binary(
                op, .binary(.mod, .x, .y), [], "integer remainder with the divisor's sign (Python's %; x mod 0 is 0)",
                dtypes: .integer)
        case .fmod:
            return binary(
                op, .binary(.fmod, .x, .y), [], "remainder with the dividend's sign (C fmod; integers: x fmod 0 is 0)")
        case .isNaN: return unaryTo(op, .not(.eq(.x, .x)), "x is NaN")
        case .isInf:
            let pos = ScalarExpr.and(.attr("detect_positive"), .eq(.x, .c(.infinity)))
            let neg = ScalarExpr.and(.attr("detect_negative"), .eq(.x, .c(-.infinity)))
            return unaryTo(
                op, .binary(.or, pos, neg), "x is +inf (when detect_positive) or -inf (when detect_negative)",
                attributes: [spec("detect_positive", .int, .int(1)), spec("detect_negative", .int, .int(1))])
        case .bitAnd: return binary(op, .binary(.bitAnd, .x, .y), [.commutative], "x & y", dtypes: .integer)
        case .bitOr: return binary(op, .binary(.bitOr, .x, .y), [.commutative], "x | y", dtypes: .integer)
        case .bitXor: return binary(op, .binary(.bitXor, .x, .y), [.commutative], "x ^ y", dtypes: .integer)
        case .bitNot: return unary(op, .unary(.bitNot, .x), "~x", dtypes: .integer)
        case .shiftLeft:
            return binary(op, .binary(.shl, .x, .y), [], "x << y (0 when y >= the bit width)", dtypes: .integer)
        case .shiftRight:
            return binary(
                op, .binary(.shr, .x, .y), [],
                "x >> y (arithmetic for signed types; past the bit width: 0, or -1 for negative x)", dtypes: .integer)
        case .xor: return binary(op, .not(.eq(.x, .y)), [.commutative], "logical exclusive or", dtypes: .bool)
        case .not: return unary(op, .not(.x), "logical not", dtypes: .bool)
        case .and: return binary(op, .and(.x, .y), [.commutative], "logical and", dtypes: .bool)
        case .or: return binary(op, .binary(.or, .x, .y), [.commutative], "logical or", dtypes: .bool)
        case .equal: return compare(op, .eq, "x == y")
        case .less: return compare(op, .lt, "x < y")
        case .lessEqual: return compare(op, .le, "x <= y")
        case .greater: return compare(op, .gt, "x > y")
        case .greaterEqual: return compare(op, .ge, "x >= y")
        case .where:
            return make(
                op, 3, [.bool, .any], traits: [.pure], pattern: .broadcast, scalar: .select(.x, .y, .z),
                shape: ShapeRules.whereRule, kernel: .elementwise, "cond ? x : y (numpy broadcasting)")
        case .cast:
            return make(
                op, 1, [.any], attributes: [spec("to", .string, required: true)], traits: [.pure],
                pattern: .elementwise,
                scalar: .cast(.x), shape: ShapeRules.cast, kernel: .elementwise,
                "converts to dtype `to` (floats to integers truncate toward zero; to bool is x != 0)")
        case .expand:
            return make(
                op, 1, [.any], attributes: [spec("shape", .ints, required: true)], traits: [.pure], pattern: .broadcast,
                scalar: .x, shape: ShapeRules.expand, kernel: .elementwise, "broadcasts to `shape` (numpy rules)")
        // MARK: linear algebra, normalisation, windows
        case .matmul:
            return make(
                op, 2, [.float],
                attributes: [
                    spec("trans_a", .bool, .bool(false)), spec("trans_b", .bool, .bool(false)), spec("to", .string),
                ],
                traits: [.pure], pattern: .outElementwiseFusable, shape: ShapeRules.matmul, kernel: .unit("matmul"),
                couples: { q in  // the k axis of each operand
                    let flipped = q.attributes.bool(q.operand == 0 ? "trans_a" : "trans_b") ?? false
                    return [q.rank - ((q.operand == 0) != flipped ? 1 : 2)]
                },
                "numpy.matmul for rank >= 2 (batch dimensions broadcast); trans_a / trans_b read an operand's "
                    + "last two axes swapped; `to = \"f32\"` on bf16 or f16 operands sums and returns f32 (what "
                    + "`--precision bf16` makes)."
            )
        case .softmax:
            return make(
                op, 1, [.float], attributes: [spec("axis", .int, .int(-1))], traits: [.pure], pattern: .opaque,
                shape: ShapeRules.softmax, kernel: .unit("softmax"), couples: Coupling.axis("axis", default: -1),
                "exp(x - max) / sum(exp(x - max)) along one axis.")
        case .logSoftmax:
            return make(
                op, 1, [.float], attributes: [spec("axis", .int, .int(-1))], traits: [.pure], pattern: .opaque,
                shape: ShapeRules.softmax, kernel: .unit("softmax"), couples: Coupling.axis("axis", default: -1),
                "x - max - log(sum(exp(x - max))) along one axis.")
        case .layerNorm:
            return make(
                op, 3, [.float], attributes: [spec("axis", .int, .int(-1)), spec("epsilon", .float, .float(1e-5))],
                traits: [.pure], pattern: .opaque, shape: ShapeRules.layerNorm, kernel: .unit("layer-norm"),
                couples: { q in q.operand == 0 ? Set(q.axis("axis", -1)..<q.rank) : Set(0..<q.rank) },
                "(x − mean) / sqrt(var + epsilon) · scale + bias over axes axis..rank−1; scale and bias have "
                    + "those axes' shape."
            )
        case .conv:
            return make(
                op, 2, [.float],
                attributes: [
                    spec("strides", .ints), spec("pads", .ints), spec("dilations", .ints),
                    spec("group", .int, .int(1)), spec("to", .string),
                ],
                traits: [.pure], pattern: .outElementwiseFusable, shape: ShapeRules.conv, kernel: .unit("conv"),
                couples: Coupling.window,
                "N-D convolution, NC[spatial] layout, weights [M, C/group, k...]; pads are all begins then all ends; "
                    + "`to = \"f32\"` on bf16 operands sums and returns f32 (what `--precision bf16` makes).")
        case .convNCHWc:
            return make(
                op, 2, [.float],
                attributes: [
                    spec("strides", .ints), spec("pads", .ints), spec("dilations", .ints),
                    spec("group", .int, .int(1)), spec("to", .string),
                ],
                traits: [.pure], pattern: .outElementwiseFusable, shape: ShapeRules.convNCHWc,
                kernel: .unit("conv-nchwc"), couples: Coupling.window,
                "2-D convolution on channel-blocked tensors (the `layout` pass makes it): x [N, C/bi, H, W, "
                    + "bi], weights [M/b, C/bi, kh, kw, bi, b] (input lane, then output lane), result [N, M/b, "
                    + "OH, OW, b]; bi = 1 reads an NCHW input. With group > 1, output block o reads only the input "
                    + "blocks of its channels' groups, and the weights carry that many per output block. "
                    + "`to = \"f32\"` on bf16 operands (dense, bi even) sums and returns f32, as conv's."
            )
        case .maxPool:
            return make(
                op, 1, [.numeric], attributes: windowAttributes, traits: [.pure], pattern: .opaque,
                shape: ShapeRules.pool, kernel: .unit("pool"), couples: Coupling.window,
                "maximum over each window (padding never wins); u8 and i8 too (quantized values keep their "
                    + "parameters), for 2-D windows.")
        case .avgPool:
            return make(
                op, 1, [.float], attributes: windowAttributes + [spec("count_include_pad", .bool, .bool(false))],
                traits: [.pure], pattern: .opaque, shape: ShapeRules.pool, kernel: .unit("pool"),
                couples: Coupling.window,
                "mean over each window.")
        case .depthwiseConvNCHWc:
            return make(
                op, 2, [.float], attributes: [spec("strides", .ints), spec("pads", .ints), spec("dilations", .ints)],
                traits: [.pure], pattern: .outElementwiseFusable, shape: ShapeRules.depthwiseNCHWc,
                kernel: .unit("conv-nchwc"), couples: Coupling.window,
                "2-D depthwise convolution (one filter per channel) on channel-blocked tensors (the `layout` "
                    + "pass makes it): x [N, C/b, H, W, b], weights [C/b, kh, kw, b], result [N, C/b, OH, OW, b]."
            )
        case .maxPoolNCHWc:
            return make(
                op, 1, [.numeric], attributes: windowAttributes, traits: [.pure], pattern: .opaque,
                shape: ShapeRules.poolNCHWc,
                kernel: .unit("pool"), couples: Coupling.window,
                "max-pool on a channel-blocked tensor [N, C/b, H, W, b] (the `layout` pass makes it); u8 and i8 "
                    + "too (quantized values keep their parameters).")
        case .avgPoolNCHWc:
            return make(
                op, 1, [.float], attributes: windowAttributes + [spec("count_include_pad", .bool, .bool(false))],
                traits: [.pure], pattern: .opaque, shape: ShapeRules.poolNCHWc, kernel: .unit("pool"),
                couples: Coupling.window,
                "avg-pool on a channel-blocked tensor [N, C/b, H, W, b] (the `layout` pass makes it).")
        // MARK: data movement
        case .identity:
            return make(
                op, 1, [.any], traits: [.pure, .movesData], pattern: .injective, shape: ShapeRules.sameAsOperand,
                kernel: .unit("movement"), couples: Coupling.none,
                "a copy under a new name (keeps imported output names).")
        case .reshape:
            return make(
                op, 1, [.any], attributes: [spec("shape", .ints, required: true)], traits: [.pure, .movesData],
                pattern: .injective, shape: ShapeRules.reshape, kernel: .unit("movement"), couples: Coupling.reshape,
                "Same elements in row-major order, new shape; one -1 is inferred.")
        case .transpose:
            return make(
                op, 1, [.any],
                attributes: [AttributeSpec("perm", .ints, rankDefault: { .ints(Array((0..<$0).reversed())) })],
                traits: [.pure, .movesData], pattern: .injective,
                shape: ShapeRules.transpose, kernel: .unit("movement"), couples: Coupling.none,
                "Permutes dimensions; result dim i is operand dim perm[i] (default: reversed).")
        case .concat:
            return make(
                op, 1, [.any], variadic: true, attributes: [spec("axis", .int, required: true)],
                traits: [.pure, .movesData],
                pattern: .injective, shape: ShapeRules.concat, kernel: .unit("movement"),
                couples: { q in [q.axis("axis", 0)] }, "joins operands along `axis`."
            )
        case .split:
            return make(
                op, 1, [.any], attributes: [spec("axis", .int, .int(0)), spec("sizes", .ints, required: true)],
                traits: [.pure, .movesData], pattern: .injective, shape: ShapeRules.split, kernel: .unit("movement"),
                couples: Coupling.axis("axis", default: 0),
                "cuts along `axis` into parts of `sizes` (one result per size).")
        case .slice:
            return make(
                op, 1, [.any],
                attributes: [
                    spec("starts", .ints, required: true), spec("ends", .ints, required: true),
                    spec("steps", .ints),
                ],
                traits: [.pure, .movesData], pattern: .injective, shape: ShapeRules.slice, kernel: .unit("movement"),
                couples: Coupling.resizing,
                "per-axis start:end:step, numpy/ONNX clamping, negative indices count from the end.")
        case .gather:
            return make(
                op, 2, [.any, .index], attributes: [spec("axis", .int, .int(0))], traits: [.pure, .movesData],
                pattern: .injective, shape: ShapeRules.gather, kernel: .unit("movement"),
                couples: Coupling.axis("axis", default: 0),
                "numpy.take(x, indices, axis); negative indices count from the end, others are clamped.")
        case .tile:
            return make(
                op, 1, [.any], attributes: [spec("repeats", .ints, required: true)], traits: [.pure, .movesData],
                pattern: .injective, shape: ShapeRules.tile, kernel: .unit("movement"), couples: Coupling.resizing,
                "numpy.tile with one repeat per axis.")
        case .pad:
            return make(
                op, 1, [.any],
                attributes: [
                    spec("pads", .ints, required: true),
                    AttributeSpec(
                        "mode", .string, default: .string("constant"), allowed: PadMode.allCases.map(\.rawValue)),
                    spec("value", .float, .float(0)),
                ],
                traits: [.pure, .movesData], pattern: .injective, shape: ShapeRules.pad, kernel: .unit("pad"),
                couples: Coupling.resizing,
                "pads (all begins, then all ends; negative crops) in mode constant, reflect, edge or wrap; on a "
                    + "quantized tensor `value` is the stored integer (its zero point pads with real 0).")
        // MARK: reductions
        case .reduceSum: return reduce(op, "sum over axes")
        case .reduceMean: return reduce(op, "mean over axes")
        case .reduceMax: return reduce(op, "maximum over axes (NaN-propagating)")
        case .reduceMin: return reduce(op, "minimum over axes (NaN-propagating)")
        case .reduceProd: return reduce(op, "product over axes")
        case .reduceL2: return reduce(op, "sqrt of the sum of squares over axes")
        case .argMax: return argReduce(op, max: true)
        case .argMin: return argReduce(op, max: false)
        case .cumSum:
            return make(
                op, 1, [.numeric],
                attributes: [
                    spec("axis", .int, .int(0)), spec("exclusive", .bool, .bool(false)),
                    spec("reverse", .bool, .bool(false)),
                ],
                traits: [.pure], pattern: .opaque,
                shape: { q throws(ShapeError) in
                    _ = try ShapeRules.axis(q.attributes.int("axis") ?? 0, rank: q.operands[0].rank)
                    return [q.operands[0]]
                }, kernel: .unit("cumsum"), couples: Coupling.axis("axis", default: 0),
                "running sum along `axis` (exclusive: of the elements before; reverse: from the end)")
        case .topK:
            return make(
                op, 1, [.numeric], results: 2,
                attributes: [
                    spec("k", .int, required: true), spec("axis", .int, .int(-1)), spec("largest", .bool, .bool(true)),
                ],
                traits: [.pure], pattern: .opaque,
                shape: { q throws(ShapeError) in
                    let t = q.operands[0]
                    let axis = try ShapeRules.axis(q.attributes.int("axis") ?? -1, rank: t.rank)
                    let k = q.attributes.int("k") ?? 0
                    var dims = t.dims
                    guard k >= 0 else { throw ShapeError("k = \(k) is negative") }
                    if case .fixed(let n) = dims[axis], k > n {
                        throw ShapeError("k = \(k) is outside 0...\(n), the size of axis \(axis)")
                    }
                    dims[axis] = .fixed(k)
                    return [TensorType(t.dtype, dims), TensorType(.i64, dims)]
                }, kernel: .unit("top-k"), couples: Coupling.axis("axis", default: -1),
                "the k largest (or smallest) elements along `axis`, sorted, ties in index order: values and i64 indices"
            )
        case .quantize, .dequantize, .requantize:
            return quantization(op)
        case .crossEntropy, .nllLoss, .dropout, .batchNorm, .mseLoss, .bceLoss, .sgdUpdate, .momentumUpdate,
            .adamUpdate,
            .rmspropUpdate,
            .adagradUpdate:
            return training(op)
        case .qmatmul:
            return make(
                op, 2, [.numeric, .integer, .integer], variadic: true, traits: [.pure],
                pattern: .outElementwiseFusable, shape: QuantRules.qmatmul, kernel: .unit("qmatmul"),
                couples: { q in [q.rank - (q.operand == 0 ? 1 : 2)] },  // the k axis of each operand
                "f32 product of dequantized operands, summed in i32: a (i8/u8, rank >= 2, per tensor) times b "
                    + "(i8/u8 [...,K,N], per tensor or per column; batch dimensions broadcast), plus an optional "
                    + "i32 bias [N] at scale scale_a * scale_b[j] added to the sums. An f32 a is quantized per row "
                    + "at run time (dynamic int8): the row's range widened to include 0, scale (hi - lo) / 255, "
                    + "zero point rint(-lo / scale), values rint(x * (1 / scale)) + zero clamped to [0, 255].")
        case .qconv:
            return make(
                op, 2, [.integer], variadic: true,
                attributes: [
                    spec("strides", .ints), spec("pads", .ints), spec("dilations", .ints),
                    spec("group", .int, .int(1)),
                ],
                traits: [.pure], pattern: .outElementwiseFusable, shape: QuantRules.qconv, kernel: .unit("qconv"),
                couples: Coupling.window,
                "f32 2-D convolution of dequantized operands, summed in i32: x (i8/u8 [N,C,H,W], per tensor) with "
                    + "weights (i8 [M,C/group,kh,kw], zero point 0, per tensor or per output channel), plus an "
                    + "optional i32 bias [M] at scale scale_x * scale_w[m] added to the sums; pads and groups as conv's"
            )
        case .qconvNCHWc:
            return make(
                op, 2, [.integer], variadic: true,
                attributes: [spec("strides", .ints), spec("dilations", .ints), spec("block", .int)],
                traits: [.pure], pattern: .outElementwiseFusable, shape: QuantRules.qconvNCHWc,
                kernel: .unit("qconv-nchwc"), couples: Coupling.window,
                "qconv on channel-blocked bytes (the `layout` pass makes it): x (i8/u8 [N, C/bi, H, W, bi], per "
                    + "tensor, bi a multiple of 4) with qconv's weights [M, C, kh, kw] (group 1) and optional i32 "
                    + "bias [M]; the result is f32 [N, M/b, OH, OW, b], b = `block` (default bi, dividing M). No "
                    + "padding: `layout` pads the input with its zero point first.")
        case .scatterND:
            return make(
                op, 3, [.any, .index, .any],
                attributes: [
                    AttributeSpec(
                        "reduction", .string, default: .string("none"), allowed: ["none", "add", "mul", "max", "min"])
                ],
                traits: [.pure], pattern: .opaque,
                shape: { q throws(ShapeError) in
                    let (d, i, u) = (q.operands[0], q.operands[1], q.operands[2])
                    guard let ds = d.shape, let ishape = i.shape, let us = u.shape, let k = ishape.last,
                        k <= ds.count
                    else { throw ShapeError("indices must be [..., k] with k <= the data's rank \(d.rank)") }
                    let want = Array(ishape.dropLast()) + Array(ds[k...])
                    guard us == want, u.dtype == d.dtype else {
                        throw ShapeError("updates must be \(d.dtype.rawValue)\(want), got \(u)")
                    }
                    return [d]
                }, kernel: .unit("scatter-nd"),
                "data with the slices data[indices[i]] replaced by updates[i] (or combined: reduction add, mul, "
                    + "max, min); negative indices count from the end, out-of-range ones are skipped"
            )
        }
    }

    /// quantize / dequantize / requantize: affine maps between floats and quantized integers,
    /// whose parameters are in the integer side's type. `to` spells the quantized element type.
    private static func quantization(_ op: Op) -> OpSchema {
        let to = [spec("to", .string, required: true)]
        let couples: CouplingRule = Coupling.none
        switch op {
        case .quantize:
            return make(
                op, 1, [.float], attributes: to, traits: [.pure], pattern: .elementwise, shape: QuantRules.quantize,
                kernel: .expanded(by: "expand-quant"), couples: couples,
                "saturate(round_half_even(x / scale) + zero_point) into the quantized type `to` (\"u8<0.02:128>\")")
        case .dequantize:
            return make(
                op, 1, [.integer], traits: [.pure], pattern: .elementwise, shape: QuantRules.dequantize,
                kernel: .expanded(by: "expand-quant"), couples: couples,
                "f32 (x - zero_point) * scale, with the parameters of x's quantized type")
        default:
            return make(
                op, 1, [.integer], attributes: to, traits: [.pure], pattern: .elementwise,
                shape: QuantRules.requantize, kernel: .expanded(by: "expand-quant"), couples: couples,
                "quantize(dequantize(x)): x's quantized type to the quantized type `to`")
        }
    }

    static func make(
        _ op: Op, _ operands: Int, _ dtypes: [DTypeConstraint], variadic: Bool = false,
        results: Int = 1, attributes: [AttributeSpec] = [], traits: OpTraits, pattern: PatternClass,
        scalar: ScalarExpr? = nil, shape: @escaping ShapeRule, kernel: KernelFamily,
        couples: CouplingRule? = nil, _ summary: String
    ) -> OpSchema {
        var s = OpSchema(
            op: op, operandCount: operands, variadic: variadic, resultCount: results, attributes: attributes,
            dtypes: dtypes, traits: traits, pattern: pattern, scalar: scalar, inferTypes: shape, kernel: kernel,
            summary: summary)
        // An elementwise kernel computes each result element from the operand entries at its own
        // (broadcast) position: it never combines entries.
        s.couples = couples ?? (kernel == .elementwise ? Coupling.none : nil)
        s.gradient = Gradients.rule(op, s)
        return s
    }

    private static func binary(
        _ op: Op, _ e: ScalarExpr, _ traits: OpTraits, _ summary: String,
        dtypes: DTypeConstraint = .numeric
    ) -> OpSchema {
        make(
            op, 2, [dtypes], traits: traits.union(.pure), pattern: .broadcast, scalar: e, shape: ShapeRules.broadcast,
            kernel: .elementwise, summary + " (numpy broadcasting)")
    }

    private static func compare(_ op: Op, _ c: ScalarExpr.Comparison, _ summary: String) -> OpSchema {
        make(
            op, 2, [.any], traits: [.pure], pattern: .broadcast, scalar: .compare(c, .x, .y), shape: ShapeRules.compare,
            kernel: .elementwise, summary + ", bool result (numpy broadcasting)")
    }

    private static func unary(
        _ op: Op, _ e: ScalarExpr, _ summary: String, dtypes: DTypeConstraint = .float,
        attributes: [AttributeSpec] = []
    ) -> OpSchema {
        make(
            op, 1, [dtypes], attributes: attributes, traits: [.pure], pattern: .elementwise, scalar: e,
            shape: ShapeRules.sameAsOperand, kernel: .elementwise, summary)
    }

    /// A unary test with a bool result (is-nan, is-inf).
    private static func unaryTo(
        _ op: Op, _ e: ScalarExpr, _ summary: String, attributes: [AttributeSpec] = []
    ) -> OpSchema {
        make(
            op, 1, [.float], attributes: attributes, traits: [.pure], pattern: .elementwise, scalar: e,
            shape: ShapeRules.compare, kernel: .elementwise, summary + ", bool result")
    }

    private static func reduce(_ op: Op, _ summary: String) -> OpSchema {
        make(
            op, 1, [.float], attributes: [spec("axes", .ints), spec("keepdims", .bool, .bool(false))],
            traits: [.pure, .reducesAxes], pattern: .reduction, shape: ShapeRules.reduce, kernel: .unit("reduce"),
            couples: { q in
                q.attributes.ints("axes").map { Set($0.map { $0 < 0 ? $0 + q.rank : $0 }) } ?? Set(0..<q.rank)
            },
            summary + "; no `axes` means all axes")
    }

    private static func argReduce(_ op: Op, max: Bool) -> OpSchema {
        make(
            op, 1, [.float],
            attributes: [
                spec("axis", .int, .int(0)), spec("keepdims", .bool, .bool(false)),
                spec("select_last_index", .bool, .bool(false)),
            ],
            traits: [.pure], pattern: .reduction, shape: ShapeRules.argReduce, kernel: .unit("arg-reduce"),
            couples: Coupling.axis("axis", default: 0),
            "i64 index of the \(max ? "largest" : "smallest") element along `axis` (first one unless select_last_index)"
        )
    }
}
