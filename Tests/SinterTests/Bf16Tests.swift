import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The bf16 GEMM (`matmul {to = "f32"}` on bf16 operands) against f64 sums of the rounded
/// values in plain Swift, on each dot-step flavour this host can run: `vdpbf16ps` where the
/// CPU has avx512_bf16 and the portable IR (AVX2) everywhere. Shapes cover edges (odd k,
/// partial panels and row tiles, m = 1, batch dims), b through trans_b, a through trans_a,
/// a run-time b (the typed loops), a fused bias + ReLU, and 1–3 threads giving identical
/// results.
struct Bf16GemmTests {
    /// x rounded to bf16, nearest even (what `cast` and the weight conversion do).
    static func bf16(_ x: Float) -> Float {
        let bits = x.bitPattern
        return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
    }

    static func flavours() throws -> [(String, Target)] {
        let host = TargetInfo(.host)
        var out: [(String, Target)] = [(host.schedules.bf16Dot.rawValue + " (host)", .host)]
        if host.isa == .x86_64, host.features.contains(.avx2), host.schedules.bf16Dot != .generic {
            out.append(("generic (AVX2)", try Target.named("x86_64-linux-gnu", cpu: "haswell")))
        }
        return out
    }

    struct Case {
        var batch: [Int], m: Int, k: Int, n: Int
        var transA = false, transB = false, runTimeB = false
    }

    @Test func matchesF32SumsOfRoundedValues() throws {
        var rng = Support.RNG(seed: 5)
        let cases = [
            Case(batch: [], m: 1, k: 1, n: 1), Case(batch: [], m: 5, k: 3, n: 17, transB: true),
            Case(batch: [], m: 37, k: 29, n: 53), Case(batch: [2], m: 13, k: 64, n: 40, transA: true),
            Case(batch: [], m: 64, k: 301, n: 33), Case(batch: [], m: 130, k: 70, n: 96, transB: true),
            Case(batch: [], m: 9, k: 20, n: 7, runTimeB: true),
        ]
        var checked = Set<String>()
        for (name, target) in try Self.flavours() {
            for t in cases {
                let (m, k, n) = (t.m, t.k, t.n)
                let aShape = t.batch + (t.transA ? [k, m] : [m, k])
                let aValues = (0..<aShape.reduce(1, *)).map { _ in rng.float(-1, 1) }
                let wValues = (0..<(k * n)).map { _ in Self.bf16(rng.float(-1, 1)) }  // [k, n], or [n, k] with trans_b
                let bias = (0..<n).map { _ in rng.float(-1, 1) }
                var g = GraphBuilder(name: "b")
                let a = try g.input("a", TensorType(.f32, aShape))
                let ab = try g.apply(.cast, [a], attributes: Attributes(["to": .string("bf16")]))[0]
                let wType = TensorType(.bf16, t.transB ? [n, k] : [k, n])
                let wData = TensorData(dtype: .bf16, shape: wType.shape ?? [], values: wValues.map(Double.init))
                let w = t.runTimeB ? try g.input("w", wType) : try g.constant(wData)
                var attributes = Attributes(["to": .string("f32")])
                if t.transA { attributes["trans_a"] = .bool(true) }
                if t.transB { attributes["trans_b"] = .bool(true) }
                let product = try g.apply(.matmul, [ab, w], attributes: attributes)[0]
                g.output(try g.relu(try g.add(product, try g.constant(TensorData(bias, shape: [n])))))
                var want = [Float]()
                for e in 0..<(t.batch.first ?? 1) {
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0
                            for kk in 0..<k {
                                let x = aValues[e * m * k + (t.transA ? kk * m + i : i * k + kk)]
                                let y = wValues[t.transB ? j * k + kk : kk * n + j]
                                sum += Double(Self.bf16(x)) * Double(y)
                            }
                            want.append(max(0, Float(sum + Double(bias[j]))))
                        }
                    }
                }
                var options = CompileOptions()
                options.target = target
                let inputs = [TensorData(aValues, shape: aShape)] + (t.runTimeB ? [wData] : [])
                var results: [[Float]] = []
                for threads in 1...3 {
                    results.append(try Sinter.jit(g.graph, options, threads: threads).run(inputs)[0].floats ?? [])
                }
                let label = "\(name) \(t)"
                #expect(Support.mismatch(results[0], want, atol: 1e-4, rtol: 1e-5) == nil, "\(label)")
                #expect(results[1] == results[0] && results[2] == results[0], "\(label): thread counts differ")
                checked.insert(name)
            }
        }
        print("bf16 GEMM: \(cases.count) shapes on \(checked.sorted().joined(separator: ", "))")
    }
}

