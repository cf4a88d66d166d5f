/// Reads `.sir` text into a verified graph. Syntax errors stop at the first one; semantic
/// problems (unknown ops, undefined values, bad types) are collected and reported together.
public struct Parser {
    private var tokens: [Token] = []
    private var i = 0
    private let lexer: Lexer
    private let resolveFile: (String, SourceLocation) throws(SinterError) -> TensorData
    private var diags: [Diagnostic] = []
    private var graph = Graph(name: "")
    private var scope: [String: ValueID] = [:]

    private enum PayloadSyntax {
        case file(String, SourceLocation)
        case dense([Token], SourceLocation)
    }

    /// Parses `text`; `path` names the file in diagnostics. `resolveFile` loads a constant
    /// written as `constant "file.npy"` (see `SirFile` for the default that reads next to
    /// the `.sir` file).
    public static func parse(
        _ text: String, path: String = "<input>",
        resolveFile: @escaping (String, SourceLocation) throws(SinterError) -> TensorData = {
            name, loc throws(SinterError) in
            throw SinterError("constant file '\(name)' cannot be loaded here", at: loc)
        }
    ) throws(SinterError) -> Graph {
        var p = Parser(lexer: Lexer(text, path: path), resolveFile: resolveFile)
        var lx = p.lexer
        p.tokens = try lx.tokenize()
        let g = try p.parseGraph()
        if !p.diags.isEmpty { throw SinterError(p.diags) }
        try Verifier.verify(g)
        return g
    }

    private init(lexer: Lexer, resolveFile: @escaping (String, SourceLocation) throws(SinterError) -> TensorData) {
        self.lexer = lexer
        self.resolveFile = resolveFile
    }

    // MARK: token helpers

