import SinterIR
import SinterPasses
import Testing

/// Passes are tested in IR text: input graph, pipeline, expected output graph.
struct PassTests {
    func run(_ passes: [PassSpec], _ input: String, bindings: [String: Int] = [:]) throws -> (String, PassContext) {
        var g = try Parser.parse(input, path: "in.sir")
        let ctx = PassContext()
        var pm = PassManager(dump: { _ in })
        try pm.run(
            Pipeline.applying([InferShapes.name: bindings.mapValues { "\($0)" }], to: passes), on: &g, context: ctx)
        return (Printer.print(g), ctx)
    }

    @Test func dceRemovesUnusedNodes() throws {
        let (out, _) = try run(
            ["dce"],
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %unused = exp %x : f32[4]
              %dead2 = neg %unused : f32[4]
              %y = relu %x : f32[4]
            }
            """)
        #expect(
            out == """
                graph @g(%x: f32[4]) -> (%y: f32[4]) {
                  %y = relu %x : f32[4]
                }

                """)
    }

    @Test func dceKeepsEverythingLive() throws {
        let text = """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %a = exp %x : f32[4]
              %y = add %a, %x : f32[4]
            }

            """
        #expect(try run(["dce"], text).0 == text)
    }

    @Test func foldConstantsEvaluatesSchemaExpressions() throws {
        let (out, _) = try run(
            ["fold-constants", "dce"],
            """
            graph @g(%x: f32[2]) -> (%y: f32[2]) {
              %a = constant dense<[1.0, 4.0]> : f32[2]
              %b = constant dense<2.0> : f32[2]
              %c = mul %a, %b : f32[2]
              %d = sqrt %c : f32[2]
              %e = reshape %d {shape = [2, 1]} : f32[2,1]
              %f = transpose %e : f32[1,2]
              %g = reshape %f {shape = [2]} : f32[2]
              %y = add %x, %g : f32[2]
            }
            """)
        #expect(
            out == """
                graph @g(%x: f32[2]) -> (%y: f32[2]) {
                  %g = constant dense<[1.4142135, 2.828427]> : f32[2]
                  %y = add %x, %g : f32[2]
                }

                """)
    }

    @Test func foldConstantsLeavesNonConstantsAndRespectsTheLimit() throws {
        let text = """
            graph @g(%x: f32[3]) -> (%y: f32[3]) {
              %a = constant dense<[1.0, 2.0, 3.0]> : f32[3]
              %b = exp %a : f32[3]
              %y = add %x, %b : f32[3]
            }

            """
        var g = try Parser.parse(text)
        #expect(try FoldConstants(limit: 2).run(&g, PassContext()) == false)
        #expect(Printer.print(g) == text)
    }

    @Test func inferShapesBindsSymbols() throws {
        let (out, _) = try run(
            ["infer-shapes"],
            """
            graph @g(%x: f32[N,8], %w: f32[8,3]) -> (%y: f32[N,3]) {
              %0 = matmul %x, %w : f32[N,3]
              %y = softmax %0 : f32[N,3]
            }
            """, bindings: ["N": 5])
        #expect(
            out == """
                graph @g(%x: f32[5,8], %w: f32[8,3]) -> (%y: f32[5,3]) {
                  %0 = matmul %x, %w : f32[5,3]
                  %y = softmax %0 : f32[5,3]
                }

                """)
    }

    @Test func planMemoryNeedsStaticShapes() throws {
        do {
            _ = try run(
                ["plan-memory"],
                """
                graph @g(%x: f32[N,8]) -> (%y: f32[N,8]) {
                  %0 = exp %x : f32[N,8]
                  %y = relu %0 : f32[N,8]
                }
                """)
            Issue.record("expected an error")
        } catch {
            #expect(
                (error as? SinterError)?.diagnostics.map(\.description) == [
                    "in.sir:2:8: error: '%0' has symbolic type f32[N,8]; bind N with --shape"
                ])
        }
    }

    @Test func passManagerPrintsAfterRequestedPassesAndVerifies() throws {
        var dumps: [String] = []
        var pm = PassManager(dump: { dumps.append($0) })
        // fold-pad removes dead code first (its pads must have one live user): it prints a change.
        pm.options.printAfter = ["fold-pad"]
        var g = try Parser.parse(
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %u = exp %x : f32[4]
              %y = relu %x : f32[4]
            }
            """)
        try pm.run(Pipeline.default, on: &g, context: PassContext())
        #expect(dumps.count == 1)
        #expect(dumps.first?.hasPrefix("// ----- IR after fold-pad -----\ngraph @g") == true)
        #expect(pm.timings.map(\.pass) == Pipeline.default.map(\.name))

        pm.options.printAfter = ["no-such-pass"]
        #expect(throws: SinterError.self) { try pm.run(["dce"], on: &g, context: PassContext()) }
        #expect(throws: SinterError.self) { try Pipeline.parse("dce,bogus,also-bogus") }
    }

    @Test func dumpAfterPlanMemoryShowsTheMemoryLine() throws {
        var dumps: [String] = []
        var pm = PassManager(dump: { dumps.append($0) })
        pm.options.printAfterAll = true
        var g = try Parser.parse(
            """
            graph @g(%x: f32[16]) -> (%y: f32[16]) {
              %a = softmax %x : f32[16]
              %b = softmax %a : f32[16]
              %y = relu %b : f32[16]
            }
            """)
        let passes: [PassSpec] = ["infer-shapes", "dce", "plan-memory"]  // no fusion: every value gets memory
        try pm.run(passes, on: &g, context: PassContext())
        #expect(dumps.count == passes.count)
        let last = dumps.last ?? ""
        #expect(last.contains("memory 128 \"greedy-by-size\" [%a at 0, %b at 64] in-place [] views []"), "\(last)")
        // The dump parses back to the same graph, plan included.
        let text = String(last.drop { $0 != "\n" }.dropFirst())
        #expect(try Parser.parse(text) == g)
    }
}

