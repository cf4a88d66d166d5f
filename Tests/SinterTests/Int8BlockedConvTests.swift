import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The int8 convolution on channel-blocked bytes (`qconv-nchwc`, what `layout` makes of a dense
/// qconv whose channels fill blocks) against exact integer sums, on each dot-step flavour this
/// host can run (Int8GemmTests.flavours: 16-lane VNNI, 8-lane VNNI and the portable step, with
/// blocks of 16 or 8 channels). The geometries cover padding (the zero point fills it, for u8
/// and i8 inputs), strides, dilations with asymmetric pads, a pointwise conv, an odd number of
/// output blocks (the one-block tail sweep), batch 2, a partial last pixel tile, input channels
/// that fill no block (a first layer's, padded to whole quads), per-tensor and
/// per-channel weights, an f32 bias + ReLU or an i32 bias operand + ReLU, and 1–3 threads giving
/// identical results.
struct Int8BlockedConvTests {
    typealias Case = Int8ConvTests.Case

    static let cases: [Case] = [
        Case(batch: 1, channels: 32, height: 9, width: 11, outChannels: 48, kernel: [3, 3], pads: [1, 1, 1, 1]),
        Case(batch: 2, channels: 16, height: 8, width: 8, outChannels: 32, kernel: [1, 1], strides: [2, 2]),
        Case(
            batch: 1, channels: 32, height: 10, width: 10, outChannels: 16, kernel: [3, 3], pads: [1, 0, 2, 1],
            dilations: [2, 2]),
        Case(batch: 1, channels: 64, height: 7, width: 7, outChannels: 48, kernel: [1, 1]),
        Case(
            batch: 2, channels: 16, height: 13, width: 12, outChannels: 16, kernel: [3, 3], strides: [2, 2],
            pads: [1, 1, 1, 1]),
        // A first layer: 3 channels read as one block of 4 (the fourth against zero weights),
        // and 5 channels as one block of 8.
        Case(
            batch: 1, channels: 3, height: 20, width: 18, outChannels: 16, kernel: [7, 7], strides: [2, 2],
            pads: [3, 3, 3, 3]),
        Case(batch: 2, channels: 5, height: 9, width: 8, outChannels: 32, kernel: [3, 3], pads: [1, 1, 1, 1]),
    ]

    @Test func matchesExactIntegerSums() throws {
        var rng = Support.RNG(seed: 31)
        var checked = Set<String>()
        for (name, target) in try Int8GemmTests.flavours() {
            for (index, cs) in Self.cases.enumerated() {
                let signed = index % 2 == 1, perChannel = index != 2, integerBias = index % 2 == 0
                let (sx, zx): (Float, Int) = signed ? (0.03, -9) : (0.02, 117)
                let sw = (0..<(perChannel ? cs.outChannels : 1)).map { _ in rng.float(0.001, 0.01) }
                let xShape = [cs.batch, cs.channels, cs.height, cs.width]
                let wShape = [cs.outChannels, cs.channels] + cs.kernel
                let x = (0..<xShape.reduce(1, *)).map { _ in rng.int(signed ? -128...127 : 0...255) }
                let w = (0..<wShape.reduce(1, *)).map { _ in rng.int(-127...127) }
                let bias = (0..<cs.outChannels).map { _ in integerBias ? 0 : rng.float(-1, 1) }
                let biasI = (0..<cs.outChannels).map { _ in rng.int(-40_000...40_000) }
                let dtype: DType = signed ? .i8 : .u8
                let (graph, want) = try Int8ConvTests.build(
                    cs, dtype: dtype, x: (sx, zx, x), w: (sw, w), bias: bias, integerBias: integerBias ? biasI : nil)
                var options = CompileOptions()
                options.target = target
                let label = "\(name) case \(index) \(dtype.rawValue)"
                let report = try Sinter.lower(graph, options).kernelReport(TargetInfo(target))
                #expect(report.contains("qconv-nchwc"), "\(label): not blocked\n\(report)")
                let data = TensorData(dtype: dtype, shape: xShape, values: x.map(Double.init))
                var results: [[Float]] = []
                for threads in 1...3 {
                    results.append(try Sinter.jit(graph, options, threads: threads).run([data])[0].floats ?? [])
                }
                #expect(Support.mismatch(results[0], want, atol: 1e-5, rtol: 1e-6) == nil, "\(label)")
                #expect(results[1] == results[0] && results[2] == results[0], "\(label): thread counts differ")
                checked.insert(name)
            }
        }
        print("int8 blocked conv: \(Self.cases.count) geometries on \(checked.sorted().joined(separator: ", "))")
    }

    /// Two qconvs of one weight constant on inputs with different zero points: each packs its
    /// own compensation (packed weights are shared only when their bytes are equal).
    @Test func convsSharingWeightsKeepTheirOwnCompensation() throws {
        var rng = Support.RNG(seed: 8)
        let cs = Case(
            batch: 1, channels: 16, height: 5, width: 6, outChannels: 16, kernel: [3, 3], pads: [1, 1, 1, 1])
        let xShape = [1, 16, 5, 6]
        let w = (0..<(16 * 16 * 9)).map { _ in rng.int(-127...127) }
        var weights = TensorData(dtype: .i8, shape: [16, 16, 3, 3], values: w.map(Double.init))
        weights.quant = QuantParams(scale: 0.004, zeroPoint: 0)
        var g = GraphBuilder(name: "tied")
        let constant = try g.constant(weights)
        var inputs: [TensorData] = [], wants: [[Float]] = []
        for (name, zero) in [("a", 10), ("b", 200)] {
            let x = (0..<xShape.reduce(1, *)).map { _ in rng.int(0...255) }
            let input = try g.input(name, TensorType(.u8, xShape, quant: QuantParams(scale: 0.02, zeroPoint: zero)))
            let pads = Attributes(["pads": .ints(cs.pads)])
            g.output(try g.relu(try g.apply(.qconv, [input, constant], attributes: pads)[0]))
            inputs.append(TensorData(dtype: .u8, shape: xShape, values: x.map(Double.init)))
            wants.append(
                Int8ConvTests.reference(
                    cs, x, zero, w, { _ in 0.02 * 0.004 }, Array(repeating: 0, count: 16), out: [5, 6]))
        }
        let report = try Sinter.lower(g.graph, CompileOptions()).kernelReport(TargetInfo(.host))
        #expect(report.split(separator: "\n").filter { $0.contains(": qconv-nchwc,") }.count == 2, "\(report)")
        let got = try Sinter.jit(g.graph).run(inputs)
        for k in 0..<2 {
            #expect(Support.mismatch(got[k].floats ?? [], wants[k], atol: 1e-5, rtol: 1e-6) == nil, "conv \(k)")
        }
    }

    /// Two convs with the first one's ReLU, the second one's quantization and a max pool of the
    /// bytes between them: the chain stays blocked (one kernel stores the first conv's result as
    /// blocked bytes, the pool compares them as integers, the second conv reads them through a
    /// zero-point pad), and its output is the NCHW kernels' (layout off) bit for bit — the
    /// integer sums are exact and the epilogue is the same arithmetic.
    @Test func blockedChainMatchesTheNCHWKernels() throws {
        var rng = Support.RNG(seed: 4)
        var g = GraphBuilder(name: "chain")
        let x = try g.input("x", TensorType(.f32, [2, 16, 10, 9]))
        var h = try g.apply(.quantize, [x], attributes: Attributes(["to": .string("u8<0.02:100>")]))[0]
        for (layer, (m, c)) in [(32, 16), (16, 32)].enumerated() {
            var w = TensorData(
                dtype: .i8, shape: [m, c, 3, 3],
                values: (0..<(m * c * 9)).map { _ in
                    Double(rng.int(-127...127))
                })
            w.quant = QuantParams(
                scales: (0..<m).map { _ in rng.float(0.0005, 0.002) }, zeroPoints: Array(repeating: 0, count: m),
                axis: 0)
            let conv = try g.apply(
                .qconv, [h, try g.constant(w)], attributes: Attributes(["pads": .ints([1, 1, 1, 1])]))[0]
            let bias = try g.constant(TensorData((0..<m).map { _ in rng.float(-0.3, 0.3) }, shape: [m, 1, 1]))
            let r = try g.relu(try g.add(conv, bias))
            if layer == 0 {
                h = try g.apply(.quantize, [r], attributes: Attributes(["to": .string("u8<0.03:0>")]))[0]
                let window = Attributes([
                    "kernel": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
                ])
                h = try g.apply(.maxPool, [h], attributes: window)[0]
            } else {
                g.output(r)
            }
        }
        let input = TensorData((0..<(2 * 16 * 90)).map { _ in rng.float(-2, 3) }, shape: [2, 16, 10, 9])
        var options = CompileOptions()
        let blockedReport = try Sinter.lower(g.graph, options).kernelReport(TargetInfo(.host))
        let blockedKernels = blockedReport.split(separator: "\n").filter { $0.contains("qconv-nchwc") }
        #expect(blockedKernels.count == 2, "\(blockedReport)")
        #expect(blockedReport.contains("max_pool_nchwc"), "\(blockedReport)")
        let blocked = try Sinter.jit(g.graph, options).run([input])[0].floats ?? []
        options.passes = options.passes.map { $0.name == "layout" ? PassSpec("layout", ["block": "0"]) : $0 }
        let nchw = try Sinter.jit(g.graph, options).run([input])[0].floats ?? []
        #expect(!blocked.isEmpty && blocked == nchw)
    }
}
