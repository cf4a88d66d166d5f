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

    /// Softmax over attention-sized scores (4 heads × 128 × 128, last axis) and over a middle
    /// axis splits by rows, matches a float64 reference, and is bit-identical for 1–3 threads.
    @Test(arguments: [([4, 128, 128], -1), ([64, 40, 33], 1)])
    func softmaxSplitsByRows(_ shape: [Int], _ axis: Int) throws {
        var b = GraphBuilder(name: "sm")
        let x = try b.input("x", TensorType(.f32, shape))
        b.output(try b.softmax(x, axis: axis))
        var rng = Support.RNG(seed: 9)
        let xs = TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-6, 6) }, shape: shape)
        let one = try Sinter.jit(b.graph)
        #expect(one.program.kernels.contains { $0.body.unit == "softmax" && $0.tasks > 1 })
        let got = try one.run([xs])[0]
        let a = axis < 0 ? axis + shape.count : axis
        let (outer, n, inner) = (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
        let xv = xs.doubles
        var want = [Double](repeating: 0, count: xv.count)
        for o in 0..<outer {
            for j in 0..<inner {
                let at = (0..<n).map { o * n * inner + $0 * inner + j }
                let m = at.map { xv[$0] }.max() ?? 0
                let total = at.reduce(0.0) { $0 + Foundation.exp(xv[$1] - m) }
                for i in at { want[i] = Foundation.exp(xv[i] - m) / total }
            }
        }
        #expect(Support.mismatch(got.doubles, want, atol: 1e-6, rtol: 1e-5) == nil)
        for threads in [2, 3] {
            #expect(try Sinter.jit(b.graph, threads: threads).run([xs])[0].bytes == got.bytes, "\(threads) threads")
        }
    }

    /// Window kernels split by output rows or panels: an im2col conv (blocks of panels ending
    /// inside output rows), a depthwise conv and a max pool on NCHW with 20 channels give
    /// bit-identical results for 1, 2 and 3 threads, and each kernel is split.
    @Test func windowKernelsSplitIdentically() throws {
        var b = GraphBuilder(name: "win")
        var rng = Support.RNG(seed: 12)
        func w(_ shape: [Int]) throws -> ValueID {
            try b.constant(TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-0.3, 0.3) }, shape: shape))
        }
        let x = try b.input("x", TensorType(.f32, [1, 20, 96, 91]))
        let pads: AttributeValue = .ints([1, 1, 1, 1])
        // 20 → 17 channels: the padded last block (of 8 or 16) wastes more than 1/4, so this conv
        // runs im2col.
        let c = try b.apply(.conv, [x, try w([17, 20, 3, 3])], attributes: Attributes(["pads": pads]))[0]
        let d = try b.apply(
            .conv, [x, try w([20, 1, 3, 3])], attributes: Attributes(["pads": pads, "group": .int(20)]))[0]
        let p = try b.apply(
            .maxPool, [d], attributes: Attributes(["kernel": .ints([3, 3]), "strides": .ints([2, 2]), "pads": pads]))[0]
        b.output(c)
        b.output(p)
        let xs = TensorData((0..<(20 * 96 * 91)).map { _ in rng.float(-1, 1) }, shape: [1, 20, 96, 91])
        let one = try Sinter.jit(b.graph)
        let split = one.program.kernels.filter { $0.tasks > 1 }.map { "\($0.body)" }
        #expect(split.contains { $0.contains("im2col") }, "\(split)")
        #expect(split.filter { $0.contains("row vectors") }.count == 2, "\(split)")
        let want = try one.run([xs])
        for threads in [2, 3] {
            let got = try Sinter.jit(b.graph, threads: threads).run([xs])
            #expect(got.map(\.bytes) == want.map(\.bytes), "\(threads) threads")
        }
    }
}
