import Foundation
@_exported import SinterIR
@_exported import SinterPasses
@_exported import SinterCodegen
@_exported import SinterONNX

/// What to produce from a model.
public enum EmitKind: String, CaseIterable, Sendable {
    case shared, `static`, obj, llvm, asm, header, python, modulemap

    /// File name for a model prefixed `name`.
    public func fileName(_ name: String) -> String {
        switch self {
        case .shared: "lib\(name).so"
        case .static: "lib\(name).a"
        case .obj: "\(name).o"
        case .llvm: "\(name).ll"
        case .asm: "\(name).s"
        case .header: "\(name).h"
        case .python: "\(name).py"
        case .modulemap: "module.modulemap"
        }
    }
}

/// Settings shared by compile, run and dump.
public struct CompileOptions: Sendable {
    /// Pipeline entries, in order; the default pipeline unless set. Options an entry leaves
    /// out are filled from the target and bindings (see `pipeline`).
    public var passes: [PassSpec] = Pipeline.default
    /// Values for symbolic dimensions, e.g. ["N": 4].
    public var bindings: [String: Int] = [:]
    /// ONNX graph inputs specialised to fixed values (`--const-input NAME=FILE.npy`).
    public var constantInputs: [String: TensorData] = [:]
    public var passManager = PassManager.Options()
    public var target: Target = .host
    /// Test-only: build the schedules (layout block, vector width, register tiles, splits)
    /// for this target while emitting machine code for `target`. Kernels are generic LLVM
    /// vector IR, which LLVM legalises for the machine (a 16-lane f32 vector becomes two
    /// 8-lane ones on AVX2), so a wider ISA's schedules — their tiles, tails and packing —
    /// run and are checked against numpy on any host. Not a CLI option: an artifact built so
    /// is slower than either target's own.
    public var scheduleTarget: Target?
    /// Weights embedded in read-only data, or in a side file `NAME.weights`.
    public var weights: ABI.WeightsMode = .embedded
    /// C compiler driver used to link shared objects: `$SINTER_CC`, else `cc` for the host and
    /// `clang` (with lld) for other targets.
    public var linker: String?
    /// A shared object whose LLVM module has at least this many instructions (before
    /// optimisation) is compiled as two halves on two threads (`ParallelCodegen`); `.max`
    /// compiles every module on one.
    public var parallelCodegenAbove = Codegen.parallelAbove
    /// The most memory the model may need (`--max-memory`): any one tensor, and the artifact's
    /// workspace plus weights. Checked before anything that large is allocated.
    public var maxMemory = MemoryBudget.standard
    /// Post-training int8 (`--quantize int8 --calibration FILE`): the calibrated ranges and the
    /// nodes to keep in f32; the `quantize` pass runs after `fold-batchnorm` (or `infer-shapes`).
    public var int8: (calibration: Calibration, keepFloat: [String])?
    /// `--quantize int8-dynamic`: matmuls with constant weights run as int8 with activations
    /// quantized per row at run time (`quantize-dynamic`, after `fold-batchnorm`); nil when not
    /// asked for, else the nodes to keep in f32.
    public var dynamicInt8: [String]?
    /// `--precision bf16`: matmuls and (not depthwise) 2-D convs with constant weights run in
    /// bf16 (`precision-bf16`, after `fold-batchnorm`): nil for f32, else the nodes to keep in
    /// f32 (`--keep-float`).
    public var bf16: [String]?

    public init() {}

    /// The pipeline that runs: `passes` with the driver's defaults filled in — the target's f32
    /// vector width as `layout{block=...}` and `--shape` bindings as `infer-shapes{N=...}`.
    public var pipeline: [PassSpec] {
        let block = TargetInfo(scheduleTarget ?? target).schedules.layoutBlock
        var defaults: [String: [String: String]] = [Layout.name: ["block": "\(block)"]]
        if !bindings.isEmpty { defaults[InferShapes.name] = bindings.mapValues { "\($0)" } }
        var specs = Pipeline.applying(defaults, to: passes)
        // The passes that rewrite weights run after batch norm is folded into them.
        func anchor() -> Int {
            let at =
                specs.firstIndex { $0.name == FoldBatchNorm.name } ?? specs.firstIndex { $0.name == InferShapes.name }
            return at.map { $0 + 1 } ?? 0
        }
        if let int8, !specs.contains(where: { $0.name == QuantizeInt8.name }) {
            let quantize = PassSpec(
                QuantizeInt8.name,
                [
                    "activations": (scheduleTarget ?? target).isAArch64 ? "i8" : "u8",
                    "ranges": int8.calibration.rangesOption, "keep": int8.keepFloat.joined(separator: ";"),
                ])
            // Then, in a pipeline that lowers QDQ pairs (not export's), they become the int8
            // kernels and the rest arithmetic.
            let lowers = [FoldQDQ.name, ExpandQuantization.name].filter { name in specs.contains { $0.name == name } }
            specs.insert(contentsOf: [quantize] + lowers.map { PassSpec($0) }, at: anchor())
        }
        for (name, keep) in [(PrecisionBF16.name, bf16), (QuantizeDynamic.name, dynamicInt8)] {
            guard let keep, !specs.contains(where: { $0.name == name }) else { continue }
            specs.insert(PassSpec(name, ["keep": keep.joined(separator: ";")]), at: anchor())
        }
        return specs
    }

