import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Fusion on the model families: a Transformer block (matmul+bias+gelu, residual adds in
/// epilogues, layer norm and softmax as single kernels), a CNN (conv+bias+relu), and the
/// arena of a ResNet-style network.
struct FusionTests {
    static let transformer = Support.root.appendingPathComponent("Examples/transformer/transformer.onnx").path

    func report(_ path: String) throws -> String {
        let r = try Support.run(
            Support.sinterExecutable, ["dump", path, "--fusion-report", "--memory-report", "--format", "dot"])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    @Test func transformerBlockFusesAndMatchesOnnxruntime() throws {
        let text = try report(Self.transformer)
        for kernel in [
            "anchor matmul [matmul %f1, add %f1b, gelu %g]", "anchor matmul [matmul %f2, add %f2b, add %y]",
            "matmul %omm, add %attn, add %x1] prologue [reshape %ctx_r]", "[layer-norm %h]",
            // Prologue fusion: the head split (reshape + transpose) is read in place by the matmuls.
            "anchor matmul [reshape %qr, transpose %qt, reshape %kr, transpose %kt, matmul %scores, div %scaled]",
            "anchor matmul [reshape %vr, transpose %vt, matmul %ctx] prologue [reshape %vr, transpose %vt]",
            "[layer-norm %h2]", "[softmax %probs]",
        ] {
            #expect(text.contains(kernel), "missing fused kernel \(kernel)")
        }
        #expect(text.contains("subgraph cluster_"), "dot output has no fused clusters")
        // Numbers against onnxruntime.
        let dir = try Support.temporaryDirectory("tf")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = Support.RNG(seed: 4)
        let ids = TensorData(dtype: .i64, shape: [1, 16], values: (0..<16).map { _ in Double(rng.int(0...99)) })
        try Support.writeNpy(ids, to: dir.appendingPathComponent("input_0.npy"))
        let r = try Support.run(
            Support.python,
            [
                Support.root.appendingPathComponent("Tests/SinterTestSupport/ort_reference.py").path,
                Self.transformer, dir.path, dir.path,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let want = try Support.readNpy(dir.appendingPathComponent("output_0.npy"))
        let model = try Sinter.jit(try Sinter.load(Self.transformer))
        let got = try model.run([ids])[0]
        #expect(Conformance.compare(got, want) == nil, "\(Conformance.compare(got, want) ?? "")")
        // One kernel per fused group (reshapes of intermediates are views and need none), and
        // one LLVM function per distinct kernel body (the block's two layer norms share one).
        let ll = dir.appendingPathComponent("t.ll").path
        #expect(
            try Support.run(Support.sinterExecutable, ["compile", Self.transformer, "--emit", "llvm", "-o", ll]).status
                == 0)
        let kernels = try String(contentsOfFile: ll, encoding: .utf8).split(separator: "\n").filter {
            $0.hasPrefix("define internal") && $0.contains(" @k")
        }
        let count = text.split(separator: "\n").filter { $0.hasPrefix("// kernel ") && !$0.contains(": [reshape %") }
            .count
        #expect(model.program.kernels.count == count, "\(model.program.kernels.count) kernels, \(count) fused groups")
        let distinct = Set(model.program.kernels.map(\.body)).count
        #expect(distinct < count && kernels.count == distinct, "\(kernels.count) functions, \(distinct) distinct")
    }

    @Test func cnnConvBiasReluIsOneKernel() throws {
        let dir = try Support.temporaryDirectory("cnn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("cnn.onnx").path
        #expect(
            try Support.run(
                Support.python,
                [Support.root.appendingPathComponent("Tests/sinterTests/Harness/python_check.py").path, "make", model]
            ).status == 0)
        let text = try report(model)
        #expect(text.contains("anchor conv [conv %c.conv, add %c, relu %r]"), "\(text)")
        #expect(text.contains("matmul %g.ab, add %g] prologue [reshape %f]"), "\(text)")
    }

    /// A ResNet-style stack of residual blocks: liveness keeps the arena far below the sum
    /// of the intermediates.
    @Test func resnetStyleArenaIsBelowSixtyPercent() throws {
        var b = GraphBuilder(name: "resnet_style")
        var rng = Support.RNG(seed: 8)
        func w(_ shape: [Int]) throws -> ValueID {
            try b.constant(TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-0.2, 0.2) }, shape: shape))
        }
        var x = try b.input("x", TensorType(.f32, [1, 16, 16, 16]))
        let pads = Attributes(["pads": .ints([1, 1, 1, 1])])
        for _ in 0..<6 {
            let h = try b.relu(
                try b.add(try b.apply(.conv, [x, try w([16, 16, 3, 3])], attributes: pads)[0], try w([16, 1, 1])))
            let h2 = try b.add(
                try b.apply(.conv, [h, try w([16, 16, 3, 3])], attributes: pads)[0], try w([16, 1, 1]))
            x = try b.relu(try b.add(h2, x))
        }
        b.output(try b.apply(.reduceMean, [x], attributes: Attributes(["axes": .ints([2, 3])]))[0])
        let dir = try Support.temporaryDirectory("res")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.sir").path
        try SirFile.save(b.graph, to: path)
        let text = try report(path)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("// memory:") })
        let percent = try #require(
            Double(line.split(separator: "=").last!.trimmingCharacters(in: .whitespaces).dropLast()))
        #expect(percent < 60, "\(line)")
        // 16 channels: the layout pass runs the chain blocked (AVX-512 blocks of 16 when the host has it).
        #expect(
            text.contains("anchor conv-nchwc [conv-nchwc %") || text.contains("anchor conv [conv %"),
            "convs carry their epilogues")
    }

    /// A depthwise conv whose 20 channels fill no block runs direct on NCHW (row vectors) with
    /// its bias, relu and residual add fused, and a strided one feeds a max pool: fused and
    /// blocked-or-not, it computes what the unfused graph computes.
    @Test func nchwDepthwiseCarriesItsEpilogue() throws {
        var b = GraphBuilder(name: "dw")
        var rng = Support.RNG(seed: 44)
        func w(_ shape: [Int]) throws -> ValueID {
            try b.constant(TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-0.5, 0.5) }, shape: shape))
        }
        let x = try b.input("x", TensorType(.f32, [2, 20, 13, 35]))
        func depthwise(_ v: ValueID, stride: Int) throws -> ValueID {
            let attrs: [String: AttributeValue] = [
                "pads": .ints([1, 1, 1, 1]), "group": .int(20), "strides": .ints([stride, stride]),
            ]
            return try b.apply(.conv, [v, try w([20, 1, 3, 3])], attributes: Attributes(attrs))[0]
        }
        let r = try b.add(try b.relu(try b.add(try depthwise(x, stride: 1), try w([20, 1, 1]))), x)
        let s = try depthwise(r, stride: 2)
        let attrs: [String: AttributeValue] = [
            "kernel": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
        ]
        b.output(try b.apply(.maxPool, [s], attributes: Attributes(attrs))[0])
        let fused = try Sinter.jit(b.graph, CompileOptions())
        var options = CompileOptions()
        options.passes = Pipeline.default.filter { !["fuse", "layout"].contains($0.name) }
        let plain = try Sinter.jit(b.graph, options)
        let rows = fused.program.kernels.filter { "\($0.body)".contains("row vectors") }
        #expect(rows.count == 3, "\(fused.program.kernels.map { "\($0.body)" })")
        #expect(fused.program.kernels.count == 3, "one kernel per window op, epilogues fused")
        let input = TensorData((0..<(2 * 20 * 13 * 35)).map { _ in rng.float(-2, 2) }, shape: [2, 20, 13, 35])
        for (got, want) in zip(try fused.run([input]), try plain.run([input])) {
            #expect(Support.mismatch(got.doubles, want.doubles, atol: 1e-5, rtol: 1e-5) == nil)
        }
    }
}

