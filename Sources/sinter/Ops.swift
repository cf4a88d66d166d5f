import ArgumentParser
import Foundation
import Sinter

struct Ops: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print the ONNX ops Sinter imports with their limits (--markdown for docs), or the IR op table (--ir).",
        discussion: "docs/ops.md adds each op's ONNX node-test pass count (Scripts/conformance.sh).")

    @Flag(help: "Print the IR op table (Markdown) generated from the op schema.")
    var ir = false

    @Flag(help: "Print the ONNX table as Markdown rows.")
    var markdown = false

    func run() throws {
        if ir {
            print(OpReference.irTable(), terminator: "")
            return
        }
        let rows = ONNXImporter.supportTable
        if markdown {
            for r in rows { print("\(r.op)\t\(r.notes)") }
            return
        }
        print("ONNX ops imported (default domain, opsets 6–28 unless noted): \(rows.count)")
        let width = rows.map(\.op.count).max() ?? 0
        for r in rows { print("  \(r.op.padding(toLength: width, withPad: " ", startingAt: 0))  \(r.notes)") }
    }
}
