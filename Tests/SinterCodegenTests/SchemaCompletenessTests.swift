import SinterCodegen
import SinterIR
import SinterPasses
import Testing

/// Every op in the table has what every layer needs: a shape rule that accepts a valid use,
/// a verifier that accepts it, a printer/parser round trip, and a kernel (lowering), all
/// reached through the schema with no `default:` fallbacks (the switches are exhaustive).
struct SchemaCompletenessTests {
    /// A valid use of each op, written against the op table, not per-op code.
    static func sample(_ op: Op) throws -> Graph {
        var b = GraphBuilder(name: "s")
        let x = try b.input("x", TensorType(.f32, [2, 3]))
        let s = op.schema
        var attrs = Attributes()
        for spec in s.attributes where spec.required {
            if spec.name == "shape" { attrs["shape"] = .ints([3, 2]) }
        }
        let r: ValueID
        switch s.operandCount {
        case 0: r = try b.constant(TensorData([1, 2, 3, 4, 5, 6], shape: [2, 3]))
        case 1: r = try b.apply(op, [x], attributes: attrs)[0]
        default:
            let y = try b.input("y", TensorType(.f32, s.kernel == .matmul ? [3, 2] : [2, 3]))
            r = try b.apply(op, [x, y], attributes: attrs)[0]
        }
        b.output(r)
        return b.graph
    }

    @Test(arguments: Op.allCases)
    func opIsComplete(_ op: Op) throws {
        let s = op.schema
        #expect(s.op == op)
        #expect(!s.summary.isEmpty)
        #expect((s.kernel == .elementwise) == (s.scalar != nil), "scalar expression iff elementwise kernel")
        if let e = s.scalar { #expect(e.arity == s.operandCount) }
        let g = try Self.sample(op)
        try Verifier.verify(g)
        let text = Printer.print(g)
        #expect(text.contains(" = \(op.rawValue)"))
        let reparsed = try Parser.parse(text)
        #expect(Printer.print(reparsed) == text)
        #expect(reparsed == g)
        // Lowering and LLVM emission succeed (constants lower to embedded bytes + a copy).
        let program = try lowered(g)
        #expect(!program.kernels.isEmpty)
        _ = try Codegen.llvmIR(program, prefix: "s", optimize: false)
    }
}
