import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The int8 convolution (`qconv`) against exact integer sums in plain Swift, on each dot-step
/// flavour this host can run (Int8GemmTests.flavours). The geometries cover a pointwise conv
/// read in place, padding (filled with the zero point), strides, dilations and asymmetric
/// pads, k not a multiple of 4, a partial row tile of channels and a partial last panel of
/// positions, batch 2, chunks of panels, u8 and i8 inputs, per-tensor and per-channel weights,
/// grouped and depthwise convs, a fused f32 bias + ReLU or an i32 bias operand + ReLU, and 1–3
/// threads giving identical results.
struct Int8ConvTests {
    struct Case {
        var batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, kernel: [Int]
        var strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], group = 1
    }

    static let cases: [Case] = [
        Case(batch: 1, channels: 16, height: 7, width: 9, outChannels: 24, kernel: [1, 1]),
        Case(batch: 2, channels: 5, height: 8, width: 8, outChannels: 13, kernel: [3, 3], pads: [1, 1, 1, 1]),
        Case(
            batch: 1, channels: 3, height: 20, width: 18, outChannels: 8, kernel: [7, 7], strides: [2, 2],
            pads: [3, 3, 3, 3]),
        Case(
            batch: 1, channels: 8, height: 10, width: 11, outChannels: 30, kernel: [3, 3], pads: [1, 0, 2, 1],
            dilations: [2, 2]),
        Case(batch: 1, channels: 256, height: 28, width: 28, outChannels: 16, kernel: [3, 3], pads: [1, 1, 1, 1]),
        Case(batch: 2, channels: 130, height: 15, width: 15, outChannels: 20, kernel: [1, 1]),
        // Grouped: each group's own im2col, row tiles and trailer slots; pointwise in place.
        Case(
            batch: 2, channels: 12, height: 9, width: 10, outChannels: 8, kernel: [3, 3], pads: [1, 1, 1, 1], group: 4),
        Case(batch: 1, channels: 16, height: 7, width: 7, outChannels: 24, kernel: [1, 1], group: 2),
        // Depthwise (the row-vector kernel): strided, a channel multiplier with dilation, wide rows.
        Case(
            batch: 1, channels: 16, height: 15, width: 17, outChannels: 16, kernel: [3, 3], strides: [2, 2],
            pads: [1, 1, 1, 1], group: 16),
        Case(
            batch: 2, channels: 6, height: 12, width: 12, outChannels: 12, kernel: [5, 5], pads: [4, 3, 4, 2],
            dilations: [2, 2], group: 6),
        Case(
            batch: 1, channels: 4, height: 9, width: 40, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], group: 4),
        // ShuffleNet's 14 × 14 rows: one masked vector of bytes per row on AVX-512.
        Case(
            batch: 1, channels: 5, height: 14, width: 14, outChannels: 5, kernel: [3, 3], pads: [1, 1, 1, 1], group: 5),
    ]

    /// Calls `output(m, taps)` for every output element in NCHW order: its channel and the
    /// (x index, w index) pairs of its window's taps inside the input (padding is skipped).
    static func windows(_ cs: Case, out: [Int], _ output: (Int, [(x: Int, w: Int)]) -> Void) {
        let perGroup = cs.channels / cs.group
        for n in 0..<cs.batch {
            for m in 0..<cs.outChannels {
                let first = m / (cs.outChannels / cs.group) * perGroup
                for oy in 0..<out[0] {
                    for ox in 0..<out[1] {
                        var taps: [(x: Int, w: Int)] = []
                        for c in first..<(first + perGroup) {
                            for ky in 0..<cs.kernel[0] {
                                for kx in 0..<cs.kernel[1] {
                                    let iy = oy * cs.strides[0] - cs.pads[0] + ky * cs.dilations[0]
                                    let ix = ox * cs.strides[1] - cs.pads[1] + kx * cs.dilations[1]
                                    guard iy >= 0, iy < cs.height, ix >= 0, ix < cs.width else { continue }
                                    taps.append(
                                        (
                                            ((n * cs.channels + c) * cs.height + iy) * cs.width + ix,
                                            ((m * perGroup + c - first) * cs.kernel[0] + ky) * cs.kernel[1] + kx
                                        ))
                                }
                            }
                        }
                        output(m, taps)
                    }
                }
            }
        }
    }

    /// Exact result: Σ (x − zx) · w over the window (padding contributes 0) plus the i32 bias,
    /// scaled, plus the f32 bias, ReLU.
    static func reference(
        _ cs: Case, _ x: [Int], _ zx: Int, _ w: [Int], _ scale: (Int) -> Float, _ bias: [Float], out: [Int],
        integerBias: [Int]? = nil
    ) -> [Float] {
        var result = [Float]()
        windows(cs, out: out) { m, taps in
            let acc = taps.reduce(0) { $0 + (x[$1.x] - zx) * w[$1.w] }
            result.append(max(0, Float(acc + (integerBias?[m] ?? 0)) * scale(m) + bias[m]))
        }
        return result
    }

    /// A qconv graph for `cs` (input of `dtype` at scale and zero point `x.scale`, `x.zero`;
    /// weights at one scale per channel or one in all), with an i32 bias operand or an f32 bias
    /// added after, then ReLU; and its exact result (`reference`).
    static func build(
        _ cs: Case, dtype: DType, x: (scale: Float, zero: Int, values: [Int]), w: (scales: [Float], values: [Int]),
        bias: [Float], integerBias: [Int]?
    ) throws -> (Graph, [Float]) {
        let perChannel = w.scales.count > 1
        var g = GraphBuilder(name: "qc")
        let xShape = [cs.batch, cs.channels, cs.height, cs.width]
        let input = try g.input("x", TensorType(dtype, xShape, quant: QuantParams(scale: x.scale, zeroPoint: x.zero)))
        var weights = TensorData(
            dtype: .i8, shape: [cs.outChannels, cs.channels / cs.group] + cs.kernel, values: w.values.map(Double.init))
        weights.quant = QuantParams(scales: w.scales, zeroPoints: w.scales.map { _ in 0 }, axis: perChannel ? 0 : nil)
        let attributes = Attributes([
            "strides": .ints(cs.strides), "pads": .ints(cs.pads), "dilations": .ints(cs.dilations),
            "group": .int(cs.group),
        ])
        var operands = [input, try g.constant(weights)]
        if let integerBias {
            operands.append(
                try g.constant(TensorData(dtype: .i32, shape: [cs.outChannels], values: integerBias.map(Double.init))))
        }
        let conv = try g.apply(.qconv, operands, attributes: attributes)[0]
        let shape = try #require(g.graph.type(of: conv).shape)
        let biased =
            integerBias != nil
            ? conv : try g.add(conv, try g.constant(TensorData(bias, shape: [cs.outChannels, 1, 1])))
        g.output(try g.relu(biased))
        let want = Self.reference(
            cs, x.values, x.zero, w.values, { x.scale * w.scales[perChannel ? $0 : 0] }, bias,
            out: Array(shape[2...]), integerBias: integerBias)
        return (g.graph, want)
    }

    @Test func matchesExactIntegerSums() throws {
        var rng = Support.RNG(seed: 23)
        var checked = Set<String>()
        for (name, target) in try Int8GemmTests.flavours() {
            for (index, cs) in Self.cases.enumerated() {
                let signed = index % 2 == 1, perChannel = index % 3 != 2
                let (sx, zx): (Float, Int) = signed ? (0.03, -7) : (0.02, 129)
                let sw = (0..<(perChannel ? cs.outChannels : 1)).map { _ in rng.float(0.001, 0.01) }
                let xShape = [cs.batch, cs.channels, cs.height, cs.width]
                let wShape = [cs.outChannels, cs.channels / cs.group] + cs.kernel
                let x = (0..<xShape.reduce(1, *)).map { _ in rng.int(signed ? -128...127 : 0...255) }
                let w = (0..<wShape.reduce(1, *)).map { _ in rng.int(-127...127) }
                // An i32 bias operand instead of the f32 bias: dense (1, 4), grouped im2col (6) and
                // pointwise (7), depthwise with an i8 input and a channel multiplier (9) and u8 (10).
                let integerBias = index % 3 == 1 || index == 6 || index == 9
                let bias = (0..<cs.outChannels).map { _ in integerBias ? 0 : rng.float(-1, 1) }
                let biasI = (0..<cs.outChannels).map { _ in rng.int(-40_000...40_000) }
                let dtype: DType = signed ? .i8 : .u8
                let (graph, want) = try Self.build(
                    cs, dtype: dtype, x: (sx, zx, x), w: (sw, w), bias: bias, integerBias: integerBias ? biasI : nil)
                var options = CompileOptions()
                options.target = target
                let data = TensorData(dtype: dtype, shape: xShape, values: x.map(Double.init))
                var results: [[Float]] = []
                for threads in 1...3 {
                    results.append(try Sinter.jit(graph, options, threads: threads).run([data])[0].floats ?? [])
                }
                let label = "\(name) case \(index) \(dtype.rawValue) \(perChannel ? "per channel" : "per tensor")"
                #expect(Support.mismatch(results[0], want, atol: 1e-5, rtol: 1e-6) == nil, "\(label)")
                #expect(results[1] == results[0] && results[2] == results[0], "\(label): thread counts differ")
                checked.insert(name)
            }
        }
        print("int8 conv: \(Self.cases.count) geometries on \(checked.sorted().joined(separator: ", "))")
    }

    /// The next layer's quantization fused into the conv: the kernel ends with the cast and
    /// stores bytes (one kernel, u8 result), which match the quantized exact sums within one
    /// step (f32 rounding of scale · sum + bias may fall either side of a half) on ≥ 99% exactly.
    /// Dense (the GEMM kernel) and depthwise with a channel multiplier (the row kernel).
    @Test(arguments: [1, 8]) func fusedQuantizationStoresBytes(group: Int) throws {
        var rng = Support.RNG(seed: 5)
        let cs = Case(
            batch: 2, channels: 8, height: 9, width: 11, outChannels: group == 1 ? 20 : 16, kernel: [3, 3],
            pads: [1, 1, 1, 1], group: group)
        let xShape = [cs.batch, cs.channels, cs.height, cs.width]
        let wShape = [cs.outChannels, cs.channels / group] + cs.kernel
        let x = (0..<xShape.reduce(1, *)).map { _ in rng.int(0...255) }
        let w = (0..<wShape.reduce(1, *)).map { _ in rng.int(-127...127) }
        let sw = (0..<cs.outChannels).map { _ in rng.float(0.001, 0.004) }
        let bias = (0..<cs.outChannels).map { _ in rng.float(-1, 1) }
        let (sx, zx, sy, zy): (Float, Int, Float, Int) = (0.02, 128, 0.05, 3)
        for (name, target) in try Int8GemmTests.flavours() {
            var g = GraphBuilder(name: "qc8")
            let input = try g.input("x", TensorType(.u8, xShape, quant: QuantParams(scale: sx, zeroPoint: zx)))
            var weights = TensorData(dtype: .i8, shape: wShape, values: w.map(Double.init))
            weights.quant = QuantParams(scales: sw, zeroPoints: sw.map { _ in 0 }, axis: 0)
            let pads = Attributes(["pads": .ints(cs.pads), "group": .int(group)])
            let conv = try g.apply(.qconv, [input, try g.constant(weights)], attributes: pads)[0]
            let biased = try g.add(conv, try g.constant(TensorData(bias, shape: [cs.outChannels, 1, 1])))
            let to = Attributes(["to": .string("u8<\(sy):\(zy)>")])
            g.output(try g.apply(.quantize, [try g.relu(biased)], attributes: to)[0])
            var options = CompileOptions()
            options.target = target
            let report = try Sinter.lower(g.graph, options).kernelReport(TargetInfo(target))
            let kernels = report.split(separator: "\n").filter { $0.hasPrefix("// k") && !$0.hasPrefix("// kernels") }
            #expect(kernels.count == 1 && kernels[0].contains("qconv_add_relu_div_round_add_clip_cast"), "\(report)")
            let exact = Self.reference(cs, x, zx, w, { sx * sw[$0] }, bias, out: [9, 11])
            let want = exact.map { Int(max(0, min(255, ($0 / sy).rounded(.toNearestOrEven) + Float(zy)))) }
            let data = TensorData(dtype: .u8, shape: xShape, values: x.map(Double.init))
            for threads in [1, 2] {
                let got = try Sinter.jit(g.graph, options, threads: threads).run([data])[0]
                #expect(got.dtype == .u8)
                let values = got.doubles.map { Int($0) }
                let off = zip(values, want).filter { $0 != $1 }
                #expect(off.allSatisfy { abs($0 - $1) <= 1 }, "\(name): a byte off by more than one step")
                #expect(
                    off.count * 100 <= want.count, "\(name), \(threads) threads: \(off.count) of \(want.count) differ")
            }
        }
    }

    /// A channel shuffle on quantized bytes (what `quantize` makes of one between two convs):
    /// reshape, transpose and reshape keep the parameters and move the bytes exactly, so
    /// dequantizing after the shuffle gives the shuffled dequantized values.
    @Test func shuffledBytesKeepTheirValues() throws {
        var rng = Support.RNG(seed: 12)
        let (n, groups, perGroup, h, w) = (2, 3, 4, 5, 6)
        let c = groups * perGroup
        var g = GraphBuilder(name: "shuffle")
        let x = try g.input("x", TensorType(.f32, [n, c, h, w]))
        let q = try g.apply(.quantize, [x], attributes: Attributes(["to": .string("u8<0.02:120>")]))[0]
        let r = try g.apply(.reshape, [q], attributes: Attributes(["shape": .ints([n, groups, perGroup, h, w])]))[0]
        let t = try g.apply(.transpose, [r], attributes: Attributes(["perm": .ints([0, 2, 1, 3, 4])]))[0]
        let s = try g.apply(.reshape, [t], attributes: Attributes(["shape": .ints([n, c, h, w])]))[0]
        #expect(g.graph.type(of: s).quant == QuantParams(scale: 0.02, zeroPoint: 120))
        g.output(try g.apply(.dequantize, [s])[0])
        let values = (0..<(n * c * h * w)).map { _ in rng.float(-2, 2) }
        let got = try Sinter.jit(g.graph).run([TensorData(values, shape: [n, c, h, w])])[0].floats ?? []
        var want = [Float]()
        for b in 0..<n {
            for oc in 0..<c {
                // Output channel oc = j · groups + i reads input channel i · perGroup + j.
                let ic = (oc % groups) * perGroup + oc / groups
                for p in 0..<(h * w) {
                    let v = values[(b * c + ic) * h * w + p]
                    let level = max(0, min(255, (v / 0.02).rounded(.toNearestOrEven) + 120))
                    want.append((level - 120) * 0.02)
                }
            }
        }
        #expect(Support.mismatch(got, want, atol: 1e-6, rtol: 1e-6) == nil)
    }
}
