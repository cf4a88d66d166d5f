import ArgumentParser
import Foundation
import Sinter

struct Ops: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the ONNX ops Sinter imports, or the IR op table (--ir); docs/ops.md has per-op pass counts.")

    @Flag(help: "Print the IR op table (Markdown) generated from the op schema.")
    var ir = false

    func run() throws {
        if ir {
            print(OpReference.irTable(), terminator: "")
            return
        }
        print("ONNX ops imported (default domain, \(ONNXImporter.supportedOps.count)); pass counts per op: docs/ops.md")
        for op in ONNXImporter.supportedOps { print("  \(op)") }
    }
}
