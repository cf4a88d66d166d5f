import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The CLI as a user meets it: bad input gives exit code ≠ 0 and one clear, located message.
struct CLITests {
    let sinter = Support.sinterExecutable
    let mlp = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path
    let input = Support.root.appendingPathComponent("Examples/mlp/input.npy").path

    func write(_ text: String, _ name: String, in dir: URL) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// `sinter bench` times every thread count it is given and rejects a bad count clearly.
    @Test func benchTimesEachThreadCount() throws {
        let r = try Support.run(sinter, ["bench", mlp, "--threads", "1,2", "--seconds", "0.1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("mlp: 4 kernels"), "\(r.stdout)")
        for n in [1, 2] {
            let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("threads \(n): median ") }
            #expect(line != nil, "\(r.stdout)")
        }
        let bad = try Support.run(sinter, ["bench", mlp, "--threads", "1,x"])
        #expect(bad.status != 0)
        #expect(bad.stderr == "error: --threads '1,x' must be thread counts from 1 to 1024, like 1,2\n")
    }

    /// `--profile` prints one row per kernel, slowest first, whose times add up to the total row.
    @Test func benchProfilePrintsEveryKernel() throws {
        let r = try Support.run(sinter, ["bench", mlp, "--seconds", "0.1", "--profile"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").filter {
            $0.hasPrefix("| ") && $0.dropFirst(2).first?.isNumber == true
        }
        #expect(rows.count == 4, "\(r.stdout)")
        let ms = rows.compactMap { row in
            Double(row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }[4])
        }
        #expect(ms.count == 4 && ms == ms.sorted(by: >), "\(r.stdout)")
        let total = r.stdout.split(separator: "\n").first { $0.hasPrefix("| | total") }
        let totalMs = total.flatMap {
            Double($0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }[4])
        }
        #expect(totalMs.map { abs($0 - ms.reduce(0, +)) <= 0.0005 * 4 + 1e-9 } == true, "\(r.stdout)")
    }

    /// `sinter run` specialises an input that decides a shape (Reshape's shape) from its file by
    /// itself, with one note line, and keeps value-only inputs (Clip's bounds) as run-time inputs.
    @Test func runSpecialisesShapeInputsFromTheirFiles() throws {
        let dir = try Support.temporaryDirectory("spec")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.onnx").path
        let script = """
            import onnx, sys
            from onnx import helper, TensorProto as T
            g = helper.make_graph(
                [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Clip", ["r", "lo", "hi"], ["y"])],
                "spec", [helper.make_tensor_value_info("x", T.FLOAT, [2, 3]),
                         helper.make_tensor_value_info("shape", T.INT64, [2]),
                         helper.make_tensor_value_info("lo", T.FLOAT, []),
                         helper.make_tensor_value_info("hi", T.FLOAT, [])],
                [helper.make_tensor_value_info("y", T.FLOAT, None)])
            onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
            """
        #expect(try Support.run(Support.python, ["-c", script, model]).status == 0)
        let inputs: [(String, TensorData)] = [
            ("x", TensorData([0, 1, 2, 3, 4, 5], shape: [2, 3])),
            ("shape", TensorData(dtype: .i64, shape: [2], values: [3, 2])),
            ("lo", TensorData([1], shape: [])), ("hi", TensorData([4], shape: [])),
        ]
        var args = ["run", model, "--output-dir", dir.path]
        for (name, t) in inputs {
            let path = dir.appendingPathComponent("\(name).npy")
            try Support.writeNpy(t, to: path)
            args += ["--input", "\(name)=\(path.path)"]
        }
        let r = try Support.run(sinter, args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            r.stderr
                == "note: specialised input 'shape' to the values in its file (they decide shapes or control flow)\n")
        let y = try Support.readNpy(dir.appendingPathComponent("y.npy"))
        #expect(y.shape == [3, 2] && y.floats == [1, 1, 2, 3, 4, 4], "\(y.type) \(y.doubles)")
    }

