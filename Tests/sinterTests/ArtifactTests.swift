import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Artifacts as an app team ships them: ARM64 under qemu, static and shared libraries,
/// reentrancy, two models in one process, side-file weights, Python, C++ and Swift apps.
struct ArtifactTests {
    static let harness = Support.root.appendingPathComponent("Tests/sinterTests/Harness")
    static let sinter = Support.sinterExecutable

    /// Models for the cross-target checks, written as .sir files.
    static func models(in dir: URL) throws -> [(name: String, path: String)] {
        var rng = Support.RNG(seed: 11)
        func weights(_ shape: [Int], _ scale: Float) -> TensorData {
            TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-scale, scale) }, shape: shape)
        }
        var cnn = GraphBuilder(name: "cnn")
        let x = try cnn.input("x", TensorType(.f32, [1, 3, 12, 12]))
        var h = try cnn.apply(
            .conv, [x, try cnn.constant(weights([8, 3, 3, 3], 0.3))],
            attributes: Attributes(["pads": .ints([1, 1, 1, 1])]))[0]
        h = try cnn.add(h, try cnn.constant(weights([8, 1, 1], 0.1)))
        h = try cnn.relu(h)
        h = try cnn.apply(
            .maxPool, [h], attributes: Attributes(["kernel": .ints([2, 2]), "strides": .ints([2, 2])]))[0]
        h = try cnn.apply(
            .conv, [h, try cnn.constant(weights([8, 1, 3, 3], 0.3))],
            attributes: Attributes(["group": .int(8), "pads": .ints([1, 1, 1, 1])]))[0]
        h = try cnn.apply(.reshape, [h], attributes: Attributes(["shape": .ints([1, 288])]))[0]
        h = try cnn.matmul(h, try cnn.constant(weights([288, 10], 0.1)))
        cnn.output(try cnn.softmax(h))

        var misc = GraphBuilder(name: "misc")
        let y = try misc.input("y", TensorType(.f32, [4, 37]))
        var acc = try misc.unary(.tanh, y)
        for op in [Op.exp, .sigmoid, .erf, .gelu, .softplus] { acc = try misc.add(acc, try misc.unary(op, y)) }
        acc = try misc.add(
            acc,
            try misc.unary(.log, try misc.add(try misc.unary(.abs, y), try misc.constant(TensorData([1], shape: [1])))))
        let s = try misc.apply(
            .reduceSum, [acc], attributes: Attributes(["axes": .ints([1]), "keepdims": .bool(true)]))[0]
        misc.output(try misc.softmax(try misc.binary(.sub, acc, s)))

        // The packed GEMM off every tile grid: a constant B (packed at compile time) with a fused
        // bias and ReLU, a run-time B read in place, and a transposed run-time B packed at run time.
        var gemm = GraphBuilder(name: "gemm")
        let a = try gemm.input("a", TensorType(.f32, [37, 70]))
        let rb = try gemm.input("rb", TensorType(.f32, [53, 29]))
        let tb = try gemm.input("tb", TensorType(.f32, [41, 29]))
        var g1 = try gemm.matmul(a, try gemm.constant(weights([70, 53], 0.2)))
        g1 = try gemm.relu(try gemm.add(g1, try gemm.constant(weights([53], 0.1))))
        let g2 = try gemm.matmul(g1, rb)
        gemm.output(
            try gemm.apply(.matmul, [g2, tb], attributes: Attributes(["trans_b": .bool(true)]))[0])

        var out: [(String, String)] = [("mlp", Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path)]
        let res = dir.appendingPathComponent("res.sir").path
        try residualNet().write(toFile: res, atomically: true, encoding: .utf8)
        out.append(("res", res))
        for g in [cnn.graph, misc.graph, gemm.graph] {
            let p = dir.appendingPathComponent("\(g.name).sir").path
            try SirFile.save(g, to: p)
            out.append((g.name, p))
        }
        return out
    }

    /// Two residual conv blocks and a max-pool, big enough for the thread pool (one f32[1,32,32,32] input).
    static func residualNet() throws -> String {
        var b = GraphBuilder(name: "res")
        var rng = Support.RNG(seed: 21)
        func w(_ shape: [Int]) throws -> ValueID {
            try b.constant(TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-0.2, 0.2) }, shape: shape))
        }
        var x = try b.input("x", TensorType(.f32, [1, 32, 32, 32]))
        for _ in 0..<2 {
            let h = try b.relu(
                try b.apply(
                    .conv, [x, try w([32, 32, 3, 3])], attributes: Attributes(["pads": .ints([1, 1, 1, 1])]))[0])
            x = try b.add(try b.apply(.conv, [h, try w([32, 32, 1, 1])])[0], x)
        }
        // Big enough that the (blocked) max-pool splits across the pool too.
        x = try b.apply(
            .maxPool, [x], attributes: Attributes(["kernel": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])]))[0]
        let flat = try b.apply(.reshape, [x], attributes: Attributes(["shape": .ints([512, 64])]))[0]
        b.output(try b.matmul(flat, try w([64, 64])))
        return Printer.print(b.graph)
    }

    static func randomInputs(_ model: JITModel, _ seed: UInt64) -> [TensorData] {
        var rng = Support.RNG(seed: seed)
        return model.program.inputs.map { s in
            TensorData((0..<s.shape.reduce(1, *)).map { _ in rng.float(-2, 2) }, shape: s.shape)
        }
    }

    /// Builds Harness/SOURCE against libPREFIX.so and PREFIX.h in `dir` (with -lpthread).
    func buildHarness(_ source: String, prefix: String, in dir: URL, output: String) throws -> Support.ProcessResult {
        try Support.run(
            "cc",
            [
                "-std=c11", "-O1", "-DPREFIX=\(prefix)", "-DHEADER=\"\(prefix).h\"", "-I", dir.path,
                Self.harness.appendingPathComponent(source).path, "-L", dir.path, "-l\(prefix)",
                "-Wl,-rpath,\(dir.path)", "-lpthread", "-o", output,
            ])
    }

    /// harness.c cross-compiled for AArch64 against `lib<prefix>.so` in `dir` (run it under qemu).
    static func armHarness(prefix: String, in dir: URL, output: String) throws -> Support.ProcessResult {
        try Support.run(
            "clang",
            [
                "--target=aarch64-linux-gnu", "-fuse-ld=lld", "-std=c11", "-O1", "-DPREFIX=\(prefix)",
                "-DHEADER=\"\(prefix).h\"", "-I", dir.path, harness.appendingPathComponent("harness.c").path, "-L",
                dir.path, "-l\(prefix)", "-Wl,-rpath,\(dir.path)", "-o", output,
            ])
    }

    func compile(_ model: String, _ args: [String]) throws {
        let r = try Support.run(Self.sinter, ["compile", model] + args)
        #expect(r.status == 0, "sinter compile \(args): \(r.stderr)")
    }

    @Test func aarch64ArtifactsRunUnderQemuAndMatchTheJIT() throws {
        let dir = try Support.temporaryDirectory("arm")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, path) in try Self.models(in: dir) {
            let out = dir.appendingPathComponent(name)
            try compile(path, ["--target", "aarch64-linux-gnu", "--emit", "shared,header,asm", "-o", out.path])
            // NEON: 4-lane fused multiply-adds in the generated code.
            let asm = try String(contentsOf: out.appendingPathComponent("\(name).s"), encoding: .utf8)
            #expect(asm.contains("fmla\tv") && asm.contains(".4s"), "\(name): no NEON vector code")
            let exe = out.appendingPathComponent("harness").path
            let cc = try ArtifactTests.armHarness(prefix: name, in: out, output: exe)
            #expect(cc.status == 0, "\(cc.stderr)")
            let jit = try Sinter.jit(try Sinter.load(path))
            let inputs = Self.randomInputs(jit, 3)
            for (i, t) in inputs.enumerated() {
                try Data(t.bytes).write(to: out.appendingPathComponent("input_\(i).bin"))
            }
            let run = try Support.run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", exe, out.path])
            #expect(run.status == 0, "qemu: \(run.stderr)")
            for (i, want) in try jit.run(inputs).enumerated() {
                let bytes = [UInt8](try Data(contentsOf: out.appendingPathComponent("output_\(i).bin")))
                let got = TensorData(dtype: want.dtype, shape: want.shape, bytes: bytes)
                // NEON blocks 4 channels and AVX-512 16, so convolutions sum in different orders.
                #expect(
                    Support.mismatch(got.doubles, want.doubles, atol: 1e-5, rtol: 1e-5) == nil,
                    "\(name) aarch64 vs x86-64 JIT")
            }
        }
    }

    @Test func staticLibraryAndSideFileWeights() throws {
        let dir = try Support.temporaryDirectory("static")
        defer { try? FileManager.default.removeItem(at: dir) }
        let mlp = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path
        let input = Support.root.appendingPathComponent("Examples/mlp/input.npy").path
        let main = Support.root.appendingPathComponent("Examples/mlp/main.c").path
        // Static library: the C app links it in and gives the same numbers as the shared one.
        try compile(mlp, ["--emit", "static,shared,header", "-o", dir.path])
        let staticApp = dir.appendingPathComponent("static_app").path
        #expect(
            try Support.run(
                "cc", ["-std=c11", "-I", dir.path, main, dir.appendingPathComponent("libmlp.a").path, "-o", staticApp]
            ).status == 0)
        let sharedApp = dir.appendingPathComponent("shared_app").path
        #expect(
            try Support.run(
                "cc",
                ["-std=c11", "-I", dir.path, main, "-L", dir.path, "-lmlp", "-Wl,-rpath,\(dir.path)", "-o", sharedApp]
            ).status == 0)
        let a = try Support.run(staticApp, [input]), b = try Support.run(sharedApp, [input])
        #expect(a.status == 0 && a.stdout == b.stdout && !a.stdout.isEmpty)

        // Weights in a side file: the library is small, load_weights is required and checked.
        let side = dir.appendingPathComponent("side")
        try compile(mlp, ["--emit", "shared,header", "--weights-file", "--name", "mlpw", "-o", side.path])
        let soSize =
            try FileManager.default.attributesOfItem(atPath: side.appendingPathComponent("libmlpw.so").path)[.size]
            as? Int ?? 0
        let fullSize =
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("libmlp.so").path)[.size]
            as? Int ?? 0
        #expect(soSize < fullSize - 40_000, "side-file library \(soSize) B vs embedded \(fullSize) B")
        let jit = try Sinter.jit(try Sinter.load(mlp))
        let inputs = Self.randomInputs(jit, 9)
        try Data(inputs[0].bytes).write(to: side.appendingPathComponent("input_0.bin"))
        func harness(_ weights: String?) throws -> Support.ProcessResult {
            let exe = side.appendingPathComponent("h").path
            var args = [
                "-std=c11", "-DPREFIX=mlpw", "-DHEADER=\"mlpw.h\"", "-I", side.path,
                Self.harness.appendingPathComponent("harness.c").path,
                "-L", side.path, "-lmlpw", "-Wl,-rpath,\(side.path)", "-o", exe,
            ]
            if let weights { args.insert("-DWEIGHTS=\"\(weights)\"", at: 0) }
            let cc = try Support.run("cc", args)
            #expect(cc.status == 0, "\(cc.stderr)")
            return try Support.run(exe, [side.path])
        }
        let ok = try harness(side.appendingPathComponent("mlpw.weights").path)
        #expect(ok.status == 0, "\(ok.stderr)")
        let got = TensorData(
            dtype: .f32, shape: [4, 10],
            bytes: [UInt8](try Data(contentsOf: side.appendingPathComponent("output_0.bin"))))
        #expect(Support.mismatch(got.doubles, try jit.run(inputs)[0].doubles, atol: 1e-7, rtol: 1e-6) == nil)
        #expect(try harness(nil).stderr == "run: the weights are not loaded (call load_weights first)\n")
        #expect(try harness(main).stderr == "load_weights: the weights file does not belong to this model\n")
        #expect(try harness("/nonexistent.weights").stderr == "load_weights: cannot read the weights file\n")
        // A payload with one bit flipped (the header intact) is refused too.
        var bytes = [UInt8](try Data(contentsOf: side.appendingPathComponent("mlpw.weights")))
        bytes[64 + bytes.count / 2] ^= 0x10
        let flipped = side.appendingPathComponent("flipped.weights")
        try Data(bytes).write(to: flipped)
        #expect(try harness(flipped.path).stderr == "load_weights: the weights file does not belong to this model\n")
    }

    /// A header references its own compile's link symbol, so linking it against (or loading)
    /// the library of a compile with another interface fails loudly instead of misbehaving.
    @Test func headerLinksOnlyAgainstItsOwnCompile() throws {
        let dir = try Support.temporaryDirectory("linkcheck")
        defer { try? FileManager.default.removeItem(at: dir) }
        let mlp = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path
        let main = Support.root.appendingPathComponent("Examples/mlp/main.c").path
        let input = Support.root.appendingPathComponent("Examples/mlp/input.npy").path
        let own = dir.appendingPathComponent("own"), other = dir.appendingPathComponent("other")
        try compile(mlp, ["--emit", "shared,static,header", "-o", own.path])
        // The same model and name, but weights in a side file: another interface.
        try compile(mlp, ["--emit", "shared,static,header", "--weights-file", "-o", other.path])
        let symbol = try #require(
            try String(contentsOf: own.appendingPathComponent("mlp.h"), encoding: .utf8)
                .firstMatch(of: /extern const int32_t (mlp_sinter_abi3_[0-9a-f]{16});/)?.1)
        let app = dir.appendingPathComponent("app").path
        func link(_ lib: URL, _ extra: [String] = []) throws -> Support.ProcessResult {
            try Support.run(
                "cc",
                ["-std=c11", "-Wall", "-Werror", "-I", own.path, main] + extra + [
                    "-L", lib.path, "-lmlp", "-Wl,-rpath,\(lib.path)", "-o", app,
                ])
        }
        let good = try link(own)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try Support.run(app, [input]).status == 0)
        // Linking the header against the other compile's shared or static library fails.
        let bad = try link(other)
        #expect(bad.status != 0 && bad.stderr.contains("undefined reference to `\(symbol)'"), "\(bad.stderr)")
        let badStatic = try Support.run(
            "cc", ["-std=c11", "-I", own.path, main, other.appendingPathComponent("libmlp.a").path, "-o", app])
        #expect(badStatic.status != 0 && badStatic.stderr.contains(String(symbol)), "\(badStatic.stderr)")
        // An app built against its own library refuses to start when the library is swapped.
        #expect(try link(own).status == 0)
        try FileManager.default.removeItem(at: own.appendingPathComponent("libmlp.so"))
        try FileManager.default.copyItem(
            at: other.appendingPathComponent("libmlp.so"), to: own.appendingPathComponent("libmlp.so"))
        let swapped = try Support.run(app, [input])
        #expect(swapped.status != 0 && swapped.stderr.contains("undefined symbol: \(symbol)"), "\(swapped.stderr)")
        // C++ sees the same check.
        let cxx = try Support.run(
            "c++", ["-x", "c++", "-fsyntax-only", "-Wall", "-Werror", "-I", own.path, "-include", "mlp.h", "/dev/null"])
        #expect(cxx.status == 0, "\(cxx.stderr)")
    }

    @Test func reentrantAcrossThreadsAndTwoModelsInOneProcess() throws {
        let dir = try Support.temporaryDirectory("threads")
        defer { try? FileManager.default.removeItem(at: dir) }
        let mlp = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path
        try compile(mlp, ["--emit", "shared,header", "-o", dir.path])
        let exe = dir.appendingPathComponent("threads").path
        let cc = try buildHarness("threads.c", prefix: "mlp", in: dir, output: exe)
        #expect(cc.status == 0, "\(cc.stderr)")
        let r = try Support.run("timeout", ["120", exe])
        #expect(r.status == 0 && r.stdout == "ok\n", "\(r.stdout)\(r.stderr)")

        // A model with split kernels: the context's thread pool gives the single-threaded
        // results, also with two callers sharing the context.
        let res = dir.appendingPathComponent("res.sir").path
        try Self.residualNet().write(toFile: res, atomically: true, encoding: .utf8)
        try compile(res, ["--emit", "shared,header,llvm", "--name", "res", "-o", dir.path])
        let ll = try String(contentsOf: dir.appendingPathComponent("res.ll"), encoding: .utf8)
        #expect(ll.contains("@pthread_create") && ll.contains("_pool_worker"), "no thread pool in the split model")
        let pooled = dir.appendingPathComponent("pooled").path
        let cc3 = try buildHarness("threads.c", prefix: "res", in: dir, output: pooled)
        #expect(cc3.status == 0, "\(cc3.stderr)")
        // Parts are chosen at run time, one per thread, with no fixed cap: 12 threads split
        // the big kernels 12 ways and still give the single-threaded bits.
        let report = try Support.run(Support.sinterExecutable, ["dump", res, "--kernel-report"])
        let parts = report.stdout.split(separator: "\n").compactMap { line in
            line.components(separatedBy: "up to ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
        }
        #expect((parts.max() ?? 0) > 8, "no kernel may split more than 8 ways:\n\(report.stdout)")
        for threads in ["2", "3", "12"] {
            let p = try Support.run("timeout", ["120", pooled, threads])
            #expect(p.status == 0 && p.stdout == "ok\n", "\(threads) threads: \(p.stdout)\(p.stderr)")
        }

        // Two models, two prefixes, one process.
        let second = dir.appendingPathComponent("second.sir").path
        try """
        graph @other(%x: f32[2,3]) -> (%y: f32[2,3]) {
          %y = tanh %x : f32[2,3]
        }

        """.write(toFile: second, atomically: true, encoding: .utf8)
        try compile(mlp, ["--emit", "shared,header", "--name", "first", "-o", dir.path])
        try compile(second, ["--emit", "shared,header", "--name", "second", "-o", dir.path])
        let two = dir.appendingPathComponent("two").path
        let cc2 = try Support.run(
            "cc",
            [
                "-std=c99", "-Wall", "-Werror", "-pedantic", "-I", dir.path,
                Self.harness.appendingPathComponent("two_models.c").path, "-L", dir.path, "-lfirst", "-lsecond",
                "-Wl,-rpath,\(dir.path)", "-o", two,
            ])
        #expect(cc2.status == 0, "\(cc2.stderr)")
        let out = try Support.run(two, [])
        #expect(out.status == 0)
        let values = out.stdout.split(separator: " ").compactMap {
            Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(values.count == 2 && abs(values[1] - Foundation.tanh(-2.5)) < 1e-6 && values[0] > 0 && values[0] < 1)
        for lib in ["libfirst.so", "libsecond.so"] {
            let nm = try Support.run("nm", ["-D", "--defined-only", dir.appendingPathComponent(lib).path])
            let prefix = lib.dropFirst(3).dropLast(3) + "_"
            let symbols = nm.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last }
            #expect(!symbols.isEmpty && symbols.allSatisfy { $0.hasPrefix(prefix) }, "\(lib): \(symbols)")
        }
    }

    /// The same model and options give byte-identical artifacts, whatever folder they go to:
    /// every emit kind, embedded weights and a side weights file, x86-64 and AArch64.
    /// A shared object compiled as two halves on two threads (`ParallelCodegen`, forced here on
    /// a small model; `sinter compile` splits from 10,000 instructions): its kernels are hidden
    /// symbols named after the prefix, it exports exactly what the one-object build exports,
    /// and a C app gets bit-identical outputs from both, equal to the JIT's; a second compile
    /// gives the same bytes; split for ARM64 it runs under qemu.
    @Test func sharedObjectsCompiledInTwoHalves() throws {
        let dir = try Support.temporaryDirectory("halves")
        defer { try? FileManager.default.removeItem(at: dir) }
        let graph = try Parser.parse(try Self.residualNet(), path: "res.sir")
        let jit = try Sinter.jit(graph)
        let inputs = Self.randomInputs(jit, 5)
        var results: [[Data]] = []
        var exports: [String] = []
        for (name, above) in [("split", 0), ("whole", Int.max)] {
            let out = dir.appendingPathComponent(name)
            var options = CompileOptions()
            options.parallelCodegenAbove = above
            try Sinter.compile(graph, to: out.path, emit: [.shared, .header], name: name, options: options)
            let lib = out.appendingPathComponent("lib\(name).so").path
            let symbols = try Support.run("nm", [lib]).stdout
            #expect(symbols.contains(" \(name).k") == (above == 0), "\(name): kernel symbols")
            exports.append(
                try Support.run("nm", ["-D", "--defined-only", lib]).stdout.split(separator: "\n")
                    .map { $0.split(separator: " ").last.map(String.init) ?? "" }
                    .map { $0.replacingOccurrences(of: name, with: "NAME") }
                    // The link symbol's hash covers the prefix.
                    .map { $0.hasPrefix("NAME_sinter_abi") ? "NAME_sinter_abi" : $0 }.sorted().joined(separator: " "))
            let exe = out.appendingPathComponent("harness").path
            let cc = try buildHarness("harness.c", prefix: name, in: out, output: exe)
            #expect(cc.status == 0, "\(cc.stderr)")
            for (i, t) in inputs.enumerated() {
                try Data(t.bytes).write(to: out.appendingPathComponent("input_\(i).bin"))
            }
            let run = try Support.run(exe, [out.path])
            #expect(run.status == 0, "\(name): \(run.stderr)")
            results.append(
                try (0..<jit.program.outputs.count).map { i in
                    try Data(contentsOf: out.appendingPathComponent("output_\(i).bin"))
                })
        }
        #expect(exports[0] == exports[1] && exports[0].contains("NAME_run"), "\(exports)")
        #expect(results.count == 2 && results[0] == results[1])
        // The split is the same on every compile.
        var again = CompileOptions()
        again.parallelCodegenAbove = 0
        let copy = dir.appendingPathComponent("again")
        try Sinter.compile(graph, to: copy.path, emit: [.shared], name: "split", options: again)
        #expect(
            try Data(contentsOf: copy) == Data(contentsOf: dir.appendingPathComponent("split/libsplit.so")),
            "two compiles of the split differ")
        // The same split for ARM64, linked with lld and run under qemu.
        let arm = dir.appendingPathComponent("arm")
        var options = CompileOptions()
        options.target = try Target.named("aarch64-linux-gnu")
        options.parallelCodegenAbove = 0
        try Sinter.compile(graph, to: arm.path, emit: [.shared, .header], name: "arm", options: options)
        #expect(try Support.run("nm", [arm.appendingPathComponent("libarm.so").path]).stdout.contains(" arm.k"))
        let exe = arm.appendingPathComponent("harness").path
        let cc = try ArtifactTests.armHarness(prefix: "arm", in: arm, output: exe)
        #expect(cc.status == 0, "\(cc.stderr)")
        for (i, t) in inputs.enumerated() { try Data(t.bytes).write(to: arm.appendingPathComponent("input_\(i).bin")) }
        let run = try Support.run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", exe, arm.path])
        #expect(run.status == 0, "qemu: \(run.stderr)")
        for (i, want) in try jit.run(inputs).enumerated() {
            let t = TensorData(
                dtype: want.dtype, shape: want.shape,
                bytes: [UInt8](try Data(contentsOf: arm.appendingPathComponent("output_\(i).bin"))))
            let x86 = TensorData(dtype: want.dtype, shape: want.shape, bytes: [UInt8](results[0][i]))
            #expect(Support.mismatch(x86.doubles, want.doubles, atol: 1e-5, rtol: 1e-5) == nil)
            // NEON blocks 4 channels, AVX-512 16: the sums run in different orders.
            #expect(Support.mismatch(t.doubles, want.doubles, atol: 1e-5, rtol: 1e-5) == nil, "aarch64")
        }
    }

    @Test func artifactsAreReproducible() throws {
        let dir = try Support.temporaryDirectory("repro")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = Support.root.appendingPathComponent("Examples/transformer/transformer.onnx").path
        let kinds = "shared,static,obj,llvm,asm,header,python,modulemap"
        for extra in [[], ["--weights-file"], ["--target", "aarch64-linux-gnu", "--emit", "obj,header"]] {
            var outputs: [[String: Data]] = []
            for run in ["first", "second"] {
                let out = dir.appendingPathComponent("\(run)\(outputs.count)-\(extra.count)")
                try compile(model, (extra.contains("--emit") ? [] : ["--emit", kinds]) + extra + ["-o", out.path])
                let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
                var files: [String: Data] = [:]
                for name in names { files[name] = try Data(contentsOf: out.appendingPathComponent(name)) }
                outputs.append(files)
            }
            #expect(outputs[0].count >= (extra.contains("--emit") ? 2 : 8), "\(outputs[0].keys.sorted())")
            #expect(outputs[0].keys.sorted() == outputs[1].keys.sorted())
            for (name, data) in outputs[0] { #expect(outputs[1][name] == data, "\(name) differs, options \(extra)") }
        }
    }

    /// Thread-pool stress (Harness/stress.c): three pooled contexts (2, 3 and 4 threads) each
    /// run by three caller threads for 300 runs, while another thread creates, runs and
    /// destroys 35 short-lived pooled contexts; every result is bit-identical to a 1-thread
    /// context's, on a model whose convolutions and matmuls split across the pool.
    @Test func threadPoolStress() throws {
        let dir = try Support.temporaryDirectory("stress")
        defer { try? FileManager.default.removeItem(at: dir) }
        let res = dir.appendingPathComponent("res.sir").path
        try Self.residualNet().write(toFile: res, atomically: true, encoding: .utf8)
        try compile(res, ["--emit", "shared,header", "--name", "res", "-o", dir.path])
        let exe = dir.appendingPathComponent("stress").path
        let cc = try buildHarness("stress.c", prefix: "res", in: dir, output: exe)
        #expect(cc.status == 0, "\(cc.stderr)")
        let r = try Support.run("timeout", ["300", exe, "300"])
        #expect(r.status == 0 && r.stdout == "ok 300\n", "\(r.stdout)\(r.stderr)")
    }
}

