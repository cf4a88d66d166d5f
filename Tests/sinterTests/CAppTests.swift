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
        let cc = try Support.run(
            "cc",
            [
                "-std=c11", "-Wall", "-Werror", "-pedantic", "-I", dir.path, "-o", app,
                example.appendingPathComponent("main.c").path, "-L", dir.path, "-lmlp",
                "-Wl,-rpath,\(dir.path)",
            ])
        #expect(cc.status == 0, "\(cc.stderr)")
        let input = example.appendingPathComponent("input.npy").path
        let c = try Support.run(app, [input])
        #expect(c.status == 0, "\(c.stderr)")
        let np = try Support.run(Support.python, [example.appendingPathComponent("reference.py").path, input])
        #expect(np.status == 0, "\(np.stderr)")
        let jit = try Support.run(
            sinter,
            [
                "run", example.appendingPathComponent("mlp.sir").path, "--input", "x=\(input)",
                "--output-dir", dir.path,
            ])
        #expect(jit.status == 0, "\(jit.stderr)")

        func numbers(_ s: String) -> [Float] {
            s.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Float($0) }
        }
        let fromC = numbers(c.stdout), fromNumpy = numbers(np.stdout)
        let fromJIT = try Support.readNpy(dir.appendingPathComponent("probs.npy")).floats ?? []
        #expect(fromC.count == 40 && fromNumpy.count == 40 && fromJIT.count == 40)
        #expect(
            Support.mismatch(fromC, fromNumpy, atol: 1e-6, rtol: 1e-5) == nil,
            "C app vs numpy: \(Support.mismatch(fromC, fromNumpy) ?? "")")
        // The C app prints 9 significant digits; the JIT output is the same code, so agreement is to print precision.
        #expect(Support.mismatch(fromC, fromJIT, atol: 1e-9, rtol: 1e-8) == nil, "C app vs sinter run")
        let maxDiff = zip(fromC, fromNumpy).map { abs($0 - $1) }.max() ?? 0
        print("C app vs numpy: max |diff| = \(maxDiff) over \(fromC.count) values")

        // The artifact depends on libc/libm/libpthread only and exports only the prefixed API.
        let readelf = try Support.run("readelf", ["-d", so])
        let needed = readelf.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        let allowed = ["libc.so.6", "libm.so.6", "libpthread.so.0"]
        #expect(
            !needed.isEmpty && needed.allSatisfy { line in allowed.contains { line.contains("[\($0)]") } }, "\(needed)")
        let nm = try Support.run("nm", ["-D", "--defined-only", so])
        let symbols = nm.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(!symbols.isEmpty && symbols.allSatisfy { $0.hasPrefix("mlp_") }, "\(symbols)")
    }

    @Test func headerCompilesAsStrictCAndCxx() throws {
        let dir = try Support.temporaryDirectory("hdr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let h = dir.appendingPathComponent("mlp.h").path
        let r = try Support.run(
            Support.sinterExecutable,
            [
                "compile", Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path,
                "--emit", "header", "-o", h,
            ])
        #expect(r.status == 0)
        let src = dir.appendingPathComponent("t.c")
        try
            "#include \"mlp.h\"\n#include \"mlp.h\"\nint main(void) { const sinter_tensor_info *i = mlp_input_info(0); return i ? (int)i->rank : mlp_num_inputs(); }\n"
            .write(to: src, atomically: true, encoding: .utf8)
        let c99 = try Support.run(
            "cc", ["-std=c99", "-Wall", "-Werror", "-pedantic", "-fsyntax-only", "-I", dir.path, src.path])
        #expect(c99.status == 0, "\(c99.stderr)")
        let cxx = try Support.run(
            "c++",
            ["-x", "c++", "-std=c++11", "-Wall", "-Werror", "-pedantic", "-fsyntax-only", "-I", dir.path, src.path])
        #expect(cxx.status == 0, "\(cxx.stderr)")
    }

    /// The shared-types guard carries the ABI version: a header of ABI 2 (its shared block as
    /// Sinter 2 wrote it) and one of ABI 3 in one translation unit fail to compile, in either
    /// order, instead of silently disagreeing about `sinter_tensor_info`.
    @Test func headersOfTwoAbiVersionsDoNotMix() throws {
        let dir = try Support.temporaryDirectory("abi-mix")
        defer { try? FileManager.default.removeItem(at: dir) }
        let h = dir.appendingPathComponent("mlp.h").path
        let r = try Support.run(
            Support.sinterExecutable,
            ["compile", Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path, "--emit", "header", "-o", h])
        #expect(r.status == 0)
        let header = try String(contentsOfFile: h, encoding: .utf8)
        #expect(header.contains("#ifndef SINTER_COMMON_TYPES_V3") && header.contains("#define SINTER_ABI_VERSION 3"))
        let v2 = """
            #ifndef SINTER_COMMON_TYPES
            #define SINTER_COMMON_TYPES
            #define SINTER_ABI_VERSION 2
            typedef enum sinter_dtype { SINTER_F32 = 1 } sinter_dtype;
            typedef struct sinter_tensor_info {
                const char *name; int32_t dtype; int32_t rank; const int64_t *shape;
            } sinter_tensor_info;
            #endif
            """
        try ("#include <stdint.h>\n" + v2 + "\n").write(
            to: dir.appendingPathComponent("old.h"), atomically: true, encoding: .utf8)
        for (order, first, second) in [("v2 then v3", "old.h", "mlp.h"), ("v3 then v2", "mlp.h", "old.h")] {
            let src = dir.appendingPathComponent("mix.c")
            try "#include \"\(first)\"\n#include \"\(second)\"\nint main(void) { return 0; }\n"
                .write(to: src, atomically: true, encoding: .utf8)
            let cc = try Support.run("cc", ["-std=c11", "-fsyntax-only", "-I", dir.path, src.path])
            #expect(cc.status != 0, "\(order) compiled")
        }
        // Two models of the same ABI share one copy of the block.
        let both = dir.appendingPathComponent("both.c")
        try "#include \"mlp.h\"\n#include \"mlp.h\"\nint main(void) { return SINTER_U64 == 13 ? 0 : 1; }\n"
            .write(to: both, atomically: true, encoding: .utf8)
        let ok = try Support.run("cc", ["-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-I", dir.path, both.path])
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}

/// The C ABI's error paths and workspace contract, exercised from C.
struct CABIContractTests {
    static let program = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include "mlp.h"
        #define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\\n", __LINE__, #c); return 1; } } while (0)
        int main(void) {
            static float x[256], y1[40], y2[40];
            for (int i = 0; i < 256; i++) x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
            CHECK(mlp_abi_version() == SINTER_ABI_VERSION);
            CHECK(mlp_num_inputs() == 1 && mlp_num_outputs() == 1);
            CHECK(mlp_input_info(1) == NULL && mlp_input_info(-1) == NULL && mlp_output_info(1) == NULL);
            CHECK(strcmp(mlp_input_info(0)->name, "x") == 0 && mlp_input_info(0)->dtype == SINTER_F32);
            CHECK(mlp_output_info(0)->rank == 2 && mlp_output_info(0)->shape[1] == 10);
            CHECK(mlp_workspace_align() == 64 && mlp_workspace_size() % 64 == 0 && mlp_workspace_size() > 0);
            CHECK(mlp_create(NULL, 1) == SINTER_ERR_NULL_ARGUMENT);
            mlp_context *ctx = NULL;
            CHECK(mlp_create(&ctx, -1) == SINTER_ERR_INVALID_ARGUMENT && ctx == NULL);
            CHECK(mlp_create(&ctx, 0) == SINTER_OK && ctx != NULL && mlp_num_threads(ctx) == 1);
            const void *in[1] = { x };
            void *out1[1] = { y1 }, *out2[1] = { y2 }, *nullout[1] = { NULL };
            CHECK(mlp_run(NULL, in, out1, NULL) == SINTER_ERR_NULL_ARGUMENT);
            CHECK(mlp_run(ctx, NULL, out1, NULL) == SINTER_ERR_NULL_ARGUMENT);
            CHECK(mlp_run(ctx, in, nullout, NULL) == SINTER_ERR_NULL_ARGUMENT);
            size_t size = (size_t)mlp_workspace_size();
            unsigned char *ws = aligned_alloc(64, size + 64);
            CHECK(mlp_run(ctx, in, out1, ws + 4) == SINTER_ERR_MISALIGNED_WORKSPACE);
            CHECK(mlp_run(ctx, in, out1, NULL) == SINTER_OK);       /* the context's workspace */
            memset(ws, 0xFF, size + 64);                             /* garbage must not matter */
            CHECK(mlp_run(ctx, in, out2, ws) == SINTER_OK);         /* the caller's workspace */
            CHECK(memcmp(y1, y2, sizeof y1) == 0);
            float sum = 0; for (int i = 0; i < 10; i++) sum += y1[i];
            CHECK(sum > 0.999f && sum < 1.001f);
            CHECK(strcmp(mlp_status_string(SINTER_OK), "ok") == 0);
            CHECK(strstr(mlp_status_string(SINTER_ERR_MISALIGNED_WORKSPACE), "aligned") != NULL);
            CHECK(strcmp(mlp_status_string(12345), "unknown status code") == 0);
            mlp_destroy(ctx);
            mlp_destroy(NULL);
            free(ws);
            printf("ok\\n");
            return 0;
        }
        """

    @Test func errorPathsAndWorkspaces() throws {
        let dir = try Support.temporaryDirectory("abi")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path
        for args in [
            ["-o", dir.appendingPathComponent("libmlp.so").path],
            ["--emit", "header", "-o", dir.appendingPathComponent("mlp.h").path],
        ] {
            let r = try Support.run(Support.sinterExecutable, ["compile", model] + args)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let src = dir.appendingPathComponent("abi.c")
        try Self.program.write(to: src, atomically: true, encoding: .utf8)
        let exe = dir.appendingPathComponent("abi").path
        let cc = try Support.run(
            "cc",
            [
                "-std=c11", "-Wall", "-Werror", "-I", dir.path, "-o", exe, src.path,
                "-L", dir.path, "-lmlp", "-Wl,-rpath,\(dir.path)",
            ])
        #expect(cc.status == 0, "\(cc.stderr)")
        let r = try Support.run(exe, [])
        #expect(r.status == 0 && r.stdout == "ok\n", "\(r.stdout)\(r.stderr)")
    }
}
