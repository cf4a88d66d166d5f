import SinterIR
import Testing

/// The graph rewriter every pass edits through: positions, use replacement, erasure, names,
/// and the errors a broken rewrite gets instead of an invalid graph.
struct RewriterTests {
    static let source = """
        graph @g(%x: f32[4]) -> (%y: f32[4]) {
          %a = exp %x : f32[4]
          %y = relu %a : f32[4]
        }
        """

    @Test func insertsBeforeAfterAndAtTheEndWithTypesFromTheSchema() throws {
        let g = try Parser.parse(Self.source)
        var rw = Rewriter(g)
        let x = g.inputs[0]
        let n = try rw.insert1(.neg, [x], name: "a", at: .before(0))  // "a" is taken: a fresh name
        let t = try rw.insert1(.tanh, [n], name: "t", at: .after(0))
        _ = try rw.insert1(.sigmoid, [t], name: "s", at: .end)
        rw.update(1) { $0.operands = [t] }
        let out = try rw.finish()
        #expect(
            Printer.print(out) == """
                graph @g(%x: f32[4]) -> (%y: f32[4]) {
                  %a.1 = neg %x : f32[4]
                  %a = exp %x : f32[4]
                  %t = tanh %a.1 : f32[4]
                  %y = relu %t : f32[4]
                  %s = sigmoid %t : f32[4]
                }

                """)
    }

    @Test func replaceAllUsesReachesInsertedNodesAndOutputs() throws {
        let g = try Parser.parse(Self.source)
        var rw = Rewriter(g)
        let a = g.nodes[0].results[0], y = g.nodes[1].results[0]
        let u = try rw.insert1(.abs, [a], name: "u", at: .end)
        let z = try rw.insert1(.floor, [g.inputs[0]], name: "z", at: .before(0))
        rw.replaceAllUses(of: a, with: z)
        rw.replaceAllUses(of: y, with: u)
        rw.erase(0)
        let out = try rw.finish()
        #expect(out.nodes.map(\.op) == [.floor, .relu, .abs])
        #expect(out.nodes[2].operands == [out.nodes[0].results[0]])
        #expect(out.outputs == [out.nodes[2].results[0]])
    }

    @Test func erasingAValueStillInUseIsALocatedError() throws {
        let g = try Parser.parse(Self.source, path: "r.sir")
        var rw = Rewriter(g)
        rw.erase(0)
        #expect(throws: SinterError.self) { try rw.finish() }
        do {
            _ = try rw.finish()
        } catch {
            #expect(
                error.diagnostics.map(\.description) == [
                    "r.sir:3:8: error: a rewrite left '%a' used by 'relu' before (or without) its definition"
                ])
        }
        var bad = Rewriter(g)
        #expect(throws: SinterError.self) {
            try bad.insert(.matmul, [g.inputs[0], g.inputs[0]], name: "m", at: .end)
        }
    }
}
