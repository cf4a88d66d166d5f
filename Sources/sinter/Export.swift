import ArgumentParser
import Foundation
import Sinter

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as ONNX (opset 20), after the optimisation pipeline unless --passes is empty.")

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @Option(name: .shortAndLong, help: "Output .onnx file.")
    var output: String

    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        do throws(SinterError) {
            var options = try pipeline.compileOptions()
            if pipeline.passes == nil { options.passes = ["infer-shapes", "fold-constants", "dce"] }
            let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
            let (g, _) = try Sinter.optimize(graph, options)
            try FileIO.writeAtomically([UInt8](try ONNXExporter.export(g)), to: output)
            FileHandle.standardError.write(Data("wrote \(output)\n".utf8))
        } catch {
            throw reportAndExit(error)
        }
    }
}
