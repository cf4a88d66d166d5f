import Foundation
import Sinter
import SinterTestSupport
import Testing

/// `sinter explain` and `Explainer`: attributions from the compiled backward.
struct ExplainTests {
    /// x [2,6] → tanh(x·w) → ·v: smooth, so finite differences and the integral are accurate.
    static func smoothModel() throws -> Graph {
        var rng = Support.RNG(seed: 4)
        var b = GraphBuilder(name: "smooth")
        let x = try b.input("x", TensorType(.f32, [2, 6]))
        let w = try b.constant(TensorData((0..<24).map { _ in rng.float(-1, 1) }, shape: [6, 4]), name: "w")
        let v = try b.constant(TensorData((0..<12).map { _ in rng.float(-1, 1) }, shape: [4, 3]), name: "v")
        b.output(try b.matmul(try b.unary(.tanh, try b.matmul(x, w)), v))
        return b.graph
    }

    /// The gradient equals central differences of the explained score; gradient × input is
    /// their product with x.
    @Test func gradientMatchesFiniteDifferences() throws {
        let graph = try Self.smoothModel()
        var rng = Support.RNG(seed: 9)
        let x = TensorData((0..<12).map { _ in rng.float(-1, 1) }, shape: [2, 6])
        let explainer = try Explainer(graph)
        let g = try explainer.explain(x, method: .gradient, target: 1)
        let gx = try explainer.explain(x, method: .gradientTimesInput, target: 1)
        let model = try Sinter.jit(graph)
        let h = 1e-2
        var fd: [Double] = []
        for i in 0..<12 {
            var plus = x.doubles, minus = x.doubles
            plus[i] += h
            minus[i] -= h
            let row = i / 6
            let up = try model.run([TensorData(dtype: .f32, shape: [2, 6], values: plus)])[0].doubles[row * 3 + 1]
            let down = try model.run([TensorData(dtype: .f32, shape: [2, 6], values: minus)])[0].doubles[row * 3 + 1]
            fd.append((up - down) / (2 * h))
        }
        #expect(g.targets == [1, 1])
        #expect(Support.mismatch(g.attributions.doubles, fd, atol: 2e-3, rtol: 1e-2) == nil)
        #expect(
            Support.mismatch(gx.attributions.doubles, zip(fd, x.doubles).map { $0 * $1 }, atol: 2e-3, rtol: 1e-2) == nil
        )
    }

    /// Integrated gradients satisfy completeness: per sample, the attributions sum to the
    /// score minus the baseline's (zero input) score, here within 1e-3 with 200 steps.
    @Test func integratedGradientsAreComplete() throws {
        var rng = Support.RNG(seed: 2)
        let x = TensorData((0..<12).map { _ in rng.float(-2, 2) }, shape: [2, 6])
        let r = try Explainer(try Self.smoothModel()).explain(x, method: .integratedGradients, steps: 200)
        let a = r.attributions.doubles
        for s in 0..<2 {
            let total = a[(s * 6)..<((s + 1) * 6)].reduce(0, +)
            let want = r.scores[s] - r.baselineScores[s]
            #expect(abs(total - want) <= 1e-3 * max(1, abs(want)), "sample \(s): \(total) vs \(want)")
        }
    }

    /// `sinter compile --explain`: NAME_explain from a C program (x86-64, and AArch64 under
    /// qemu) gives the gradients `Explainer` computes in-process, for each sample's own class
    /// and for a given one.
    @Test(arguments: [false, true])
    func explainInTheCABI(_ arm: Bool) throws {
        let dir = try Support.temporaryDirectory("explain-abi")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/train_digits.py").path
        let made = try Support.run(Support.python, [script, "make", dir.path, "--cnn"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("cnn.onnx").path
        let build = dir.appendingPathComponent("build").path
        let c = try Support.run(
            Support.sinterExecutable,
            ["compile", model, "--explain", "--shape", "N=3", "--emit", "shared,header", "-o", build]
                + (arm ? ["--target", "aarch64-linux-gnu"] : []))
        #expect(c.status == 0, "\(c.stderr)")
        var rng = Support.RNG(seed: 6)
        let x = TensorData((0..<(3 * 64)).map { _ in rng.float(0, 1) }, shape: [3, 1, 8, 8])
        try Data(x.bytes).write(to: URL(fileURLWithPath: build + "/x.bin"))
        let exe = build + "/explain"
        let cc = try Support.run(
            arm ? "clang" : "cc",
            (arm ? ["--target=aarch64-linux-gnu", "-fuse-ld=lld"] : []) + [
                "-std=c11", "-O1", "-Wall", "-Werror", "-DPREFIX=digits_cnn", "-DHEADER=\"digits_cnn.h\"", "-I", build,
                Support.root.appendingPathComponent("Tests/sinterTests/Harness/explain.c").path, "-L", build,
                "-ldigits_cnn", "-Wl,-rpath,\(build)", "-o", exe,
            ])
        #expect(cc.status == 0, "\(cc.stderr)")
        let run =
            arm
            ? try Support.run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", exe, build])
            : try Support.run(exe, [build])
        #expect(run.status == 0 && run.stdout.contains("ok"), "\(run.stdout)\(run.stderr)")
        let (graph, _) = try Sinter.loadBatched(model, batch: 3)
        let explainer = try Explainer(graph)
        for (file, target) in [("auto.bin", nil), ("class1.bin", 1)] as [(String, Int?)] {
            let want = try explainer.explain(x, method: .gradient, target: target).attributions.doubles
            let bytes = try Data(contentsOf: URL(fileURLWithPath: build + "/" + file))
            let got = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }.map { Double($0) }
            #expect(Support.mismatch(got, want, atol: 1e-5, rtol: 1e-4) == nil, "\(file) \(arm ? "aarch64" : "x86-64")")
        }
    }

    /// The CLI on the digits CNN: .npy and a valid PNG (chunks' CRC-32 and the zlib stream
    /// checked by Python's zlib), completeness within 2% on a ReLU network with 64 steps, and
    /// bad arguments refused.
    @Test func cliWritesAttributionsAndHeatMap() throws {
        let dir = try Support.temporaryDirectory("explain")
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/train_digits.py").path
        let made = try Support.run(Support.python, [script, "make", dir.path, "--cnn"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let x = try Support.run(
            Support.python,
            [
                "-c",
                "import numpy as np, sys; np.save(sys.argv[1] + '/x.npy', np.load(sys.argv[1] + '/test.npz')['x'][:3])",
                dir.path,
            ])
        #expect(x.status == 0, "\(x.stderr)")
        let r = try Support.run(
            Support.sinterExecutable,
            ["explain", path("cnn.onnx"), "--input", "x=" + path("x.npy"), "--steps", "64", "-o", path("out")])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("sample ") }
        #expect(lines.count == 3, "\(r.stdout)")
        for line in lines {
            let words = line.split(separator: " ").map {
                String($0).trimmingCharacters(in: CharacterSet(charactersIn: ",()"))
            }
            guard let s = words.firstIndex(of: "sum"), let total = Double(words[s + 1]),
                let d = Double(words.last ?? "")
            else {
                Issue.record("unparsed: \(line)")
                continue
            }
            #expect(abs(total - d) <= 0.02 * max(1, abs(d)), "\(line)")
        }
        let check = try Support.run(
            Support.python,
            [
                "-c",
                """
                import struct, sys, zlib, numpy as np
                d = sys.argv[1]
                a = np.load(d + "/attributions.npy"); assert a.shape == (3, 1, 8, 8), a.shape
                b = open(d + "/attributions.png", "rb").read()
                assert b[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
                pos, chunks = 8, {}
                while pos < len(b):
                    n, = struct.unpack(">I", b[pos:pos + 4]); kind = b[pos + 4:pos + 8]; body = b[pos + 8:pos + 8 + n]
                    crc, = struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])
                    assert zlib.crc32(kind + body) == crc, kind
                    chunks[kind] = body; pos += 12 + n
                w, h = struct.unpack(">II", chunks[b"IHDR"][:8])
                raw = zlib.decompress(chunks[b"IDAT"])
                assert len(raw) == h * (3 * w + 1), (len(raw), w, h)
                print("png", w, h)
                """,
                path("out"),
            ])
        #expect(check.status == 0 && check.stdout.contains("png 196 64"), "\(check.stdout)\(check.stderr)")
        for (args, message) in [
            (["--method", "saliency"], "--method 'saliency' is not one of"), (["--target", "10"], "--target 10"),
            (["--input", "image=" + path("x.npy")], "--input names 'image'"),
        ] {
            let bad = try Support.run(
                Support.sinterExecutable,
                ["explain", path("cnn.onnx"), "--input", "x=" + path("x.npy"), "-o", path("bad")] + args)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(args): \(bad.stderr)")
        }
    }
}
