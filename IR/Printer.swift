/// Writes the canonical `.sir` text of a graph. Parsing this text gives back an equal graph
/// and printing that graph gives back the same text.
///
///     graph @mlp(%x: f32[4,64]) -> (%probs: f32[4,10]) {
///       %w0 = constant "mlp.w0.npy" : f32[64,128]
///       %0 = matmul %x, %w0 : f32[4,128]
///       %probs = softmax %0 {axis = -1} : f32[4,10]
///     }
public enum Printer {
    /// `annotate` may add a trailing `// ...` comment to a node's line (dumps use it to show
    /// memory offsets); comments are not part of the canonical form.
    public static func print(_ g: Graph, annotate: ((Int) -> String?)? = nil) -> String {
        var out = "graph " + sigil("@", g.name) + "("
        out += g.inputs.map { "\(value(g, $0)): \(g.type(of: $0))" }.joined(separator: ", ")
        out += ") -> ("
        out += g.outputs.map { "\(value(g, $0)): \(g.type(of: $0))" }.joined(separator: ", ")
        out += ") {\n"
        for (i, node) in g.nodes.enumerated() {
            out += "  " + line(g, node)
            if let note = annotate?(i) { out += "  // " + note }
            out += "\n"
        }
        for k in g.kernels { out += "  " + kernel(k) + "\n" }
        if let m = g.memory { out += "  " + memory(m) + "\n" }
        out += "}\n"
        return out
    }

    static func value(_ g: Graph, _ v: ValueID) -> String { sigil("%", g.name(of: v)) }

    /// `kernel [%a, %b] anchor %a prologue [%t]`.
    static func kernel(_ k: KernelGroup) -> String {
        func list(_ names: [String]) -> String { "[" + names.map { sigil("%", $0) }.joined(separator: ", ") + "]" }
        var s = "kernel " + list(k.members)
        if let a = k.anchor { s += " anchor " + sigil("%", a) }
        if !k.prologue.isEmpty { s += " prologue " + list(k.prologue) }
        return s
    }

    /// `memory 4096 "best-fit" [%a at 0, %b at 2048] in-place [%c] views [%r]`.
    static func memory(_ m: ArenaPlan) -> String {
        func list(_ names: [String]) -> String { "[" + names.map { sigil("%", $0) }.joined(separator: ", ") + "]" }
        let slots = m.slots.map { sigil("%", $0.value) + " at \($0.offset)" }.joined(separator: ", ")
        return
            "memory \(m.bytes) \(quoteString(m.strategy)) [\(slots)] in-place \(list(m.inPlace)) views \(list(m.views))"
    }

    static func line(_ g: Graph, _ node: Node) -> String {
        var s = node.results.map { value(g, $0) }.joined(separator: ", ")
        s += " = " + node.op.rawValue
        if !node.operands.isEmpty { s += " " + node.operands.map { value(g, $0) }.joined(separator: ", ") }
        if !node.attributes.isEmpty {
            s += " {" + node.attributes.map { "\($0.name) = \($0.value)" }.joined(separator: ", ") + "}"
        }
        if let p = node.payload { s += " " + payload(p) }
        s += " : " + node.results.map { g.type(of: $0).description }.joined(separator: ", ")
        return s
    }

    static func payload(_ p: ConstantPayload) -> String {
        if let f = p.file { return quoteString(f) }
        let t = p.data
        if t.count != 1 && t.isSplat { return "dense<\(element(t, 0))>" }
        if t.shape.isEmpty { return "dense<\(element(t, 0))>" }
        return "dense<[" + (0..<t.count).map { element(t, $0) }.joined(separator: ", ") + "]>"
    }

    /// One element in the shortest form that reads back to the same bits (NaN payloads and
    /// the NaN sign are not kept: every NaN prints as `nan`).
    public static func element(_ t: TensorData, _ i: Int) -> String {
        let v = t.element(at: i)
        switch t.dtype {
        case .f64: return formatFloat(v)
        case .f32, .f16, .bf16: return formatFloat(Float(v))
        case .bool: return v != 0 ? "true" : "false"
        case .i64, .u64:
            var x: UInt64 = 0
            for k in 0..<8 { x |= UInt64(t.bytes[i * 8 + k]) << (8 * k) }
            return t.dtype == .u64 ? String(x) : String(Int64(bitPattern: x))
        case .i8, .u8, .i16, .i32, .u16, .u32: return String(Int64(v))
        }
    }
}
