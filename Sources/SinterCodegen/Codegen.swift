import SinterIR

/// How to generate an artifact.
public struct CodegenOptions: Sendable {
    public var target: Target
    public var weights: ABI.WeightsMode
    /// Also emit `NAME_run_profiled`, which adds each kernel's wall time to a caller's counters
    /// (`sinter bench --profile`). Artifacts leave it out: it is not part of the C ABI.
    public var profile: Bool
    public init(target: Target = .host, weights: ABI.WeightsMode = .embedded, profile: Bool = false) {
        self.target = target
        self.weights = weights
        self.profile = profile
    }
}

/// Public entry points of the code generator. Each call builds a fresh LLVM module from the
/// kernel program, optimises it with `default<O3>` for the target, and emits it.
public enum Codegen {
    /// Builds and optimises the module; `context` is the JIT's when compiling for the JIT.
    static func build(
        _ program: KernelProgram, prefix: String, machine: MachineCode, weights: ABI.WeightsMode = .embedded,
        profile: Bool = false, context: OpaquePointer? = nil, optimize: Bool = true
    ) throws(SinterError) -> IRBuilder {
        let ir = IRBuilder(moduleName: prefix, context: context)
        machine.configure(ir)
        var emitter = ModuleEmitter(program: program, prefix: prefix, ir: ir, target: machine.target)
        emitter.weightsMode = weights
        emitter.profile = profile
        emitter.emit()
        if let problem = ir.verify() { throw SinterError("internal: generated LLVM IR is invalid: \(problem)") }
        if optimize { try machine.optimize(ir) }
        return ir
    }

    public static func llvmIR(
        _ program: KernelProgram, prefix: String, options: CodegenOptions = CodegenOptions(),
        optimize: Bool = true
    ) throws(SinterError) -> String {
        try build(
            program, prefix: prefix, machine: MachineCode(options.target), weights: options.weights, optimize: optimize
        ).irText
    }

    public static func assembly(_ program: KernelProgram, prefix: String, options: CodegenOptions = CodegenOptions())
        throws(SinterError) -> String
    {
        let m = try MachineCode(options.target)
        return String(
            decoding: try m.emit(build(program, prefix: prefix, machine: m, weights: options.weights), .assembly),
            as: UTF8.self)
    }

    public static func object(_ program: KernelProgram, prefix: String, options: CodegenOptions = CodegenOptions())
        throws(SinterError) -> [UInt8]
    {
        let m = try MachineCode(options.target)
        return try m.emit(build(program, prefix: prefix, machine: m, weights: options.weights), .object)
    }

    public static func header(_ program: KernelProgram, prefix: String, weights: ABI.WeightsMode = .embedded) -> String
    {
        HeaderWriter.header(program, prefix: prefix, weights: weights)
    }
}
