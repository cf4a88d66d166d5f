internal import CLLVM
import Foundation

/// Optimises and generates a large module on two threads: the module is split in two (what
/// LLVM's SplitModule does, by hand through LLVM-C), each half compiled in its own LLVM
/// context, and the two objects are linked together. Most of a CNN's compile is LLVM working
/// on its kernels one function at a time, so half the kernels go to the second thread.
///
/// Every internal function and private global becomes a hidden symbol named after the
/// artifact's prefix (`NAME.k6_conv`), so either half can call into the other and nothing
/// new is exported from a shared object. The first half keeps the exported functions, the
/// weights and every global; the second gets a copy with only its kernels' bodies and every
/// other definition turned into a declaration, passed to its thread as bitcode (a few
/// hundred KB: the weights stay behind).
enum ParallelCodegen {
    /// The objects for the module `ir` holds (built, verified, not optimised): one, or two
    /// when it has at least `above` instructions (small models compile in well under a second).
    static func objects(_ ir: IRBuilder, machine: MachineCode, prefix: String, above: Int) throws(CodegenError)
        -> [[UInt8]]
    {
        let module = ir.module
        let functions = definedFunctions(module)
        let total = functions.reduce(0) { $0 + $1.size }
        let movable = functions.filter { LLVMGetLinkage($0.function) == LLVMInternalLinkage }
        guard total >= above, movable.count >= 2 else {
            try machine.optimize(ir)
            return [try machine.emit(ir, .object)]
        }
        // Largest first, each to the lighter half; the exported functions weigh on the first.
        var weights = [total - movable.reduce(0) { $0 + $1.size }, 0]
        var second = Set<String>()
        // Ties keep module order, so the split (and the artifact) is the same on every run.
        let order = movable.indices.sorted { (movable[$0].size, $1) > (movable[$1].size, $0) }
        for f in order.map({ movable[$0] }) {
            let half = weights[0] <= weights[1] ? 0 : 1
            weights[half] += f.size
            if half == 1 { second.insert(name(of: f.function)) }
        }
        externalize(module, prefix: prefix, renaming: &second)
        guard let clone = LLVMCloneModule(module) else { throw CodegenError("internal: cannot copy the module") }
        for f in definedFunctions(clone).map(\.function) where !second.contains(name(of: f)) {
            declare(f, in: clone)
        }
        var global = LLVMGetFirstGlobal(clone)
        while let g = global {
            global = LLVMGetNextGlobal(g)
            if LLVMGetInitializer(g) != nil {
                LLVMSetInitializer(g, nil)
                LLVMSetGlobalConstant(g, 0)
            }
        }
        let bitcode = LLVMWriteBitcodeToMemoryBuffer(clone)
        LLVMDisposeModule(clone)
        guard let bitcode else { throw CodegenError("internal: cannot write the second half's bitcode") }
        let bytes = Array(
            UnsafeRawBufferPointer(start: LLVMGetBufferStart(bitcode), count: LLVMGetBufferSize(bitcode)))
        LLVMDisposeMemoryBuffer(bitcode)
        for f in definedFunctions(module).map(\.function) where second.contains(name(of: f)) {
            declare(f, in: module)
        }

        let worker = Worker(bitcode: bytes, target: machine.target)
        let thread = Thread { worker.run() }
        thread.stackSize = 64 << 20
        thread.start()
        let first = Result { () throws(CodegenError) -> [UInt8] in
            try machine.optimize(ir)
            return try machine.emit(ir, .object)
        }
        worker.done.wait()
        return [try first.get(), try worker.result.get()]
    }

    /// Compiles the second half in its own context.
    private final class Worker: @unchecked Sendable {
        let bitcode: [UInt8]
        let target: Target
        let done = DispatchSemaphore(value: 0)
        var result: Result<[UInt8], CodegenError> = .failure(CodegenError("internal: the second half did not run"))

        init(bitcode: [UInt8], target: Target) {
            self.bitcode = bitcode
            self.target = target
        }

        func run() {
            defer { done.signal() }
            result = Result { () throws(CodegenError) -> [UInt8] in
                let machine = try MachineCode(target)
                let ir = try IRBuilder(bitcode: bitcode)
                try machine.optimize(ir)
                return try machine.emit(ir, .object)
            }
        }
    }

    /// Functions with bodies and their instruction counts, in module order.
    static func definedFunctions(_ module: LLVMModuleRef) -> [(function: LLVMValueRef, size: Int)] {
        var out: [(LLVMValueRef, Int)] = []
        var function = LLVMGetFirstFunction(module)
        while let f = function {
            function = LLVMGetNextFunction(f)
            guard LLVMIsDeclaration(f) == 0 else { continue }
            var size = 0
            var block = LLVMGetFirstBasicBlock(f)
            while let b = block {
                var instruction = LLVMGetFirstInstruction(b)
                while let i = instruction {
                    size += 1
                    instruction = LLVMGetNextInstruction(i)
                }
                block = LLVMGetNextBasicBlock(b)
            }
            out.append((f, size))
        }
        return out
    }

    static func name(of value: LLVMValueRef) -> String {
        var length = 0
        guard let p = LLVMGetValueName2(value, &length) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: length), as: UTF8.self)
    }

    /// Internal and private definitions become hidden symbols `prefix.name`; `renaming` (names
    /// of functions) follows the new names.
    private static func externalize(_ module: LLVMModuleRef, prefix: String, renaming names: inout Set<String>) {
        func hide(_ v: LLVMValueRef) -> (old: String, new: String)? {
            let linkage = LLVMGetLinkage(v)
            guard linkage == LLVMInternalLinkage || linkage == LLVMPrivateLinkage else { return nil }
            let old = name(of: v)
            let new = prefix + "." + (old.isEmpty ? "anon" : old)
            LLVMSetValueName2(v, new, new.utf8.count)
            LLVMSetLinkage(v, LLVMExternalLinkage)
            LLVMSetVisibility(v, LLVMHiddenVisibility)
            return (old, name(of: v))
        }
        var renamed = Set<String>()
        var function = LLVMGetFirstFunction(module)
        while let f = function {
            function = LLVMGetNextFunction(f)
            if let (old, new) = hide(f), names.contains(old) { renamed.insert(new) }
        }
        var global = LLVMGetFirstGlobal(module)
        while let g = global {
            global = LLVMGetNextGlobal(g)
            _ = hide(g)
        }
        names = renamed
    }

    /// Replaces a function's definition by a declaration of the same name and type.
    private static func declare(_ f: LLVMValueRef, in module: LLVMModuleRef) {
        let symbol = name(of: f)
        let declaration = LLVMAddFunction(module, "", LLVMGlobalGetValueType(f))!
        LLVMReplaceAllUsesWith(f, declaration)
        LLVMDeleteFunction(f)
        LLVMSetValueName2(declaration, symbol, symbol.utf8.count)
        LLVMSetLinkage(declaration, LLVMExternalLinkage)
        LLVMSetVisibility(declaration, LLVMHiddenVisibility)
    }
}
