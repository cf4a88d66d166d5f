import ArgumentParser
import Foundation
import Sinter

@main
struct SinterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sinter",
        abstract: "Sinter: an ahead-of-time compiler for neural networks on CPUs.",
        subcommands: [
            Compile.self, Run.self, Bench.self, Dump.self, Export.self, Calibrate.self, Quantize.self, Train.self,
            Explain.self,
            Ops.self,
            TestONNX.self,
        ])
}

/// Options every subcommand that runs the pipeline shares.
struct PipelineOptions: ParsableArguments {
    @Option(
        name: .customLong("passes"),
        help: ArgumentHelp(
            "Comma-separated pipeline, options in braces: a,b{key=value},c (default: "
                + "\(Pipeline.describe(Pipeline.default))).")
    )
    var passes: String?

    @Option(
        name: .customLong("shape"),
        help: ArgumentHelp("Bind a symbolic dimension, e.g. --shape N=4 (repeatable).", valueName: "SYM=SIZE"))
    var shapes: [String] = []

    @Option(
        name: .customLong("const-input"),
        help: ArgumentHelp(
            "Specialise an ONNX graph input to the values in a .npy file, e.g. axes that must be known at "
                + "compile time (repeatable).",
            valueName: "NAME=FILE.npy"))
    var constInputs: [String] = []

    @Option(
        name: .customLong("max-memory"),
        help: ArgumentHelp(
            "The most memory the model may need: any one tensor, and the workspace plus weights; a model over it "
                + "is refused before anything that large is allocated (default: min(8G, half the RAM)).",
            valueName: "SIZE"))
    var maxMemory: String?

    @Option(
        help: ArgumentHelp(
            "Post-training quantization: int8 (needs --calibration) or int8-dynamic (matmul activations quantized "
                + "per row at run time; no calibration).", valueName: "TYPE"))
    var quantize: String?

    @Option(help: ArgumentHelp("Ranges from `sinter calibrate`, for --quantize.", valueName: "FILE.json"))
    var calibration: String?

    @Option(
        help: ArgumentHelp(
            "Arithmetic precision: f32 (default) or bf16 (matmul weights stored in bf16, products summed in f32; "
                + "needs avx512bf16 or ARM64 +bf16).", valueName: "TYPE"))
    var precision: String?

    @Option(
        name: .customLong("keep-float"),
        help: ArgumentHelp(
            "Matmuls (by result name) that --quantize or --precision leaves in f32, comma-separated.",
            valueName: "NAMES"))
    var keepFloat: String?

    @Flag(name: .customLong("print-after-all"), help: "Print the IR after every pass.")
    var printAfterAll = false

    @Option(
        name: .customLong("print-after"),
        help: ArgumentHelp("Print the IR after the named pass (repeatable).", valueName: "PASS"))
    var printAfter: [String] = []

    @Flag(inversion: .prefixedNo, help: "Verify the IR after each pass.")
    var verifyEach = true

    func compileOptions() throws(SinterError) -> CompileOptions {
        var o = CompileOptions()
        if let passes { o.passes = try Pipeline.parse(passes) }
        var diags: [Diagnostic] = []
        for s in shapes {
            let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let v = Int(parts[1]), v >= 0 else {
                diags.append(Diagnostic("--shape '\(s)' must look like SYMBOL=SIZE, e.g. N=4"))
                continue
            }
            o.bindings[parts[0]] = v
        }
        for c in constInputs {
            let parts = c.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                diags.append(Diagnostic("--const-input '\(c)' must look like NAME=FILE.npy"))
                continue
            }
            do throws(SinterError) {
                o.constantInputs[parts[0]] = try Npy.decode(try FileIO.read(parts[1]), origin: parts[1])
            } catch { diags += error.diagnostics }
        }
        if let maxMemory {
            do throws(SinterError) { o.maxMemory = try MemoryBudget.parse(maxMemory) } catch {
                diags += error.diagnostics
            }
        }
        let keep = (keepFloat ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        switch precision {
        case nil, "f32"?: break
        case "bf16"?:
            o.bf16 = keep
            if quantize != nil { diags.append(Diagnostic("--precision bf16 and --quantize are exclusive")) }
        case let other?: diags.append(Diagnostic("--precision '\(other)' is not supported (f32 and bf16 are)"))
        }
        switch (quantize, calibration) {
        case (nil, nil): break
        case ("int8-dynamic"?, nil): o.dynamicInt8 = keep
        case ("int8-dynamic"?, _?):
            diags.append(Diagnostic("--quantize int8-dynamic needs no --calibration (it measures each row as it runs)"))
        case ("int8"?, let path?):
            do throws(SinterError) {
                o.int8 = (try Calibration.load(path), keep)
            } catch { diags += error.diagnostics }
        case ("int8"?, nil):
            diags.append(Diagnostic("--quantize int8 needs --calibration FILE.json (sinter calibrate)"))
        case (let other?, _):
            diags.append(Diagnostic("--quantize '\(other)' is not supported (int8 and int8-dynamic are)"))
        case (nil, _?): diags.append(Diagnostic("--calibration is read by --quantize int8, which is not given"))
        }
        if !diags.isEmpty { throw SinterError(diags) }
        o.passManager.printAfterAll = printAfterAll
        o.passManager.printAfter = Set(printAfter)
        o.passManager.verifyEach = verifyEach
        return o
    }
}

/// `--target/--cpu/--features`, shared by the commands whose output depends on the target.
struct TargetOptions: ParsableArguments {
    @Option(help: "Target: host (default), x86_64-linux-gnu, aarch64-linux-gnu, or an LLVM triple.")
    var target: String = "host"

    @Option(help: "CPU name for the target (default: the host's, or a generic one when cross-compiling).")
    var cpu: String?

    @Option(help: "Target features, e.g. +avx2,+fma or +neon.")
    var features: String?

    func resolved() throws(SinterError) -> Target { try Target.named(target, cpu: cpu, features: features) }
}

/// Prints diagnostics to standard error and exits non-zero: one clear message, no trace.
func reportAndExit(_ error: SinterError) -> ExitCode {
    for d in error.diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
    return ExitCode(1)
}
