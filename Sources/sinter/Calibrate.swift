import ArgumentParser
import Foundation
import Sinter

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure activation ranges for --quantize int8 by running the float model on sample inputs.",
        discussion:
            "The .npz holds one array per graph input, named as the input, of shape [S, *input shape]: S complete "
            + "inputs. Each is run through the compiled float model; the ranges of every activation the "
            + "quantize pass would quantize are written as JSON (through a temporary file and a rename)."
    )

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @Option(help: ArgumentHelp("Sample inputs (numpy.savez).", valueName: "FILE.npz"))
    var data: String

    @Option(help: ArgumentHelp("How a range is chosen: minmax, percentile or entropy.", valueName: "METHOD"))
    var method: String = Calibration.Method.minmax.rawValue

    @Option(name: .shortAndLong, help: "Where to write the ranges (default: MODEL.calib.json).")
    var output: String?

    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        do throws(SinterError) {
            guard let method = Calibration.Method(rawValue: method) else {
                let known = Calibration.Method.allCases.map(\.rawValue).joined(separator: ", ")
                throw SinterError("--method '\(self.method)' is not one of \(known)")
            }
            let options = try pipeline.compileOptions()
            let arrays = Dictionary(try Npz.decode(try FileIO.read(data), origin: data)) { a, _ in a }
            let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
            var count: Int?
            var diags: [Diagnostic] = []
            for v in graph.inputs {
                let name = graph.name(of: v), type = graph.type(of: v)
                guard let a = arrays[name] else {
                    diags.append(Diagnostic("\(data) has no array '\(name)' for graph input '\(name)' \(type)"))
                    continue
                }
                guard let shape = type.shape, a.dtype == type.dtype, a.shape.count == shape.count + 1,
                    Array(a.shape.dropFirst()) == shape
                else {
                    diags.append(
                        Diagnostic(
                            "\(data): '\(name)' is \(a.type); graph input '\(name)' is \(type), so it must be "
                                + "\(type.dtype.rawValue)[S,\(type.dims.map(\.description).joined(separator: ","))]"))
                    continue
                }
                if let c = count, c != a.shape[0] {
                    diags.append(Diagnostic("\(data): '\(name)' has \(a.shape[0]) samples, other inputs \(c)"))
                }
                count = count ?? a.shape[0]
            }
            if !diags.isEmpty { throw SinterError(diags) }
            let terminal = isatty(STDERR_FILENO) == 1
            let calibration = try Sinter.calibrate(
                graph, samples: count ?? 0, method: method, options: options,
                sample: { s in
                    graph.inputs.map { v in
                        let a = arrays[graph.name(of: v)] ?? TensorData([], shape: [0])
                        let per = a.bytes.count / max(a.shape[0], 1)
                        return TensorData(
                            dtype: a.dtype, shape: Array(a.shape.dropFirst()),
                            bytes: Array(a.bytes[(s * per)..<((s + 1) * per)]))
                    }
                },
                progress: { done, total in
                    guard terminal else { return }
                    let width = 30, filled = done * width / max(total, 1)
                    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                    FileHandle.standardError.write(Data("\rcalibrating [\(bar)] \(done)/\(total)".utf8))
                    if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
                })
            let path = output ?? (model as NSString).deletingPathExtension + ".calib.json"
            try calibration.write(to: path)
            print(
                "calibrated \(calibration.tensors.count) activation(s) over \(calibration.samples) sample(s) "
                    + "(\(method.rawValue)) -> \(path)")
        } catch {
            throw reportAndExit(error)
        }
    }
}
