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
            _ = try writeONNX(model, pipeline, to: output)
            FileHandle.standardError.write(Data("wrote \(output)\n".utf8))
        } catch {
            throw reportAndExit(error)
        }
    }
}

/// `sinter quantize`: the model with int8 QDQ pairs from its calibration, as ONNX that
/// onnxruntime (or `sinter compile`, which runs them as int8 kernels) reads.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model quantized to int8 (QDQ ONNX) from the ranges of `sinter calibrate`.")

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @Option(name: .shortAndLong, help: "Output .onnx file (default: MODEL.int8.onnx).")
    var output: String?

    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        do throws(SinterError) {
            var p = pipeline
            p.quantize = p.quantize ?? "int8"
            let path = output ?? (model as NSString).deletingPathExtension + ".int8.onnx"
            let g = try writeONNX(model, p, to: path)
            let quantized = g.nodes.filter { $0.op == .quantize }.count
            FileHandle.standardError.write(Data("wrote \(path) (\(quantized) activation(s) quantized)\n".utf8))
        } catch {
            throw reportAndExit(error)
        }
    }
}

/// Loads `model`, runs the pipeline (a light one unless `--passes` is given: export keeps the
/// graph close to what was read) and writes ONNX atomically; returns the exported graph.
func writeONNX(_ model: String, _ pipeline: PipelineOptions, to path: String) throws(SinterError) -> Graph {
    var options = try pipeline.compileOptions()
    if pipeline.passes == nil { options.passes = ["infer-shapes", "fold-constants", "dce"] }
    let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
    let (g, _) = try Sinter.optimize(graph, options)
    try FileIO.writeAtomically([UInt8](try ONNXExporter.export(g)), to: path)
    return g
}
