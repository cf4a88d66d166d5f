/// Markdown generated from the op table, so the docs cannot drift from the schema.
public enum OpReference {

    public static func irTable() -> String {
        var lines = [
            "", "| op | operands | attributes (default) | dtypes | pattern | meaning |", "|---|---|---|---|---|---|",
        ]
        for op in Op.allCases {
            let s = op.schema
            let operands = "\(s.operandCount)\(s.variadic ? "+" : "")"
            let attrs =
                s.attributes.isEmpty
                ? "—"
                : s.attributes.map { a in
                    let d = a.defaultValue.map { " = \($0)" } ?? (a.required ? " (required)" : "")
                    return "`\(a.name)`: \(a.kind.rawValue)\(d)"
                }.joined(separator: ", ")
            let dtypes = s.dtypes.map(phrase).joined(separator: ", ")
            let meaning = s.scalar.map { "`\($0)` — \(s.summary)" } ?? s.summary
            lines.append(
                "| `\(op.rawValue)` | \(operands) | \(attrs) | \(dtypes) | \(pattern(s.pattern)) | "
                    + "\(meaning.replacingOccurrences(of: "|", with: "\\|")) |"
            )
        }
        lines += [""]
        return lines.joined(separator: "\n") + "\n"
    }

    static func phrase(_ c: DTypeConstraint) -> String {
        switch c {
        case .any: "any"
        case .numeric: "numeric"
        case .float: "float"
        case .bool: "bool"
        case .index: "i32/i64"
        case .integer: "integer"
        }
    }

    static func pattern(_ p: PatternClass) -> String {
        switch p {
        case .elementwise: "elementwise"
        case .broadcast: "broadcast"
        case .injective: "injective"
        case .reduction: "reduction"
        case .outElementwiseFusable: "out-elementwise-fusable"
        case .opaque: "opaque"
        }
    }
}

import Foundation