    @Test(arguments: ["compile", "run", "dump", "bench"])
    func helpWorks(_ sub: String) throws {
        let r = try Support.run(sinter, [sub, "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE: sinter \(sub)"))
    }

    @Test func missingModelFile() throws {
        let r = try Support.run(sinter, ["run", "/nonexistent/model.sir", "--input", "x=a.npy"])
        #expect(r.status != 0)
        #expect(r.stderr == "error: no such file: '/nonexistent/model.sir'\n")
    }

    @Test func parseErrorHasLocation() throws {
        let dir = try Support.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = try write("graph @g(%x: f32[4]) -> (%y: f32[4]) {\n  %y = relu %z : f32[4]\n}\n", "bad.sir", in: dir)
        let r = try Support.run(sinter, ["compile", bad, "-o", dir.appendingPathComponent("x.so").path])
        #expect(r.status != 0)
        #expect(r.stderr == "\(bad):2:13: error: use of undefined value '%z'\n")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.so").path))
    }

    @Test func malformedNpy() throws {
        let dir = try Support.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.npy")
        try Data("this is not numpy".utf8).write(to: junk)
        let r = try Support.run(sinter, ["run", mlp, "--input", "x=\(junk.path)"])
        #expect(r.status != 0)
        #expect(r.stderr == "error: \(junk.path): malformed .npy file: missing the \\x93NUMPY magic\n")
        // Truncated data after a valid header.
        var bytes = Npy.encode(TensorData([Float](repeating: 1, count: 256), shape: [4, 64]))
        bytes.removeLast(10)
        try Data(bytes).write(to: junk)
        let t = try Support.run(sinter, ["run", mlp, "--input", "x=\(junk.path)"])
        #expect(t.status != 0)
        #expect(t.stderr.contains("expected 1024 data bytes for shape [4, 64] of f32, found 1014"), "\(t.stderr)")
    }

    @Test func wrongInputShapeAndDtype() throws {
        let dir = try Support.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let shape = dir.appendingPathComponent("shape.npy")
        try Support.writeNpy(TensorData([Float](repeating: 0, count: 3 * 64), shape: [3, 64]), to: shape)
        let r = try Support.run(sinter, ["run", mlp, "--input", "x=\(shape.path)"])
        #expect(r.status != 0)
        #expect(r.stderr == "error: input 'x' from '\(shape.path)' is f32[3,64] but the model expects f32[4,64]\n")

        let dtype = dir.appendingPathComponent("dtype.npy")
        try Support.writeNpy(
            TensorData(dtype: .f64, shape: [4, 64], values: [Double](repeating: 0, count: 256)), to: dtype)
        let d = try Support.run(sinter, ["run", mlp, "--input", "x=\(dtype.path)"])
        #expect(d.status != 0)
        #expect(d.stderr == "error: input 'x' from '\(dtype.path)' is f64[4,64] but the model expects f32[4,64]\n")
    }

