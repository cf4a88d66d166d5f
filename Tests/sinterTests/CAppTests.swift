import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The product end to end: compile the MLP example to a shared object and header, link the
/// C app against it, run it, and compare with `sinter run` (JIT) and with numpy.
struct CAppTests {
    @Test func mlpExampleMatchesNumpyAndJIT() throws {
        let sinter = Support.sinterExecutable
        let example = Support.root.appendingPathComponent("Examples/mlp")
        let dir = try Support.temporaryDirectory("capp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let so = dir.appendingPathComponent("libmlp.so").path
        for args in [["-o", so], ["--emit", "header", "-o", dir.appendingPathComponent("mlp.h").path]] {
            let r = try Support.run(sinter, ["compile", example.appendingPathComponent("mlp.sir").path] + args)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let app = dir.appendingPathComponent("mlp_app").path
        let cc = try Support.run("cc", ["-std=c11", "-Wall", "-Werror", "-pedantic", "-I", dir.path, "-o", app,
                                        example.appendingPathComponent("main.c").path, "-L", dir.path, "-lmlp",
                                        "-Wl,-rpath,\(dir.path)"])
        #expect(cc.status == 0, "\(cc.stderr)")
        let input = example.appendingPathComponent("input.npy").path
        let c = try Support.run(app, [input])
        #expect(c.status == 0, "\(c.stderr)")
        let np = try Support.run(Support.python, [example.appendingPathComponent("reference.py").path, input])
        #expect(np.status == 0, "\(np.stderr)")
        let jit = try Support.run(sinter, ["run", example.appendingPathComponent("mlp.sir").path, "--input", "x=\(input)",
                                           "--output-dir", dir.path])
        #expect(jit.status == 0, "\(jit.stderr)")

        func numbers(_ s: String) -> [Float] { s.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Float($0) } }
        let fromC = numbers(c.stdout), fromNumpy = numbers(np.stdout)
        let fromJIT = try Support.readNpy(dir.appendingPathComponent("probs.npy")).floats ?? []
        #expect(fromC.count == 40 && fromNumpy.count == 40 && fromJIT.count == 40)
        #expect(Support.mismatch(fromC, fromNumpy, atol: 1e-6, rtol: 1e-5) == nil, "C app vs numpy: \(Support.mismatch(fromC, fromNumpy) ?? "")")
        // The C app prints 9 significant digits; the JIT output is the same code, so agreement is to print precision.
        #expect(Support.mismatch(fromC, fromJIT, atol: 1e-9, rtol: 1e-8) == nil, "C app vs sinter run")
        let maxDiff = zip(fromC, fromNumpy).map { abs($0 - $1) }.max() ?? 0
        print("C app vs numpy: max |diff| = \(maxDiff) over \(fromC.count) values")

        // The artifact depends on libc/libm/libpthread only and exports only the prefixed API.
        let readelf = try Support.run("readelf", ["-d", so])
        let needed = readelf.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        let allowed = ["libc.so.6", "libm.so.6", "libpthread.so.0"]
        #expect(!needed.isEmpty && needed.allSatisfy { line in allowed.contains { line.contains("[\($0)]") } }, "\(needed)")
        let nm = try Support.run("nm", ["-D", "--defined-only", so])
        let symbols = nm.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(!symbols.isEmpty && symbols.allSatisfy { $0.hasPrefix("mlp_") }, "\(symbols)")
    }

    @Test func headerCompilesAsStrictCAndCxx() throws {
        let dir = try Support.temporaryDirectory("hdr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let h = dir.appendingPathComponent("mlp.h").path
        let r = try Support.run(Support.sinterExecutable, ["compile", Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path,
                                                           "--emit", "header", "-o", h])
        #expect(r.status == 0)
        let src = dir.appendingPathComponent("t.c")
        try "#include \"mlp.h\"\n#include \"mlp.h\"\nint main(void) { const sinter_tensor_info *i = mlp_input_info(0); return i ? (int)i->rank : mlp_num_inputs(); }\n".write(to: src, atomically: true, encoding: .utf8)
        let c99 = try Support.run("cc", ["-std=c99", "-Wall", "-Werror", "-pedantic", "-fsyntax-only", "-I", dir.path, src.path])
        #expect(c99.status == 0, "\(c99.stderr)")
        let cxx = try Support.run("c++", ["-x", "c++", "-std=c++11", "-Wall", "-Werror", "-pedantic", "-fsyntax-only", "-I", dir.path, src.path])
        #expect(cxx.status == 0, "\(cxx.stderr)")
    }
}
