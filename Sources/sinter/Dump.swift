import ArgumentParser
import Foundation
import Sinter

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's IR after the pipeline, with optional reports (fusion, memory, pass times).",
        discussion: "Passes: "
            + PassRegistry.all.map { "\($0.name) — \(type(of: $0).summary)" }.joined(separator: "; ")
            + ". Reports and dumps go to standard output (or -o FILE); diagnostics go to standard error.")

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var target: TargetOptions

    @Flag(name: .customLong("print-changed"), help: "For each pass that changed the IR, print a line diff.")
    var printChanged = false

    @Option(name: .customLong("stop-after"), help: "Stop the pipeline after this pass.")
    var stopAfter: String?

    @Flag(name: .customLong("time-passes"), help: "Print how long each pass took.")
    var timePasses = false

    @Flag(name: .customLong("fusion-report"), help: "Print the fused kernels and every refused fusion with its reason.")
    var fusionReport = false

    @Flag(name: .customLong("memory-report"), help: "Print the workspace arena layout.")
    var memoryReport = false

    @Flag(
        name: .customLong("kernel-report"),
        help: "Lower to kernels and print the target, its schedule values and each kernel's schedule.")
    var kernelReport = false

    @Option(help: "Output format: sir (default), dot (Graphviz, fused kernels as clusters) or svg (needs `dot`).")
    var format: String = "sir"

    @Flag(
        name: .customLong("split-input-file"),
        help: ArgumentHelp(
            "Treat each '// -----' section of a .sir file as its own graph (golden tests); outputs are joined "
                + "the same way.")
    )
    var splitInputFile = false

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    func run() throws {
        do throws(SinterError) {
            guard ["sir", "dot", "svg"].contains(format) else {
                throw SinterError("unknown --format '\(format)' (expected sir, dot or svg)")
            }
            var options = try pipeline.compileOptions()
            options.target = try target.resolved()
            options.passManager.printChanged = printChanged
            options.passManager.stopAfter = stopAfter
            var text = ""
            if splitInputFile {
                guard model.hasSuffix(".sir") else {
                    throw SinterError("--split-input-file applies to .sir files only")
                }
                // Like MLIR: every case runs, each failure is reported, and the command fails
                // if any case did.
                var diags: [Diagnostic] = []
                for (i, source) in try SirFile.splitCases(model).enumerated() {
                    if i > 0 { text += "// -----\n" }
                    do throws(SinterError) {
                        text += try process(try SirFile.parse(source, path: model), options)
                    } catch { diags += error.diagnostics }
                }
                try write(text)
                if !diags.isEmpty { throw SinterError(diags) }
                return
            }
            let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
            text = try process(graph, options)
            try write(text)
        } catch {
            throw reportAndExit(error)
        }
    }

    /// The dump of one graph: the pipeline's dumps, then the IR (or dot/svg), then the reports.
    func process(_ graph: Graph, _ options: CompileOptions) throws(SinterError) -> String {
        var text = ""
        var pm = PassManager(options: options.passManager, dump: { text += $0 })
        try Verifier.verify(graph)
        var g = graph
        let ctx = PassContext()
        try pm.run(options.pipeline, on: &g, context: ctx)
        switch format {
        case "dot": text += DotWriter.dot(g, fusion: try FusionPlan(g))
        case "svg": text += try svg(DotWriter.dot(g, fusion: try FusionPlan(g)))
        default:
            if !options.passManager.printAfterAll && !printChanged { text += Printer.print(g) }
        }
        if fusionReport {
            let plan: FusionPlan
            if let p = ctx.fusionPlan {
                plan = p
            } else if !g.kernels.isEmpty {
                plan = try FusionPlan(g)
            } else {
                plan = Fuse.plan(g)
            }
            text += Fuse.report(g, plan)
        }
        if memoryReport {
            if g.memory == nil { _ = try PlanMemory().run(&g, ctx) }
            text += try MemoryPlan(g).report(g)
        }
        if kernelReport {
            if g.memory == nil { _ = try PlanMemory().run(&g, ctx) }
            let program = try Lowering.lower(g, target: options.target)
            text += program.kernelReport(TargetInfo(options.target))
        }
        if timePasses { text += pm.timingReport }
        return text
    }

    func write(_ text: String) throws(SinterError) {
        if let output {
            try FileIO.writeAtomically(Array(text.utf8), to: output)
        } else {
            print(text, terminator: "")
        }
    }

    func svg(_ dot: String) throws(SinterError) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["dot", "-Tsvg"]
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw SinterError("--format svg needs Graphviz `dot` (apt-get install graphviz)") }
        input.fileHandleForWriting.write(Data(dot.utf8))
        try? input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw SinterError("--format svg needs Graphviz `dot` (apt-get install graphviz)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