/// The int8 GEMM (static, dynamic, b packed at run time) and convs (dense, grouped, depthwise,
/// blocked) cross-compiled for AArch64 — SDOT with `+dotprod`, the portable dot step without —
/// run under qemu and give the host JIT's numbers (integer sums are exact, so only the f32
/// epilogue could differ).
struct AArch64Int8Tests {
    @Test func int8GemmAndConvRunUnderQemuAndMatchTheJIT() throws {
        let dir = try Support.temporaryDirectory("arm-int8")
        defer { try? FileManager.default.removeItem(at: dir) }
        var b = GraphBuilder(name: "qm")
        let x = try b.input("x", TensorType(.f32, [37, 29]))
        let q = try b.apply(.quantize, [x], attributes: Attributes(["to": .string("u8<0.025:128>")]))[0]
        var w = TensorData(dtype: .i8, shape: [29, 53], values: (0..<(29 * 53)).map { Double(($0 * 37) % 255 - 127) })
        w.quant = QuantParams(
            scales: (0..<53).map { 0.001 * Float($0 % 7 + 1) }, zeroPoints: Array(repeating: 0, count: 53), axis: 1)
        let bias = try b.constant(TensorData((0..<53).map { Float($0 % 5) * 0.1 - 0.2 }, shape: [53]))
        b.output(try b.relu(try b.add(try b.apply(.qmatmul, [q, try b.constant(w)])[0], bias)))
        // Dynamic int8: x quantized per row while it is packed (s8 for SDOT).
        b.output(try b.apply(.qmatmul, [x, try b.constant(w)])[0])
        // And the int8 conv: 3×3 with padding (the zero point fills it), k = 54, 10 channels.
        let image = try b.input("image", TensorType(.f32, [1, 6, 9, 10]))
        let qi = try b.apply(.quantize, [image], attributes: Attributes(["to": .string("u8<0.025:100>")]))[0]
        var cw = TensorData(dtype: .i8, shape: [10, 6, 3, 3], values: (0..<540).map { Double(($0 * 53) % 255 - 127) })
        cw.quant = QuantParams(
            scales: (0..<10).map { 0.002 * Float($0 % 3 + 1) }, zeroPoints: Array(repeating: 0, count: 10), axis: 0)
        let pads = Attributes(["pads": .ints([1, 1, 1, 1])])
        b.output(try b.relu(try b.apply(.qconv, [qi, try b.constant(cw)], attributes: pads)[0]))
        // Grouped (3 groups, the GEMM kernel per group) and depthwise (the row kernel, on bytes),
        // each with an i32 bias.
        for (group, m) in [(3, 9), (6, 12)] {
            var gw = TensorData(
                dtype: .i8, shape: [m, 6 / group, 3, 3],
                values: (0..<(m * 54 / group)).map { Double(($0 * 29) % 255 - 127) })
            gw.quant = QuantParams(scale: 0.003, zeroPoint: 0)
            let bias = TensorData(dtype: .i32, shape: [m], values: (0..<m).map { Double($0 * 997 % 4001 - 2000) })
            let attributes = Attributes(["pads": .ints([1, 1, 1, 1]), "group": .int(group)])
            b.output(try b.apply(.qconv, [qi, try b.constant(gw), try b.constant(bias)], attributes: attributes)[0])
        }
        // A dense conv whose channels fill ARM's 4-channel blocks runs blocked (qconv-nchwc:
        // SDOT against each pixel's broadcast quad, padding with the zero point); the host's
        // 16- or 8-channel blocks leave it NCHW, so the two kernels check each other.
        let blockedImage = try b.input("blocked", TensorType(.f32, [1, 8, 7, 9]))
        let qb = try b.apply(.quantize, [blockedImage], attributes: Attributes(["to": .string("u8<0.02:90>")]))[0]
        var bw = TensorData(dtype: .i8, shape: [12, 8, 3, 3], values: (0..<864).map { Double(($0 * 41) % 255 - 127) })
        bw.quant = QuantParams(
            scales: (0..<12).map { 0.001 * Float($0 % 4 + 1) }, zeroPoints: Array(repeating: 0, count: 12), axis: 0)
        let bb = TensorData(dtype: .i32, shape: [12], values: (0..<12).map { Double($0 * 631 % 3001 - 1500) })
        let blockedConv = try b.apply(
            .qconv, [qb, try b.constant(bw), try b.constant(bb)], attributes: Attributes(["pads": .ints([1, 1, 1, 1])]))
        b.output(try b.relu(blockedConv[0]))
        // b computed at run time (attention's Kᵀ): quantized to i8 here, packed as the kernel runs.
        let left = try b.input("left", TensorType(.f32, [2, 5, 9]))
        let right = try b.input("right", TensorType(.f32, [2, 9, 11]))
        let ql = try b.apply(.quantize, [left], attributes: Attributes(["to": .string("u8<0.02:120>")]))[0]
        let qr = try b.apply(.quantize, [right], attributes: Attributes(["to": .string("i8<0.015:0>")]))[0]
        b.output(try b.apply(.qmatmul, [ql, qr])[0])
        var armOptions = CompileOptions()
        armOptions.target = try Target.named("aarch64-linux-gnu", features: "+neon,+dotprod")
        #expect(try Sinter.lower(b.graph, armOptions).kernels.contains { $0.body.unit == "qconv-nchwc" })
        let model = dir.appendingPathComponent("qm.sir")
        try Printer.print(b.graph).write(to: model, atomically: true, encoding: .utf8)
        var rng = Support.RNG(seed: 3)
        let inputs = [
            TensorData((0..<(37 * 29)).map { _ in rng.float(-3, 3) }, shape: [37, 29]),
            TensorData((0..<540).map { _ in rng.float(-2.5, 3.8) }, shape: [1, 6, 9, 10]),
            TensorData((0..<504).map { _ in rng.float(-1.5, 3) }, shape: [1, 8, 7, 9]),
            TensorData((0..<90).map { _ in rng.float(-2.4, 2.6) }, shape: [2, 5, 9]),
            TensorData((0..<198).map { _ in rng.float(-1.9, 1.9) }, shape: [2, 9, 11]),
        ]
        let wants = try Sinter.jit(b.graph).run(inputs)
        for features in ["+neon", "+neon,+dotprod"] {
            let out = dir.appendingPathComponent(features.replacing(",", with: "").replacing("+", with: ""))
            let c = try Support.run(
                Support.sinterExecutable,
                [
                    "compile", model.path, "--target", "aarch64-linux-gnu", "--features", features, "--emit",
                    "shared,header,asm", "-o", out.path,
                ])
            #expect(c.status == 0, "\(c.stderr)")
            let asm = try String(contentsOf: out.appendingPathComponent("qm.s"), encoding: .utf8)
            #expect(asm.contains("sdot\tv") == features.contains("dotprod"), "\(features): sdot use")
            let exe = out.appendingPathComponent("harness").path
            let cc = try ArtifactTests.armHarness(prefix: "qm", in: out, output: exe)
            #expect(cc.status == 0, "\(cc.stderr)")
            for (i, input) in inputs.enumerated() {
                try Data(input.bytes).write(to: out.appendingPathComponent("input_\(i).bin"))
            }
            let run = try Support.run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", exe, out.path])
            #expect(run.status == 0, "qemu: \(run.stderr)")
            for (i, want) in wants.enumerated() {
                let bytes = [UInt8](try Data(contentsOf: out.appendingPathComponent("output_\(i).bin")))
                let got = TensorData(dtype: .f32, shape: want.shape, bytes: bytes)
                #expect(
                    Support.mismatch(got.doubles, want.doubles, atol: 1e-6, rtol: 1e-6) == nil,
                    "\(features): output \(i) on aarch64 vs host JIT")
            }
        }
    }
}

