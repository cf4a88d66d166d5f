import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Every gradient rule against central finite differences of the compiled forward graph.
///
/// Each case computes `loss = Σ op(x...) · c` with a random cotangent `c` (not ones), so the
/// rule's vector-Jacobian product is checked in every direction at once; shapes are
/// non-square and attributes non-default. f64 where the op's kernel has it (h = 1e-3,
/// tolerance 1e-4 + 1e-4·|fd|: codegen's f64 exp/log/erf are accurate to about 4e-8
/// relative, so a smaller step would measure their rounding, not the rule); softmax-family ops
/// are f32 only (h = 1e-2, tolerance 5e-3 + 1e-2·|fd|). A wrong rule is off by O(1).
struct GradientTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let dtype: DType
        /// Shape and sampling range of each differentiated input.
        let inputs: [([Int], ClosedRange<Double>)]
        let build: @Sendable (inout GraphBuilder, [ValueID]) throws(SinterError) -> ValueID
        /// Inputs are a shuffled grid 0.1 apart (max-pool: no two entries of a window within 2h,
        /// so the finite difference never crosses a kink).
        var spaced = false
        var testDescription: String { name }
    }

    static func unary(
        _ op: Op, _ range: ClosedRange<Double> = -2...2, attrs: [String: AttributeValue] = [:]
    ) -> Case {
        Case(name: op.rawValue, dtype: .f64, inputs: [([3, 5], range)]) { b, x throws(SinterError) in
            try b.apply(op, [x[0]], attributes: Attributes(attrs))[0]
        }
    }

    static func binary(_ op: Op, _ a: [Int], _ c: [Int], _ range: ClosedRange<Double> = -2...2) -> Case {
        Case(name: "\(op.rawValue) \(a) \(c)", dtype: .f64, inputs: [(a, range), (c, range)]) {
            b, x throws(SinterError) in
            try b.binary(op, x[0], x[1])
        }
    }

    static func op(
        _ name: String, _ op: Op, _ shapes: [[Int]], _ attrs: [String: AttributeValue], dtype: DType = .f64
    ) -> Case {
        Case(name: name, dtype: dtype, inputs: shapes.map { ($0, -2...2) }) { b, x throws(SinterError) in
            let r = try b.apply(op, x, attributes: Attributes(attrs))
            // Multi-result ops: every result reaches the loss (weighted differently).
            var y = r[0]
            for (k, extra) in r.dropFirst().enumerated() {
                let w = try b.scalar(Double(k + 2), b.graph.type(of: extra).dtype)
                y = try b.add(try b.apply(.reduceSum, [y])[0], try b.apply(.reduceSum, [try b.mul(extra, w)])[0])
            }
            return y
        }
    }

    static func spacedOp(_ name: String, _ op: Op, _ shape: [Int], _ attrs: [String: AttributeValue]) -> Case {
        var c = Self.op(name, op, [shape], attrs)
        c.spaced = true
        return c
    }

    static func pool(_ op: Op, _ shape: [Int], _ attrs: [String: AttributeValue]) -> Case {
        var c = Self.op("\(op.rawValue) \(attrs.keys.sorted()) \(shape)", op, [shape], attrs, dtype: .f32)
        c.spaced = true
        return c
    }

    static let cases: [Case] =
        [
            unary(.neg), unary(.abs), unary(.exp), unary(.log, 0.5...2), unary(.sqrt, 0.5...2),
            unary(.reciprocal, 0.5...2), unary(.erf), unary(.relu), unary(.sigmoid), unary(.tanh),
            unary(.softplus), unary(.gelu), unary(.geluTanh), unary(.leakyRelu, attrs: ["alpha": .float(0.2)]),
            unary(.elu, attrs: ["alpha": .float(0.7)]), unary(.selu), unary(.hardSigmoid), unary(.hardSwish),
            unary(.clip, attrs: ["min": .float(-0.5), "max": .float(0.7)]), unary(.sin), unary(.cos),
            unary(.tan, -1...1), unary(.asin, -0.9...0.9), unary(.acos, -0.9...0.9), unary(.atan), unary(.sinh),
            unary(.cosh), unary(.asinh), unary(.acosh, 1.2...3), unary(.atanh, -0.9...0.9),
            binary(.add, [3, 4], [4]), binary(.sub, [2, 3], [2, 1]), binary(.mul, [3, 4], [1, 4]),
            binary(.div, [3, 4], [3, 4], 0.5...2), binary(.max, [3, 4], [3, 4]), binary(.min, [2, 3], [3]),
            binary(.pow, [2, 3], [2, 3], 0.5...2), binary(.prelu, [3, 4], [4]),
            op("matmul", .matmul, [[2, 3], [3, 4]], [:]),
            op("matmul trans_a", .matmul, [[3, 2], [3, 4]], ["trans_a": .bool(true)]),
            op("matmul trans_b", .matmul, [[2, 3], [4, 3]], ["trans_b": .bool(true)]),
            op("matmul both", .matmul, [[3, 2], [4, 3]], ["trans_a": .bool(true), "trans_b": .bool(true)]),
            op("matmul batch broadcast", .matmul, [[2, 2, 3], [3, 4]], [:]),
            op("matmul batch both", .matmul, [[1, 2, 3], [2, 3, 4]], [:]),
            op("reshape", .reshape, [[2, 6]], ["shape": .ints([3, 4])]),
            op("transpose", .transpose, [[2, 3, 4]], ["perm": .ints([1, 2, 0])]),
            op("reduce-sum", .reduceSum, [[2, 3, 4]], ["axes": .ints([1])]),
            op("reduce-mean", .reduceMean, [[2, 3, 4]], ["axes": .ints([0, 2]), "keepdims": .bool(true)]),
            op("reduce-sum all", .reduceSum, [[3, 5]], [:]),
            op("concat", .concat, [[2, 3], [2, 2]], ["axis": .int(1)]),
            op("split", .split, [[5, 3]], ["axis": .int(0), "sizes": .ints([2, 3])]),
            op("slice", .slice, [[4, 5]], ["starts": .ints([1, -4]), "ends": .ints([3, 5])]),
            op(
                "slice steps", .slice, [[7, 9]],
                ["starts": .ints([1, 0]), "ends": .ints([7, 8]), "steps": .ints([2, 3])]),
            op("reduce-l2", .reduceL2, [[3, 4]], ["axes": .ints([1])]),
            op("reduce-prod", .reduceProd, [[3, 4]], ["axes": .ints([0]), "keepdims": .bool(true)]),
            Case(name: "reduce-prod with a zero", dtype: .f64, inputs: [([2, 3], -2...2)]) { b, x throws(SinterError) in
                let zero = try b.constant(TensorData(dtype: .f64, shape: [2, 1], values: [0, 1.5]))
                let joined = try b.apply(.concat, [x[0], zero], attributes: Attributes(["axis": .int(1)]))[0]
                return try b.apply(.reduceProd, [joined], attributes: Attributes(["axes": .ints([1])]))[0]
            },
            op("tile", .tile, [[2, 3]], ["repeats": .ints([3, 2])]),
            op(
                "slice negative steps", .slice, [[7, 6]],
                ["starts": .ints([6, -1]), "ends": .ints([0, -7]), "steps": .ints([-2, -1])]),
            op("pad reflect", .pad, [[4, 5]], ["pads": .ints([2, 1, 3, 3]), "mode": .string("reflect")]),
            op("pad edge", .pad, [[3, 4]], ["pads": .ints([2, 0, 1, 3]), "mode": .string("edge")]),
            Case(name: "top-k axis 0", dtype: .f64, inputs: [([5, 3], -2...2)]) { b, x throws(SinterError) in
                let a = Attributes(["k": .int(2), "axis": .int(0)])
                return try b.apply(.topK, [x[0]], attributes: a)[0]
            },
            Case(name: "top-k smallest", dtype: .f64, inputs: [([2, 6], -2...2)]) { b, x throws(SinterError) in
                let a = Attributes(["k": .int(3), "largest": .bool(false)])
                return try b.apply(.topK, [x[0]], attributes: a)[0]
            },
            op("cumsum exclusive", .cumSum, [[3, 5]], ["axis": .int(1), "exclusive": .bool(true)]),
            op("cumsum reverse", .cumSum, [[4, 3]], ["axis": .int(0), "reverse": .bool(true)]),
            op("pad", .pad, [[2, 3]], ["pads": .ints([1, 0, 0, 2])]),
            op("expand", .expand, [[1, 3]], ["shape": .ints([2, 3])]),
            op("identity", .identity, [[2, 3]], [:]),
            op("mse-loss", .mseLoss, [[3, 4], [3, 4]], [:]),
            op("bce-loss", .bceLoss, [[3, 4], [3, 4]], [:]),
            op("softmax", .softmax, [[3, 5]], [:], dtype: .f32),
            op("softmax axis 0", .softmax, [[3, 5]], ["axis": .int(0)], dtype: .f32),
            op("log-softmax", .logSoftmax, [[3, 5]], ["axis": .int(1)], dtype: .f32),
            op(
                "layer-norm", .layerNorm, [[3, 4, 5], [4, 5], [4, 5]], ["axis": .int(1), "epsilon": .float(0.01)],
                dtype: .f32),
            op("layer-norm last axis", .layerNorm, [[6, 5], [5], [5]], [:], dtype: .f32),
            Case(name: "gather axis 0 repeated", dtype: .f64, inputs: [([5, 3], -2...2)]) { b, x throws(SinterError) in
                let idx = try b.constant(TensorData(dtype: .i64, shape: [2, 3], values: [4, 0, 4, 2, -1, 1]))
                return try b.apply(.gather, [x[0], idx])[0]
            },
            Case(name: "gather axis 1", dtype: .f64, inputs: [([2, 4, 3], -2...2)]) { b, x throws(SinterError) in
                let idx = try b.constant(TensorData(dtype: .i32, shape: [3], values: [3, 1, 3]))
                return try b.apply(.gather, [x[0], idx], attributes: Attributes(["axis": .int(1)]))[0]
            },
            spacedOp("reduce-max", .reduceMax, [3, 4, 5], ["axes": .ints([1])]),
            spacedOp("reduce-min all", .reduceMin, [3, 4], [:]),
            op("conv", .conv, [[2, 3, 5, 6], [4, 3, 3, 2]], [:], dtype: .f32),
            op(
                "conv stride pads", .conv, [[2, 3, 7, 6], [4, 3, 3, 3]],
                ["strides": .ints([2, 3]), "pads": .ints([1, 0, 2, 1])], dtype: .f32),
            op(
                "conv dilation", .conv, [[1, 2, 7, 7], [3, 2, 3, 2]],
                ["dilations": .ints([2, 3]), "pads": .ints([1, 1, 1, 1])], dtype: .f32),
            op(
                "conv groups", .conv, [[2, 4, 5, 5], [6, 2, 3, 3]], ["group": .int(2), "strides": .ints([2, 1])],
                dtype: .f32),
            op(
                "conv depthwise", .conv, [[1, 3, 6, 5], [3, 1, 3, 3]],
                ["group": .int(3), "pads": .ints([1, 1, 1, 1])], dtype: .f32),
            op(
                "conv 1-d", .conv, [[2, 3, 9], [2, 3, 4]], ["strides": .ints([2]), "pads": .ints([2, 1])], dtype: .f32),
            pool(.maxPool, [2, 3, 6, 6], ["kernel": .ints([2, 2]), "strides": .ints([2, 2])]),
            pool(
                .maxPool, [1, 2, 7, 7],
                ["kernel": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            pool(
                .maxPool, [1, 2, 6, 7], ["kernel": .ints([3, 2]), "strides": .ints([2, 2]), "ceil_mode": .bool(true)]),
            pool(.maxPool, [2, 2, 9], ["kernel": .ints([3]), "dilations": .ints([2])]),
            pool(.avgPool, [2, 3, 6, 6], ["kernel": .ints([2, 2]), "strides": .ints([2, 2])]),
            pool(
                .avgPool, [1, 2, 7, 6],
                ["kernel": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            pool(
                .avgPool, [1, 2, 7, 6],
                [
                    "kernel": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 1]),
                    "count_include_pad": .bool(true), "ceil_mode": .bool(true),
                ]),
            Case(name: "cross-entropy", dtype: .f32, inputs: [([4, 5], -2...2)]) { b, x throws(SinterError) in
                let labels = try b.constant(TensorData(dtype: .i64, shape: [4], values: [3, 0, 4, 1]))
                let attrs = Attributes(["label_smoothing": .float(0.1)])
                return try b.apply(.crossEntropy, [x[0], labels], attributes: attrs)[0]
            },
            Case(name: "batch-norm", dtype: .f64, inputs: [([3, 2, 2, 3], -2...2), ([2], 0.5...2), ([2], -1...1)]) {
                b, x throws(SinterError) in
                let running = try b.constant(TensorData(dtype: .f64, shape: [2], values: [0.3, 2]))
                let a = Attributes(["epsilon": .float(1e-3), "momentum": .float(0.7)])
                return try b.apply(.batchNorm, [x[0], x[1], x[2], running, running], attributes: a)[0]
            },
            Case(name: "dropout", dtype: .f64, inputs: [([5, 7], -2...2)]) { b, x throws(SinterError) in
                let step = try b.constant(TensorData(dtype: .f64, shape: [], values: [12]))
                let a = Attributes(["ratio": .float(0.4), "seed": .int(9)])
                return try b.apply(.dropout, [x[0], step], attributes: a)[0]
            },
            Case(name: "nll-loss", dtype: .f64, inputs: [([3, 4], -2...0)]) { b, x throws(SinterError) in
                let labels = try b.constant(TensorData(dtype: .i32, shape: [3], values: [2, 0, 3]))
                return try b.apply(.nllLoss, [x[0], labels])[0]
            },
            Case(name: "cross-entropy probabilities", dtype: .f32, inputs: [([2, 3], -2...2)]) {
                b, x throws(SinterError) in
                let p = try b.constant(TensorData(dtype: .f32, shape: [2, 3], values: [0.2, 0.5, 0.3, 1, 0, 0]))
                return try b.apply(.crossEntropy, [x[0], p])[0]
            },
        ]

    @Test(arguments: cases)
    func gradientMatchesFiniteDifferences(_ c: Case) throws {
        var rng = Support.RNG(seed: 7)
        var b = GraphBuilder(name: "grad")
        let xs = try c.inputs.enumerated().map { i, s in try b.input("x\(i)", TensorType(c.dtype, s.0)) }
        let y = try c.build(&b, xs)
        let yShape = b.graph.type(of: y).shape ?? []
        let cot = try b.input("c", TensorType(c.dtype, yShape))
        let loss = try b.apply(.reduceSum, [try b.mul(y, cot)], name: "loss")[0]
        b.output(loss)
        let forward = b.graph
        let (withGrads, grads) = try Autodiff.gradients(of: loss, wrt: xs, in: forward)
        var backward = withGrads
        backward.outputs = [loss] + grads

        func random(_ shape: [Int], _ r: ClosedRange<Double>) -> [Double] {
            (0..<shape.reduce(1, *)).map { _ in
                r.lowerBound + (r.upperBound - r.lowerBound) * Double(rng.next() >> 11) / Double(1 << 53)
            }
        }
        var values = c.inputs.map { random($0.0, $0.1) }
        if c.spaced {
            values = values.map { v in
                var grid = v.indices.map { Double($0) * 0.1 - Double(v.count) * 0.05 }
                for i in stride(from: grid.count - 1, to: 0, by: -1) { grid.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                return grid
            }
        }
        let cotangent = random(yShape, -1...1)
        func tensors(_ vs: [[Double]]) -> [TensorData] {
            zip(vs, c.inputs).map { TensorData(dtype: c.dtype, shape: $1.0, values: $0) }
                + [TensorData(dtype: c.dtype, shape: yShape, values: cotangent)]
        }
        let f = try Sinter.jit(forward)
        let df = try Sinter.jit(backward)
        let got = try df.run(tensors(values))
        let wide = c.dtype == .f64
        let h = wide ? 1e-3 : 1e-2
        for (k, shape) in c.inputs.map(\.0).enumerated() {
            var fd: [Double] = []
            for j in 0..<shape.reduce(1, *) {
                let x0 = values[k][j]
                values[k][j] = x0 + h
                let up = try f.run(tensors(values))[0].element(at: 0)
                values[k][j] = x0 - h
                let down = try f.run(tensors(values))[0].element(at: 0)
                values[k][j] = x0
                fd.append((up - down) / (2 * h))
            }
            let problem = Support.mismatch(
                got[1 + k].doubles, fd, atol: wide ? 1e-4 : 5e-3, rtol: wide ? 1e-4 : 1e-2)
            #expect(problem == nil, "\(c.name): d/dx\(k) \(problem ?? "")")
        }
    }

    /// Ops without a rule on the way to the loss are all named, with their locations.
    @Test func missingRulesAreListedTogether() throws {
        var b = GraphBuilder(name: "nograd")
        let x = try b.input("x", TensorType(.f32, [2, 3]))
        let index = try b.constant(TensorData(dtype: .i64, shape: [1, 1], values: [0]))
        let row = try b.constant(TensorData(dtype: .f32, shape: [1, 3], values: [1, 2, 3]))
        let m = try b.apply(.scatterND, [x, index, row], name: "first")[0]
        let s = try b.apply(.scatterND, [try b.relu(m), index, row], name: "second")[0]
        let loss = try b.apply(.reduceSum, [s])[0]
        b.output(loss)
        let text: String
        do throws(SinterError) {
            _ = try Autodiff.gradients(of: loss, wrt: [x], in: b.graph)
            text = ""
        } catch {
            text = error.diagnostics.map(\.message).joined(separator: "\n")
        }
        #expect(text.components(separatedBy: "'scatter-nd' has no gradient rule").count == 3, "\(text)")
    }
}
