import ArgumentParser
import Foundation
import Sinter

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's IR after the pipeline (and, on request, after each pass).",
        discussion: "Passes: " + PassRegistry.all.map { "\($0.name) — \(type(of: $0).summary)" }.joined(separator: "; "))

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        do throws(SinterError) {
            let options = try pipeline.compileOptions()
            let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
            let (g, ctx) = try Sinter.optimize(graph, options)
            if !options.passManager.printAfterAll {
                print(PassManager.render(g, ctx), terminator: "")
            }
        } catch {
            throw reportAndExit(error)
        }
    }
}
