import ArgumentParser
import Foundation
import Sinter

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model to a shared object, object file, LLVM IR, assembly or C header.")

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @Option(name: .shortAndLong, help: "Output file (default: NAME.<ext> in the current folder).")
    var output: String?

    @Option(help: "What to emit: \(EmitKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var emit: String = EmitKind.shared.rawValue

    @Option(help: "Symbol prefix for the C API (default: the graph name as a C identifier).")
    var name: String?

    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        do throws(SinterError) {
            guard let kind = EmitKind(rawValue: emit) else {
                throw SinterError("unknown --emit '\(emit)' (expected one of: \(EmitKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let options = try pipeline.compileOptions()
            let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
            let prefix = ABI.cIdentifier(name ?? graph.name)
            let path = output ?? "\(kind == .shared ? "lib" : "")\(prefix).\(kind.fileExtension)"
            try Sinter.compile(graph, to: path, emit: kind, name: prefix, options: options)
            FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
        } catch {
            throw reportAndExit(error)
        }
    }
}
