import ArgumentParser
import Foundation
import Sinter

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model to a shared object, object file, LLVM IR, assembly or C header.")

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @Option(
        name: .shortAndLong,
        help: "Output file; with several --emit kinds, an output folder (default: the current folder).")
    var output: String?

    @Option(
        help: ArgumentHelp(
            "What to emit, one or several comma-separated: "
                + "\(EmitKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    )
    var emit: String = EmitKind.shared.rawValue

    @Option(help: "Symbol prefix for the C API (default: the graph name as a C identifier).")
    var name: String?

    @OptionGroup var target: TargetOptions

    @Flag(
        name: .customLong("weights-file"),
        help: "Put the weights in NAME.weights (loaded by NAME_load_weights) instead of the artifact.")
    var weightsFile = false

    @Option(
        help: ArgumentHelp(
            "Leave a symbolic dimension (usually the batch) to run time: NAME_run takes its size. "
                + "Bounds are optional: N=1..256.",
            valueName: "SYM[=MIN..MAX]"))
    var dynamic: String?

    @OptionGroup var pipeline: PipelineOptions

    @Flag(
        help: ArgumentHelp(
            "Also emit the train step (NAME_train_*): a context that owns the parameters (the model's float "
                + "initializers) and the optimizer state; see docs/abi.md."))
    var train = false

    @OptionGroup(title: "Training (with --train)") var training: TrainingOptions

    @Flag(
        help: ArgumentHelp(
            "Also emit NAME_explain: the gradient of each sample's class score with respect to the first input."))
    var explain = false

    func run() throws {
        do throws(SinterError) {
            var kinds: [EmitKind] = []
            var diags: [Diagnostic] = []
            for k in emit.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
                if let kind = EmitKind(rawValue: k) {
                    kinds.append(kind)
                } else {
                    diags.append(
                        Diagnostic(
                            "unknown --emit '\(k)' (expected: "
                                + "\(EmitKind.allCases.map(\.rawValue).joined(separator: ", ")))"
                        ))
                }
            }
            if !diags.isEmpty || kinds.isEmpty {
                throw SinterError(diags.isEmpty ? [Diagnostic("--emit is empty")] : diags)
            }
            var options = try pipeline.compileOptions()
            options.target = try target.resolved()
            options.weights = weightsFile ? .sideFile : .embedded
            let program: ArtifactProgram
            var trainingProgram: TrainingProgram?
            var explainProgram: KernelProgram?
            if explain {
                if dynamic != nil {
                    throw SinterError("--explain needs a fixed batch: bind it with --shape, not --dynamic")
                }
                if options.weights != .embedded || options.int8 != nil {
                    throw SinterError("--explain cannot be combined with --weights-file or --int8")
                }
                let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
                explainProgram = try Sinter.lower(try Explanation.build(graph), options)
            }
            if train {
                if dynamic != nil {
                    throw SinterError("--train needs a fixed batch: bind it with --shape, not --dynamic")
                }
                if !options.constantInputs.isEmpty {
                    throw SinterError("--train cannot be combined with --const-input")
                }
                let (config, lr) = try training.config()
                let (graph, trainConfig) = try Sinter.loadForTraining(model, bindings: options.bindings, config)
                program = .fixed(try Sinter.lower(graph, options))
                trainingProgram = try Sinter.lowerTraining(graph, trainConfig, learningRate: lr, options)
            } else if let dynamic {
                let dimension = try DynamicDimension(parsing: dynamic)
                if options.bindings[dimension.symbol] != nil {
                    throw SinterError(
                        "--dynamic \(dimension.symbol) and --shape \(dimension.symbol)=... contradict each other")
                }
                program = .dynamic(try Sinter.lowerDynamic(model, dimension, options))
            } else {
                let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
                let lowered = try Sinter.lower(graph, options)
                program = .fixed(lowered)
                if options.int8 != nil {
                    // Which matmuls and convs run in int8: the float islands are the rest.
                    let units = lowered.kernels.map(\.body.unit)
                    func count(_ names: Set<String>) -> Int { units.filter { names.contains($0) }.count }
                    let (qm, fm) = (count(["qmatmul"]), count(["matmul"]))
                    let (qc, fc) = (count(["qconv"]), count(["conv", "conv-nchwc"]))
                    FileHandle.standardError.write(
                        Data(
                            ("int8: \(qm) of \(qm + fm) matmul kernel(s) run as qmatmul, "
                                + "\(qc) of \(qc + fc) conv kernel(s) as qconv, "
                                + "\(lowered.multiplyAdds.int8) of \(lowered.multiplyAdds.total) multiply-adds\n").utf8)
                    )
                }
                if options.bf16 != nil {
                    // The bf16 kernels' share; depthwise convs and matmuls with run-time weights
                    // stay f32.
                    let macs = lowered.multiplyAdds
                    FileHandle.standardError.write(
                        Data(
                            "bf16: \(macs.bf16) of \(macs.total) multiply-adds run in the bf16 GEMM and convolution\n"
                                .utf8))
                }
            }
            let prefix = ABI.cIdentifier(name ?? program.name)
            let path = output ?? (kinds.count == 1 ? kinds[0].fileName(prefix) : ".")
            try Sinter.compile(
                program, to: path, emit: kinds, name: prefix, options: options, training: trainingProgram,
                explain: explainProgram)
            FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
        } catch {
            throw reportAndExit(error)
        }
    }
}
