import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The example apps build and run against a model compiled by Sinter, and the Python loader
/// matches onnxruntime.
struct ExampleAppTests {
    static let sinter = Support.sinterExecutable
    static let mlp = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path

    /// The C app's numbers for the C++ app's fixed input, through the JIT, as text rows.
    static func reference() throws -> [Double] {
        let x = TensorData((0..<256).map { Float($0 % 17) / 8 - 1 }, shape: [4, 64])
        return try Sinter.jit(try Sinter.load(mlp)).run([x])[0].doubles
    }

    static func numbers(_ s: String) -> [Double] {
        s.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
    }

    @Test func cppApp() throws {
        let dir = try Support.temporaryDirectory("cpp")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            try Support.run(Self.sinter, ["compile", Self.mlp, "--emit", "shared,header", "-o", dir.path]).status == 0)
        let exe = dir.appendingPathComponent("mlp_cpp").path
        let cc = try Support.run(
            "c++",
            [
                "-std=c++17", "-Wall", "-Werror", "-I", dir.path,
                Support.root.appendingPathComponent("Examples/cpp/main.cpp").path,
                "-L", dir.path, "-lmlp", "-Wl,-rpath,\(dir.path)", "-o", exe,
            ])
        #expect(cc.status == 0, "\(cc.stderr)")
        let r = try Support.run(exe, [])
        #expect(r.status == 0)
        #expect(Support.mismatch(Self.numbers(r.stdout), try Self.reference(), atol: 1e-8, rtol: 1e-7) == nil)
    }

    @Test func swiftAppLinksThePrecompiledLibraryThroughTheGeneratedModuleMap() throws {
        let dir = try Support.temporaryDirectory("swiftapp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = dir.appendingPathComponent("app")
        try FileManager.default.copyItem(at: Support.root.appendingPathComponent("Examples/swift-app"), to: app)
        let lib = app.appendingPathComponent("Sources/mlp")
        #expect(
            try Support.run(Self.sinter, ["compile", Self.mlp, "--emit", "shared,header,modulemap", "-o", lib.path])
                .status == 0)
        let build = try Support.run(
            "swift",
            [
                "build", "--package-path", app.path, "--scratch-path", app.appendingPathComponent(".build").path,
                "-Xlinker", "-L\(lib.path)", "-Xlinker", "-rpath", "-Xlinker", lib.path,
            ])
        #expect(build.status == 0, "\(build.stdout.suffix(2000))\(build.stderr.suffix(2000))")
        let r = try Support.run(app.appendingPathComponent(".build/debug/App").path, [])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Support.mismatch(Self.numbers(r.stdout), try Self.reference(), atol: 1e-6, rtol: 0) == nil)
    }

    @Test func pythonLoaderMatchesOnnxruntime() throws {
        let dir = try Support.temporaryDirectory("py")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = Support.root.appendingPathComponent("Tests/sinterTests/Harness/python_check.py").path
        let model = dir.appendingPathComponent("cnn.onnx").path
        #expect(try Support.run(Support.python, [script, "make", model]).status == 0)
        let c = try Support.run(
            Self.sinter, ["compile", model, "--emit", "shared,python", "--name", "cnn", "-o", dir.path])
        #expect(c.status == 0, "\(c.stderr)")
        let r = try Support.run(Support.python, [script, "check", dir.path, model])
        #expect(r.status == 0 && r.stdout.hasPrefix("ok"), "\(r.stdout)\(r.stderr)")
    }
}
