/// An attribute value as written in `{name = value}` after an op.
public enum AttributeValue: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case string(String)
    case ints([Int])

    public var description: String {
        switch self {
        case .int(let v): String(v)
        case .float(let v): formatFloat(v)
        case .bool(let v): v ? "true" : "false"
        case .string(let s): quoteString(s)
        case .ints(let vs): "[\(vs.map(String.init).joined(separator: ", "))]"
        }
    }

    var kind: AttributeKind {
        switch self {
        case .int: .int
        case .float: .float
        case .bool: .bool
        case .string: .string
        case .ints: .ints
        }
    }
}

public enum AttributeKind: String, Sendable {
    case int, float, bool, string, ints
}

/// Attributes of one node, kept sorted by name so that printing is canonical.
public struct Attributes: Hashable, Sendable, Sequence {
    public private(set) var entries: [(name: String, value: AttributeValue)] = []

    public init() {}
    public init(_ dict: [String: AttributeValue]) {
        for (k, v) in dict { self[k] = v }
    }

    public subscript(name: String) -> AttributeValue? {
        get { entries.first { $0.name == name }?.value }
        set {
            if let i = entries.firstIndex(where: { $0.name == name }) {
                if let v = newValue { entries[i].value = v } else { entries.remove(at: i) }
            } else if let v = newValue {
                entries.append((name, v))
                entries.sort { $0.name < $1.name }
            }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> IndexingIterator<[(name: String, value: AttributeValue)]> {
        entries.makeIterator()
    }

    public static func == (a: Attributes, b: Attributes) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into h: inout Hasher) {
        for e in entries { h.combine(e.name); h.combine(e.value) }
    }

    public func int(_ name: String) -> Int? {
        if case .int(let v)? = self[name] { return v }
        return nil
    }
    public func ints(_ name: String) -> [Int]? {
        if case .ints(let v)? = self[name] { return v }
        return nil
    }
    public func bool(_ name: String) -> Bool? {
        if case .bool(let v)? = self[name] { return v }
        return nil
    }
}

/// Shortest text that reads back to the same Double (Swift's description is round-trip exact);
/// integers keep a `.0` so that the parser knows the literal is a float.
func formatFloat(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v < 0 ? "-inf" : "inf" }
    return v.description
}

func formatFloat(_ v: Float) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v < 0 ? "-inf" : "inf" }
    return v.description
}

/// Names that are not plain identifiers are written in double quotes with escapes.
func isPlainIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first else { return false }
    guard isIdentStart(first) || ("0"..."9").contains(first) else { return false }
    return s.unicodeScalars.allSatisfy(isIdentContinue)
}

func isIdentStart(_ c: Unicode.Scalar) -> Bool {
    ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_"
}

func isIdentContinue(_ c: Unicode.Scalar) -> Bool {
    isIdentStart(c) || ("0"..."9").contains(c) || c == "." || c == "$"
}

func quoteString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 || c.value == 0x7F {
                out += "\\u{\(String(c.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(c)
            }
        }
    }
    return out + "\""
}

/// `%name` for a value: plain identifiers bare, others quoted.
func sigil(_ prefix: String, _ name: String) -> String {
    isPlainIdentifier(name) ? prefix + name : prefix + quoteString(name)
}
