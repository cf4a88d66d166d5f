import Sinter
import SinterCodegen
import SinterIR
import SinterTestSupport
import Testing

/// NCHW depthwise convolutions on short rows (ShuffleNet's 14- and 7-pixel maps), which x86
/// targets run as whole masked vectors (`maskedDepthwiseRow`) and others with scalar border
/// columns: every geometry against a direct loop in Swift, on AVX-512 (k-masks), AVX2
/// (`vmaskmov`) and SSE (no masks: the row chunks), whichever the host can run.
struct DepthwiseRowsTests {
    struct Geometry: CustomStringConvertible {
        var n, c, mult, h, w, kh, kw: Int
        var strides, dilations, pads: [Int]
        var description: String {
            "\(n)×\(c)×\(h)×\(w) ×\(mult), kernel \(kh)×\(kw), strides \(strides), dilations \(dilations), pads \(pads)"
        }
        var oh: Int { (h + pads[0] + pads[2] - (kh - 1) * dilations[0] - 1) / strides[0] + 1 }
        var ow: Int { (w + pads[1] + pads[3] - (kw - 1) * dilations[1] - 1) / strides[1] + 1 }
    }

    static func geometries() -> [Geometry] {
        var rng = Support.RNG(seed: 71)
        var out = [
            // ShuffleNet's: 3 × 3, pad 1, 14 and 7 pixels, stride 1 and 2, and 28 (two vectors).
            Geometry(
                n: 1, c: 5, mult: 1, h: 14, w: 14, kh: 3, kw: 3, strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1]),
            Geometry(
                n: 1, c: 3, mult: 1, h: 7, w: 7, kh: 3, kw: 3, strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1]),
            Geometry(
                n: 2, c: 3, mult: 1, h: 14, w: 14, kh: 3, kw: 3, strides: [2, 2], dilations: [1, 1], pads: [1, 1, 1, 1]),
            Geometry(
                n: 1, c: 4, mult: 1, h: 28, w: 28, kh: 3, kw: 3, strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1]),
        ]
        while out.count < 40 {
            let (kh, kw) = (rng.int(1...5), rng.int(1...5))
            let g = Geometry(
                n: rng.int(1...2), c: rng.int(1...6), mult: rng.int(1...2), h: rng.int(1...9), w: rng.int(1...70),
                kh: kh, kw: kw, strides: [rng.int(1...3), rng.int(1...3)], dilations: [rng.int(1...2), rng.int(1...2)],
                pads: [rng.int(0...(kh - 1)), rng.int(0...(kw - 1)), rng.int(0...(kh - 1)), rng.int(0...(kw - 1))])
            let fits =
                g.h + g.pads[0] + g.pads[2] >= (kh - 1) * g.dilations[0] + 1
                && g.w + g.pads[1] + g.pads[3] >= (kw - 1) * g.dilations[1] + 1
            if fits { out.append(g) }
        }
        return out
    }

    /// Direct depthwise convolution with a per-channel bias and relu.
    static func reference(_ g: Geometry, _ x: [Float], _ w: [Float], _ bias: [Float]) -> [Float] {
        let m = g.c * g.mult
        var y = [Float](repeating: 0, count: g.n * m * g.oh * g.ow)
        for n in 0..<g.n {
            for o in 0..<m {
                for oy in 0..<g.oh {
                    for ox in 0..<g.ow {
                        var s = bias[o]
                        for ky in 0..<g.kh {
                            for kx in 0..<g.kw {
                                let iy = oy * g.strides[0] - g.pads[0] + ky * g.dilations[0]
                                let ix = ox * g.strides[1] - g.pads[1] + kx * g.dilations[1]
                                guard iy >= 0, iy < g.h, ix >= 0, ix < g.w else { continue }
                                s += x[((n * g.c + o / g.mult) * g.h + iy) * g.w + ix] * w[(o * g.kh + ky) * g.kw + kx]
                            }
                        }
                        y[((n * m + o) * g.oh + oy) * g.ow + ox] = max(s, 0)
                    }
                }
            }
        }
        return y
    }

    /// The x86 CPUs this host can run, widest first: AVX-512, AVX2, SSE4.2.
    static func targets() throws -> [(String, Target)] {
        guard Target.host.isX86 else { return [("host", .host)] }
        var out: [(String, Target)] = []
        if Target.host.vectorWidth >= 16 {
            out.append(("avx512", try Target.named("x86_64-linux-gnu", cpu: "skylake-avx512")))
        }
        if Target.host.vectorWidth >= 8 { out.append(("avx2", try Target.named("x86_64-linux-gnu", cpu: "haswell"))) }
        out.append(("sse", try Target.named("x86_64-linux-gnu", cpu: "x86-64-v2")))
        return out
    }

    static func graph(_ g: Geometry, _ w: [Float], _ bias: [Float]) throws -> Graph {
        var b = GraphBuilder(name: "dw")
        let x = try b.input("x", TensorType(.f32, [g.n, g.c, g.h, g.w]))
        let attrs: [String: AttributeValue] = [
            "pads": .ints(g.pads), "group": .int(g.c), "strides": .ints(g.strides), "dilations": .ints(g.dilations),
        ]
        let m = g.c * g.mult
        let wv = try b.constant(TensorData(w, shape: [m, 1, g.kh, g.kw]))
        let conv = try b.apply(.conv, [x, wv], attributes: Attributes(attrs))[0]
        b.output(try b.relu(try b.add(conv, try b.constant(TensorData(bias, shape: [m, 1, 1])))))
        return b.graph
    }

    @Test func shortRowsMatchADirectLoop() throws {
        var rng = Support.RNG(seed: 72)
        for (name, target) in try Self.targets() {
            var options = CompileOptions()
            options.target = target
            for g in Self.geometries() {
                let m = g.c * g.mult
                let w = (0..<(m * g.kh * g.kw)).map { _ in rng.float(-1, 1) }
                let bias = (0..<m).map { _ in rng.float(-0.5, 0.5) }
                let x = (0..<(g.n * g.c * g.h * g.w)).map { _ in rng.float(-2, 2) }
                let model = try Sinter.jit(try Self.graph(g, w, bias), options)
                #expect(model.program.kernels.contains { "\($0.body)".contains("depthwise") }, "\(name) \(g)")
                let got = try model.run([TensorData(x, shape: [g.n, g.c, g.h, g.w])])[0]
                let want = Self.reference(g, x, w, bias)
                #expect(
                    Support.mismatch(got.doubles, want.map(Double.init), atol: 1e-5, rtol: 1e-5) == nil, "\(name) \(g)")
            }
        }
    }

    /// The masked loads are there for x86 targets with AVX2 or AVX-512 (checked on the
    /// assembly, whatever the host): k-masked loads on AVX-512, `vmaskmovps` on AVX2; none on
    /// SSE or AArch64, where the row chunks run.
    @Test(arguments: [("skylake-avx512", "{%k"), ("haswell", "vmaskmovps"), ("x86-64-v2", "")])
    func maskedLoadsPerTarget(_ cpu: String, _ marker: String) throws {
        let g = Geometry(
            n: 1, c: 8, mult: 1, h: 14, w: 14, kh: 3, kw: 3, strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1])
        let graph = try Self.graph(g, Array(repeating: 0.5, count: 72), Array(repeating: 0, count: 8))
        var options = CompileOptions()
        options.target = try Target.named("x86_64-linux-gnu", cpu: cpu)
        let program = try Sinter.lower(graph, options)
        #expect(program.kernels.contains { "\($0.body)".contains("short rows masked") } == !marker.isEmpty)
        let asm = try Codegen.assembly(program, prefix: "t", options: CodegenOptions(target: options.target))
        if marker.isEmpty {
            #expect(!asm.contains("vmaskmov") && !asm.contains("{%k"))
        } else {
            #expect(asm.contains(marker), "no \(marker) in the \(cpu) depthwise kernel")
        }
        options.target = try Target.named("aarch64-linux-gnu")
        let arm = try Sinter.lower(graph, options)
        #expect(!arm.kernels.contains { "\($0.body)".contains("short rows masked") })
    }

    /// int8 depthwise rows load bytes masked only where that is one instruction: AVX-512
    /// (AVX2 has no byte-masked load, NEON none at all). Their sums are checked exactly in
    /// Int8ConvTests, whose depthwise cases have short rows.
    @Test func maskedByteLoadsOnlyOnAVX512() throws {
        func schedules(_ cpu: String?, _ triple: String = "x86_64-linux-gnu") throws -> Schedules {
            TargetInfo(try Target.named(triple, cpu: cpu)).schedules
        }
        #expect(try schedules("skylake-avx512").maskedByteLoads)
        #expect(try !schedules("haswell").maskedByteLoads && schedules("haswell").maskedLoads)
        #expect(try !schedules(nil, "aarch64-linux-gnu").maskedByteLoads)
    }
}
