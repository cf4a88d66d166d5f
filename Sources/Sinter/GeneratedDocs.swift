import SinterIR
import SinterPasses

/// Blocks of the docs that are generated from the code (the op table, the default pipeline),
/// so the docs cannot drift from it. Each block sits between `<!-- NAME:begin ... -->` and
/// `<!-- NAME:end -->` in its file; a test regenerates every file in place and compares the
/// whole text, and `SINTER_UPDATE_DOCS=1 swift test --filter GeneratedDocsTests` (or
/// `bash Scripts/update-docs.sh`) writes them.
public enum GeneratedDocs {
    public struct Block: Sendable {
        /// Path relative to the package root.
        public var file: String
        public var name: String
        /// What generates it, written in the begin marker.
        public var source: String
        public var content: String
    }

    public static func blocks() -> [Block] {
        let pipeline = Pipeline.describe(Pipeline.default)
        return [
            Block(
                file: "docs/ir.md", name: "op-table", source: "the op schema, `sinter ops --ir`",
                content: OpReference.irTable()),
            Block(
                file: "README.md", name: "default-pipeline", source: "`Pipeline.default`",
                content: "Default pipeline (the driver adds `layout{block=N}`, N the target's f32 vector width, and\n"
                    + "`infer-shapes{SYM=N}` from `--shape`):\n\n```\n\(pipeline)\n```\n"),
            Block(
                file: "docs/passes.md", name: "default-pipeline", source: "`Pipeline.default`",
                content: "```\n\(wrapped(pipeline))\n```\n"),
        ]
    }

    public struct MarkerError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `text` with every block meant for `file` replaced by its generated content. A block's
    /// markers must each appear exactly once, begin before end.
    public static func render(_ text: String, file: String) throws(MarkerError) -> String {
        var out = text
        for block in blocks() where block.file == file {
            let begin = "<!-- \(block.name):begin"
            let end = "<!-- \(block.name):end -->"
            let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
            let begins = lines.indices.filter { lines[$0].hasPrefix(begin) }
            let ends = lines.indices.filter { lines[$0] == end }
            guard begins.count == 1, ends.count == 1, begins[0] < ends[0] else {
                throw MarkerError(
                    description: "\(file): block '\(block.name)' needs exactly one begin and one end "
                        + "marker, begin first (found \(begins.count) and \(ends.count))")
            }
            let marker = "<!-- \(block.name):begin (generated from \(block.source); do not edit) -->"
            let body = block.content.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            let replaced = lines[..<begins[0]] + [Substring(marker)] + body + lines[ends[0]...]
            out = replaced.joined(separator: "\n")
        }
        return out
    }

    /// Breaks a comma-separated list after commas so lines stay under 100 characters.
    static func wrapped(_ list: String) -> String {
        var lines: [String] = [""]
        for item in list.split(separator: ",") {
            let piece = lines[lines.count - 1].isEmpty ? String(item) : "," + item
            if lines[lines.count - 1].count + piece.count > 96 {
                lines[lines.count - 1] += ","
                lines.append(String(item))
            } else {
                lines[lines.count - 1] += piece
            }
        }
        return lines.joined(separator: "\n")
    }
}
