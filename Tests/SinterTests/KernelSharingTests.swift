import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Kernels that compute the same thing on different buffers (a stack of equal layers, the time
/// steps of a recurrent cell) share one LLVM function: buffers are arguments, so only the body
/// and schedule decide the code. Checked by counting functions and against a float64 reference.
struct KernelSharingTests {
    /// Three equal 24→24 tanh layers with different weights, then a 24→5 one.
    static func stack() throws -> (Graph, [[Float]]) {
        var b = GraphBuilder(name: "stack")
        var h = try b.input("x", TensorType(.f32, [3, 24]))
        var rng = Support.RNG(seed: 11)
        var weights: [[Float]] = []
        for n in [24, 24, 24, 5] {
            let w = (0..<24 * n).map { _ in rng.float(-0.3, 0.3) }
            weights.append(w)
            let mm = try b.apply(.matmul, [h, try b.constant(TensorData(w, shape: [24, n]))])[0]
            h = try b.apply(.tanh, [mm])[0]
        }
        b.output(h)
        return (b.graph, weights)
    }

    @Test func equalLayersShareOneFunction() throws {
        let (g, weights) = try Self.stack()
        let model = try Sinter.jit(g)
        let kernels = model.program.kernels
        #expect(kernels.count == 4, "\(kernels.map(\.body))")
        let ll = try Codegen.llvmIR(model.program, prefix: "s", optimize: false)
        let functions = ll.split(separator: "\n").filter { $0.hasPrefix("define internal") }
        // The three 24×24 layers are one function; the 24×5 layer is another.
        #expect(functions.count == 2, "\(functions)")
        let calls = ll.split(separator: "\n").filter { $0.contains("call void @k") }
        #expect(calls.count == 4, "\(calls)")

        var rng = Support.RNG(seed: 5)
        let x = (0..<72).map { _ in rng.float(-1, 1) }
        let got = try model.run([TensorData(x, shape: [3, 24])])[0].doubles
        var h = x.map(Double.init), width = 24
        for w in weights {
            let n = w.count / width
            h = (0..<3 * n).map { i in
                let (r, c) = (i / n, i % n)
                return Foundation.tanh((0..<width).reduce(0.0) { $0 + h[r * width + $1] * Double(w[$1 * n + c]) })
            }
            width = n
        }
        #expect(Support.mismatch(got, h, atol: 1e-5, rtol: 1e-4) == nil)
    }

    /// A split's parts differ only in where they start reading: the start moves to the call's
    /// pointer, and the three parts share one function.
    @Test func splitPartsShareOneFunction() throws {
        var b = GraphBuilder(name: "parts")
        let x = try b.input("x", TensorType(.f32, [6, 5]))
        let parts = try b.apply(.split, [x], attributes: Attributes(["sizes": .ints([2, 2, 2])]))
        for p in parts { b.output(p) }
        let model = try Sinter.jit(b.graph)
        #expect(model.program.kernels.count == 3)
        #expect(model.program.kernels.map(\.operandOffsets) == [[], [40], [80]])
        let ll = try Codegen.llvmIR(model.program, prefix: "p", optimize: false)
        #expect(ll.split(separator: "\n").filter { $0.hasPrefix("define internal") }.count == 1, "\(ll.prefix(2000))")
        let values = (0..<30).map(Float.init)
        let got = try model.run([TensorData(values, shape: [6, 5])])
        for (i, part) in got.enumerated() { #expect(part.floats == Array(values[(i * 10)..<(i * 10 + 10)])) }
    }

    /// The profiled run computes the same bits and gives every kernel a positive time.
    @Test func profiledRunMatchesAndTimesEveryKernel() throws {
        let (g, _) = try Self.stack()
        let model = try Sinter.jit(g, profile: true)
        var rng = Support.RNG(seed: 6)
        let x = [TensorData((0..<72).map { _ in rng.float(-1, 1) }, shape: [3, 24])]
        var ns: [Int64] = []
        let got = try model.runProfiled(x, nanoseconds: &ns)
        #expect(got == (try model.run(x)))
        #expect(ns.count == model.program.kernels.count && ns.allSatisfy { $0 > 0 }, "\(ns)")
        let once = ns
        try model.runProfiled(x, nanoseconds: &ns)
        #expect(zip(ns, once).allSatisfy { $0 > $1 }, "counters accumulate: \(once) then \(ns)")
        #expect(throws: SinterError.self) { try Sinter.jit(g).runProfiled(x, nanoseconds: &ns) }
    }

    /// A run of more than `callsPerPart` kernels is emitted as a chain of parts: 1,100 layers
    /// (matmul + tanh, each a kernel) give three parts, and both the run and the profiled run
    /// match a float64 reference.
    @Test func longRunsAreSplitIntoParts() throws {
        var b = GraphBuilder(name: "deep")
        var h = try b.input("x", TensorType(.f32, [2, 4]))
        var rng = Support.RNG(seed: 3)
        var weights: [[Float]] = []
        for _ in 0..<1100 {
            let w = (0..<16).map { _ in rng.float(-0.9, 0.9) }
            weights.append(w)
            h = try b.apply(.tanh, [try b.apply(.matmul, [h, try b.constant(TensorData(w, shape: [4, 4]))])[0]])[0]
        }
        b.output(h)
        let model = try Sinter.jit(b.graph, profile: true)
        #expect(model.program.kernels.count == 1100)
        let ll = try Codegen.llvmIR(model.program, prefix: "d", optimize: false)
        #expect(ll.contains("define internal void @d_run_part2(") && !ll.contains("@d_run_part3("))
        let x = (0..<8).map { _ in rng.float(-1, 1) }
        var expected = x.map(Double.init)
        for w in weights {
            expected = (0..<8).map { i in
                let (r, c) = (i / 4, i % 4)
                return Foundation.tanh((0..<4).reduce(0.0) { $0 + expected[r * 4 + $1] * Double(w[$1 * 4 + c]) })
            }
        }
        let input = [TensorData(x, shape: [2, 4])]
        #expect(Support.mismatch(try model.run(input)[0].doubles, expected, atol: 1e-4, rtol: 1e-3) == nil)
        var nanoseconds = [Int64](repeating: 0, count: 1100)
        let profiled = try model.runProfiled(input, nanoseconds: &nanoseconds)[0].doubles
        #expect(Support.mismatch(profiled, expected, atol: 1e-4, rtol: 1e-3) == nil)
        #expect(nanoseconds.allSatisfy { $0 > 0 })
    }

    /// 600 different matmul-then-elementwise kernels (each a different sequence of tanh,
    /// sigmoid, erf and neg): past `outlineMathKernels`, the transcendentals are calls to one
    /// shared function per width instead of being written into each kernel, and the results
    /// still match float64.
    @Test func manyDistinctKernelsShareTheirMath() throws {
        var b = GraphBuilder(name: "wide")
        var h = try b.input("x", TensorType(.f32, [2, 4]))
        var rng = Support.RNG(seed: 5)
        let ops: [Op] = [.tanh, .sigmoid, .erf, .neg]
        var layers: [([Float], [Op])] = []
        for i in 0..<600 {
            let w = (0..<16).map { _ in rng.float(-0.9, 0.9) }
            let chain = (0..<5).map { d in ops[(i >> (2 * d)) & 3] }
            layers.append((w, chain))
            h = try b.apply(.matmul, [h, try b.constant(TensorData(w, shape: [4, 4]))])[0]
            for op in chain { h = try b.apply(op, [h])[0] }
        }
        b.output(h)
        let model = try Sinter.jit(b.graph)
        let distinct = Set(model.program.kernels.map { "\($0.body)" }).count
        #expect(distinct > 512, "past the outlining threshold (canonicalize merges a few chains): \(distinct)")
        let ll = try Codegen.llvmIR(model.program, prefix: "w", optimize: false)
        let lines = ll.split(separator: "\n")
        let definitions = lines.filter { $0.hasPrefix("define") && $0.contains("@sinter.tanh.f32x") }
        let calls = lines.filter { $0.contains("call") && $0.contains("@sinter.tanh.f32x") }
        #expect((1...3).contains(definitions.count), "one tanh per vector width: \(definitions)")
        #expect(calls.count >= 300, "kernels call the shared tanh (\(calls.count) calls)")
        let x = (0..<8).map { _ in rng.float(-1, 1) }
        var expected = x.map(Double.init)
        for (w, chain) in layers {
            expected = (0..<8).map { i in
                let (r, c) = (i / 4, i % 4)
                return (0..<4).reduce(0.0) { $0 + expected[r * 4 + $1] * Double(w[$1 * 4 + c]) }
            }
            for op in chain {
                expected = expected.map { v in
                    switch op {
                    case .tanh: Foundation.tanh(v)
                    case .sigmoid: 1 / (1 + Foundation.exp(-v))
                    case .erf: Foundation.erf(v)
                    default: -v
                    }
                }
            }
        }
        let got = try model.run([TensorData(x, shape: [2, 4])])[0].doubles
        #expect(Support.mismatch(got, expected, atol: 1e-4, rtol: 1e-3) == nil)
        let small = try Codegen.llvmIR(Sinter.jit(try Self.stack().0).program, prefix: "s", optimize: false)
        #expect(!small.contains("@sinter.tanh"), "a small model keeps its math in place")
    }
}
