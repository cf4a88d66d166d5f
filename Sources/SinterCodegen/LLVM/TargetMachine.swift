internal import CLLVM
import SinterIR

/// What to generate code for: an LLVM triple, CPU and feature string.
public struct Target: Hashable, Sendable, CustomStringConvertible {
    public var triple: String
    public var cpu: String
    public var features: String

    public init(triple: String, cpu: String, features: String) {
        self.triple = triple
        self.cpu = cpu
        self.features = features
    }

    /// The machine we are running on, with every feature it has.
    public static var host: Target {
        LLVMTargets.initialize()
        func take(_ p: UnsafeMutablePointer<CChar>?) -> String {
            guard let p else { return "" }
            defer { LLVMDisposeMessage(p) }
            return String(cString: p)
        }
        return Target(
            triple: take(LLVMGetDefaultTargetTriple()), cpu: take(LLVMGetHostCPUName()),
            features: take(LLVMGetHostCPUFeatures()))
    }

    /// A named target (`x86_64-linux-gnu`, `aarch64-linux-gnu`, or any LLVM triple), with
    /// an optional CPU and feature list; the host's CPU and features when the target is the host.
    public static func named(_ name: String, cpu: String? = nil, features: String? = nil) throws(SinterError) -> Target
    {
        let host = Target.host
        let triple: String
        switch name {
        case "host": triple = host.triple
        case "x86_64-linux-gnu", "x86_64", "x86-64": triple = "x86_64-unknown-linux-gnu"
        case "aarch64-linux-gnu", "aarch64", "arm64": triple = "aarch64-unknown-linux-gnu"
        default: triple = name
        }
        var t = Target(triple: triple, cpu: cpu ?? "", features: features ?? "")
        let sameArch = triple.split(separator: "-").first == host.triple.split(separator: "-").first
        if sameArch && cpu == nil && features == nil { return host }
        if let cpu {
            let known = t.isX86 ? KnownCPUs.x86 : t.isAArch64 ? KnownCPUs.aarch64 : []
            if !known.isEmpty && !known.contains(cpu) {
                let near = known.filter { $0.hasPrefix(String(cpu.prefix(3))) }.sorted().prefix(8)
                throw SinterError(
                    "unknown CPU '\(cpu)' for \(t.triple)"
                        + (near.isEmpty ? "" : " (similar: \(near.joined(separator: ", ")))"))
            }
        }
        if t.cpu.isEmpty { t.cpu = t.isAArch64 ? "generic" : t.isX86 ? "x86-64-v2" : "generic" }
        if t.isAArch64 && t.features.isEmpty { t.features = "+neon" }
        // `+avx512f` gives Sinter's schedules 512-bit vectors (`vectorWidth`); LLVM 19 also
        // wants `+evex512` for zmm registers on a CPU without them (alderlake), and without it
        // legalising the bf16 dot step's <32 x bfloat> never ends (it ran out of memory).
        if t.isX86, t.has("avx512f"), !t.features.contains("evex512") { t.features += ",+evex512" }
        _ = try MachineCode(t)  // reject unknown triples early, with LLVM's message
        return t
    }

    public var isX86: Bool { triple.hasPrefix("x86_64") }
    public var isAArch64: Bool { triple.hasPrefix("aarch64") || triple.hasPrefix("arm64") }

    func has(_ feature: String) -> Bool { features.split(separator: ",").contains { $0 == "+" + feature } }

    /// f32 lanes of the widest vector register kernels use: from the features, or from the
    /// CPU name when only a CPU is given.
    public var vectorWidth: Int {
        guard isX86 else { return 4 }  // NEON and anything else with 128-bit vectors
        if has("avx512f") { return features.contains("-evex512") ? 8 : 16 }  // AVX-512 on ymm only
        if has("avx2") || has("avx") { return 8 }
        if features.isEmpty {
            let avx512 = [
                "skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake", "tigerlake", "rocketlake",
                "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5", "x86-64-v4",
            ]
            let avx2 = [
                "haswell", "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake", "znver1", "znver2",
                "znver3",
                "x86-64-v3", "sandybridge", "ivybridge", "bdver", "btver2",
            ]
            if avx512.contains(where: cpu.hasPrefix) { return 16 }
            if avx2.contains(where: cpu.hasPrefix) { return 8 }
        }
        return 4
    }