    private var tok: Token { tokens[i] }
    private var loc: SourceLocation { lexer.location(tok.line, tok.column) }
    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .eof: "end of file"
        case .value: "'\(sigil("%", t.text))'"
        case .global: "'\(sigil("@", t.text))'"
        case .string: "'\(quoteString(t.text))'"
        case .ident, .number, .punct: "'\(t.text)'"
        }
    }

    private mutating func next() -> Token {
        let t = tokens[i]
        if i < tokens.count - 1 { i += 1 }
        return t
    }

    private func isPunct(_ p: String) -> Bool { tok.kind == .punct && tok.text == p }

    private mutating func expect(_ p: String, _ context: String) throws(SinterError) {
        guard isPunct(p) else { throw SinterError("expected '\(p)' \(context), found \(describe(tok))", at: loc) }
        _ = next()
    }

    private mutating func consume(_ p: String) -> Bool {
        if isPunct(p) { _ = next(); return true }
        return false
    }

    // MARK: grammar

    private mutating func parseGraph() throws(SinterError) -> Graph {
        guard tok.kind == .ident, tok.text == "graph" else {
            throw SinterError("expected 'graph', found \(describe(tok))", at: loc)
        }
        graph.location = loc
        _ = next()
        guard tok.kind == .global else {
            throw SinterError("expected a graph name like '@model', found \(describe(tok))", at: loc)
        }
        graph.name = next().text
        try expect("(", "to open the input list")
        if !isPunct(")") {
            repeat {
                let l = loc
                let (name, type) = try parseTypedValue()
                if scope[name] != nil { diags.append(Diagnostic("duplicate value name '%\(name)'", at: l)) }
                let v = graph.addValue(name: name, type: type)
                scope[name] = v
                graph.inputs.append(v)
            } while consume(",")
        }
        try expect(")", "to close the input list")
        try expect("->", "before the output list")
        try expect("(", "to open the output list")
        var outs: [(String, TensorType, SourceLocation)] = []
        if !isPunct(")") {
            repeat {
                let l = loc
                let (name, type) = try parseTypedValue()
                outs.append((name, type, l))
            } while consume(",")
        }
        try expect(")", "to close the output list")
        try expect("{", "to open the graph body")
        while !isPunct("}") {
            guard tok.kind != .eof else {
                throw SinterError("expected '}' to close the graph body, found end of file", at: loc)
            }
            if tok.kind == .ident && tok.text == "kernel" {
                try parseKernel()
            } else if tok.kind == .ident && tok.text == "memory" {
                try parseMemory()
            } else {
                try parseStatement()
            }
        }
        _ = next()
        guard tok.kind == .eof else { throw SinterError("unexpected \(describe(tok)) after the graph", at: loc) }
        for (name, type, l) in outs {
            guard let v = scope[name] else {
                diags.append(Diagnostic("graph output '%\(name)' is never defined", at: l))
                continue
            }
            if graph.type(of: v) != type {
                diags.append(
                    Diagnostic("graph output '%\(name)' is declared \(type) but defined as \(graph.type(of: v))", at: l)
                )
            }
            graph.outputs.append(v)
        }
        return graph
    }

    /// `memory BYTES "strategy" [%a at 0, ...] in-place [...] views [...]`; the verifier checks
    /// the names and offsets against the graph.
    private mutating func parseMemory() throws(SinterError) {
        let l = loc
        _ = next()
        guard graph.memory == nil else { throw SinterError("a graph has at most one 'memory' line", at: l) }
        func integer(_ what: String) throws(SinterError) -> Int {
            guard tok.kind == .number, let v = Int(tok.text) else {
                throw SinterError("expected \(what) (an integer), found \(describe(tok))", at: loc)
            }
            _ = next()
            return v
        }
        var plan = ArenaPlan(bytes: try integer("the arena size in bytes"), location: l)
        guard tok.kind == .string else {
            throw SinterError("expected the plan's strategy as a string, found \(describe(tok))", at: loc)
        }
        plan.strategy = next().text
        try expect("[", "to open the slot list")
        if !isPunct("]") {
            repeat {
                guard tok.kind == .value else {
                    throw SinterError("expected a slot like '%x at 0', found \(describe(tok))", at: loc)
                }
                let name = next().text
                guard tok.kind == .ident && tok.text == "at" else {
                    throw SinterError("expected 'at' between a value and its offset, found \(describe(tok))", at: loc)
                }
                _ = next()
                plan.slots.append(ArenaPlan.Slot(value: name, offset: try integer("an offset in bytes")))
            } while consume(",")
        }
        try expect("]", "to close the slot list")
        for (keyword, what) in [("in-place", "in-place concat"), ("views", "view")] {
            guard tok.kind == .ident && tok.text == keyword else {
                throw SinterError("expected '\(keyword) [...]', found \(describe(tok))", at: loc)
            }
            _ = next()
            let list = try valueList(what)
            if keyword == "views" { plan.views = list } else { plan.inPlace = list }
        }
        graph.memory = plan
    }

    /// `kernel [%a, %b, %c] anchor %a prologue [%b]`; names are checked against the graph by
    /// the verifier, so a kernel may be written before or after its members.
    private mutating func parseKernel() throws(SinterError) {
        let l = loc
        _ = next()
        var k = KernelGroup(members: try valueList("kernel member"), location: l)
        if tok.kind == .ident && tok.text == "anchor" {
            _ = next()
            guard tok.kind == .value else {
                throw SinterError("expected the anchor like '%m', found \(describe(tok))", at: loc)
            }
            k.anchor = next().text
        }
        if tok.kind == .ident && tok.text == "prologue" {
            _ = next()
            k.prologue = try valueList("prologue")
        }
        graph.kernels.append(k)
    }

    /// `[%a, %b]`: the value names of a `kernel` or `memory` line's list.
    private mutating func valueList(_ what: String) throws(SinterError) -> [String] {
        try expect("[", "to open the \(what) list")
        var out: [String] = []
        if !isPunct("]") {
            repeat {
                guard tok.kind == .value else {
                    throw SinterError("expected a value like '%x' in the \(what) list, found \(describe(tok))", at: loc)
                }
                out.append(next().text)
            } while consume(",")
        }
        try expect("]", "to close the \(what) list")
        return out
    }

    private mutating func parseTypedValue() throws(SinterError) -> (String, TensorType) {
        guard tok.kind == .value else {
            throw SinterError("expected a value like '%x', found \(describe(tok))", at: loc)
        }
        let name = next().text
        try expect(":", "after '%\(name)'")
        return (name, try parseType())
    }

    /// `dtype[dims]`, or `dtype<quantization>[dims]`; `checked: false` leaves the parameters
    /// unchecked against the shape (an element type read alone).
    private mutating func parseType(checked: Bool = true) throws(SinterError) -> TensorType {
        let l = loc
        guard tok.kind == .ident else {
            throw SinterError("expected a type like 'f32[4,8]', found \(describe(tok))", at: l)
        }
        guard let dtype = DType(rawValue: tok.text) else {
            throw SinterError(
                "unknown element type '\(tok.text)' (expected one of "
                    + "\(DType.allCases.map(\.rawValue).joined(separator: ", ")))",
                at: l)
        }
        _ = next()
        let quant = isPunct("<") ? try parseQuantParams() : nil
        try expect("[", "after the element type")
        var dims: [Dim] = []
        if !isPunct("]") {
            repeat {
                if tok.kind == .number, let n = Int(tok.text), n >= 0 {
                    dims.append(.fixed(n))
                } else if tok.kind == .ident {
                    dims.append(.symbol(tok.text))
                } else {
                    throw SinterError("expected a dimension (a size >= 0 or a symbol), found \(describe(tok))", at: loc)
                }
                _ = next()
            } while consume(",")
        }
        try expect("]", "to close the shape")
        if checked, let quant, let problem = quant.problem(dtype: dtype, dims: dims) {
            throw SinterError(problem, at: l)
        }
        return TensorType(dtype, dims, quant: quant)
    }

    /// Quantization parameters after an element type: `<0.02:128>` per tensor, or
    /// `<axis=1: 0.1:3, 0.2:4>` per axis (see `QuantParams`).
    private mutating func parseQuantParams() throws(SinterError) -> QuantParams {
        try expect("<", "before quantization parameters")
        var axis: Int?
        if tok.kind == .ident, tok.text == "axis" {
            _ = next()
            try expect("=", "after 'axis'")
            guard tok.kind == .number, let a = Int(tok.text) else {
                throw SinterError("expected the quantization axis (an integer), found \(describe(tok))", at: loc)
            }
            _ = next()
            axis = a
            try expect(":", "after the quantization axis")
        }
        var scales: [Float] = [], zeroPoints: [Int] = []
        repeat {
            guard tok.kind == .number, let scale = Float(tok.text) else {
                throw SinterError("expected a quantization scale like '0.02', found \(describe(tok))", at: loc)
            }
            _ = next()
            try expect(":", "between a scale and its zero point")
            guard tok.kind == .number, let zeroPoint = Int(tok.text) else {
                throw SinterError("expected a zero point (an integer), found \(describe(tok))", at: loc)
            }
            _ = next()
            scales.append(scale)
            zeroPoints.append(zeroPoint)
        } while consume(",")
        try expect(">", "to close the quantization parameters")
        return QuantParams(scales: scales, zeroPoints: zeroPoints, axis: axis)
    }

    /// Reads an element type written alone, like quantize's `to = "u8<0.02:128>"`; the
    /// parameters are checked against `dims` when given.
    public static func parseElementType(_ text: String, dims: [Dim]? = nil) throws(SinterError)
        -> (DType, QuantParams?)
    {
        var p = Parser(
            lexer: Lexer(text + "[]", path: "<type>"),
            resolveFile: { _, l throws(SinterError) in
                throw SinterError("no files here", at: l)
            })
        var lx = p.lexer
        p.tokens = try lx.tokenize()
        let t = try p.parseType(checked: false)
        guard p.tok.kind == .eof else { throw SinterError("unexpected \(p.describe(p.tok)) after the element type") }
        if let q = t.quant, let dims, let problem = q.problem(dtype: t.dtype, dims: dims) {
            throw SinterError(problem)
        }
        return (t.dtype, t.quant)
    }

    private mutating func parseStatement() throws(SinterError) {
        let stmtLoc = loc
        var resultNames: [(String, SourceLocation)] = []
        repeat {
            guard tok.kind == .value else {
                throw SinterError("expected a result like '%0 = ...', found \(describe(tok))", at: loc)
            }
            resultNames.append((tok.text, loc))
            _ = next()
        } while consume(",")
        try expect("=", "after the result name")
        let opLoc = loc
        guard tok.kind == .ident else { throw SinterError("expected an op name, found \(describe(tok))", at: opLoc) }
        let mnemonic = next().text
        let op = Op(rawValue: mnemonic)
        if op == nil { diags.append(Diagnostic("unknown op '\(mnemonic)'", at: opLoc)) }

        var operands: [ValueID] = []
        var operandsOK = true
        if tok.kind == .value {
            repeat {
                guard tok.kind == .value else {
                    throw SinterError("expected an operand like '%x', found \(describe(tok))", at: loc)
                }
                if let v = scope[tok.text] {
                    operands.append(v)
                } else {
                    diags.append(Diagnostic("use of undefined value '%\(tok.text)'", at: loc))
                    operandsOK = false
                }
                _ = next()
            } while consume(",")
        }
        var attrs = Attributes()
        if isPunct("{") { attrs = try parseAttributes() }
        var payloadSyntax: PayloadSyntax?
        if tok.kind == .string {
            payloadSyntax = .file(tok.text, loc)
            _ = next()
        } else if tok.kind == .ident && tok.text == "dense" {
            let l = loc
            _ = next()
            try expect("<", "after 'dense'")
            var denseTokens: [Token] = []
            while !isPunct(">") {
                guard tok.kind != .eof else { throw SinterError("expected '>' to close 'dense<'", at: loc) }
                denseTokens.append(next())
            }
            _ = next()
            payloadSyntax = .dense(denseTokens, l)
        }
        try expect(":", "before the result type")
        var types: [TensorType] = []
        repeat { types.append(try parseType()) } while consume(",")
        guard types.count == resultNames.count else {
            throw SinterError("\(resultNames.count) result(s) but \(types.count) type(s)", at: stmtLoc)
        }
        var results: [ValueID] = []
        for ((name, l), t) in zip(resultNames, types) {
            if scope[name] != nil { diags.append(Diagnostic("duplicate value name '%\(name)'", at: l)) }
            let v = graph.addValue(name: name, type: t)
            scope[name] = v
            results.append(v)
        }
        var payload: ConstantPayload?
        do {
            switch payloadSyntax {
            case .file(let name, let l)?:
                var data = try resolveFile(name, l)
                data.quant = types[0].quant
                payload = ConstantPayload(data, file: name)
                if let p = payload, p.data.type != types[0] {
                    diags.append(
                        Diagnostic(
                            "constant file '\(name)' holds \(p.data.type) but the result is declared \(types[0])", at: l
                        ))
                }
            case .dense(let toks, let l)?:
                var data = try Self.dense(toks, types[0], at: l, lexer: lexer)
                data.quant = types[0].quant
                payload = ConstantPayload(data)
            case nil:
                break
            }
        } catch {
            diags += error.diagnostics
            return
        }
        if let op, operandsOK {
            graph.nodes.append(
                Node(op: op, operands: operands, results: results, attributes: attrs, payload: payload, location: opLoc)
            )
        }
    }

    private mutating func parseAttributes() throws(SinterError) -> Attributes {
        try expect("{", "")
        var attrs = Attributes()
        repeat {
            let l = loc
            guard tok.kind == .ident else {
                throw SinterError("expected an attribute name, found \(describe(tok))", at: l)
            }
            let name = next().text
            try expect("=", "after attribute '\(name)'")
            let value: AttributeValue
            if tok.kind == .number {
                let t = next().text
                if let v = Int(t) {
                    value = .int(v)
                } else if let v = Self.parseDouble(t) {
                    value = .float(v)
                } else {
                    throw SinterError("bad number '\(t)'", at: l)
                }
            } else if tok.kind == .ident && (tok.text == "nan" || tok.text == "inf") {
                value = .float(next().text == "nan" ? .nan : .infinity)
            } else if tok.kind == .ident && (tok.text == "true" || tok.text == "false") {
                value = .bool(next().text == "true")
            } else if tok.kind == .string {
                value = .string(next().text)
            } else if consume("[") {
                var vs: [Int] = []
                if !isPunct("]") {
                    repeat {
                        guard tok.kind == .number, let v = Int(tok.text) else {
                            throw SinterError("expected an integer in the list, found \(describe(tok))", at: loc)
                        }
                        vs.append(v)
                        _ = next()
                    } while consume(",")
                }
                try expect("]", "to close the list")
                value = .ints(vs)
            } else {
                throw SinterError("expected an attribute value, found \(describe(tok))", at: loc)
            }
            if attrs[name] != nil { diags.append(Diagnostic("attribute '\(name)' is given twice", at: l)) }
            attrs[name] = value
        } while consume(",")
        try expect("}", "to close the attributes")
        return attrs
    }

    static func parseDouble(_ t: String) -> Double? {
        switch t {
        case "nan", "+nan", "-nan": return .nan
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        default: return Double(t)
        }
    }

    static func parseFloat(_ t: String) -> Float? {
        switch t {
        case "nan", "+nan", "-nan": return .nan
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        default: return Float(t)
        }
    }

    /// Decodes the tokens between `dense<` and `>`: a scalar splat or a flat `[...]` list.
    static func dense(_ toks: [Token], _ type: TensorType, at l: SourceLocation, lexer: Lexer) throws(SinterError)
        -> TensorData
    {
        guard let shape = type.shape, let count = checkedProduct(shape) else {
            throw SinterError("a constant needs a static shape, got \(type)", at: l)
        }
        var elems: [Token] = []
        var k = 0
        let isList = toks.first.map { $0.kind == .punct && $0.text == "[" } ?? false
        if isList {
            k = 1
            while k < toks.count, !(toks[k].kind == .punct && toks[k].text == "]") {
                elems.append(toks[k])
                k += 1
                if k < toks.count, toks[k].kind == .punct, toks[k].text == "," { k += 1 }
            }
            guard k == toks.count - 1 else { throw SinterError("malformed dense literal", at: l) }
        } else {
            guard toks.count == 1 else { throw SinterError("malformed dense literal", at: l) }
            elems = toks
        }
        // A splat is one value repeated: a few bytes of text can ask for any size, so it is
        // capped (a larger constant is an `expand` of a scalar, which costs nothing here).
        let need = count.multipliedReportingOverflow(by: type.dtype.byteSize)
        if !isList, need.overflow || need.partialValue > Self.splatLimit {
            throw SinterError(
                "a splat constant of type \(type) needs more than the "
                    + "\(Self.splatLimit) bytes a splat literal may hold; write it as an expand of a scalar", at: l)
        }
        guard !isList || elems.count == count else {
            throw SinterError("dense literal has \(elems.count) element(s) but \(type) needs \(count)", at: l)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(isList ? count * type.dtype.byteSize : type.dtype.byteSize)
        for e in elems {
            let el = lexer.location(e.line, e.column)
            func bad() -> SinterError { SinterError("'\(e.text)' is not a valid \(type.dtype.rawValue) value", at: el) }
            switch type.dtype {
            case .f32:
                guard e.kind == .number || e.kind == .ident, let v = parseFloat(e.text) else { throw bad() }
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
            case .f16, .bf16:
                guard e.kind == .number || e.kind == .ident, let v = parseFloat(e.text) else { throw bad() }
                let h = type.dtype == .f16 ? floatToHalf(v) : floatToBF16(v)
                withUnsafeBytes(of: h.littleEndian) { bytes += $0 }
            case .f64:
                guard e.kind == .number || e.kind == .ident, let v = parseDouble(e.text) else { throw bad() }
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
            case .bool:
                guard e.kind == .ident, e.text == "true" || e.text == "false" else { throw bad() }
                bytes.append(e.text == "true" ? 1 : 0)
            case .i8: guard let v = Int8(e.text) else { throw bad() }; bytes.append(UInt8(bitPattern: v))
            case .u8: guard let v = UInt8(e.text) else { throw bad() }; bytes.append(v)
            case .i16:
                guard let v = Int16(e.text) else { throw bad() }; withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            case .i32:
                guard let v = Int32(e.text) else { throw bad() }; withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            case .i64:
                guard let v = Int64(e.text) else { throw bad() }; withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            case .u16:
                guard let v = UInt16(e.text) else { throw bad() }; withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            case .u32:
                guard let v = UInt32(e.text) else { throw bad() }; withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            case .u64:
                guard let v = UInt64(e.text) else { throw bad() }; withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            }
        }
        if !isList {
            // Doubling copies: a few memcpys however many elements the splat has.
            let total = need.partialValue
            var filled = count > 0 ? bytes : []
            filled.reserveCapacity(total)
            while filled.count < total { filled += filled.prefix(total - filled.count) }
            bytes = filled
        }
        return TensorData(dtype: type.dtype, shape: shape, bytes: bytes)
    }

    /// Largest splat literal, in bytes (4 MiB): larger uniform tensors are an `expand`.
    static let splatLimit = 1 << 22
}