/// The bf16 convolution (`conv {to = "f32"}` on bf16 operands: the packed convolution with two
/// k per word) against f64 sums of the rounded values, on each dot-step flavour this host can
/// run. Geometries (Int8ConvTests') cover pointwise convs read in place, padding, strides,
/// dilations, asymmetric pads, odd k, partial row tiles and panels, batch 2, several chunks and
/// groups, plus run-time weights (the plain loops); a fused bias + ReLU; 1–3 threads identical.
struct Bf16ConvTests {
    @Test func matchesF32SumsOfRoundedValues() throws {
        var rng = Support.RNG(seed: 9)
        // The int8 conv's geometries (dense ones with constant weights run blocked when their
        // output channels fill blocks, others the packed NCHW kernel), then the blocked int8
        // conv's (all blocked: pairs of channels per word, a first layer's 3 padded to 4).
        // 15 channels pad to one block of 16, the host's block width.
        let cases =
            Int8ConvTests.cases + Int8BlockedConvTests.cases
            + [Int8ConvTests.Case(batch: 1, channels: 15, height: 7, width: 9, outChannels: 16, kernel: [3, 3])]
        var checked = Set<String>()
        for (name, target) in try Bf16GemmTests.flavours() {
            for (index, cs) in cases.enumerated() {
                let runTimeWeights = index == 1
                let xShape = [cs.batch, cs.channels, cs.height, cs.width]
                let wShape = [cs.outChannels, cs.channels / cs.group] + cs.kernel
                let x = (0..<xShape.reduce(1, *)).map { _ in rng.float(-1, 1) }
                let w = (0..<wShape.reduce(1, *)).map { _ in Bf16GemmTests.bf16(rng.float(-1, 1)) }
                let bias = (0..<cs.outChannels).map { _ in rng.float(-1, 1) }
                var g = GraphBuilder(name: "bc")
                let input = try g.input("x", TensorType(.f32, xShape))
                let xb = try g.apply(.cast, [input], attributes: Attributes(["to": .string("bf16")]))[0]
                let wData = TensorData(dtype: .bf16, shape: wShape, values: w.map(Double.init))
                let weights = runTimeWeights ? try g.input("w", TensorType(.bf16, wShape)) : try g.constant(wData)
                let attributes = Attributes([
                    "strides": .ints(cs.strides), "pads": .ints(cs.pads), "dilations": .ints(cs.dilations),
                    "group": .int(cs.group), "to": .string("f32"),
                ])
                let conv = try g.apply(.conv, [xb, weights], attributes: attributes)[0]
                let shape = try #require(g.graph.type(of: conv).shape)
                let biased = try g.add(conv, try g.constant(TensorData(bias, shape: [cs.outChannels, 1, 1])))
                g.output(try g.relu(biased))
                let want = Self.reference(cs, x.map(Bf16GemmTests.bf16), w, bias, out: Array(shape[2...]))
                var options = CompileOptions()
                options.target = target
                let inputs = [TensorData(x, shape: xShape)] + (runTimeWeights ? [wData] : [])
                var results: [[Float]] = []
                for threads in 1...3 {
                    results.append(try Sinter.jit(g.graph, options, threads: threads).run(inputs)[0].floats ?? [])
                }
                let label = "\(name) case \(index)\(runTimeWeights ? " (run-time weights)" : "")"
                #expect(Support.mismatch(results[0], want, atol: 1e-4, rtol: 1e-5) == nil, "\(label)")
                #expect(results[1] == results[0] && results[2] == results[0], "\(label): thread counts differ")
                if !runTimeWeights {
                    let report = try Sinter.lower(g.graph, options).kernelReport(TargetInfo(target))
                    #expect(report.contains("bf16 operands"), "\(label): \(report)")
                    if index >= Int8ConvTests.cases.count {
                        #expect(report.contains(": conv-nchwc,"), "\(label): not blocked \(report)")
                    }
                }
                checked.insert(name)
            }
        }
        print("bf16 conv: \(cases.count) geometries on \(checked.sorted().joined(separator: ", "))")
    }

