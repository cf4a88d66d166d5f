import Foundation
import SinterIR
import SinterPasses
import SinterTestSupport
import Testing

/// IR text is the test language: each Golden/*.sir file starts with `// RUN: pass,pass`,
/// holds cases split by `// -----`, and CHECK lines that the printed result must match.
struct GoldenPassTests {
    static let dir = Support.root.appendingPathComponent("Tests/SinterPassesTests/Golden")

    struct Case: CustomTestStringConvertible, Sendable {
        var file: String
        var index: Int
        var passes: [String]
        var text: String
        var testDescription: String { "\(file)#\(index)" }
    }

    static var cases: [Case] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".sir") }.sorted()
        return files.flatMap { file -> [Case] in
            guard let text = try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8) else { return [] }
            let run = text.split(separator: "\n").first { $0.contains("RUN:") }.map { $0.components(separatedBy: "RUN:")[1] } ?? ""
            let passes = run.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return text.components(separatedBy: "// -----").enumerated().map { Case(file: file, index: $0.offset, passes: passes, text: $0.element) }
        }
    }

    @Test func everyPassHasAtLeastThreeGoldenCases() {
        var counts: [String: Int] = [:]
        for c in Self.cases { for p in Set(c.passes) { counts[p, default: 0] += 1 } }
        for pass in PassRegistry.all.map(\.name) where !["infer-shapes", "plan-memory"].contains(pass) {
            #expect(counts[pass, default: 0] >= 3, "\(pass) has \(counts[pass, default: 0]) golden cases")
        }
    }

    @Test(arguments: cases)
    func golden(_ c: Case) throws {
        var g = try Parser.parse(c.text, path: "\(c.file)#\(c.index)")
        var pm = PassManager(dump: { _ in })
        let ctx = PassContext()
        try pm.run(c.passes, on: &g, context: ctx)
        // Analyses show up as comment lines after the graph, so CHECK lines can read them.
        var out = Printer.print(g)
        if let plan = ctx.fusionPlan { out += Fuse.report(g, plan).split(separator: "\n").map { "// " + $0 }.joined(separator: "\n") + "\n" }
        if let problem = FileCheck.check(out, against: c.text) {
            Issue.record("\(c.file) case \(c.index): \(problem)\n--- output:\n\(out)")
        }
    }

    @Test func fileCheckFailsWhenItShould() {
        let out = "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu %x : f32[2]\n}\n"
        #expect(FileCheck.check(out, against: "// CHECK: relu") == nil)
        #expect(FileCheck.check(out, against: "// CHECK: exp") != nil)
        #expect(FileCheck.check(out, against: "// CHECK-NOT: relu") != nil)
        #expect(FileCheck.check(out, against: "// CHECK: graph @g\n// CHECK-NEXT: [[V:%[a-z]+]] = relu\n// CHECK-NEXT: }") == nil)
        #expect(FileCheck.check(out, against: "// CHECK: %y = relu [[X:%[a-z]+]]\n// CHECK: [[X]] = exp") != nil)
    }
}