    /// Every `--keep-float` name is a value of the model (a typo would otherwise keep nothing,
    /// silently); all unknown names are listed at once.
    public func checkKeepFloat(_ graph: Graph) throws(SinterError) {
        let keep = (int8?.keepFloat ?? []) + (dynamicInt8 ?? []) + (bf16 ?? [])
        guard !keep.isEmpty else { return }
        let names = Set(graph.values.map(\.name))
        let unknown = keep.filter { !names.contains($0) }
        guard unknown.isEmpty else {
            throw SinterError(
                "--keep-float: '\(graph.name)' has no value named " + unknown.map { "'\($0)'" }.joined(separator: ", "))
        }
    }

    /// `--precision bf16` asks for the target's bf16 dot product: refused, naming what is
    /// missing, on a target without it (the portable step is for tests, not a product).
    public func checkPrecision() throws(SinterError) {
        guard bf16 != nil else { return }
        let t = TargetInfo(target)
        guard !t.schedules.bf16Dot.isNative else { return }
        throw SinterError(
            "--precision bf16 needs a CPU with a bf16 dot product (x86-64: avx512bf16, e.g. --cpu sapphirerapids "
                + "or cooperlake; ARM64: +bf16); target \(t.target.triple) cpu \(t.target.cpu) has none")
    }
}

/// The Swift API: load a model, optimise it, and compile it ahead of time or in-process.
public enum Sinter {
    /// Reads a model: `.sir` text or an `.onnx` file (symbolic ONNX dimensions are bound
    /// from `bindings` when given).
    public static func load(_ path: String, bindings: [String: Int] = [:], constants: [String: TensorData] = [:])
        throws(SinterError) -> Graph
    {
        guard FileManager.default.fileExists(atPath: path) else { throw SinterError("no such file: '\(path)'") }
        if path.hasSuffix(".onnx") { return try ONNXImporter.load(path, bindings: bindings, constants: constants) }
        if !constants.isEmpty { throw SinterError("--const-input applies to ONNX models only") }
        guard path.hasSuffix(".sir") else {
            throw SinterError("'\(path)': unsupported model format (expected .sir or .onnx)")
        }
        return try SirFile.load(path)
    }

    /// Loads a model for a run on known input values: an ONNX graph input that the importer
    /// needs at compile time (it decides shapes or control flow: axes, pads, sizes, shapes,
    /// trip counts) is specialised to its value from `value(name)`, found by importing again
    /// until no such input is left. Inputs that only carry values stay run-time inputs.
    /// Returns the graph and the inputs specialised (in the order they were found).
    public static func loadSpecialising(
        _ path: String, bindings: [String: Int] = [:], constants: [String: TensorData] = [:],
        value: (String) throws(SinterError) -> TensorData?
    ) throws(SinterError) -> (graph: Graph, specialised: [String]) {
        guard path.hasSuffix(".onnx") else { return (try load(path, bindings: bindings, constants: constants), []) }
        var fixed = constants
        var specialised: [String] = []
        while true {
            do throws(SinterError) {
                return (try load(path, bindings: bindings, constants: fixed), specialised)
            } catch {
                let more = ONNXImporter.inputsNeedingConstants(error).filter { fixed[$0] == nil }
                var found = false
                for name in more {
                    guard let v = try value(name) else { continue }
                    fixed[name] = v
                    specialised.append(name)
                    found = true
                }
                if !found { throw error }
            }
        }
    }

    /// Runs the pipeline; returns the optimised graph and the context holding the memory plan.
    public static func optimize(
        _ graph: Graph, _ options: CompileOptions, dump: @escaping (String) -> Void = { print($0, terminator: "") }
    )
        throws(SinterError) -> (Graph, PassContext)
    {
        try Verifier.verify(graph)
        try options.maxMemory.check(graph)
        try options.checkKeepFloat(graph)
        var g = graph
        let ctx = PassContext()
        var pm = PassManager(options: options.passManager, dump: dump)
        try pm.run(options.pipeline, on: &g, context: ctx)
        return (g, ctx)
    }

    /// Optimises and lowers to the kernel IR (running `plan-memory` if the pipeline did not).
    public static func lower(
        _ graph: Graph, _ options: CompileOptions,
        dump: @escaping (String) -> Void = { print($0, terminator: "") }
    ) throws(SinterError) -> KernelProgram {
        try options.checkPrecision()
        var (g, ctx) = try optimize(graph, options, dump: dump)
        if g.memory == nil { _ = try PlanMemory().run(&g, ctx) }
        let program = try Lowering.lower(g, target: options.target, schedule: options.scheduleTarget)
        try options.maxMemory.check(program, g)
        return program
    }

