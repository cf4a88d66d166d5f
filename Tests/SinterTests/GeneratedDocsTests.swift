import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Generated docs blocks (the IR op table, the default pipeline in README and passes.md) are
/// regenerated in place and each whole file compared, so a stale block, a hand edit inside one
/// or a duplicated marker fails. `SINTER_UPDATE_DOCS=1` writes the files instead.
struct GeneratedDocsTests {
    static let files = Array(Set(GeneratedDocs.blocks().map(\.file))).sorted()

    @Test(arguments: files)
    func docsAreCurrent(_ file: String) throws {
        let url = Support.root.appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        let want = try GeneratedDocs.render(text, file: file)
        if ProcessInfo.processInfo.environment["SINTER_UPDATE_DOCS"] == "1" {
            try want.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        #expect(text == want, "\(file) is out of date: run `bash Scripts/update-docs.sh`")
    }

    @Test func duplicatedOrMissingMarkersAreErrors() {
        let table = "<!-- op-table:begin x -->\n<!-- op-table:begin x -->\nold\n<!-- op-table:end -->\n"
        #expect(throws: GeneratedDocs.MarkerError.self) { try GeneratedDocs.render(table, file: "docs/ir.md") }
        #expect(throws: GeneratedDocs.MarkerError.self) { try GeneratedDocs.render("no markers", file: "docs/ir.md") }
        let ok = try? GeneratedDocs.render(
            "a\n<!-- op-table:begin -->\nold\n<!-- op-table:end -->\nb", file: "docs/ir.md")
        #expect(ok?.hasPrefix("a\n<!-- op-table:begin (generated from the op schema") == true)
        #expect(ok?.contains("| `conv-nchwc` |") == true && ok?.hasSuffix("<!-- op-table:end -->\nb") == true)
        #expect(ok?.contains("old") == false)
    }

    /// The README's pipeline is the one that runs.
    @Test func readmeShowsTheDefaultPipeline() throws {
        let text = try String(contentsOf: Support.root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(text.contains("```\n\(Pipeline.describe(Pipeline.default))\n```"))
    }
}
