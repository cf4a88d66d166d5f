import Foundation
import SinterCodegen
import SinterIR
import SinterTestSupport
import Testing

/// Sinter's own exp/log/tanh/sigmoid polynomials against numpy (float64 math rounded to
/// float32) over dense sweeps of their useful ranges, with the accuracy bound we document.
struct VectorMathAccuracyTests {
    /// (op, sweep range, max ulp allowed, absolute floor below which ulps are not counted)
    static let sweeps: [(Op, Float, Float, Int, Float)] = [
        (.exp, -87, 88, 1, 0),
        (.log, 1e-6, 1e4, 1, 0),
        (.tanh, -10, 10, 2, 1e-30),
        (.sigmoid, -30, 30, 2, 0),
    ]

    /// `op` on `xs` through the JIT, and numpy's float64 result rounded to float32.
    static func sinterAndNumpy(_ op: Op, _ xs: [Float]) throws -> (got: [Float], want: [Float]) {
        let model = try JITModel(lowered(unaryGraph(op, [xs.count])), prefix: "acc")
        let got = try #require(try model.run([TensorData(xs, shape: [xs.count])])[0].floats)
        let dir = try Support.temporaryDirectory("acc")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("x.npy"), output = dir.appendingPathComponent("y.npy")
        try Support.writeNpy(TensorData(xs, shape: [xs.count]), to: input)
        try Support.numpyReference([.init(op: op.rawValue, inputs: [input.path], output: output.path)], in: dir)
        return (got, try #require(try Support.readNpy(output).floats))
    }

    @Test(arguments: sweeps.indices)
    func accuracyBound(_ index: Int) throws {
        let (op, lo, hi, bound, floor) = Self.sweeps[index]
        let n = 100_003
        var xs = (0..<n).map { lo + (hi - lo) * Float($0) / Float(n - 1) }
        if op == .log {  // geometric sweep plus subnormals for log
            xs = (0..<n).map {
                Float(exp(log(Double(lo)) + (log(Double(hi)) - log(Double(lo))) * Double($0) / Double(n - 1)))
            }
            xs += [Float.leastNonzeroMagnitude, 1e-40, Float.leastNormalMagnitude, 1, 2, Float.greatestFiniteMagnitude]
        }
        if op == .tanh { xs += [1e-8, -1e-8, 0.6249, 0.6251, -0.6251] }
        let (got, want) = try Self.sinterAndNumpy(op, xs)

        var worst = 0, worstX: Float = 0
        for i in xs.indices where abs(want[i]) >= floor {
            let d = ulpDistance(got[i], want[i])
            if d > worst { worst = d; worstX = xs[i] }
        }
        print("\(op.rawValue): max error \(worst) ulp at x = \(worstX) over \(xs.count) points")
        #expect(worst <= bound, "\(op.rawValue): \(worst) ulp at x = \(worstX) exceeds the documented \(bound) ulp")
    }

    /// The libm-backed functions and the ulp bound docs/ops.md states for each (measured with
    /// Debian 12's glibc 2.36; another C library brings its own accuracy).
    static let libmBounds: [(Op, Int)] = [
        (.sin, 1), (.cos, 1), (.tan, 1), (.asin, 1), (.acos, 1), (.atan, 1), (.sinh, 2), (.cosh, 1), (.asinh, 1),
        (.acosh, 2), (.atanh, 2),
    ]

    /// Over the whole float range of each function's domain: a dense linear sweep of the core
    /// and a geometric one over every binade up to the largest float, both signs.
    @Test(arguments: libmBounds.indices)
    func libmFunctionsOverTheWholeRange(_ index: Int) throws {
        let (op, bound) = Self.libmBounds[index]
        let n = 20_011
        let core: (Double, Double) =
            switch op {
            case .asin, .acos, .atanh: (-1, 1)
            case .acosh: (1, 20)
            default: (-20, 20)
            }
        var xs = (0..<n).map { Float(core.0 + (core.1 - core.0) * Double($0) / Double(n - 1)) }
        let magnitudes = (0..<n).map {
            Float(exp(log(1e-38) + (log(3.4e38) - log(1e-38)) * Double($0) / Double(n - 1)))
        }
        for m in magnitudes {
            for x in [m, -m]
            where Double(x) >= core.0
                && (op == .acosh || op == .asin || op == .acos || op == .atanh
                    ? Double(x) <= core.1 || op == .acosh : true)
            {
                xs.append(x)
            }
        }
        let (got, want) = try Self.sinterAndNumpy(op, xs)
        var worst = 0, worstX: Float = 0
        for i in xs.indices {
            if want[i].isNaN || got[i].isNaN {
                #expect(want[i].isNaN && got[i].isNaN, "\(op.rawValue)(\(xs[i])) = \(got[i]), numpy \(want[i])")
                continue
            }
            let d = ulpDistance(got[i], want[i])
            if d > worst { worst = d; worstX = xs[i] }
        }
        print("\(op.rawValue): max error \(worst) ulp at x = \(worstX) over \(xs.count) points")
        #expect(worst <= bound, "\(op.rawValue): \(worst) ulp at x = \(worstX) exceeds the documented \(bound) ulp")
    }

    @Test func specialValues() throws {
        let xs: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 100, -200, 89, -104]
        for op in [Op.exp, .log, .tanh, .sigmoid] {
            let model = try JITModel(lowered(unaryGraph(op, [xs.count])), prefix: "sp")
            let got = try model.run([TensorData(xs, shape: [xs.count])])[0].floats!
            for (x, y) in zip(xs, got) {
                let want: Float =
                    switch op {
                    case .exp: Foundation.exp(x)
                    case .log: Foundation.log(x)
                    case .tanh: Foundation.tanh(x)
                    default: 1 / (1 + Foundation.exp(-x))
                    }
                if want.isNaN {
                    #expect(y.isNaN, "\(op.rawValue)(\(x)) = \(y), want NaN")
                } else {
                    #expect(y == want || abs(y - want) <= 1e-6 * abs(want), "\(op.rawValue)(\(x)) = \(y), want \(want)")
                }
            }
        }
    }
}
