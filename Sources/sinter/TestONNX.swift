import ArgumentParser
import Foundation
import Sinter

/// Runs ONNX backend node tests written out by Tests/ONNX/onnx_node_tests.py (used by
/// Scripts/conformance.sh, which also isolates crashes by re-running in batches).
struct TestONNX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-onnx",
        abstract: "Run ONNX backend node tests (one folder per test) and print PASS/FAIL/SKIP lines.")

    @Argument(help: "Folder holding one subfolder per test.")
    var directory: String

    @Option(help: "Only these tests (comma-separated names).")
    var only: String?

    func run() throws {
        let root = URL(fileURLWithPath: directory)
        var names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        if let only { names = only.split(separator: ",").map(String.init) }
        names = names.filter {
            FileManager.default.fileExists(
                atPath: root.appendingPathComponent($0).appendingPathComponent("model.onnx").path)
        }
        var counts: [Conformance.Outcome: Int] = [:]
        for name in names {
            let r = Conformance.run(root.appendingPathComponent(name))
            counts[r.outcome, default: 0] += 1
            // Unbuffered, so a crash still leaves every finished result in the output.
            FileHandle.standardOutput.write(
                Data("\(r.outcome.rawValue) \(r.name)\(r.detail.isEmpty ? "" : "\t" + r.detail)\n".utf8))
        }
        print("\(counts[.pass] ?? 0) passed, \(counts[.fail] ?? 0) failed, \(counts[.skip] ?? 0) skipped")
    }
}