/// `--precision bf16` (matmuls and a conv) cross-compiled for AArch64: BFDOT with `+bf16` runs
/// under qemu and gives the host's numbers (the same bf16 pass run by the host JIT, on whatever
/// dot step the host has) within f32 rounding; without `+bf16` the option is refused, naming
/// the feature.
struct AArch64Bf16Tests {
    @Test func bf16MatmulsRunUnderQemuAndMatchTheHost() throws {
        let dir = try Support.temporaryDirectory("arm-bf16")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = Support.RNG(seed: 8)
        var b = GraphBuilder(name: "bm")
        let x = try b.input("x", TensorType(.f32, [37, 29]))
        let w1 = TensorData((0..<(29 * 53)).map { _ in rng.float(-1, 1) }, shape: [29, 53])
        let bias = TensorData((0..<53).map { _ in rng.float(-0.5, 0.5) }, shape: [53])
        let h = try b.relu(try b.add(try b.matmul(x, try b.constant(w1)), try b.constant(bias)))
        let w2 = TensorData((0..<(53 * 10)).map { _ in rng.float(-1, 1) }, shape: [53, 10])
        b.output(try b.matmul(h, try b.constant(w2)))
        // And a 3×3 padded conv (the packed convolution with bf16 pairs; k = 45 is odd).
        let image = try b.input("image", TensorType(.f32, [1, 5, 9, 10]))
        let cw = TensorData((0..<(7 * 45)).map { _ in rng.float(-1, 1) }, shape: [7, 5, 3, 3])
        let pads = Attributes(["pads": .ints([1, 1, 1, 1])])
        b.output(try b.relu(try b.apply(.conv, [image, try b.constant(cw)], attributes: pads)[0]))
        let model = dir.appendingPathComponent("bm.sir")
        try Printer.print(b.graph).write(to: model, atomically: true, encoding: .utf8)
        let inputs = [
            TensorData((0..<(37 * 29)).map { _ in rng.float(-2, 2) }, shape: [37, 29]),
            TensorData((0..<450).map { _ in rng.float(-2, 2) }, shape: [1, 5, 9, 10]),
        ]
        var options = CompileOptions()
        let anchor = try #require(options.passes.firstIndex { $0.name == "fold-batchnorm" })
        options.passes.insert("precision-bf16", at: anchor + 1)
        let wants = try Sinter.jit(b.graph, options).run(inputs)
        let f32 = try Sinter.jit(b.graph).run(inputs)
        // bf16 really changed the numbers (the test would pass vacuously on an f32 build).
        for (f, want) in zip(f32, wants) {
            #expect(Support.mismatch(f.doubles, want.doubles, atol: 1e-4, rtol: 1e-4) != nil)
        }
        for features in ["+neon", "+neon,+bf16"] {
            let out = dir.appendingPathComponent(features.replacing(",", with: "").replacing("+", with: ""))
            let c = try Support.run(
                Support.sinterExecutable,
                [
                    "compile", model.path, "--precision", "bf16", "--target", "aarch64-linux-gnu", "--features",
                    features, "--emit", "shared,header,asm", "-o", out.path,
                ])
            guard features.contains("bf16") else {
                #expect(c.status != 0 && c.stderr.contains("needs a CPU with a bf16 dot product"), "\(c.stderr)")
                continue
            }
            // Both matmuls and the conv run in bf16; the conv blocked (4 channels per block): its
            // 5 input channels padded to 6 (pairs) and 7 outputs to 8, as it executes them.
            let macs = 37 * 29 * 53 + 37 * 53 * 10 + 8 * 6 * 9 * 90
            #expect(c.status == 0 && c.stderr.contains("bf16: \(macs) of \(macs) multiply-adds"), "\(c.stderr)")
            let asm = try String(contentsOf: out.appendingPathComponent("bm.s"), encoding: .utf8)
            #expect(asm.contains("bfdot\tv"), "no bfdot in the bf16 GEMM")
            let exe = out.appendingPathComponent("harness").path
            let cc = try ArtifactTests.armHarness(prefix: "bm", in: out, output: exe)
            #expect(cc.status == 0, "\(cc.stderr)")
            for (i, input) in inputs.enumerated() {
                try Data(input.bytes).write(to: out.appendingPathComponent("input_\(i).bin"))
            }
            let run = try Support.run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", exe, out.path])
            #expect(run.status == 0, "qemu: \(run.stderr)")
            for (i, want) in wants.enumerated() {
                let bytes = [UInt8](try Data(contentsOf: out.appendingPathComponent("output_\(i).bin")))
                let got = TensorData(dtype: .f32, shape: want.shape, bytes: bytes)
                #expect(
                    Support.mismatch(got.doubles, want.doubles, atol: 1e-4, rtol: 1e-4) == nil,
                    "BFDOT on aarch64 vs host, output \(i)")
            }
        }
    }
}
