import Foundation
@_exported import SinterIR
@_exported import SinterPasses
@_exported import SinterCodegen
@_exported import SinterONNX

/// What to produce from a model.
public enum EmitKind: String, CaseIterable, Sendable {
    case shared, obj, llvm, asm, header

    public var fileExtension: String {
        switch self {
        case .shared: "so"
        case .obj: "o"
        case .llvm: "ll"
        case .asm: "s"
        case .header: "h"
        }
    }
}

/// Settings shared by compile, run and dump.
public struct CompileOptions: Sendable {
    /// Pass names, in order; the default pipeline unless set.
    public var passes: [String] = Pipeline.default
    /// Values for symbolic dimensions, e.g. ["N": 4].
    public var bindings: [String: Int] = [:]
    /// ONNX graph inputs specialised to fixed values (`--const-input NAME=FILE.npy`).
    public var constantInputs: [String: TensorData] = [:]
    public var passManager = PassManager.Options()
    public var target: Target = .host
    /// C compiler driver used to link shared objects (`cc` unless set; `SINTER_CC` overrides).
    public var linker: String = ProcessInfo.processInfo.environment["SINTER_CC"] ?? "cc"

    public init() {}
}

/// The Swift API: load a model, optimise it, and compile it ahead of time or in-process.
public enum Sinter {
    /// Reads a model: `.sir` text or an `.onnx` file (symbolic ONNX dimensions are bound
    /// from `bindings` when given).
    public static func load(_ path: String, bindings: [String: Int] = [:], constants: [String: TensorData] = [:]) throws(SinterError) -> Graph {
        guard FileManager.default.fileExists(atPath: path) else { throw SinterError("no such file: '\(path)'") }
        if path.hasSuffix(".onnx") { return try ONNXImporter.load(path, bindings: bindings, constants: constants) }
        if !constants.isEmpty { throw SinterError("--const-input applies to ONNX models only") }
        guard path.hasSuffix(".sir") else {
            throw SinterError("'\(path)': unsupported model format (expected .sir or .onnx)")
        }
        return try SirFile.load(path)
    }

    /// Runs the pipeline; returns the optimised graph and the context holding the memory plan.
    public static func optimize(_ graph: Graph, _ options: CompileOptions, dump: @escaping (String) -> Void = { print($0, terminator: "") })
        throws(SinterError) -> (Graph, PassContext) {
        try Verifier.verify(graph)
        var g = graph
        let ctx = PassContext(bindings: options.bindings)
        var pm = PassManager(options: options.passManager, dump: dump)
        try pm.run(options.passes, on: &g, context: ctx)
        return (g, ctx)
    }

    /// Optimises and lowers to the kernel IR (running `plan-memory` if the pipeline did not).
    public static func lower(_ graph: Graph, _ options: CompileOptions,
                             dump: @escaping (String) -> Void = { print($0, terminator: "") }) throws(SinterError) -> KernelProgram {
        var (g, ctx) = try optimize(graph, options, dump: dump)
        if ctx.memoryPlan == nil { _ = try PlanMemory().run(&g, ctx) }
        guard let plan = ctx.memoryPlan else { throw SinterError("internal: no memory plan") }
        return try Lowering.lower(g, plan: plan, target: options.target)
    }

    /// Compiles for this process and returns a runnable model.
    public static func jit(_ graph: Graph, _ options: CompileOptions = CompileOptions(), name: String? = nil) throws(SinterError) -> JITModel {
        let program = try lower(graph, options)
        return try JITModel(program, prefix: ABI.cIdentifier(name ?? graph.name), target: options.target)
    }

    /// Compiles `graph` and writes the artifact to `path` (via a temporary file and a rename,
    /// so a failure never leaves a broken file where the user's was).
    public static func compile(_ graph: Graph, to path: String, emit: EmitKind, name: String? = nil,
                               options: CompileOptions = CompileOptions()) throws(SinterError) {
        let prefix = ABI.cIdentifier(name ?? graph.name)
        let program = try lower(graph, options)
        switch emit {
        case .header: try FileIO.writeAtomically(Array(Codegen.header(program, prefix: prefix).utf8), to: path)
        case .llvm: try FileIO.writeAtomically(Array(try Codegen.llvmIR(program, prefix: prefix, target: options.target).utf8), to: path)
        case .asm: try FileIO.writeAtomically(Array(try Codegen.assembly(program, prefix: prefix, target: options.target).utf8), to: path)
        case .obj: try FileIO.writeAtomically(try Codegen.object(program, prefix: prefix, target: options.target), to: path)
        case .shared:
            let obj = try Codegen.object(program, prefix: prefix, target: options.target)
            try Linker.linkShared(object: obj, to: path, driver: options.linker, target: options.target)
        }
    }
}