/// Pass options live in the pipeline string; analyses that a later change would make stale
/// are reported, not silently dropped.
struct PipelineTests {
    @Test func optionsParsePrintAndReachThePass() throws {
        let specs = try Pipeline.parse("infer-shapes{N=4}, layout{block=8},fold-constants{limit=2},fuse")
        #expect(Pipeline.describe(specs) == "infer-shapes{N=4},layout{block=8},fold-constants{limit=2},fuse")
        let passes = try Pipeline.instantiate(specs)
        #expect((passes[0] as? InferShapes)?.bindings == ["N": 4])
        #expect((passes[1] as? Layout)?.block == 8)
        #expect((passes[2] as? FoldConstants)?.limit == 2)
        // Defaults fill only what an entry leaves out.
        let filled = Pipeline.applying(["layout": ["block": "16"]], to: try Pipeline.parse("layout,layout{block=4}"))
        #expect(Pipeline.describe(filled) == "layout{block=16},layout{block=4}")
    }

    @Test func everyBadEntryIsReportedWithItsColumn() {
        do {
            _ = try Pipeline.parse("dce,bogus,layout{block=8 blok=2},fuse{x=1},cse{y}")
            Issue.record("expected errors")
        } catch {
            #expect(
                error.diagnostics.map(\.description) == [
                    "--passes:1:5: error: unknown pass 'bogus' (known passes: \(PassRegistry.types.map { $0.name }.joined(separator: ", ")))",
                    "--passes:1:11: error: pass 'layout' has no option 'blok' (options: block)",
                    "--passes:1:34: error: pass 'fuse' has no option 'x' (it takes none)",
                    "--passes:1:44: error: pass 'cse': option 'y' must look like key=value",
                ])
        }
    }

    static let changedAfterFuse = """
        graph @g(%x: f32[4]) -> (%y: f32[4]) {
          %one = constant dense<1.0> : f32[]
          %a = mul %x, %one : f32[4]
          %e = exp %a : f32[4]
          %y = relu %e : f32[4]
        }
        """

    /// Kernels are IR: a pass that removes a member breaks that kernel, and the pipeline
    /// reports it at the kernel unless 'fuse' runs again; a pass that leaves the members alone
    /// keeps the kernel.
    @Test func aPassThatBreaksAKernelAfterFuseIsAnError() throws {
        var g = try Parser.parse(Self.changedAfterFuse, path: "g.sir")
        var pm = PassManager(dump: { _ in })
        do {
            try pm.run(["infer-shapes", "fuse", "canonicalize", "plan-memory"], on: &g, context: PassContext())
            Issue.record("expected an error")
        } catch {
            #expect(
                error.diagnostics.map(\.description) == [
                    "g.sir:5:8: error: kernel 0: '%a' is not defined by any node, after pass 'canonicalize' "
                        + "(pipeline entry 3); run 'fuse' again after it, or move it before 'fuse'"
                ])
        }
        // Fusing again after the change is fine: the new kernel covers the changed graph.
        var h = try Parser.parse(Self.changedAfterFuse, path: "g.sir")
        let ctx = PassContext()
        try pm.run(["infer-shapes", "fuse", "canonicalize", "fuse", "plan-memory"], on: &h, context: ctx)
        #expect(h.kernels.map(\.members) == [["e", "y"]])
        #expect(h.memory != nil)
        // A pass that changes other nodes keeps the kernel.
        var k = try Parser.parse(Self.changedAfterFuse, path: "g.sir")
        try pm.run(["fuse"], on: &k, context: PassContext())
        #expect(k.kernels.map(\.members) == [["a", "e", "y"]])
        k.nodes[0].payload = ConstantPayload(TensorData([Float(2)], shape: []))
        try pm.run(["canonicalize", "plan-memory"], on: &k, context: PassContext())
        #expect(k.kernels.map(\.members) == [["a", "e", "y"]])
    }

    @Test func canonicalizeReportsNonConvergenceWhereItStopped() throws {
        var g = try Parser.parse(
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %a = neg %x : f32[4]
              %b = neg %a : f32[4]
              %c = identity %b : f32[4]
              %y = relu %c : f32[4]
            }
            """, path: "c.sir")
        var pm = PassManager(dump: { _ in })
        do {
            try pm.run(try Pipeline.parse("canonicalize{max-rewrites=1}"), on: &g, context: PassContext())
            Issue.record("expected an error")
        } catch {
            #expect(error.diagnostics.count == 1)
            #expect(
                error.diagnostics.first?.description.hasPrefix(
                    "c.sir:4:8: error: canonicalize did not converge after 1 rewrites") == true, "\(error)")
        }
        var h = try Parser.parse(Self.changedAfterFuse)
        try pm.run(["canonicalize"], on: &h, context: PassContext())
        #expect(!Printer.print(h).contains("mul"))
    }
}
