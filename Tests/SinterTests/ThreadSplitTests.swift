import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Large elementwise kernels split across the pool (by the outermost dimension, or by vectors
/// of a single one): each checked against a float64 reference, with the split asserted in the
/// kernel program and results bit-identical for 1, 2 and 3 threads.
struct ThreadSplitTests {
    @Test(arguments: [[300_001], [64, 100, 37]])
    func largeElementwiseKernelsSplit(_ shape: [Int]) throws {
        var b = GraphBuilder(name: "ew")
        let x = try b.input("x", TensorType(.f32, shape))
        let biasShape = shape.count > 1 ? [shape[1], 1] : [1]
        let bias = try b.input("bias", TensorType(.f32, biasShape))
        let t = try b.apply(.tanh, [try b.apply(.add, [x, bias])[0]])[0]
        b.output(try b.apply(.exp, [t])[0])
        var rng = Support.RNG(seed: 3)
        let xs = TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-3, 3) }, shape: shape)
        let bs = TensorData((0..<biasShape.reduce(1, *)).map { _ in rng.float(-1, 1) }, shape: biasShape)
        let one = try Sinter.jit(b.graph)
        #expect(one.program.kernels.contains { $0.body.unit == "elementwise" && $0.tasks > 1 })
        let got = try one.run([xs, bs])[0]
        let xv = xs.doubles, bv = bs.doubles
        let want = xv.indices.map { i -> Double in
            let bi = shape.count > 1 ? (i / shape[2]) % shape[1] : 0
            return Foundation.exp(Foundation.tanh(Double(Float(xv[i] + bv[bi]))))
        }
        #expect(Support.mismatch(got.doubles, want, atol: 1e-5, rtol: 1e-5) == nil)
        for threads in [2, 3] {
            #expect(
                try Sinter.jit(b.graph, threads: threads).run([xs, bs])[0].bytes == got.bytes, "\(threads) threads")
        }
    }
}
