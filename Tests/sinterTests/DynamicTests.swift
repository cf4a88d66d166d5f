import Foundation
import Sinter
import SinterTestSupport
import Testing

/// `sinter compile --dynamic N=1..256`: one artifact per model, any batch within the bounds,
/// through the Python loader (against onnxruntime), from C (a batch of 7 against its entries one
/// at a time, on x86-64 and on AArch64 under qemu), and errors for graphs that mix batch entries.
@Suite(.serialized) struct DynamicTests {
    static let sinter = Support.sinterExecutable
    static let harness = Support.root.appendingPathComponent("Tests/sinterTests/Harness")

    static func models() throws -> URL {
        let dir = try Support.temporaryDirectory("dynamic")
        let r = try Support.run(
            Support.python, [harness.appendingPathComponent("dynamic_check.py").path, "make", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        return dir
    }

    @Test func mlpAndCNNRunBatch1_7And64ThroughOneSharedObject() throws {
        let dir = try Self.models()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["mlp", "cnn"] {
            let out = dir.appendingPathComponent(name).path
            let c = try Support.run(
                Self.sinter,
                [
                    "compile", dir.appendingPathComponent("\(name).onnx").path, "--dynamic", "N=1..256", "--emit",
                    "shared,header,python", "-o", out,
                ])
            #expect(c.status == 0, "\(c.stderr)")
            let header = try String(contentsOfFile: out + "/\(name).h", encoding: .utf8)
            #expect(header.contains("int32_t \(name)_run(\(name)_context *ctx, int64_t n, "))
            #expect(header.contains("int64_t \(name)_workspace_size_for(int64_t n);"))
        }
        let r = try Support.run(
            Support.python, [Self.harness.appendingPathComponent("dynamic_check.py").path, "check", dir.path])
        #expect(r.status == 0 && r.stdout.hasPrefix("ok"), "\(r.stdout)\(r.stderr)")
    }

    @Test(arguments: ["x86_64", "aarch64"]) func cAppRunsAnyBatch(_ arch: String) throws {
        let dir = try Self.models()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("mlp")
        let native = arch == "x86_64"
        let c = try Support.run(
            Self.sinter,
            [
                "compile", dir.appendingPathComponent("mlp.onnx").path, "--dynamic", "N=1..256", "--emit",
                "shared,header",
                "-o", out.path,
            ] + (native ? [] : ["--target", "aarch64-linux-gnu"]))
        #expect(c.status == 0, "\(c.stderr)")
        let exe = out.appendingPathComponent("dynamic").path
        let cc = try Support.run(
            native ? "cc" : "clang",
            (native ? [] : ["--target=aarch64-linux-gnu", "-fuse-ld=lld"]) + [
                "-std=c11", "-O1", "-DPREFIX=mlp", "-DHEADER=\"mlp.h\"", "-I", out.path,
                Self.harness.appendingPathComponent("dynamic.c").path, "-L", out.path, "-lmlp",
                "-Wl,-rpath,\(out.path)", "-lm", "-o", exe,
            ])
        #expect(cc.status == 0, "\(cc.stderr)")
        let run =
            try native ? Support.run(exe, []) : Support.run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", exe])
        #expect(run.status == 0 && run.stdout.hasPrefix("ok"), "\(arch): \(run.stdout)\(run.stderr)")
    }

    /// A graph that combines entries across the batch gets a located error naming the op.
    @Test func graphsThatMixBatchEntriesAreRefused() throws {
        let dir = try Support.temporaryDirectory("dynamic-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases = [
            ("softmax %x {axis = 0}", "'softmax' combines entries along axis 0 of '%x', the N axis"),
            ("reduce-mean %x {axes = [0], keepdims = true}", "'reduce-mean' turns N entries into"),
            ("transpose %x {perm = [1, 0]}", "output 'y' "),
        ]
        for (i, (op, message)) in cases.enumerated() {
            let type = op.hasPrefix("transpose") ? "f32[4,N]" : op.hasPrefix("reduce") ? "f32[1,4]" : "f32[N,4]"
            let path = dir.appendingPathComponent("bad\(i).sir").path
            try "graph @bad(%x: f32[N,4]) -> (%y: \(type)) {\n  %y = \(op) : \(type)\n}\n".write(
                toFile: path, atomically: true, encoding: .utf8)
            let r = try Support.run(Self.sinter, ["compile", path, "--dynamic", "N", "-o", dir.path + "/x.so"])
            #expect(r.status != 0 && r.stderr.contains(message), "\(op): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error") && !FileManager.default.fileExists(atPath: dir.path + "/x.so"))
        }
    }

    @Test func runBindsTheBatchFromItsInputFile() throws {
        let dir = try Self.models()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = TensorData(
            dtype: .f32, shape: [3, 784], bytes: [UInt8](repeating: 0, count: 3 * 784 * 4))
        try Data(Npy.encode(x)).write(to: dir.appendingPathComponent("x.npy"))
        let r = try Support.run(
            Self.sinter, ["run", dir.appendingPathComponent("mlp.onnx").path, "--input", "x=" + dir.path + "/x.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("note: bound N=3 from the input files") && r.stdout.contains("y: f32[3,10]"))
    }

    @Test func dimensionSyntaxIsChecked() throws {
        for bad in ["", "N=0..4", "N=5..4", "N=a..b", "N=3"] {
            #expect(throws: SinterError.self, "\(bad)") { _ = try DynamicDimension(parsing: bad) }
        }
        #expect(try DynamicDimension(parsing: "N=2..") == DynamicDimension(symbol: "N", minimum: 2, maximum: nil))
        #expect(try DynamicDimension(parsing: "batch") == DynamicDimension(symbol: "batch"))
    }
}
