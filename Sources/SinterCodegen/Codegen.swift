import SinterIR

/// Public entry points of the code generator. Each call builds a fresh LLVM module from the
/// kernel program, optimises it with `default<O3>` for the target, and emits it.
public enum Codegen {
    /// Builds and optimises the module; `context` is the JIT's when compiling for the JIT.
    static func build(_ program: KernelProgram, prefix: String, machine: MachineCode,
                      context: OpaquePointer? = nil, optimize: Bool = true) throws(SinterError) -> IRBuilder {
        let ir = IRBuilder(moduleName: prefix, context: context)
        machine.configure(ir)
        ModuleEmitter(program: program, prefix: prefix, ir: ir, target: machine.target).emit()
        if let problem = ir.verify() { throw SinterError("internal: generated LLVM IR is invalid: \(problem)") }
        if optimize { try machine.optimize(ir) }
        return ir
    }

    public static func llvmIR(_ program: KernelProgram, prefix: String, target: Target = .host, optimize: Bool = true) throws(SinterError) -> String {
        try build(program, prefix: prefix, machine: MachineCode(target), optimize: optimize).irText
    }

    public static func assembly(_ program: KernelProgram, prefix: String, target: Target = .host) throws(SinterError) -> String {
        let m = try MachineCode(target)
        return String(decoding: try m.emit(build(program, prefix: prefix, machine: m), .assembly), as: UTF8.self)
    }

    public static func object(_ program: KernelProgram, prefix: String, target: Target = .host) throws(SinterError) -> [UInt8] {
        let m = try MachineCode(target)
        return try m.emit(build(program, prefix: prefix, machine: m), .object)
    }

    public static func header(_ program: KernelProgram, prefix: String) -> String {
        HeaderWriter.header(program, prefix: prefix)
    }
}
