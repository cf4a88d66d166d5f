internal import CLLVM

/// Compiles a module in memory with ORC LLJIT and looks up its symbols. `sinter run` and the
/// tests execute this: the same LLVM module `sinter compile` writes to disk, never an
/// interpreter.
final class JITSession {
    private let jit: LLVMOrcLLJITRef
    private let tsc: LLVMOrcThreadSafeContextRef

    /// The context modules for this JIT must be built in.
    var context: OpaquePointer { LLVMOrcThreadSafeContextGetContext(tsc)! }

    init(machine: MachineCode) throws(CodegenError) {
        tsc = LLVMOrcCreateNewThreadSafeContext()
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, machine.makeJITTargetMachineBuilder())
        var j: LLVMOrcLLJITRef?
        if let err = LLVMOrcCreateLLJIT(&j, builder) {
            LLVMOrcDisposeThreadSafeContext(tsc)
            throw CodegenError("cannot create the JIT: \(consume(err))")
        }
        guard let j else {
            LLVMOrcDisposeThreadSafeContext(tsc)
            throw CodegenError("cannot create the JIT")
        }
        jit = j
        // Without a reporter, failures to materialise reach only stderr; lookups still fail.
        LLVMOrcExecutionSessionSetErrorReporter(
            LLVMOrcLLJITGetExecutionSession(jit),
            { _, err in
                if let err { LLVMConsumeError(err) }
            }, nil)
    }

    deinit {
        LLVMOrcDisposeLLJIT(jit)
        LLVMOrcDisposeThreadSafeContext(tsc)
    }

    /// Adds a module built with `IRBuilder(context: session.context)`; the JIT owns it after.
    func add(_ ir: IRBuilder) throws(CodegenError) {
        let tsm = LLVMOrcCreateNewThreadSafeModule(ir.takeModule(), tsc)
        if let err = LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), tsm) {
            throw CodegenError("JIT rejected the module: \(consume(err))")
        }
    }

    func address(of symbol: String) throws(CodegenError) -> UnsafeRawPointer {
        var addr: LLVMOrcExecutorAddress = 0
        if let err = LLVMOrcLLJITLookup(jit, &addr, symbol) {
            throw CodegenError("JIT lookup of '\(symbol)' failed: \(consume(err))")
        }
        guard let p = UnsafeRawPointer(bitPattern: UInt(addr)) else {
            throw CodegenError("JIT symbol '\(symbol)' is null")
        }
        return p
    }
}