    @Test func missingAndUnknownInputsAreAllReported() throws {
        let r = try Support.run(sinter, ["run", mlp, "--input", "nope=\(input)"])
        #expect(r.status != 0)
        #expect(
            r.stderr
                == "error: --input 'nope': the model has no input of that name (inputs: x)\nerror: missing --input x=FILE.npy\n"
        )
    }

    @Test func outputNamesCannotLeaveTheOutputFolder() throws {
        let dir = try Support.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try write(
            """
            graph @g(%x: f32[4]) -> (%"../../escaped": f32[4], %"/tmp/abs": f32[4]) {
              %"../../escaped" = relu %x : f32[4]
              %"/tmp/abs" = neg %x : f32[4]
            }
            """, "m.sir", in: dir)
        let x = dir.appendingPathComponent("x.npy")
        try Support.writeNpy(TensorData([1, -2, 3, -4], shape: [4]), to: x)
        let outDir = dir.appendingPathComponent("a/b/out")
        let r = try Support.run(sinter, ["run", model, "--input", "x=\(x.path)", "--output-dir", outDir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let written = try FileManager.default.contentsOfDirectory(atPath: outDir.path).sorted()
        #expect(written == ["_._.._escaped.npy", "_tmp_abs.npy"])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("a/escaped.npy").path))
        let relu = try Support.readNpy(outDir.appendingPathComponent("_._.._escaped.npy"))
        #expect(relu.floats == [1, 0, 3, 0])
    }

    @Test func symbolicBatchNeedsABinding() throws {
        let dir = try Support.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try write(
            "graph @g(%x: f32[N,4]) -> (%y: f32[N,4]) {\n  %y = relu %x : f32[N,4]\n}\n", "m.sir", in: dir)
        let r = try Support.run(sinter, ["compile", model, "-o", dir.appendingPathComponent("m.so").path])
        #expect(r.status != 0)
        #expect(
            r.stderr.contains("input '%x' has symbolic type f32[N,4]: bind N with --shape NAME=VALUE"), "\(r.stderr)")
        let ok = try Support.run(
            sinter,
            ["compile", model, "--shape", "N=3", "--emit", "header", "-o", dir.appendingPathComponent("m.h").path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(
            try String(contentsOf: dir.appendingPathComponent("m.h"), encoding: .utf8).contains(
                "input  0: \"x\" f32[3,4]"))
    }

    @Test func modelWithoutInputsRuns() throws {
        let dir = try Support.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try write(
            "graph @k() -> (%y: f32[2]) {\n  %c = constant dense<[0.0, 1.0]> : f32[2]\n  %y = exp %c : f32[2]\n}\n",
            "k.sir", in: dir)
        let r = try Support.run(sinter, ["run", model])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("y: f32[2]  min 1  max 2.71828"))
    }

    @Test func unknownTargetsAndCPUsAreErrorsNotCrashes() throws {
        let cpu = try Support.run(sinter, ["compile", mlp, "--cpu", "bogus", "-o", "/tmp/sinter-never-written.so"])
        #expect(cpu.status == 1)
        #expect(cpu.stderr.hasPrefix("error: unknown CPU 'bogus' for x86_64"))
        let triple = try Support.run(
            sinter, ["compile", mlp, "--target", "riscv99-none", "-o", "/tmp/sinter-never-written.so"])
        #expect(triple.status == 1)
        #expect(triple.stderr.contains("cannot generate code for 'riscv99-none'"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/sinter-never-written.so"))
    }

    @Test func dumpPrintsAfterEachPass() throws {
        let r = try Support.run(sinter, ["dump", mlp, "--print-after-all"])
        #expect(r.status == 0)
        for pass in Pipeline.default { #expect(r.stdout.contains("// ----- IR after \(pass.name)")) }
        let bad = try Support.run(sinter, ["dump", mlp, "--passes", "dce,nope"])
        #expect(bad.status != 0)
        #expect(bad.stderr.hasPrefix("--passes:1:5: error: unknown pass 'nope' (known passes: "))
        let option = try Support.run(sinter, ["dump", mlp, "--passes", "layout{block=x size=2},fuse"])
        #expect(option.status != 0)
        #expect(option.stderr.contains("--passes:1:1: error: pass 'layout' has no option 'size' (options: block)"))
        #expect(
            option.stderr.contains("--passes:1:1: error: pass 'layout': option 'block' must be an integer, got 'x'"))
    }
}

/// Post-training int8 from the command line: `sinter calibrate` over an .npz, then `run` with
/// `--quantize int8` (every matmul becomes the int8 GEMM) and `quantize` to a QDQ ONNX file
/// that onnxruntime runs. Each method's int8 output is checked against the float output
/// (signal-to-quantization-noise ratio, top-1 agreement) and onnxruntime's against Sinter's.
struct Int8CLITests {
    let sinter = Support.sinterExecutable
    let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/int8_mlp.py").path

    func sqnr(_ reference: [Float], _ x: [Float]) -> Double {
        let signal = reference.reduce(0.0) { $0 + Double($1 * $1) }
        let noise = zip(reference, x).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        return 10 * log10(signal / max(noise, 1e-30))
    }

    func top1(_ t: [Float], _ classes: Int) -> [Int] {
        stride(from: 0, to: t.count, by: classes).map { r in
            (0..<classes).max { t[r + $0] < t[r + $1] } ?? 0
        }
    }

    /// int8_mlp.py's MLP and its input in `dir`, and the f32 output `sinter run` gives.
    static func floatMLP(_ dir: URL) throws -> (model: String, x: String, want: [Float]) {
        let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/int8_mlp.py").path
        let sinter = Support.sinterExecutable
        let made = try Support.run(Support.python, [script, "make", dir.path])
        #expect(made.status == 0, "\(made.stderr)")
        let model = dir.appendingPathComponent("mlp.onnx").path, x = dir.appendingPathComponent("x.npy").path
        let float = try Support.run(sinter, ["run", model, "--input", "x=\(x)", "--output-dir", dir.path + "/f"])
        #expect(float.status == 0, "\(float.stderr)")
        return (model, x, try Support.readNpy(dir.appendingPathComponent("f/a2.npy")).floats ?? [])
    }

    @Test func calibrateQuantizeAndRunMatchFloatAndOnnxRuntime() throws {
        let dir = try Support.temporaryDirectory("int8")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (model, x, want) = try Int8CLITests.floatMLP(dir)
        for method in ["minmax", "percentile", "entropy"] {
            let calib = dir.appendingPathComponent("\(method).json").path
            let c = try Support.run(
                sinter, ["calibrate", model, "--data", dir.path + "/calib.npz", "--method", method, "-o", calib])
            #expect(c.status == 0 && c.stdout.contains("calibrated 3 activation(s) over 16 sample(s)"), "\(c.stderr)")
            let args = ["--quantize", "int8", "--calibration", calib]
            let dump = try Support.run(sinter, ["dump", model, "--kernel-report"] + args)
            let kernels = dump.stdout.split(separator: "\n").filter { $0.hasPrefix("// k") }
            #expect(kernels.filter { $0.contains(": qmatmul,") }.count == 3, "\(method): \(dump.stdout)")
            #expect(!kernels.contains { $0.contains(": matmul,") }, "\(method): a matmul stayed f32")
            // 32×64·64×256 + 32×256·256×128 + 32×128·128×10 multiply-adds, all of them int8.
            let macs = 32 * 64 * 256 + 32 * 256 * 128 + 32 * 128 * 10
            #expect(dump.stdout.contains("// multiply-adds: \(macs), in int8 \(macs) (100.0%)"), "\(dump.stdout)")
            let out = dir.path + "/q_\(method)"
            let r = try Support.run(sinter, ["run", model, "--input", "x=\(x)", "--output-dir", out] + args)
            #expect(r.status == 0, "\(r.stderr)")
            let got = try Support.readNpy(URL(fileURLWithPath: out + "/a2.npy")).floats ?? []
            let agree = zip(top1(got, 10), top1(want, 10)).filter { $0 == $1 }.count
            #expect(sqnr(want, got) > 30, "\(method): SQNR \(sqnr(want, got)) dB")
            #expect(agree >= 29, "\(method): top-1 agrees on \(agree) of 32")
            // The QDQ export runs in onnxruntime with the same result up to rounding flips.
            let qdq = dir.appendingPathComponent("\(method).int8.onnx").path
            let e = try Support.run(sinter, ["quantize", model, "--calibration", calib, "-o", qdq])
            #expect(e.status == 0 && e.stderr.contains("3 activation(s) quantized"), "\(e.stderr)")
            let ortOut = dir.appendingPathComponent("ort_\(method).npy").path
            let o = try Support.run(Support.python, [script, "run", qdq, x, ortOut])
            #expect(o.status == 0, "\(o.stderr)")
            let ort = try Support.readNpy(URL(fileURLWithPath: ortOut)).floats ?? []
            #expect(sqnr(ort, got) > 40, "\(method): Sinter int8 vs onnxruntime int8: \(sqnr(ort, got)) dB")
        }
    }

    /// `--quantize int8-dynamic`: no calibration; the MLP's three matmuls run as qmatmul of
    /// f32 rows quantized at run time, within quantization noise of f32. It has no ONNX form
    /// (export says so) and takes no calibration file.
    @Test func dynamicInt8MatchesFloat() throws {
        let dir = try Support.temporaryDirectory("int8-dynamic")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (model, x, want) = try Int8CLITests.floatMLP(dir)
        let args = ["--quantize", "int8-dynamic"]
        let dump = try Support.run(sinter, ["dump", model, "--kernel-report"] + args)
        let macs = 32 * 64 * 256 + 32 * 256 * 128 + 32 * 128 * 10
        #expect(dump.stdout.contains("// multiply-adds: \(macs), in int8 \(macs) (100.0%)"), "\(dump.stdout)")
        #expect(dump.stdout.contains("%m0 = qmatmul %x, %m0.w.q : f32[32,256]"), "\(dump.stdout)")
        let r = try Support.run(sinter, ["run", model, "--input", "x=\(x)", "--output-dir", dir.path + "/d"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        let got = try Support.readNpy(dir.appendingPathComponent("d/a2.npy")).floats ?? []
        let agree = zip(top1(got, 10), top1(want, 10)).filter { $0 == $1 }.count
        #expect(sqnr(want, got) > 30, "dynamic int8 vs f32: SQNR \(sqnr(want, got)) dB")
        #expect(agree >= 29, "top-1 agrees on \(agree) of 32")
        let e = try Support.run(sinter, ["export", model, "-o", dir.path + "/d.onnx"] + args)
        #expect(e.status != 0 && e.stderr.contains("(dynamic int8, quantized per row) has no ONNX form"), "\(e.stderr)")
        let c = try Support.run(sinter, ["compile", model, "--calibration", "c.json"] + args)
        #expect(c.status != 0 && c.stderr.contains("int8-dynamic needs no --calibration"), "\(c.stderr)")
    }

    /// A CNN (3×3 padded, 3×3 stride 2, 3×3 depthwise and grouped 1×1 convs with biases and
    /// ReLUs, a pooled linear head): every conv and the head run int8, the output stays within
    /// quantization noise of f32, and the QDQ export agrees with onnxruntime's run of it.
    @Test func quantizedConvsMatchFloatAndOnnxRuntime() throws {
        let dir = try Support.temporaryDirectory("int8-cnn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [script, "make", dir.path])
        #expect(made.status == 0, "\(made.stderr)")
        let model = dir.appendingPathComponent("cnn.onnx").path, x = dir.appendingPathComponent("x_cnn.npy").path
        let calib = dir.appendingPathComponent("cnn.json").path
        let c = try Support.run(sinter, ["calibrate", model, "--data", dir.path + "/calib_cnn.npz", "-o", calib])
        #expect(c.status == 0 && c.stdout.contains("calibrated 5 activation(s) over 16 sample(s)"), "\(c.stderr)")
        let args = ["--quantize", "int8", "--calibration", calib]
        let dump = try Support.run(sinter, ["dump", model, "--kernel-report"] + args)
        let kernels = dump.stdout.split(separator: "\n").filter { $0.hasPrefix("// k") }
        // The first conv (16 channels out) runs on blocked bytes, the others NCHW.
        #expect(kernels.filter { $0.contains(": qconv-nchwc,") }.count == 1, "\(dump.stdout)")
        #expect(kernels.filter { $0.contains(": qconv,") }.count == 3, "\(dump.stdout)")
        #expect(!kernels.contains { $0.contains(": conv") }, "a conv stayed f32: \(dump.stdout)")
        // Every conv's bias became its i32 bias operand: no qconv kernel adds one in f32.
        #expect(!kernels.contains { $0.contains("qconv_add") }, "an f32 bias add remained: \(dump.stdout)")
        // 8 images: 16·4·9·144 (the blocked first conv reads its 3 channels as a quad, so it
        // runs 4) + 24·16·9·36 + 24·9·36 (depthwise) + 32·6·36 (4 groups) conv multiply-adds
        // and 32·10 in the head.
        let macs = 8 * (16 * 36 * 144 + 24 * 144 * 36 + 24 * 9 * 36 + 32 * 6 * 36 + 320)
        #expect(dump.stdout.contains("// multiply-adds: \(macs), in int8 \(macs) (100.0%)"), "\(dump.stdout)")
        let float = try Support.run(sinter, ["run", model, "--input", "x=\(x)", "--output-dir", dir.path + "/f"])
        #expect(float.status == 0, "\(float.stderr)")
        let want = try Support.readNpy(dir.appendingPathComponent("f/logits.npy")).floats ?? []
        let r = try Support.run(sinter, ["run", model, "--input", "x=\(x)", "--output-dir", dir.path + "/q"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        let got = try Support.readNpy(dir.appendingPathComponent("q/logits.npy")).floats ?? []
        #expect(sqnr(want, got) > 30, "SQNR \(sqnr(want, got)) dB")
        let qdq = dir.appendingPathComponent("cnn.int8.onnx").path
        let e = try Support.run(sinter, ["quantize", model, "--calibration", calib, "-o", qdq])
        #expect(e.status == 0 && e.stderr.contains("5 activation(s) quantized"), "\(e.stderr)")
        let ortOut = dir.appendingPathComponent("ort_cnn.npy").path
        let o = try Support.run(Support.python, [script, "run", qdq, x, ortOut])
        #expect(o.status == 0, "\(o.stderr)")
        let ort = try Support.readNpy(URL(fileURLWithPath: ortOut)).floats ?? []
        #expect(sqnr(ort, got) > 35, "Sinter int8 vs onnxruntime int8: \(sqnr(ort, got)) dB")
    }

    @Test func badCalibrationInputsAreClearErrors() throws {
        let dir = try Support.temporaryDirectory("int8-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Support.run(Support.python, [script, "make", dir.path])
        let model = dir.appendingPathComponent("mlp.onnx").path
        let npz = dir.appendingPathComponent("calib.npz").path
        let badMethod = try Support.run(sinter, ["calibrate", model, "--data", npz, "--method", "mse"])
        #expect(badMethod.status == 1 && badMethod.stderr.contains("--method 'mse' is not one of minmax"))
        let wrong = dir.appendingPathComponent("wrong.npz").path
        _ = try Support.run(
            Support.python, ["-c", "import numpy as np; np.savez('\(wrong)', y=np.zeros((2, 32, 64), np.float32))"])
        let missing = try Support.run(sinter, ["calibrate", model, "--data", wrong])
        #expect(missing.stderr.contains("has no array 'x' for graph input 'x' f32[32,64]"), "\(missing.stderr)")
        let packed = dir.appendingPathComponent("packed.npz").path
        _ = try Support.run(
            Support.python,
            ["-c", "import numpy as np; np.savez_compressed('\(packed)', x=np.zeros((2, 32, 64), np.float32))"])
        let compressed = try Support.run(sinter, ["calibrate", model, "--data", packed])
        #expect(compressed.stderr.contains("is compressed; write the archive with numpy.savez"), "\(compressed.stderr)")
        let noCalibration = try Support.run(sinter, ["compile", model, "--quantize", "int8"])
        #expect(noCalibration.stderr.contains("--quantize int8 needs --calibration FILE.json"))
    }
}

/// `--precision bf16` from the command line: on a host with a bf16 dot product the MLP's three
/// matmuls all run in the bf16 GEMM and the output stays within bf16 rounding of f32 (and
/// `--keep-float` keeps one in f32); on a host without one the option is refused, naming what
/// is missing. Contradictory options are refused on every host.
struct Bf16CLITests {
    let sinter = Support.sinterExecutable

    @Test func bf16MatmulsMatchFloatOrAreRefused() throws {
        let dir = try Support.temporaryDirectory("bf16")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/int8_mlp.py").path
        let (model, x, want) = try Int8CLITests.floatMLP(dir)
        let sqnr = Int8CLITests().sqnr
        // Exported (on any host): bf16 weights widened by Casts in front of f32 MatMuls, which
        // onnxruntime runs.
        let exported = dir.appendingPathComponent("mlp.bf16.onnx").path
        let e = try Support.run(sinter, ["export", model, "--precision", "bf16", "-o", exported])
        #expect(e.status == 0, "\(e.stderr)")
        let ortOut = dir.appendingPathComponent("ort.npy").path
        let o = try Support.run(Support.python, [script, "run", exported, x, ortOut])
        #expect(o.status == 0, "\(o.stderr)")
        let ort = try Support.readNpy(URL(fileURLWithPath: ortOut)).floats ?? []
        // bf16 keeps 8 significant bits: about 50 dB on one product; three layers lose a little.
        #expect(sqnr(want, ort) > 40 && sqnr(want, ort) < 80, "onnxruntime bf16 export vs f32: \(sqnr(want, ort)) dB")
        let run = try Support.run(
            sinter, ["run", model, "--precision", "bf16", "--input", "x=\(x)", "--output-dir", dir.path + "/b"])
        guard TargetInfo(.host).schedules.bf16Dot.isNative else {
            #expect(run.status != 0 && run.stderr.contains("needs a CPU with a bf16 dot product"), "\(run.stderr)")
            return
        }
        #expect(run.status == 0, "\(run.stderr)")
        let got = try Support.readNpy(dir.appendingPathComponent("b/a2.npy")).floats ?? []
        #expect(sqnr(want, got) > 40 && sqnr(want, got) < 80, "bf16 vs f32: SQNR \(sqnr(want, got)) dB")
        // Sinter's bf16 and onnxruntime's run of the export differ only in summation order.
        #expect(Support.mismatch(got, ort, atol: 1e-4, rtol: 1e-4) == nil, "Sinter bf16 vs onnxruntime")
        let macs = 32 * 64 * 256 + 32 * 256 * 128 + 32 * 128 * 10
        let dump = try Support.run(sinter, ["dump", model, "--kernel-report", "--precision", "bf16"])
        #expect(dump.stdout.contains("in bf16 \(macs) (100.0%)"), "\(dump.stdout)")
        let kernels = dump.stdout.split(separator: "\n").filter { $0.hasPrefix("// k") && $0.contains(": matmul,") }
        #expect(
            kernels.count == 3
                && kernels.allSatisfy { $0.contains("bf16 operands (vdpbf16ps") || $0.contains("(bfdot)") })
        let kept = try Support.run(
            sinter, ["dump", model, "--kernel-report", "--precision", "bf16", "--keep-float", "m2"])
        #expect(kept.stdout.contains("in bf16 \(macs - 32 * 128 * 10) "), "\(kept.stdout)")
    }

    @Test func contradictoryOrUnsupportedPrecisionsAreRefused() throws {
        let model = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path
        let cases: [([String], String)] = [
            (["--precision", "fp8"], "--precision 'fp8' is not supported (f32 and bf16 are)"),
            (["--precision", "bf16", "--quantize", "int8", "--calibration", "c.json"], "are exclusive"),
            (
                ["--precision", "bf16", "--target", "x86_64-linux-gnu", "--cpu", "haswell"],
                "--precision bf16 needs a CPU with a bf16 dot product"
            ),
            // Every unknown --keep-float name at once (a typo would otherwise keep nothing).
            (
                ["--quantize", "int8-dynamic", "--keep-float", "4,nosuch,typo"],
                "--keep-float: 'mlp' has no value named 'nosuch', 'typo'"
            ),
        ]
        for (args, message) in cases {
            let r = try Support.run(sinter, ["compile", model, "-o", "/nonexistent/x.so"] + args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }
}