    public var description: String { "\(triple) (\(cpu))" }
}

enum LLVMTargets {
    /// LLVM's target registry is process-global; initialise it once.
    private static let once: Void = {
        LLVMInitializeX86TargetInfo()
        LLVMInitializeX86Target()
        LLVMInitializeX86TargetMC()
        LLVMInitializeX86AsmPrinter()
        LLVMInitializeX86AsmParser()
        LLVMInitializeAArch64TargetInfo()
        LLVMInitializeAArch64Target()
        LLVMInitializeAArch64TargetMC()
        LLVMInitializeAArch64AsmPrinter()
        LLVMInitializeAArch64AsmParser()
    }()
    static func initialize() { _ = once }
}

/// An LLVM TargetMachine for one `Target`: optimises modules and emits object or assembly.
final class MachineCode {
    let target: Target
    fileprivate let machine: LLVMTargetMachineRef

    init(_ target: Target) throws(CodegenError) {
        LLVMTargets.initialize()
        self.target = target
        var t: LLVMTargetRef?
        var err: UnsafeMutablePointer<CChar>?
        guard LLVMGetTargetFromTriple(target.triple, &t, &err) == 0, let t else {
            let msg = err.map { String(cString: $0) } ?? "unknown target"
            if let err { LLVMDisposeMessage(err) }
            throw CodegenError("cannot generate code for '\(target.triple)': \(msg)")
        }
        guard
            let m = LLVMCreateTargetMachine(
                t, target.triple, target.cpu, target.features,
                LLVMCodeGenLevelAggressive, LLVMRelocPIC, LLVMCodeModelDefault)
        else {
            throw CodegenError("cannot create a target machine for '\(target.triple)' cpu '\(target.cpu)'")
        }
        machine = m
    }

    deinit { LLVMDisposeTargetMachine(machine) }

    /// Sets the module's triple and data layout to this machine's.
    func configure(_ ir: IRBuilder) {
        LLVMSetTarget(ir.module, target.triple)
        let layout = LLVMCreateTargetDataLayout(machine)
        let str = LLVMCopyStringRepOfTargetData(layout)
        LLVMSetDataLayout(ir.module, str)
        if let str { LLVMDisposeMessage(str) }
        LLVMDisposeTargetData(layout)
    }

    /// Runs LLVM's `default<O3>` pipeline for this machine.
    func optimize(_ ir: IRBuilder) throws(CodegenError) {
        let opts = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(opts) }
        if let err = LLVMRunPasses(ir.module, "default<O3>", machine, opts) {
            throw CodegenError("LLVM optimisation failed: \(consume(err))")
        }
    }

    enum FileKind { case object, assembly }

    func emit(_ ir: IRBuilder, _ kind: FileKind) throws(CodegenError) -> [UInt8] {
        var buf: LLVMMemoryBufferRef?
        var err: UnsafeMutablePointer<CChar>?
        let fileType = kind == .object ? LLVMObjectFile : LLVMAssemblyFile
        guard LLVMTargetMachineEmitToMemoryBuffer(machine, ir.module, fileType, &err, &buf) == 0, let buf else {
            let msg = err.map { String(cString: $0) } ?? "unknown error"
            if let err { LLVMDisposeMessage(err) }
            throw CodegenError("LLVM code emission failed: \(msg)")
        }
        defer { LLVMDisposeMemoryBuffer(buf) }
        let start = LLVMGetBufferStart(buf)
        let size = LLVMGetBufferSize(buf)
        guard let start, size > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: size))
    }

    /// Gives up ownership of the machine to the JIT builder.
    func makeJITTargetMachineBuilder() -> OpaquePointer {
        // The JIT takes ownership of a fresh machine with the same settings.
        var t: LLVMTargetRef?
        _ = LLVMGetTargetFromTriple(target.triple, &t, nil)
        let m = LLVMCreateTargetMachine(
            t, target.triple, target.cpu, target.features,
            LLVMCodeGenLevelAggressive, LLVMRelocPIC, LLVMCodeModelDefault)
        return LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(m)!
    }
}

/// Reads and frees an LLVMErrorRef.
func consume(_ err: LLVMErrorRef) -> String {
    let p = LLVMGetErrorMessage(err)
    defer { LLVMDisposeErrorMessage(p) }
    return p.map { String(cString: $0) } ?? "unknown error"
}
