/// Tokens of the `.sir` text format, with 1-based line and column.
struct Token: Sendable {
    enum Kind: Equatable, Sendable {
        case ident  // graph, f32, add, reduce-sum, dense, true, nan, N
        case value  // %name or %"quoted"
        case global  // @name or @"quoted"
        case number  // 12, -3, 1.5, -1e-05
        case string  // "text"
        case punct  // ( ) { } [ ] < > : , = ->
        case eof
    }
    var kind: Kind
    var text: String
    var line: Int
    var column: Int
}

struct Lexer {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var column = 1
    let path: String

    init(_ text: String, path: String) {
        bytes = Array(text.utf8)
        self.path = path
    }

    func location(_ line: Int, _ column: Int) -> SourceLocation { .file(path: path, line: line, column: column) }

    private func peek(_ k: Int = 0) -> UInt8? { pos + k < bytes.count ? bytes[pos + k] : nil }

    private mutating func advance() {
        if bytes[pos] == UInt8(ascii: "\n") { line += 1; column = 1 } else if bytes[pos] & 0xC0 != 0x80 { column += 1 }
        pos += 1
    }

    private static func isIdentByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2E
            || c == 0x24
    }

    mutating func tokenize() throws(SinterError) -> [Token] {
        var out: [Token] = []
        while true {
            // Skip blanks and // comments.
            while let c = peek() {
                if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                    advance()
                } else if c == 0x2F && peek(1) == 0x2F {
                    while let d = peek(), d != 0x0A { advance() }
                } else {
                    break
                }
            }
            let l = line, col = column
            guard let c = peek() else {
                out.append(Token(kind: .eof, text: "", line: l, column: col))
                return out
            }
            func tok(_ k: Token.Kind, _ s: String) { out.append(Token(kind: k, text: s, line: l, column: col)) }
            switch c {
            case UInt8(ascii: "%"), UInt8(ascii: "@"):
                advance()
                let name: String
                if peek() == UInt8(ascii: "\"") {
                    name = try readString()
                } else {
                    let start = pos
                    while let d = peek(), Self.isIdentByte(d) { advance() }
                    guard pos > start else {
                        throw SinterError(
                            "expected a name after '\(Character(Unicode.Scalar(c)))'", at: location(l, col))
                    }
                    name = String(decoding: bytes[start..<pos], as: UTF8.self)
                }
                tok(c == UInt8(ascii: "%") ? .value : .global, name)
            case UInt8(ascii: "\""):
                tok(.string, try readString())
            case UInt8(ascii: "-") where peek(1) == UInt8(ascii: ">"):
                advance(); advance()
                tok(.punct, "->")
            case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = pos
                advance()
                if c == UInt8(ascii: "-") || c == UInt8(ascii: "+"), let d = peek(), d >= 0x61 && d <= 0x7A {
                    // -inf / -nan
                    while let d = peek(), Self.isIdentByte(d) { advance() }
                    tok(.number, String(decoding: bytes[start..<pos], as: UTF8.self))
                    continue
                }
                while let d = peek() {
                    let isExpSign =
                        (d == UInt8(ascii: "-") || d == UInt8(ascii: "+"))
                        && (bytes[pos - 1] == UInt8(ascii: "e") || bytes[pos - 1] == UInt8(ascii: "E"))
                    if (d >= 0x30 && d <= 0x39) || d == UInt8(ascii: ".") || d == UInt8(ascii: "e")
                        || d == UInt8(ascii: "E") || isExpSign
                    {
                        advance()
                    } else {
                        break
                    }
                }
                tok(.number, String(decoding: bytes[start..<pos], as: UTF8.self))
            case _ where Self.isIdentByte(c):
                let start = pos
                while let d = peek() {
                    // Mnemonics like reduce-sum: a hyphen inside an identifier followed by a letter.
                    if Self.isIdentByte(d) {
                        advance()
                    } else if d == UInt8(ascii: "-"), let e = peek(1), e >= 0x61 && e <= 0x7A {
                        advance()
                    } else {
                        break
                    }
                }
                tok(.ident, String(decoding: bytes[start..<pos], as: UTF8.self))
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["),
                UInt8(ascii: "]"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ":"), UInt8(ascii: ","),
                UInt8(ascii: "="):
                advance()
                tok(.punct, String(Character(Unicode.Scalar(c))))
            default:
                let scalar =
                    String(decoding: bytes[pos..<min(pos + 4, bytes.count)], as: UTF8.self).first.map(String.init)
                    ?? "?"
                throw SinterError("unexpected character '\(scalar)'", at: location(l, col))
            }
        }
    }

    /// Reads a double-quoted string with escapes \" \\ \n \t \u{hex}.
    private mutating func readString() throws(SinterError) -> String {
        let l = line, col = column
        advance()  // opening quote
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        while true {
            guard let c = peek(), c != 0x0A else { throw SinterError("unterminated string", at: location(l, col)) }
            advance()
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") { raw.append(c); continue }
            flush()
            guard let e = peek() else { throw SinterError("unterminated string", at: location(l, col)) }
            advance()
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                guard peek() == UInt8(ascii: "{") else {
                    throw SinterError("bad \\u escape", at: location(line, column))
                }
                advance()
                var hex: [UInt8] = []
                while let h = peek(), h != UInt8(ascii: "}") { hex.append(h); advance() }
                guard peek() != nil else { throw SinterError("unterminated string", at: location(l, col)) }
                advance()
                guard let v = UInt32(String(decoding: hex, as: UTF8.self), radix: 16), let s = Unicode.Scalar(v) else {
                    throw SinterError("bad \\u escape", at: location(line, column))
                }
                scalars.append(s)
            default:
                throw SinterError("unknown escape '\\\(Character(Unicode.Scalar(e)))'", at: location(line, column - 1))
            }
        }
        flush()
        return String(scalars)
    }
}
