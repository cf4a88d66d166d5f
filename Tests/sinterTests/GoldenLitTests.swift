import Foundation
import Sinter
import SinterTestSupport
import Testing

/// IR text is the test language: each Tests/SinterPassesTests/Golden/*.sir file has a RUN line
/// (`sinter dump %s --split-input-file --passes '...' | FileCheck %s`), cases split by
/// `// -----`, and CHECK lines. `lit` (from PyPI, in the set-up's venv) runs them with LLVM's
/// own FileCheck, as MLIR's tests do.
struct GoldenLitTests {
    static let dir = Support.root.appendingPathComponent("Tests/SinterPassesTests/Golden")
    static let lit = Support.root.appendingPathComponent(".venv/bin/lit").path
    static let fileCheck = "/usr/lib/llvm-19/bin/FileCheck"

    /// (pipeline, number of cases) for each golden file, read from its RUN line.
    static func files() throws -> [(file: String, passes: [String], cases: Int)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sir") }
            .sorted()
        return try names.map { name in
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            let run = text.split(separator: "\n").first { $0.contains("RUN:") } ?? ""
            let quoted =
                run.components(separatedBy: "--passes '").dropFirst().first?.components(separatedBy: "'").first ?? ""
            let passes = try Pipeline.parse(quoted).map(\.name)
            return (name, passes, text.components(separatedBy: "\n// -----").count)
        }
    }

    @Test func everyPassHasAtLeastThreeGoldenCases() throws {
        var counts: [String: Int] = [:]
        for f in try Self.files() { for p in Set(f.passes) { counts[p, default: 0] += f.cases } }
        for pass in PassRegistry.types.map({ $0.name }) where ![InferShapes.name, PlanMemory.name].contains(pass) {
            #expect(counts[pass, default: 0] >= 3, "\(pass) has \(counts[pass, default: 0]) golden cases")
        }
    }

    @Test func goldenFilesPassUnderLitAndFileCheck() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.lit), "no lit at \(Self.lit): run Scripts/setup.sh")
        #expect(FileManager.default.isExecutableFile(atPath: Self.fileCheck), "no FileCheck: run Scripts/setup.sh")
        let r = try Support.run(Self.lit, ["-v", Self.dir.path, "--param", "sinter=\(Support.sinterExecutable)"])
        #expect(r.status == 0, "lit failed:\n\(r.stdout)\n\(r.stderr)")
        let files = try Self.files().count
        #expect(
            r.stdout.contains("Passed: \(files)") || r.stdout.contains("Passed : \(files)")
                || r.stdout.contains("Passed  : \(files)"), "\(r.stdout)")
    }

    /// FileCheck is LLVM's: a CHECK-NOT that matches fails, an invalid regex is an error
    /// (the hand-written matcher it replaces let both pass).
    @Test func fileCheckFailsWhenItShould() throws {
        let out = "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu %x : f32[2]\n}\n"
        let dir = try Support.temporaryDirectory("filecheck")
        func check(_ directives: String) throws -> Int32 {
            let file = dir.appendingPathComponent("check.txt")
            try directives.write(to: file, atomically: true, encoding: .utf8)
            let input = dir.appendingPathComponent("input.txt")
            try out.write(to: input, atomically: true, encoding: .utf8)
            return try Support.run(Self.fileCheck, [file.path, "--input-file", input.path]).status
        }
        #expect(try check("// CHECK: relu") == 0)
        #expect(try check("// CHECK: exp") != 0)
        #expect(try check("// CHECK-NOT: relu") != 0)
        #expect(try check("// CHECK-NOT: {{[unclosed}}") != 0)
        #expect(try check("// CHECK: graph @g\n// CHECK-NEXT: [[V:%[a-z]+]] = relu\n// CHECK-NEXT: }") == 0)
    }
}
