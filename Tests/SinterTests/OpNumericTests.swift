import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Every op of the slice, compiled through the JIT on random shapes (broadcasting edge cases
/// included: size-1 dims, rank mismatch, empty tensors) and compared with numpy.
struct OpNumericTests {
    struct Case {
        var op: Op
        var shapes: [[Int]]
        var attrs: Attributes = Attributes()
        var dtypes: [DType] = []
        var range: (Float, Float) = (-3, 3)
        var specials = false
        var atol: Float = 1e-6
        var rtol: Float = 1e-5
        /// Quantization parameters of the first input (dequantize, requantize), which numpy
        /// reads as the attribute `from`, and of the second (qmatmul's b, `from_b`).
        var inputQuant: QuantParams? = nil
        var secondQuant: QuantParams? = nil
    }

    static let binaryShapes: [[[Int]]] = [
        [[4, 5], [4, 5]], [[3, 1, 5], [4, 5]], [[1], [2, 3]], [[2, 3], []], [[0, 3], [3]],
        [[5], [1, 5]], [[2, 1], [1, 3]], [[1027], [1027]], [[2, 1, 17], [3, 1]], [[1, 1], [1, 1]],
    ]
    static let unaryShapes: [[Int]] = [[], [1], [7], [0], [3, 0, 2], [1027], [4, 33], [2, 3, 5]]

    static func cases() -> [Case] {
        var out: [Case] = []
        var rng = Support.RNG(seed: 7)
        for op in [Op.add, .sub, .mul, .div, .max, .min] {
            for s in binaryShapes { out.append(Case(op: op, shapes: s, specials: true)) }
            // Random broadcast-compatible pairs with a rank mismatch.
            for _ in 0..<3 {
                let rank = rng.int(1...4)
                let a = (0..<rank).map { _ in rng.int(1...6) }
                var b = Array(a.dropFirst(rng.int(0...(rank - 1))))
                for i in b.indices where rng.int(0...2) == 0 { b[i] = 1 }
                out.append(Case(op: op, shapes: rng.bool() ? [a, b] : [b, a], range: (0.5, 4)))
            }
        }
        for op in [
            Op.neg, .abs, .exp, .log, .sqrt, .relu, .sigmoid, .tanh, .reciprocal, .erf, .floor, .ceil, .round, .sign,
            .softplus, .gelu, .geluTanh, .hardSwish, .leakyRelu, .elu, .selu, .hardSigmoid, .clip,
        ] {
            let range: (Float, Float) =
                switch op {
                case .log, .sqrt: (1e-3, 50)
                case .exp: (-88, 88)
                case .sigmoid, .tanh, .erf, .gelu, .geluTanh, .softplus: (-12, 12)
                case .round: (-4, 4)
                default: (-10, 10)
                }
            var attrs = Attributes()
            switch op {
            case .leakyRelu: attrs["alpha"] = .float(0.2)
            case .elu: attrs["alpha"] = .float(0.7)
            case .hardSigmoid: attrs = Attributes(["alpha": .float(0.3), "beta": .float(0.6)])
            case .clip: attrs = Attributes(["min": .float(-2), "max": .float(3.5)])
            default: break
            }
            // erf is a rational fit: 1e-6 absolute near zero crossings, like the others' 1e-5 relative.
            for s in unaryShapes {
                out.append(Case(op: op, shapes: [s], attrs: attrs, range: range, specials: op != .round))
            }
        }
        // The libm-backed functions, on their domains, with NaN/inf/±0 among the inputs.
        for op in [Op.sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh, .atanh, .isNaN] {
            let range: (Float, Float) =
                switch op {
                case .asin, .acos, .atanh: (-1, 1)
                case .acosh: (1, 50)
                case .sinh, .cosh: (-90, 90)
                default: (-20, 20)
                }
            for s in [[7], [4, 33]] { out.append(Case(op: op, shapes: [s], range: range, specials: true)) }
        }
        for (pos, neg) in [(1, 1), (1, 0), (0, 1)] {
            out.append(
                Case(
                    op: .isInf, shapes: [[2, 9]],
                    attrs: Attributes(["detect_positive": .int(pos), "detect_negative": .int(neg)]), specials: true))
        }
        out.append(Case(op: .fmod, shapes: [[3, 7], [7]], range: (-9, 9)))
        for dtype in [DType.i32, .i8, .i64] {
            for op in [Op.mod, .fmod] {
                out.append(Case(op: op, shapes: [[3, 7], [7]], dtypes: [dtype, dtype], range: (-20, 20)))
            }
        }
        for op in [Op.bitAnd, .bitOr, .bitXor] {
            out.append(Case(op: op, shapes: [[3, 7], [7]], dtypes: [.i32, .i32], range: (-99, 99)))
            out.append(Case(op: op, shapes: [[9], [1]], dtypes: [.u8, .u8], range: (0, 255)))
        }
        out.append(Case(op: .bitNot, shapes: [[9]], dtypes: [.i16], range: (-99, 99)))
        out.append(Case(op: .bitNot, shapes: [[9]], dtypes: [.u8], range: (0, 255)))
        for op in [Op.shiftLeft, .shiftRight] {
            out.append(Case(op: op, shapes: [[3, 7], [7]], dtypes: [.u8, .u8], range: (0, 9)))
            out.append(Case(op: op, shapes: [[2, 5], [5]], dtypes: [.i32, .i32], range: (0, 31)))
        }
        out.append(Case(op: .xor, shapes: [[3, 4], [4]], dtypes: [.bool, .bool]))
        for (shape, axis, exclusive, reverse) in [
            ([4, 37], 1, false, false), ([3, 5, 19], 1, true, false), ([6, 33], 0, false, true),
            ([2, 3, 4], -1, true, true),
            ([0, 3], 1, false, false),
        ] {
            let a = Attributes(["axis": .int(axis), "exclusive": .bool(exclusive), "reverse": .bool(reverse)])
            out.append(Case(op: .cumSum, shapes: [shape], attrs: a, atol: 1e-5))
        }
        out.append(
            Case(op: .cumSum, shapes: [[5, 9]], attrs: Attributes(["axis": .int(1)]), dtypes: [.i32], range: (-50, 50)))
        for (shape, k, axis, largest) in [([4, 37], 5, 1, true), ([6, 9, 3], 9, 1, false), ([2, 3], 1, 0, true)] {
            let a = Attributes(["k": .int(k), "axis": .int(axis), "largest": .bool(largest)])
            out.append(Case(op: .topK, shapes: [shape], attrs: a))
        }
        out.append(
            Case(op: .topK, shapes: [[3, 20]], attrs: Attributes(["k": .int(4)]), dtypes: [.i32], range: (-5, 5)))
        // Indices in -4...4 on axes of 3 to 5: negative ones wrap, out-of-range ones are skipped.
        for (shapes, reduction) in [
            ([[5, 4], [3, 1], [3, 4]], "none"), ([[3, 4, 2], [6, 2], [6, 2]], "add"), ([[4, 3], [2, 2], [2]], "mul"),
            ([[5, 2], [7, 1], [7, 2]], "max"), ([[3, 3], [4, 1], [4, 3]], "min"),
            ([[2, 3], [1, 0], [1, 2, 3]], "none"),
        ] {
            out.append(
                Case(
                    op: .scatterND, shapes: shapes, attrs: Attributes(["reduction": .string(reduction)]),
                    dtypes: [.f32, .i64, .f32], range: (-4, 4)))
        }
        out.append(Case(op: .scatterND, shapes: [[6], [4, 1], [4]], dtypes: [.i32, .i32, .i32], range: (-6, 6)))
        // Matmul off the f32 GEMM (typed loops) and f64 reductions. (bf16 shares the f16 path
        // but has no numpy dtype to check it against here.)
        for (dtype, atol) in [(DType.f64, Float(1e-6)), (.f16, 2e-2)] {
            out.append(Case(op: .matmul, shapes: [[5, 7], [7, 3]], dtypes: [dtype, dtype], atol: atol, rtol: 1e-2))
            out.append(
                Case(
                    op: .matmul, shapes: [[2, 3, 4], [1, 5, 4]], attrs: Attributes(["trans_b": .bool(true)]),
                    dtypes: [dtype, dtype], atol: atol, rtol: 1e-2))
        }
        for op in [Op.reduceSum, .reduceMean, .reduceMax, .reduceMin, .reduceProd, .reduceL2] {
            for axes in [[1], [0, 2]] {
                out.append(
                    Case(
                        op: op, shapes: [[3, 17, 5]], attrs: Attributes(["axes": .ints(axes)]), dtypes: [.f64],
                        range: (0.5, 1.5), rtol: 1e-9))
            }
        }
        // Unsigned 16/32/64-bit code paths: values past the signed range compare, divide, shift
        // and convert as unsigned; sums and products wrap.
        for (dtype, top) in [(DType.u16, Float(65535)), (.u32, 4.2e9), (.u64, 1.8e19)] {
            for op in [Op.add, .sub, .mul, .div, .max, .min, .greater, .lessEqual] {
                out.append(Case(op: op, shapes: [[3, 7], [7]], dtypes: [dtype, dtype], range: (0, top)))
            }
            out.append(Case(op: .shiftRight, shapes: [[2, 9], [9]], dtypes: [dtype, dtype], range: (0, 15)))
            let attrs = { (d: DType) in Attributes(["to": .string(d.rawValue)]) }
            out.append(Case(op: .cast, shapes: [[3, 11]], attrs: attrs(.f32), dtypes: [dtype], range: (0, top)))
            out.append(Case(op: .cast, shapes: [[3, 11]], attrs: attrs(dtype), dtypes: [.f32], range: (0, 60000)))
            out.append(
                Case(
                    op: .cumSum, shapes: [[4, 6]], attrs: Attributes(["axis": .int(1)]), dtypes: [dtype],
                    range: (0, 999)))
        }
        // Integer and bool elementwise code paths.
        for op in [Op.add, .sub, .mul, .div, .max, .min] {
            out.append(Case(op: op, shapes: [[3, 7], [7]], dtypes: [.i32, .i32], range: (-50, 50)))
            out.append(Case(op: op, shapes: [[2, 5], [2, 1]], dtypes: [.i64, .i64], range: (-9, 9)))
        }
        out.append(Case(op: .neg, shapes: [[9]], dtypes: [.i8], range: (-100, 100)))
        out.append(Case(op: .abs, shapes: [[9]], dtypes: [.i16], range: (-100, 100)))
        out.append(
            Case(op: .clip, shapes: [[2, 9]], attrs: Attributes(["min": .float(-3)]), dtypes: [.i32], range: (-9, 9)))
        out.append(Case(op: .pow, shapes: [[4, 6], [6]], range: (-3, 3)))
        out.append(Case(op: .pow, shapes: [[17], [17]], range: (0.1, 4)))
        out.append(Case(op: .prelu, shapes: [[2, 3, 4], [3, 1]]))
        for op in [Op.equal, .less, .greater, .lessEqual, .greaterEqual] {
            out.append(Case(op: op, shapes: [[3, 4], [4]], range: (-2, 2)))
            out.append(Case(op: op, shapes: [[5], [1]], dtypes: [.i64, .i64], range: (-3, 3)))
        }
        for op in [Op.and, .or] { out.append(Case(op: op, shapes: [[3, 4], [4]], dtypes: [.bool, .bool])) }
        out.append(Case(op: .not, shapes: [[2, 17]], dtypes: [.bool]))
        out.append(Case(op: .where, shapes: [[3, 1], [4], [3, 4]], dtypes: [.bool, .f32, .f32]))
        out.append(Case(op: .where, shapes: [[5], [5], [1]], dtypes: [.bool, .i64, .i64], range: (-9, 9)))
        for (from, to) in [
            (DType.f32, DType.i32), (.f32, .i64), (.i32, .f32), (.f32, .bool), (.bool, .f32), (.f32, .f16),
            (.f16, .f32), (.f32, .f64), (.i64, .i8), (.u8, .f32), (.f32, .u8),
        ] {
            let range: (Float, Float) = to == .u8 ? (0, 200) : from == .u8 ? (0, 255) : (-100, 100)
            out.append(
                Case(
                    op: .cast, shapes: [[3, 11]], attrs: Attributes(["to": .string(to.rawValue)]), dtypes: [from],
                    range: range))
        }
        out.append(Case(op: .expand, shapes: [[3, 1]], attrs: Attributes(["shape": .ints([2, 3, 4])])))
        for (s, axis) in [([4, 10], -1), ([3, 5, 4], 1), ([2, 20], 0)] {
            out.append(
                Case(
                    op: .logSoftmax, shapes: [s], attrs: Attributes(["axis": .int(axis)]), range: (-20, 20), atol: 1e-5)
            )
        }
        out.append(Case(op: .layerNorm, shapes: [[3, 37], [37], [37]], atol: 1e-5))
        out.append(
            Case(
                op: .layerNorm, shapes: [[2, 3, 4, 5], [4, 5], [4, 5]],
                attrs: Attributes(["axis": .int(2), "epsilon": .float(0.01)]), atol: 1e-5))
        out.append(
            Case(op: .concat, shapes: [[2, 3, 4], [2, 1, 4], [2, 5, 4]], attrs: Attributes(["axis": .int(1)])))
        out.append(
            Case(
                op: .concat, shapes: [[3], [0], [2]], attrs: Attributes(["axis": .int(0)]), dtypes: [.i64, .i64, .i64],
                range: (-9, 9)))
        out.append(Case(op: .split, shapes: [[4, 6]], attrs: Attributes(["axis": .int(1), "sizes": .ints([2, 4])])))
        out.append(
            Case(
                op: .slice, shapes: [[5, 6, 7]],
                attrs: Attributes([
                    "starts": .ints([1, -1, 0]), "ends": .ints([4, -7, 100]),
                    "steps": .ints([2, -2, 3]),
                ])))
        out.append(
            Case(op: .slice, shapes: [[4, 8]], attrs: Attributes(["starts": .ints([0, 2]), "ends": .ints([4, 6])])))
        out.append(
            Case(
                op: .gather, shapes: [[5, 4], [2, 3]], attrs: Attributes(["axis": .int(0)]), dtypes: [.f32, .i64],
                range: (-5, 4.99)))
        out.append(
            Case(
                op: .gather, shapes: [[3, 6, 2], [4]], attrs: Attributes(["axis": .int(1)]), dtypes: [.f32, .i32],
                range: (-6, 5.99)))
        out.append(Case(op: .tile, shapes: [[2, 3]], attrs: Attributes(["repeats": .ints([3, 2])])))
        for mode in ["constant", "reflect", "edge", "wrap"] {
            out.append(
                Case(
                    op: .pad, shapes: [[3, 4]],
                    attrs: Attributes(["pads": .ints([1, 2, 2, 1]), "mode": .string(mode), "value": .float(1.5)])))
        }
        out.append(Case(op: .pad, shapes: [[4, 5]], attrs: Attributes(["pads": .ints([-1, 1, 0, -2])])))
        // Constant pads copied as rows of vector runs: a blocked conv's explicit pad, and
        // padding on an outer dim (whole rows of fill) with a value.
        out.append(
            Case(
                op: .pad, shapes: [[2, 3, 5, 6, 16]],
                attrs: Attributes(["pads": .ints([0, 0, 1, 2, 0, 0, 0, 2, 1, 0])])))
        // A positive begin with a negative end crops: it takes the element-wise path.
        out.append(Case(op: .pad, shapes: [[4, 5]], attrs: Attributes(["pads": .ints([0, 2, 0, -1])])))
        out.append(
            Case(
                op: .pad, shapes: [[3, 4, 37]],
                attrs: Attributes(["pads": .ints([0, 1, 0, 1, 2, 0]), "value": .float(0.5)])))
        let convs: [([[Int]], [String: AttributeValue])] = [
            ([[1, 3, 7, 8], [4, 3, 3, 3]], [:]),
            (
                [[2, 4, 9, 9], [6, 2, 3, 2]],
                [
                    "group": .int(2), "strides": .ints([2, 1]), "pads": .ints([1, 0, 1, 1]),
                    "dilations": .ints([1, 2]),
                ]
            ),
            ([[1, 8, 5, 5], [8, 1, 3, 3]], ["group": .int(8), "pads": .ints([1, 1, 1, 1])]),
            ([[2, 5, 6, 7], [3, 5, 1, 1]], [:]),
            ([[1, 2, 10], [3, 2, 4]], ["strides": .ints([3]), "pads": .ints([2, 1])]),
            // im2col blocks of a few panels that end inside output rows, split into parts.
            ([[1, 8, 32, 30], [16, 8, 5, 5]], ["pads": .ints([2, 2, 2, 2])]),
            (
                [[2, 12, 20, 21], [10, 6, 3, 3]],
                ["group": .int(2), "strides": .ints([2, 2]), "dilations": .ints([2, 2])]
            ),
            (
                [[1, 4, 6, 7, 9], [5, 4, 3, 3, 3]], ["pads": .ints([1, 1, 1, 1, 1, 1]), "strides": .ints([1, 2, 1])]
            ),
        ]
        for (shapes, a) in convs {
            out.append(Case(op: .conv, shapes: shapes, attrs: Attributes(a), range: (-1, 1), atol: 1e-5))
        }
        // Blocked convolutions: border and interior columns, a full 12-pixel tile and a
        // remainder, strides, dilations, odd block sizes, 1x1, and parts split by rows.
        let blocked: [([[Int]], [String: AttributeValue])] = [
            ([[1, 2, 9, 30, 4], [3, 2, 3, 3, 4, 4]], ["pads": .ints([1, 1, 1, 1])]),
            ([[2, 1, 7, 7, 8], [2, 1, 1, 1, 8, 8]], [:]),
            (
                [[1, 2, 11, 13, 5], [1, 2, 3, 2, 5, 5]],
                ["strides": .ints([2, 3]), "pads": .ints([2, 0, 1, 3]), "dilations": .ints([1, 2])]
            ),
            ([[1, 3, 5, 4, 3], [2, 3, 5, 5, 3, 3]], ["pads": .ints([2, 2, 2, 2])]),
            ([[1, 4, 20, 20, 16], [4, 4, 3, 3, 16, 16]], ["pads": .ints([1, 1, 1, 1]), "strides": .ints([2, 2])]),
            // NCHW input (input block 1) into blocked output: a first layer.
            ([[1, 3, 23, 21, 1], [2, 3, 7, 7, 1, 8]], ["pads": .ints([3, 3, 3, 3]), "strides": .ints([2, 2])]),
            ([[2, 5, 9, 9, 1], [3, 5, 3, 3, 1, 4]], ["pads": .ints([1, 0, 1, 2])]),
        ]
        for (shapes, a) in blocked {
            out.append(Case(op: .convNCHWc, shapes: shapes, attrs: Attributes(a), range: (-1, 1), atol: 1e-4))
        }
        // Random geometries (strides, dilations, pads up to the window, tiny and wide images)
        // for the blocked conv's and pools' clipped borders and register tiles, and for the
        // row-vector NCHW depthwise convs and pools (border columns, whole and overlapping
        // vectors, deinterleaved strided taps, channel counts that fill no block).
        var made = 0
        while made < 60 {
            let (kh, kw) = (rng.int(1...5), rng.int(1...5))
            let strides = [rng.int(1...3), rng.int(1...3)], dilations = [rng.int(1...2), rng.int(1...2)]
            let pads = [rng.int(0...(kh - 1)), rng.int(0...(kw - 1)), rng.int(0...(kh - 1)), rng.int(0...(kw - 1))]
            let (h, w) = (rng.int(1...11), rng.int(1...45))
            let pool = made % 5 == 2, depthwise = made % 5 == 1, rows = made % 5 >= 3
            let (eh, ew) = ((kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1)
            guard h + pads[0] + pads[2] >= eh, w + pads[1] + pads[3] >= ew else { continue }
            let bi = pool ? 4 : [1, 4, 8][rng.int(0...2)], b = [4, 8, 16][rng.int(0...2)]
            var attrs: [String: AttributeValue] = [
                "strides": .ints(strides), "pads": .ints(pads), "dilations": .ints(dilations),
            ]
            if rows, made % 5 == 3 {
                let (ch, mult) = (rng.int(1...19), rng.int(1...2))
                attrs["group"] = .int(ch)
                out.append(
                    Case(
                        op: .conv, shapes: [[rng.int(1...2), ch, h, w], [ch * mult, 1, kh, kw]],
                        attrs: Attributes(attrs), range: (-1, 1), atol: 1e-5))
            } else if rows {
                attrs["kernel"] = .ints([kh, kw])
                attrs["ceil_mode"] = .bool(rng.bool())
                let average = rng.bool()
                if average { attrs["count_include_pad"] = .bool(rng.bool()) }
                out.append(
                    Case(
                        op: average ? .avgPool : .maxPool, shapes: [[rng.int(1...2), rng.int(1...5), h, w]],
                        attrs: Attributes(attrs)))
            } else if pool {
                attrs["kernel"] = .ints([kh, kw])
                out.append(Case(op: .maxPoolNCHWc, shapes: [[rng.int(1...2), 2, h, w, bi]], attrs: Attributes(attrs)))
            } else if depthwise {
                let blocks = rng.int(1...3)
                out.append(
                    Case(
                        op: .depthwiseConvNCHWc, shapes: [[rng.int(1...2), blocks, h, w, b], [blocks, kh, kw, b]],
                        attrs: Attributes(attrs), range: (-1, 1), atol: 1e-5))
            } else {
                out.append(
                    Case(
                        op: .convNCHWc,
                        shapes: [[rng.int(1...2), rng.int(1...2), h, w, bi], [rng.int(1...3), 0, kh, kw, bi, b]],
                        attrs: Attributes(attrs), range: (-1, 1), atol: 1e-4))
                out[out.count - 1].shapes[1][1] = out[out.count - 1].shapes[0][1]
            }
            made += 1
        }
        let pools: [[String: AttributeValue]] = [
            ["kernel": .ints([2, 2]), "strides": .ints([2, 2])],
            ["kernel": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])],
            ["kernel": .ints([3, 2]), "strides": .ints([2, 2]), "ceil_mode": .bool(true)],
            ["kernel": .ints([3, 3]), "pads": .ints([1, 1, 1, 1]), "count_include_pad": .bool(true)],
            ["kernel": .ints([2, 2]), "dilations": .ints([2, 2])],
        ]
        for a in pools {
            for op in [Op.maxPool, .avgPool] where !(op == .maxPool && a["count_include_pad"] != nil) {
                out.append(Case(op: op, shapes: [[2, 3, 7, 8]], attrs: Attributes(a)))
            }
            // Max pooling of quantized bytes (wide rows, so the byte vectors run too).
            if a["count_include_pad"] == nil {
                out.append(
                    Case(
                        op: .maxPool, shapes: [[2, 3, 9, 75]], attrs: Attributes(a), dtypes: [.u8], range: (0, 255.9),
                        inputQuant: QuantParams(scale: 0.02, zeroPoint: 128)))
                out.append(
                    Case(
                        op: .maxPool, shapes: [[1, 2, 8, 70]], attrs: Attributes(a), dtypes: [.i8], range: (-128, 127.9)
                    ))
            }
            for op in [Op.maxPoolNCHWc, .avgPoolNCHWc] where !(op == .maxPoolNCHWc && a["count_include_pad"] != nil) {
                out.append(Case(op: op, shapes: [[2, 2, 7, 8, 4]], attrs: Attributes(a)))
            }
            // And blocked bytes, u8 and i8 (what int8 conv chains pool).
            if a["count_include_pad"] == nil {
                for (dtype, range) in [(DType.u8, (0.0, 255.9)), (.i8, (-128.0, 127.9))] {
                    out.append(
                        Case(
                            op: .maxPoolNCHWc, shapes: [[2, 2, 7, 9, 16]], attrs: Attributes(a), dtypes: [dtype],
                            range: (Float(range.0), Float(range.1)), inputQuant: QuantParams(scale: 0.02, zeroPoint: 3))
                    )
                }
            }
        }
        let mm: [[[Int]]] = [
            [[4, 8], [8, 5]], [[1, 1], [1, 1]], [[3, 0], [0, 4]], [[2, 3, 4], [4, 5]],
            [[2, 1, 3, 4], [5, 4, 6]], [[7, 33], [33, 70]], [[0, 3], [3, 2]], [[5, 64], [64, 129]],
        ]
        for s in mm { out.append(Case(op: .matmul, shapes: s, range: (-1, 1), atol: 1e-5)) }
        // trans_a / trans_b: strided A loads, and B packed into scratch (with row-block parts).
        let transposed: [([[Int]], Bool, Bool)] = [
            ([[8, 4], [8, 5]], true, false), ([[4, 8], [5, 8]], false, true),
            ([[2, 8, 3], [1, 5, 8]], true, true), ([[67, 40], [129, 40]], false, true),
            ([[3, 64, 70], [3, 33, 64]], true, true),
        ]
        for (s, ta, tb) in transposed {
            out.append(
                Case(
                    op: .matmul, shapes: s, attrs: Attributes(["trans_a": .bool(ta), "trans_b": .bool(tb)]),
                    range: (-1, 1), atol: 1e-5))
        }
        out.append(Case(op: .identity, shapes: [[3, 5]]))
        out.append(Case(op: .reshape, shapes: [[2, 3, 4]], attrs: Attributes(["shape": .ints([4, -1])])))
        out.append(Case(op: .reshape, shapes: [[6]], attrs: Attributes(["shape": .ints([1, 2, 3])])))
        out.append(Case(op: .transpose, shapes: [[2, 3, 4]], attrs: Attributes(["perm": .ints([2, 0, 1])])))
        out.append(Case(op: .transpose, shapes: [[5, 7]]))
        out.append(Case(op: .transpose, shapes: [[1, 4, 1, 3]], attrs: Attributes(["perm": .ints([3, 2, 1, 0])])))
        for (s, axis) in [
            ([4, 10], -1), ([3, 5, 4], 1), ([2, 3], 0), ([1027], 0), ([2, 0], 1), ([3, 17, 19], 2), ([2, 20], 0),
        ] {
            out.append(Case(op: .softmax, shapes: [s], attrs: Attributes(["axis": .int(axis)]), range: (-20, 20)))
        }
        let reductions: [([Int], [Int]?, Bool)] = [
            ([4, 5], [1], false), ([3, 4, 5], [0, 2], true), ([1027], nil, false),
            ([2, 3, 4], [1], false), ([2, 0, 3], [1], true), ([6, 7], [0], false),
            ([2, 3, 37], [-1], false), ([3, 4], [], false),
        ]
        for op in [Op.reduceSum, .reduceMean, .reduceMax, .reduceMin, .reduceProd, .reduceL2] {
            for (s, axes, keep) in reductions {
                var a = Attributes(["keepdims": .bool(keep)])
                if let axes { a["axes"] = .ints(axes) }
                out.append(Case(op: op, shapes: [s], attrs: a, range: (-1, 1), atol: 1e-5))
            }
        }
        // Quantization: per tensor and per axis, saturation at both ends, ties (quarters over
        // a scale of 0.5) that must round to even, and i32 storage.
        let to = { (t: String) in Attributes(["to": .string(t)]) }
        out.append(Case(op: .quantize, shapes: [[4, 33]], attrs: to("u8<0.5:10>"), range: (-8, 130)))
        out.append(
            Case(
                op: .quantize, shapes: [[2, 3, 5]], attrs: to("i8<axis=1: 0.02:0, 0.05:-3, 0.1:7>"), range: (-10, 10)))
        out.append(Case(op: .quantize, shapes: [[7]], attrs: to("i32<0.001:5>"), range: (-1000, 1000)))
        out.append(
            Case(
                op: .dequantize, shapes: [[4, 33]], dtypes: [.u8], range: (0, 255.9),
                inputQuant: QuantParams(scale: 0.0235, zeroPoint: 128)))
        out.append(
            Case(
                op: .dequantize, shapes: [[2, 6]], dtypes: [.i8], range: (-128, 127.9),
                inputQuant: QuantParams(scales: [0.5, 0.25], zeroPoints: [1, -2], axis: 0)))
        out.append(
            Case(
                op: .dequantize, shapes: [[5]], dtypes: [.i32], range: (-1e6, 1e6),
                inputQuant: QuantParams(scale: 0.001, zeroPoint: 0)))
        out.append(
            Case(
                op: .requantize, shapes: [[4, 33]], attrs: to("i8<0.05:-1>"), dtypes: [.u8], range: (0, 255.9),
                inputQuant: QuantParams(scale: 0.0235, zeroPoint: 128)))
        // qmatmul with a run-time b: expand-quant runs it as a float matmul of the dequantized
        // operands (Int8GemmTests checks the int8 kernel, which takes constant weights).
        out.append(
            Case(
                op: .qmatmul, shapes: [[2, 5, 7], [7, 3]], dtypes: [.u8, .i8], range: (0, 127.9), atol: 1e-4,
                inputQuant: QuantParams(scale: 0.02, zeroPoint: 100),
                secondQuant: QuantParams(scales: [0.1, 0.2, 0.3], zeroPoints: [0, 2, -1], axis: 1)))
        // qconv with run-time weights: expand-quant runs it as a float conv of the dequantized
        // operands (Int8ConvTests checks the int8 kernel).
        out.append(
            Case(
                op: .qconv, shapes: [[2, 3, 6, 5], [4, 3, 3, 2]], attrs: Attributes(["pads": .ints([1, 0, 1, 1])]),
                dtypes: [.u8, .i8], range: (0, 127.9), atol: 1e-4, inputQuant: QuantParams(scale: 0.02, zeroPoint: 100),
                secondQuant: QuantParams(scales: [0.1, 0.2, 0.3, 0.05], zeroPoints: [0, 2, -1, 0], axis: 0)))
        // qconv-nchwc with run-time weights: the plain loops over unpacked weights (the packed
        // kernel, which takes constant ones, is Int8BlockedConvTests'), i8 input, 2 blocks of 8.
        out.append(
            Case(
                op: .qconvNCHWc, shapes: [[2, 2, 6, 5, 8], [16, 16, 3, 2]],
                attrs: Attributes(["strides": .ints([1, 2]), "dilations": .ints([2, 1])]), dtypes: [.i8, .i8],
                range: (-128, 127.9), atol: 1e-4, inputQuant: QuantParams(scale: 0.02, zeroPoint: -3),
                secondQuant: QuantParams(
                    scales: (0..<16).map { 0.01 * Float($0 % 5 + 1) }, zeroPoints: Array(repeating: 0, count: 16),
                    axis: 0)))
        // Training: losses (index labels drawn from 0..<5, probabilities) and the first result of
        // each optimizer update (the new parameter); moments and squares are drawn positive.
        let smooth = Attributes(["label_smoothing": .float(0.1)])
        out.append(
            Case(op: .crossEntropy, shapes: [[6, 5], [6]], attrs: smooth, dtypes: [.f32, .i64], range: (0, 4.99)))
        out.append(Case(op: .crossEntropy, shapes: [[3, 4], [3, 4]], range: (0, 1), atol: 1e-5))
        out.append(Case(op: .batchNorm, shapes: [[4, 3, 5, 2], [3], [3], [3], [3]], atol: 1e-5, rtol: 1e-4))
        out.append(Case(op: .batchNorm, shapes: [[6, 4], [4], [4], [4], [4]], atol: 1e-5, rtol: 1e-4))
        for ratio in [0.0, 0.25, 0.5, 0.9] {
            let a = Attributes(["ratio": .float(ratio), "seed": .int(Int(ratio * 8) + 3)])
            out.append(Case(op: .dropout, shapes: [[4, 33], []], attrs: a, range: (0, 100), atol: 1e-4))
        }
        out.append(Case(op: .nllLoss, shapes: [[6, 5], [6]], dtypes: [.f32, .i64], range: (0, 4.99), atol: 1e-5))
        out.append(Case(op: .nllLoss, shapes: [[3, 4], [3, 4]], range: (0, 1), atol: 1e-5))
        out.append(Case(op: .mseLoss, shapes: [[4, 33], [4, 33]], atol: 1e-5))
        out.append(Case(op: .bceLoss, shapes: [[4, 33], [4, 33]], range: (-30, 30), atol: 1e-4, rtol: 1e-4))
        let decay = Attributes(["weight_decay": .float(0.01)])
        out.append(Case(op: .sgdUpdate, shapes: [[4, 33], [4, 33], []], attrs: decay))
        for nesterov in [false, true] {
            out.append(
                Case(
                    op: .momentumUpdate, shapes: [[2, 17], [2, 17], [2, 17], []],
                    attrs: Attributes([
                        "momentum": .float(0.8), "nesterov": .bool(nesterov), "weight_decay": .float(0.01),
                    ])))
        }
        for decoupled in [false, true] {
            out.append(
                Case(
                    op: .adamUpdate, shapes: [[3, 11], [3, 11], [3, 11], [3, 11], [], []],
                    attrs: Attributes([
                        "decoupled": .bool(decoupled), "weight_decay": .float(0.02), "beta2": .float(0.99),
                    ]),
                    range: (0.01, 3), atol: 1e-5, rtol: 1e-4))
        }
        out.append(
            Case(
                op: .rmspropUpdate, shapes: [[5, 7], [5, 7], [5, 7], []], attrs: decay, range: (0.01, 3), rtol: 1e-4))
        out.append(
            Case(
                op: .adagradUpdate, shapes: [[5, 7], [5, 7], [5, 7], []], attrs: decay, range: (0.01, 3), rtol: 1e-4))
        for op in [Op.argMax, .argMin] {
            out.append(Case(op: op, shapes: [[3, 5, 4]], attrs: Attributes(["axis": .int(1)])))
            out.append(
                Case(
                    op: op, shapes: [[6, 7]],
                    attrs: Attributes(["axis": .int(-1), "keepdims": .bool(true), "select_last_index": .bool(true)]),
                    range: (-2, 2)))
        }
        return out
    }

    static func input(_ shape: [Int], _ c: Case, _ dtype: DType, _ rng: inout Support.RNG) -> TensorData {
        let n = shape.reduce(1, *)
        var v = (0..<n).map { _ in rng.float(c.range.0, c.range.1) }
        // Quarters give ties (arg-max/min) and exact products.
        if [.argMax, .argMin, .reduceProd, .quantize].contains(c.op) { v = v.map { ($0 * 4).rounded() / 4 } }
        if dtype == .bool { return TensorData(dtype: .bool, shape: shape, values: v.map { $0 > 0 ? 1 : 0 }) }
        if dtype != .f32 {
            // Integer division by zero is undefined in numpy; keep divisors non-zero.
            let ints = v.map { Double($0.rounded(.down)) }.map {
                [.div, .mod, .fmod].contains(c.op) && $0 == 0 ? 1 : $0
            }
            return TensorData(dtype: dtype, shape: shape, values: ints)
        }
        if c.specials {
            let specials: [Float] = [0, -0.0, .nan, .infinity, -.infinity, 1, -1, 1e-30]
            for i in 0..<min(n, specials.count) where rng.int(0...1) == 0 { v[i] = specials[i] }
        }
        return TensorData(v, shape: shape)
    }

    @Test func everyOpMatchesNumpy() throws {
        let dir = try Support.temporaryDirectory("ops")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = Support.RNG(seed: 2026)
        var refs: [Support.ReferenceCase] = []
        var results: [(Case, TensorData)] = []
        for (i, c) in Self.cases().enumerated() {
            var b = GraphBuilder(name: "case\(i)")
            var ins: [ValueID] = []
            var data: [TensorData] = []
            var paths: [String] = []
            for (k, s) in c.shapes.enumerated() {
                let dtype = k < c.dtypes.count ? c.dtypes[k] : .f32
                let quant = k == 0 ? c.inputQuant : k == 1 ? c.secondQuant : nil
                ins.append(try b.input("in\(k)", TensorType(dtype, s, quant: quant)))
                let t = Self.input(s, c, dtype, &rng)
                data.append(t)
                let p = dir.appendingPathComponent("c\(i)_in\(k).npy")
                try Support.writeNpy(t, to: p)
                paths.append(p.path)
            }
            b.output(try b.apply(c.op, ins, attributes: c.attrs)[0])
            let out = try Sinter.jit(b.graph).run(data)[0]
            results.append((c, out))
            var attrs: [String: Support.AttrJSON] = [:]
            for (name, value) in c.attrs { attrs[name] = Support.AttrJSON(value) }
            if let q = c.inputQuant {
                attrs["from"] = .string(TensorType(c.dtypes[0], [Dim](), quant: q).elementDescription)
            }
            if let q = c.secondQuant {
                attrs["from_b"] = .string(TensorType(c.dtypes[1], [Dim](), quant: q).elementDescription)
            }
            refs.append(
                Support.ReferenceCase(
                    op: c.op.rawValue, attrs: attrs, inputs: paths,
                    output: dir.appendingPathComponent("c\(i)_ref.npy").path,
                    dtype: out.dtype.numpyName))
        }
        try Support.numpyReference(refs, in: dir)
        var covered = Set<Op>()
        for ((c, got), ref) in zip(results, refs) {
            let want = try Support.readNpy(URL(fileURLWithPath: ref.output))
            #expect(
                got.shape == want.shape && got.dtype == want.dtype,
                "\(c.op.rawValue) \(c.shapes): \(got.type) vs numpy \(want.type)")
            if let m = Support.mismatch(got.doubles, want.doubles, atol: Double(c.atol), rtol: Double(c.rtol)) {
                Issue.record("\(c.op.rawValue) \(c.shapes) \(c.attrs.entries.map { "\($0.name)=\($0.value)" }): \(m)")
            }
            covered.insert(c.op)
        }
        // Every op with a kernel is exercised here.
        #expect(covered == Set(Op.allCases.filter { $0 != .constant }))
        print("op tests: \(results.count) cases over \(covered.count) ops compared with numpy")
    }
}

/// docs/ir.md carries the op table generated from the schema; it must be current.
