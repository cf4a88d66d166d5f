import SinterCodegen
import SinterIR
import SinterPasses
import SinterTestSupport
import Testing

/// Every op in the table has what every layer needs: a shape rule that accepts a valid use,
/// a verifier that accepts it, a printer/parser round trip, and a kernel (lowering), all
/// reached through the schema with no `default:` fallbacks (the switches are exhaustive).
struct SchemaCompletenessTests {
    static func sample(_ op: Op) throws -> Graph {
        var b = GraphBuilder(name: "s")
        let x = try b.input("x", TensorType(.f32, [2, 3, 4, 5]))
        b.output(try OpSamples.apply(op, &b, x))
        return b.graph
    }

    @Test(arguments: Op.allCases)
    func opIsComplete(_ op: Op) throws {
        let s = op.schema
        #expect(s.op == op)
        #expect(!s.summary.isEmpty)
        #expect((s.kernel == .elementwise) == (s.scalar != nil), "scalar expression iff elementwise kernel")
        if let e = s.scalar { #expect(e.arity == s.operandCount) }
        for name in s.scalar?.attributes ?? [] {
            #expect(s.attributeSpec(name)?.defaultValue != nil, "attribute \(name) needs a default")
        }
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
