import SinterIR

/// One pipeline entry: a pass name and the options written after it, `layout{block=8}`.
public struct PassSpec: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var name: String
    public var options: [String: String]

    public init(_ name: String, _ options: [String: String] = [:]) {
        self.name = name
        self.options = options
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// The entry as the pipeline string writes it; options in name order, so text is canonical.
    public var description: String {
        guard !options.isEmpty else { return name }
        return name + "{" + options.keys.sorted().map { "\($0)=\(options[$0] ?? "")" }.joined(separator: " ") + "}"
    }
}

/// Pipelines as data: the one default list shared by `compile`, `run` and `dump`, and the
/// parser for `--passes` and golden tests' RUN lines.
public enum Pipeline {
    public static let `default`: [PassSpec] = [
        "infer-shapes", "fold-qdq", "expand-quant", "expand-training", "canonicalize", "fold-constants", "cse",
        "fold-batchnorm",
        "fold-pad",
        "sink-transposes",
        "canonicalize", "layout", "canonicalize", "dce", "rematerialize", "fuse", "plan-memory",
    ]

    /// The pipeline as text, `a,b{k=v},c`: what `--passes` accepts and the README shows.
    public static func describe(_ specs: [PassSpec]) -> String { specs.map(\.description).joined(separator: ",") }

    /// Parses `a,b{key=value key2=value2},c`, reporting every unknown pass, unknown option and
    /// malformed entry at once, each with its column in the pipeline string.
    public static func parse(_ text: String, origin: String = "--passes") throws(SinterError) -> [PassSpec] {
        var specs: [PassSpec] = []
        var diags: [Diagnostic] = []
        for (column, entry) in entries(text) {
            let here = SourceLocation.file(path: origin, line: 1, column: column)
            do throws(SinterError) {
                if let spec = try parseEntry(entry) { specs.append(spec) }
            } catch {
                diags += error.diagnostics.map { Diagnostic($0.message, at: here) }
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return specs
    }

    /// Fills options an entry does not set from `defaults` (the driver's choices, such as the
    /// target's layout block and `--shape` bindings); options written in the entry win.
    public static func applying(_ defaults: [String: [String: String]], to specs: [PassSpec]) -> [PassSpec] {
        specs.map { spec in
            var s = spec
            for (k, v) in defaults[spec.name] ?? [:] where s.options[k] == nil { s.options[k] = v }
            return s
        }
    }

    /// Instantiates each entry's pass with its options, checked against the pass's option table.
    public static func instantiate(_ specs: [PassSpec]) throws(SinterError) -> [any Pass] {
        var passes: [any Pass] = []
        var diags: [Diagnostic] = []
        for spec in specs {
            do throws(SinterError) {
                guard let type = PassRegistry.type(named: spec.name) else { throw unknownPass(spec.name) }
                try checkOptions(spec, type)
                passes.append(try type.init(options: PassOptionValues(pass: spec.name, values: spec.options)))
            } catch {
                diags += error.diagnostics
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return passes
    }

    // MARK: parsing

    /// Top-level entries split at commas outside braces, with their 1-based columns.
    static func entries(_ text: String) -> [(Int, String)] {
        var out: [(Int, String)] = []
        var current = "", start = 1, depth = 0
        for (i, c) in text.enumerated() {
            if c == "," && depth == 0 {
                out.append((start, current))
                current = ""
                start = i + 2
                continue
            }
            if c == "{" { depth += 1 }
            if c == "}" { depth -= 1 }
            current.append(c)
        }
        out.append((start, current))
        return out
    }

    static func parseEntry(_ raw: String) throws(SinterError) -> PassSpec? {
        let entry = raw.trimmingCharacters()
        if entry.isEmpty { return nil }
        guard let open = entry.firstIndex(of: "{") else {
            guard PassRegistry.type(named: entry) != nil else { throw unknownPass(entry) }
            return PassSpec(entry)
        }
        let name = String(entry[..<open]).trimmingCharacters()
        guard entry.hasSuffix("}") else { throw SinterError("'\(entry)': options must end with '}'") }
        guard let type = PassRegistry.type(named: name) else { throw unknownPass(name) }
        var options: [String: String] = [:]
        let body = entry[entry.index(after: open)..<entry.index(before: entry.endIndex)]
        for item in body.split(separator: " ") where !item.isEmpty {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                throw SinterError("pass '\(name)': option '\(item)' must look like key=value")
            }
            guard options[kv[0]] == nil else { throw SinterError("pass '\(name)': option '\(kv[0])' given twice") }
            options[kv[0]] = kv[1]
        }
        let spec = PassSpec(name, options)
        try checkOptions(spec, type)
        return spec
    }

    static func checkOptions(_ spec: PassSpec, _ type: any Pass.Type) throws(SinterError) {
        // Symbol options (infer-shapes' bindings) are checked by the pass that reads them.
        if type.takesSymbolOptions {
            _ = try type.init(options: PassOptionValues(pass: spec.name, values: spec.options))
            return
        }
        var diags: [Diagnostic] = []
        for (k, v) in spec.options.sorted(by: { $0.key < $1.key }) {
            guard let option = type.options.first(where: { $0.name == k }) else {
                let known = type.options.map(\.name)
                diags.append(
                    Diagnostic(
                        "pass '\(spec.name)' has no option '\(k)'"
                            + (known.isEmpty ? " (it takes none)" : " (options: \(known.joined(separator: ", ")))")))
                continue
            }
            switch option.kind {
            case .int where Int(v) == nil:
                diags.append(Diagnostic("pass '\(spec.name)': option '\(k)' must be an integer, got '\(v)'"))
            case .bool where v != "true" && v != "false":
                diags.append(Diagnostic("pass '\(spec.name)': option '\(k)' must be true or false, got '\(v)'"))
            default: break
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
    }

    static func unknownPass(_ name: String) -> SinterError {
        let known = PassRegistry.types.map { $0.name }.joined(separator: ", ")
        return SinterError("unknown pass '\(name)' (known passes: \(known))")
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
