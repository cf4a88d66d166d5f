import Foundation

/// A small FileCheck: `CHECK:`, `CHECK-NEXT:`, `CHECK-NOT:`, `CHECK-LABEL:`, with
/// `{{regex}}` inline patterns and `[[NAME:regex]]` captures used later as `[[NAME]]`.
/// Returns nil when the output matches, else a message naming the failing directive.
enum FileCheck {
    enum Kind: String { case check = "CHECK", next = "CHECK-NEXT", not = "CHECK-NOT", label = "CHECK-LABEL" }

    struct Directive {
        var kind: Kind
        var pattern: String
        var line: Int
    }

    static func directives(_ text: String) -> [Directive] {
        var out: [Directive] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("//") else { continue }
            let body = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
            for kind in [Kind.next, .not, .label, .check] where body.hasPrefix(kind.rawValue + ":") {
                out.append(Directive(kind: kind, pattern: body.dropFirst(kind.rawValue.count + 1).trimmingCharacters(in: .whitespaces), line: i + 1))
                break
            }
        }
        return out
    }

    /// Turns a directive pattern into a regex, substituting known captures; returns the
    /// regex and the names it defines, in order.
    static func regex(_ pattern: String, _ vars: [String: String]) -> (String, [String]) {
        var out = ""
        var names: [String] = []
        var rest = Substring(pattern)
        while !rest.isEmpty {
            if rest.hasPrefix("{{"), let end = rest.range(of: "}}") {
                out += "(?:" + rest[rest.index(rest.startIndex, offsetBy: 2)..<end.lowerBound] + ")"
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("[["), let end = rest.range(of: "]]") {
                let inner = rest[rest.index(rest.startIndex, offsetBy: 2)..<end.lowerBound]
                if let colon = inner.firstIndex(of: ":") {
                    names.append(String(inner[..<colon]))
                    out += "(" + inner[inner.index(after: colon)...] + ")"
                } else {
                    out += NSRegularExpression.escapedPattern(for: vars[String(inner)] ?? "<undefined \(inner)>")
                }
                rest = rest[end.upperBound...]
            } else {
                out += NSRegularExpression.escapedPattern(for: String(rest.first!))
                rest = rest.dropFirst()
            }
        }
        return (out, names)
    }

    static func check(_ output: String, against checks: String) -> String? {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var vars: [String: String] = [:]
        var position = 0          // next line to search from
        var lastMatch = -1
        var pendingNot: [Directive] = []
        func match(_ d: Directive, in range: Range<Int>) -> Int? {
            let (pattern, names) = regex(d.pattern, vars)
            guard let re = try? NSRegularExpression(pattern: pattern) else { return nil }
            for i in range {
                let l = lines[i]
                if let m = re.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)) {
                    for (k, name) in names.enumerated() {
                        if let r = Range(m.range(at: k + 1), in: l) { vars[name] = String(l[r]) }
                    }
                    return i
                }
            }
            return nil
        }
        func flushNots(upTo end: Int) -> String? {
            for d in pendingNot {
                if let hit = match(d, in: max(lastMatch + 1, 0)..<end) {
                    return "line \(d.line): CHECK-NOT: '\(d.pattern)' matched output line \(hit + 1): \(lines[hit])"
                }
            }
            pendingNot = []
            return nil
        }
        for d in directives(checks) {
            switch d.kind {
            case .not:
                pendingNot.append(d)
            case .next:
                guard lastMatch + 1 < lines.count, match(d, in: (lastMatch + 1)..<(lastMatch + 2)) != nil else {
                    return "line \(d.line): CHECK-NEXT: '\(d.pattern)' is not on the line after output line \(lastMatch + 1)"
                }
                lastMatch += 1
                position = lastMatch + 1
            case .check, .label:
                guard let hit = match(d, in: position..<lines.count) else {
                    return "line \(d.line): \(d.kind.rawValue): '\(d.pattern)' not found after output line \(position)"
                }
                if let e = flushNots(upTo: hit) { return e }
                lastMatch = hit
                position = hit + 1
            }
        }
        return flushNots(upTo: lines.count)
    }
}
