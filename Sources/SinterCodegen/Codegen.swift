import SinterIR

/// How to generate an artifact.
public struct CodegenOptions: Sendable {
    public var target: Target
    public var weights: ABI.WeightsMode
    /// Also emit `NAME_run_profiled`, which adds each kernel's wall time to a caller's counters
    /// (`sinter bench --profile`). Artifacts leave it out: it is not part of the C ABI.
    public var profile: Bool
    /// `--train`: the train step's programs, emitted beside inference as `NAME_train_*`.
    public var training: TrainingProgram?
    /// `--explain`: the explanation program (`Explanation.build`), emitted as `NAME_explain`.
    public var explain: KernelProgram?
    /// Instructions from which `Codegen.sharedObjects` splits the module across two threads.
    public var parallelAbove = Codegen.parallelAbove
    public init(
        target: Target = .host, weights: ABI.WeightsMode = .embedded, profile: Bool = false,
        training: TrainingProgram? = nil, explain: KernelProgram? = nil
    ) {
        self.explain = explain
        self.target = target
        self.weights = weights
        self.profile = profile
        self.training = training
    }
}

/// What an artifact is built from: one program, or one per specialised size of a dynamic one.
public enum ArtifactProgram: Sendable {
    case fixed(KernelProgram)
    case dynamic(DynamicProgram)

    public var name: String {
        switch self {
        case .fixed(let p): p.name
        case .dynamic(let d): d.name
        }
    }

    /// Every distinct weight tensor, in the order of the side file.
    public var constants: [TensorData] {
        switch self {
        case .fixed(let p): p.constants
        case .dynamic(let d): d.constants
        }
    }
}

/// Public entry points of the code generator. Each call builds a fresh LLVM module from the
/// kernel program, optimises it with `default<O3>` for the target, and emits it.
public enum Codegen {
    /// Instructions (before optimisation) from which a shared object's module is compiled as
    /// two halves on two threads: small models stay one object (an MLP or a seq-128 Transformer block
    /// has 5,000-7,000; SqueezeNet 16,000, ResNet-50 24,000).
    public static let parallelAbove = 10_000

    /// Builds and optimises the module; `context` is the JIT's when compiling for the JIT.
    static func build(
        _ program: KernelProgram, prefix: String, machine: MachineCode, weights: ABI.WeightsMode = .embedded,
        profile: Bool = false, training: TrainingProgram? = nil, explain: KernelProgram? = nil,
        context: OpaquePointer? = nil,
        optimize: Bool = true
    ) throws(SinterError) -> IRBuilder {
        try build(
            .fixed(program), prefix: prefix, machine: machine, weights: weights, profile: profile, training: training,
            explain: explain, context: context, optimize: optimize)
    }

    static func build(
        _ artifact: ArtifactProgram, prefix: String, machine: MachineCode, weights: ABI.WeightsMode = .embedded,
        profile: Bool = false, training: TrainingProgram? = nil, explain: KernelProgram? = nil,
        context: OpaquePointer? = nil,
        optimize: Bool = true
    ) throws(SinterError) -> IRBuilder {
        let ir = IRBuilder(moduleName: prefix, context: context)
        machine.configure(ir)
        var emitter =
            switch artifact {
            case .fixed(let p):
                if training != nil || explain != nil {
                    ModuleEmitter(
                        program: p, training: training, explain: explain, prefix: prefix, ir: ir,
                        target: machine.target)
                } else {
                    ModuleEmitter(program: p, prefix: prefix, ir: ir, target: machine.target)
                }
            case .dynamic(let d): ModuleEmitter(dynamic: d, prefix: prefix, ir: ir, target: machine.target)
            }
        emitter.weightsMode = weights
        emitter.profile = profile
        emitter.linkSymbol = HeaderWriter.linkSymbol(
            artifact, prefix: prefix, weights: weights, training: training, explain: explain)
        emitter.emit()
        if let problem = ir.verify() { throw SinterError("internal: generated LLVM IR is invalid: \(problem)") }
        if optimize { try machine.optimize(ir) }
        return ir
    }

    public static func llvmIR(
        _ program: ArtifactProgram, prefix: String, options: CodegenOptions = CodegenOptions(),
        optimize: Bool = true
    ) throws(SinterError) -> String {
        try build(
            program, prefix: prefix, machine: MachineCode(options.target), weights: options.weights,
            training: options.training, explain: options.explain, optimize: optimize
        ).irText
    }

    public static func llvmIR(
        _ program: KernelProgram, prefix: String, options: CodegenOptions = CodegenOptions(),
        optimize: Bool = true
    ) throws(SinterError) -> String {
        try llvmIR(.fixed(program), prefix: prefix, options: options, optimize: optimize)
    }

    public static func assembly(_ program: ArtifactProgram, prefix: String, options: CodegenOptions = CodegenOptions())
        throws(SinterError) -> String
    {
        let m = try MachineCode(options.target)
        return String(
            decoding: try m.emit(
                build(
                    program, prefix: prefix, machine: m, weights: options.weights, training: options.training,
                    explain: options.explain),
                .assembly),
            as: UTF8.self)
    }

    public static func assembly(_ program: KernelProgram, prefix: String, options: CodegenOptions = CodegenOptions())
        throws(SinterError) -> String
    {
        try assembly(.fixed(program), prefix: prefix, options: options)
    }

    public static func object(_ program: ArtifactProgram, prefix: String, options: CodegenOptions = CodegenOptions())
        throws(SinterError) -> [UInt8]
    {
        let m = try MachineCode(options.target)
        return try m.emit(
            build(
                program, prefix: prefix, machine: m, weights: options.weights, training: options.training,
                explain: options.explain),
            .object)
    }

    /// The objects a shared object links: a large module is split in two and compiled on two
    /// threads (`ParallelCodegen`), a small one is one object as from `object`.
    public static func sharedObjects(
        _ program: ArtifactProgram, prefix: String, options: CodegenOptions = CodegenOptions()
    ) throws(SinterError) -> [[UInt8]] {
        let m = try MachineCode(options.target)
        let ir = try build(
            program, prefix: prefix, machine: m, weights: options.weights, training: options.training,
            explain: options.explain, optimize: false)
        return try ParallelCodegen.objects(ir, machine: m, prefix: prefix, above: options.parallelAbove)
    }

    public static func object(_ program: KernelProgram, prefix: String, options: CodegenOptions = CodegenOptions())
        throws(SinterError) -> [UInt8]
    {
        try object(.fixed(program), prefix: prefix, options: options)
    }

    public static func header(_ program: KernelProgram, prefix: String, weights: ABI.WeightsMode = .embedded) -> String
    {
        HeaderWriter.header(.fixed(program), prefix: prefix, weights: weights)
    }

    public static func header(
        _ program: ArtifactProgram, prefix: String, weights: ABI.WeightsMode = .embedded,
        training: TrainingProgram? = nil, explain: KernelProgram? = nil
    ) -> String {
        HeaderWriter.header(program, prefix: prefix, weights: weights, training: training, explain: explain)
    }
}
