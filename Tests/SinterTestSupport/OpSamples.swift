import SinterIR

/// One valid use of every op, built on an f32[2,3,4,5] input, so tests that must touch every
/// op (schema completeness, random round trips) get one without per-test tables. The switch
/// is exhaustive: a new op does not compile until it has a sample.
public enum OpSamples {
    public static func apply(_ op: Op, _ b: inout GraphBuilder, _ x: ValueID) throws -> ValueID {
        func attrs(_ d: [String: AttributeValue]) -> Attributes { Attributes(d) }
        func constant(_ shape: [Int], _ dtype: DType = .f32, _ f: (Int) -> Double = { Double($0 % 7) * 0.25 - 0.5 })
            throws -> ValueID
        {
            try b.constant(TensorData(dtype: dtype, shape: shape, values: (0..<shape.reduce(1, *)).map(f)))
        }
        func one(_ operands: [ValueID], _ a: Attributes = Attributes()) throws -> ValueID {
            try b.apply(op, operands, attributes: a)[0]
        }
        switch op {
        case .constant: return try constant([2, 3])
        case .add, .sub, .mul, .div, .max, .min, .pow, .prelu: return try one([x, try constant([5])])
        case .neg, .abs, .exp, .log, .sqrt, .reciprocal, .erf, .floor, .ceil, .round, .sign, .relu, .sigmoid, .tanh,
            .softplus, .gelu, .geluTanh, .hardSwish, .sin, .cos, .tan, .atan, .sinh, .cosh, .asinh, .isNaN, .isInf:
            return try one([x])
        case .asin, .acos, .atanh: return try one([try constant([2, 3]) { Double($0) * 0.3 - 0.8 }])
        case .acosh: return try one([try constant([2, 3]) { Double($0) * 0.7 + 1 }])
        case .fmod: return try one([x, try constant([5]) { Double($0) - 2.5 }])
        case .mod, .bitAnd, .bitOr, .bitXor:
            return try one([
                try constant([2, 3], .i32) { Double($0 * 5 - 3) },
                try constant([3], .i32) { Double($0 == 1 ? 3 : $0 - 1) },
            ])
        case .shiftLeft, .shiftRight:
            return try one([
                try constant([2, 3], .u8) { Double($0 * 40 + 3) }, try constant([3], .u8) { Double($0 * 3) },
            ])
        case .bitNot: return try one([try constant([2, 3], .i32) { Double($0 * 5 - 3) }])
        case .quantize: return try one([x], attrs(["to": .string("u8<0.1:128>")]))
        case .qmatmul:
            let q = try b.apply(.quantize, [x], attributes: attrs(["to": .string("u8<0.1:128>")]))[0]
            var w = TensorData(dtype: .i8, shape: [5, 6], values: (0..<30).map { Double($0 * 37 % 255 - 127) })
            w.quant = QuantParams(
                scales: (0..<6).map { 0.01 * Float($0 + 1) }, zeroPoints: Array(repeating: 0, count: 6), axis: 1)
            return try one([q, try b.constant(w)])
        case .qconv:
            let q = try b.apply(.quantize, [x], attributes: attrs(["to": .string("u8<0.1:128>")]))[0]
            var w = TensorData(dtype: .i8, shape: [4, 3, 3, 3], values: (0..<108).map { Double($0 * 37 % 255 - 127) })
            w.quant = QuantParams(
                scales: (0..<4).map { 0.01 * Float($0 + 1) }, zeroPoints: Array(repeating: 0, count: 4), axis: 0)
            return try one([q, try b.constant(w)], attrs(["pads": .ints([1, 1, 1, 1])]))
        case .qconvNCHWc:
            let q = try b.apply(.quantize, [x], attributes: attrs(["to": .string("u8<0.1:128>")]))[0]
            let xb = try b.apply(.reshape, [q], attributes: attrs(["shape": .ints([2, 1, 3, 5, 4])]))[0]
            var w = TensorData(dtype: .i8, shape: [8, 4, 2, 2], values: (0..<128).map { Double($0 * 37 % 255 - 127) })
            w.quant = QuantParams(
                scales: (0..<8).map { 0.01 * Float($0 + 1) }, zeroPoints: Array(repeating: 0, count: 8), axis: 0)
            let bias = try constant([8], .i32) { Double($0 * 977 % 301 - 150) }
            return try one([xb, try b.constant(w), bias], attrs(["strides": .ints([1, 2])]))
        case .dequantize, .requantize:
            let perAxis = "i8<axis=1: 0.1:0, 0.2:1, 0.3:-1>"
            let q = try b.apply(.quantize, [x], attributes: attrs(["to": .string(perAxis)]))[0]
            return try one([q], op == .dequantize ? Attributes() : attrs(["to": .string("u8<0.05:3>")]))
        case .crossEntropy:
            let logits = try b.apply(.reshape, [x], attributes: attrs(["shape": .ints([24, 5])]))[0]
            let labels = try constant([24], .i64) { Double(($0 * 3) % 5) }
            return try one([logits, labels], attrs(["label_smoothing": .float(0.1)]))
        case .batchNorm:
            return try one(
                [x, try constant([3]), try constant([3]), try constant([3]), try constant([3]) { Double($0) + 1 }],
                attrs(["momentum": .float(0.8)]))
        case .dropout:
            return try one([x, try constant([]) { _ in 7 }], attrs(["ratio": .float(0.3), "seed": .int(5)]))
        case .nllLoss:
            let logp = try b.apply(.reshape, [x], attributes: attrs(["shape": .ints([24, 5])]))[0]
            return try one([logp, try constant([24], .i64) { Double(($0 * 2) % 5) }])
        case .mseLoss: return try one([x, try constant([2, 3, 4, 5])])
        case .bceLoss: return try one([x, try constant([2, 3, 4, 5]) { Double($0 % 3) * 0.5 }])
        case .sgdUpdate:
            return try one(
                [x, try constant([2, 3, 4, 5]), try constant([]) { _ in 0.1 }], attrs(["weight_decay": .float(0.01)]))
        case .momentumUpdate, .rmspropUpdate, .adagradUpdate:
            let slot = try constant([2, 3, 4, 5]) { Double($0 % 5) * 0.1 }
            return try one([x, try constant([2, 3, 4, 5]), slot, try constant([]) { _ in 0.1 }])
        case .adamUpdate:
            let m = try constant([2, 3, 4, 5]), v = try constant([2, 3, 4, 5]) { Double($0 % 5) * 0.1 }
            let lr = try constant([]) { _ in 0.01 }, t = try constant([]) { _ in 3 }
            return try one([x, try constant([2, 3, 4, 5]), m, v, lr, t], attrs(["decoupled": .bool(true)]))
        case .topK: return try one([x], attrs(["k": .int(3), "axis": .int(3)]))
        case .cumSum: return try one([x], attrs(["axis": .int(2), "exclusive": .bool(true)]))
        case .scatterND:
            return try one([x, try constant([2, 1], .i64) { Double(1 - $0) }, try constant([2, 3, 4, 5])])
        case .xor: return try one([try constant([2, 3], .bool), try constant([3], .bool) { Double($0 % 2) }])
        case .leakyRelu: return try one([x], attrs(["alpha": .float(0.1)]))
        case .elu: return try one([x], attrs(["alpha": .float(0.5)]))
        case .selu: return try one([x], attrs(["alpha": .float(1.5), "gamma": .float(2)]))
        case .hardSigmoid: return try one([x], attrs(["alpha": .float(0.3), "beta": .float(0.4)]))
        case .clip: return try one([x], attrs(["min": .float(-0.25), "max": .float(0.5)]))
        case .not: return try one([try constant([3], .bool)])
        case .and, .or: return try one([try constant([2, 3], .bool), try constant([3], .bool) { Double($0 % 2) }])
        case .equal, .less, .greater, .lessEqual, .greaterEqual: return try one([x, try constant([4, 5])])
        case .where: return try one([try constant([5], .bool) { Double($0 % 2) }, x, try constant([1])])
        case .cast: return try one([x], attrs(["to": .string("i32")]))
        case .expand: return try one([try constant([1, 5])], attrs(["shape": .ints([3, 1, 5])]))
        case .matmul: return try one([x, try constant([2, 5])], attrs(["trans_b": .bool(true)]))
        case .softmax, .logSoftmax: return try one([x], attrs(["axis": .int(1)]))
        case .layerNorm:
            return try one(
                [x, try constant([4, 5]), try constant([4, 5]) { Double($0) * 0.1 }], attrs(["axis": .int(2)]))
        case .conv:
            return try one(
                [x, try constant([6, 1, 2, 2])],
                attrs(["group": .int(3), "pads": .ints([1, 0, 0, 1]), "dilations": .ints([1, 2])]))
        case .convNCHWc:
            let xb = try b.apply(.reshape, [x], attributes: attrs(["shape": .ints([2, 1, 3, 4, 5])]))[0]
            return try one(
                [xb, try constant([2, 1, 2, 2, 5, 5])],
                attrs(["pads": .ints([1, 0, 0, 1]), "dilations": .ints([1, 2])]))
        case .depthwiseConvNCHWc:
            let xb = try b.apply(.reshape, [x], attributes: attrs(["shape": .ints([2, 1, 3, 4, 5])]))[0]
            return try one(
                [xb, try constant([1, 3, 2, 5])], attrs(["pads": .ints([1, 0, 1, 1]), "strides": .ints([1, 2])]))
        case .maxPoolNCHWc, .avgPoolNCHWc:
            let xb = try b.apply(.reshape, [x], attributes: attrs(["shape": .ints([2, 1, 3, 4, 5])]))[0]
            return try one(
                [xb], attrs(["kernel": .ints([2, 2]), "strides": .ints([2, 1]), "pads": .ints([0, 1, 0, 1])]))
        case .maxPool, .avgPool:
            return try one(
                [x], attrs(["kernel": .ints([2, 2]), "strides": .ints([2, 1]), "pads": .ints([0, 1, 0, 1])]))
        case .identity: return try one([x])
        case .reshape: return try one([x], attrs(["shape": .ints([6, -1])]))
        case .transpose: return try one([x], attrs(["perm": .ints([3, 1, 0, 2])]))
        case .concat: return try one([x, x], attrs(["axis": .int(2)]))
        case .split: return try b.apply(op, [x], attributes: attrs(["axis": .int(1), "sizes": .ints([1, 2])]))[1]
        case .slice:
            return try one(
                [x],
                attrs(["starts": .ints([0, -1, 1, 4]), "ends": .ints([2, -4, 9, 0]), "steps": .ints([1, -1, 2, -2])]))
        case .gather: return try one([x, try constant([2, 2], .i64) { Double($0) - 1 }], attrs(["axis": .int(2)]))
        case .tile: return try one([x], attrs(["repeats": .ints([1, 2, 1, 2])]))
        case .pad: return try one([x], attrs(["pads": .ints([0, 1, 1, 0, 0, 0, 2, 1]), "mode": .string("reflect")]))
        case .reduceSum, .reduceMean, .reduceMax, .reduceMin, .reduceProd, .reduceL2:
            return try one([x], attrs(["axes": .ints([1, 3]), "keepdims": .bool(true)]))
        case .argMax, .argMin: return try one([x], attrs(["axis": .int(2)]))
        }
    }
}