    /// Compiles for this process and returns a runnable model (`profile`: with per-kernel
    /// timing through `JITModel.runProfiled`).
    public static func jit(
        _ graph: Graph, _ options: CompileOptions = CompileOptions(), name: String? = nil, threads: Int = 1,
        profile: Bool = false
    ) throws(SinterError) -> JITModel {
        let program = try lower(graph, options)
        return try JITModel(
            program, prefix: ABI.cIdentifier(name ?? graph.name), target: options.target, threads: threads,
            profile: profile, weights: options.weights)
    }

    /// Compiles `graph` and writes one artifact to `path`, or several into the folder `path`
    /// (named after `name`). Files are written to temporary names and renamed into place, so a
    /// failure never leaves a broken file where the user's was. With side-file weights,
    /// `NAME.weights` is written next to the artifacts.
    public static func compile(
        _ graph: Graph, to path: String, emit: [EmitKind], name: String? = nil,
        options: CompileOptions = CompileOptions()
    ) throws(SinterError) {
        try compile(.fixed(try lower(graph, options)), to: path, emit: emit, name: name, options: options)
    }

    /// Writes the artifacts of a lowered program (`lower`, or `lowerDynamic` for a dimension
    /// chosen at run time); the rules of `compile(_:to:emit:)` apply.
    public static func compile(
        _ program: ArtifactProgram, to path: String, emit: [EmitKind], name: String? = nil,
        options: CompileOptions = CompileOptions(), training: TrainingProgram? = nil, explain: KernelProgram? = nil
    ) throws(SinterError) {
        let prefix = ABI.cIdentifier(name ?? program.name)
        var cg = CodegenOptions(target: options.target, weights: options.weights, training: training, explain: explain)
        cg.parallelAbove = options.parallelCodegenAbove
        let single = emit.count == 1
        if !single {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw SinterError("cannot create output folder '\(path)': \(error.localizedDescription)")
            }
        }
        func file(_ kind: EmitKind) -> String { single ? path : path + "/" + kind.fileName(prefix) }
        var object: [UInt8]?
        func obj() throws(SinterError) -> [UInt8] {
            if let object { return object }
            let o = try Codegen.object(program, prefix: prefix, options: cg)
            object = o
            return o
        }
        for kind in emit {
            let out = file(kind)
            switch kind {
            case .header:
                try FileIO.writeAtomically(
                    Array(
                        Codegen.header(
                            program, prefix: prefix, weights: options.weights, training: training, explain: explain
                        ).utf8),
                    to: out)
            case .llvm:
                try FileIO.writeAtomically(
                    Array(try Codegen.llvmIR(program, prefix: prefix, options: cg).utf8), to: out)
            case .asm:
                try FileIO.writeAtomically(
                    Array(try Codegen.assembly(program, prefix: prefix, options: cg).utf8), to: out)
            case .obj: try FileIO.writeAtomically(try obj(), to: out)
            case .shared:
                // Linked from two objects compiled in parallel when the model is large, unless
                // the one object is needed anyway (an object file or a static library).
                let oneObject = object != nil || emit.contains(.obj) || emit.contains(.static)
                let objects =
                    oneObject ? [try obj()] : try Codegen.sharedObjects(program, prefix: prefix, options: cg)
                try Linker.linkShared(objects: objects, to: out, driver: options.linker, target: options.target)
            case .static: try Linker.archive(object: try obj(), to: out, name: prefix)
            case .python:
                try FileIO.writeAtomically(
                    Array(
                        PythonBinding.source(program, prefix: prefix, weights: options.weights, training: training).utf8
                    ), to: out)
            case .modulemap: try FileIO.writeAtomically(Array(moduleMap(prefix).utf8), to: out)
            }
        }
        if options.weights == .sideFile {
            let dir = single ? (URL(fileURLWithPath: path).deletingLastPathComponent().path) : path
            try FileIO.writeAtomically(ABI.weightsFile(program.constants), to: dir + "/" + prefix + ".weights")
        }
    }

    /// Compatibility form for one artifact.
    public static func compile(
        _ graph: Graph, to path: String, emit: EmitKind, name: String? = nil,
        options: CompileOptions = CompileOptions()
    ) throws(SinterError) {
        try compile(graph, to: path, emit: [emit], name: name, options: options)
    }

    /// A Clang module map so Swift (or Clang modules) can import the header and link the library.
    public static func moduleMap(_ prefix: String) -> String {
        """
        module \(prefix) [system] {
            header "\(prefix).h"
            link "\(prefix)"
            export *
        }

        """
    }
}