/// Kernels written in `.sir` are what codegen runs: a hand-fused graph, compiled without the
/// `fuse` pass, gives the unfused graph's numbers with fewer kernels.
struct FusedIRTests {
    static let fused = """
        graph @f(%x: f32[3,16], %w: f32[16,8], %bias: f32[8]) -> (%y: f32[3,8]) {
          %t = tanh %x : f32[3,16]
          %m = matmul %t, %w : f32[3,8]
          %b = add %m, %bias : f32[3,8]
          %y = relu %b : f32[3,8]
          kernel [%m, %b, %y] anchor %m
        }
        """

    @Test func handFusedKernelsRunAndRoundTrip() throws {
        let fused = try Parser.parse(Self.fused)
        #expect(try Parser.parse(Printer.print(fused)) == fused)
        var plain = fused
        plain.kernels = []
        var options = CompileOptions()
        options.passes = ["infer-shapes", "plan-memory"]
        let a = try Sinter.jit(fused, options), b = try Sinter.jit(plain, options)
        #expect(a.program.kernels.count == 2 && b.program.kernels.count == 4)
        var rng = Support.RNG(seed: 9)
        let inputs = a.program.inputs.map { s in
            TensorData((0..<s.shape.reduce(1, *)).map { _ in rng.float(-1, 1) }, shape: s.shape)
        }
        for (x, y) in zip(try a.run(inputs), try b.run(inputs)) {
            #expect(Support.mismatch(x.doubles, y.doubles, atol: 1e-6, rtol: 1e-5) == nil)
        }
    }
}