    /// `precision-bf16` end to end on two convs: both run in bf16 on blocked tensors (the first's
    /// 6 channels as one block of three pairs), the first kernel ends in the second's cast (it
    /// stores bf16), and the output stays within bf16 rounding of f32 while differing from it
    /// (the pass really ran).
    @Test func precisionPassRunsConvChainsInBf16() throws {
        var rng = Support.RNG(seed: 4)
        var g = GraphBuilder(name: "bcnn")
        let x = try g.input("x", TensorType(.f32, [2, 6, 12, 12]))
        let pads = Attributes(["pads": .ints([1, 1, 1, 1])])
        let w1 = TensorData((0..<(16 * 54)).map { _ in rng.float(-0.3, 0.3) }, shape: [16, 6, 3, 3])
        let b1 = TensorData((0..<16).map { _ in rng.float(-0.1, 0.1) }, shape: [16, 1, 1])
        let h = try g.relu(
            try g.add(try g.apply(.conv, [x, try g.constant(w1)], attributes: pads)[0], try g.constant(b1)))
        let w2 = TensorData((0..<(8 * 144)).map { _ in rng.float(-0.2, 0.2) }, shape: [8, 16, 3, 3])
        g.output(try g.apply(.conv, [h, try g.constant(w2)], attributes: pads)[0])
        var options = CompileOptions()
        let anchor = try #require(options.passes.firstIndex { $0.name == "fold-batchnorm" })
        options.passes.insert("precision-bf16", at: anchor + 1)
        let report = try Sinter.lower(g.graph, options).kernelReport(TargetInfo(.host))
        let kernels = report.split(separator: "\n").filter { $0.hasPrefix("// k") && !$0.hasPrefix("// kernels") }
        #expect(kernels.filter { $0.contains("bf16 operands") }.count == 2, "\(report)")
        #expect(kernels.contains { $0.contains("conv_nchwc_add_relu_cast") }, "the first conv stores bf16: \(report)")
        let input = TensorData((0..<(2 * 6 * 144)).map { _ in rng.float(-1, 1) }, shape: [2, 6, 12, 12])
        let got = try Sinter.jit(g.graph, options).run([input])[0].doubles
        let want = try Sinter.jit(g.graph).run([input])[0].doubles
        #expect(Support.mismatch(got, want, atol: 2e-2, rtol: 2e-2) == nil, "bf16 vs f32")
        #expect(Support.mismatch(got, want, atol: 1e-6, rtol: 1e-6) != nil, "bf16 changed nothing")
    }

    /// A blocked bf16 conv written directly (`conv-nchwc {to = "f32"}`) with run-time weights
    /// runs the plain loops over the blocked weights; with the same weights constant, the
    /// packed pair kernel. They sum the same exact products in different orders.
    /// Blocks of 32 (hand-written IR; no target's dot step is that wide) take the portable step.
    @Test(arguments: [16, 32]) func blockedConvWithRunTimeWeightsMatchesPacked(block: Int) throws {
        var rng = Support.RNG(seed: 21)
        let xShape = [2, 2, 6, 5, 8], wShape = [2, 2, 3, 3, 8, block]
        let x = TensorData(
            dtype: .bf16, shape: xShape,
            values: (0..<xShape.reduce(1, *)).map { _ in Double(Bf16GemmTests.bf16(rng.float(-1, 1))) })
        let w = TensorData(
            dtype: .bf16, shape: wShape,
            values: (0..<wShape.reduce(1, *)).map { _ in Double(Bf16GemmTests.bf16(rng.float(-1, 1))) })
        let attributes = Attributes(["to": .string("f32"), "strides": .ints([1, 2])])
        var results: [[Float]] = []
        for runTime in [false, true] {
            var g = GraphBuilder(name: "bcr")
            let input = try g.input("x", TensorType(.bf16, xShape))
            let weights = runTime ? try g.input("w", TensorType(.bf16, wShape)) : try g.constant(w)
            g.output(try g.apply(.convNCHWc, [input, weights], attributes: attributes)[0])
            results.append(try Sinter.jit(g.graph).run(runTime ? [x, w] : [x])[0].floats ?? [])
        }
        #expect(results[0].count == 2 * 2 * 4 * 2 * block)
        #expect(Support.mismatch(results[1], results[0], atol: 1e-4, rtol: 1e-5) == nil)
    }

    /// Σ x · w over the window in f64 (padding contributes 0), plus the bias, ReLU.
    static func reference(
        _ cs: Int8ConvTests.Case, _ x: [Float], _ w: [Float], _ bias: [Float], out: [Int]
    ) -> [Float] {
        var result = [Float]()
        Int8ConvTests.windows(cs, out: out) { m, taps in
            let acc = taps.reduce(0.0) { $0 + Double(x[$1.x]) * Double(w[$1.w]) }
            result.append(max(0, Float(acc + Double(bias[m]))))
        }
        return result
    }
}
