import ArgumentParser
import Foundation
import Sinter

struct Ops: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the ONNX ops Sinter imports and the IR ops they become (docs/ops.md has pass counts).")

    func run() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/ops.md")
        if let table = try? String(contentsOf: docs, encoding: .utf8) {
            print(table, terminator: "")
            return
        }
        print("ONNX ops imported (\(ONNXImporter.supportedOps.count)):")
        for op in ONNXImporter.supportedOps { print("  \(op)") }
        print("IR ops (\(Op.allCases.count)): " + Op.allCases.map(\.rawValue).joined(separator: ", "))
    }
}
