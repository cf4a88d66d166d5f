internal import CLLVM

/// An LLVM type. Wrappers keep `LLVM…Ref` inside this folder: kernel emitters above it
/// speak only in `IRType` / `IRValue` / `IRBlock`.
struct IRType: Equatable {
    fileprivate let ref: LLVMTypeRef
    static func == (a: IRType, b: IRType) -> Bool { a.ref == b.ref }
    var isVector: Bool { LLVMGetTypeKind(ref) == LLVMVectorTypeKind }
    var isFloat32: Bool { LLVMGetTypeKind(ref) == LLVMFloatTypeKind }
    var vectorWidth: Int { isVector ? Int(LLVMGetVectorSize(ref)) : 1 }
    /// Bytes of a scalar integer or float type (its natural alignment too).
    var scalarBytes: Int {
        switch LLVMGetTypeKind(ref) {
        case LLVMIntegerTypeKind: Int(LLVMGetIntTypeWidth(ref) + 7) / 8
        case LLVMHalfTypeKind, LLVMBFloatTypeKind: 2
        case LLVMDoubleTypeKind: 8
        default: 4
        }
    }
}

struct IRValue {
    fileprivate let ref: LLVMValueRef
    var type: IRType { IRType(ref: LLVMTypeOf(ref)) }
}

struct IRBlock {
    fileprivate let ref: LLVMBasicBlockRef
}

struct IRFunction {
    fileprivate let ref: LLVMValueRef
    let type: IRType
    var value: IRValue { IRValue(ref: ref) }
    func param(_ i: Int) -> IRValue { IRValue(ref: LLVMGetParam(ref, UInt32(i))) }
    /// Whether the function has a body yet (`IRBuilder.function` returns existing functions).
    var isDefined: Bool { LLVMCountBasicBlocks(ref) > 0 }
    var name: String { String(cString: LLVMGetValueName(ref)) }
}

enum IntPredicate { case eq, ne, slt, sle, sgt, sge, ult, ule, ugt, uge }
enum FloatPredicate { case olt, ogt, oeq, une, uno, ord, oge, ole }

/// Owns one LLVM module and an instruction builder positioned in it.
final class IRBuilder {
    let context: LLVMContextRef
    let module: LLVMModuleRef
    private let builder: LLVMBuilderRef
    private let ownsContext: Bool
    private(set) var currentFunction: IRFunction?
    /// Function attributes every emitted function gets (target-cpu, features, vector width).
    var functionAttributes: [(String, String)] = []
    /// Emit each vector transcendental (exp, log, tanh, erf) as a call to one shared internal
    /// function instead of in place (`VectorMath`): for modules too large to compile quickly.
    var outlineMath = false

    init(moduleName: String, context: OpaquePointer? = nil) {
        if let context {
            self.context = context
            ownsContext = false
        } else {
            self.context = LLVMContextCreate()
            ownsContext = true
        }
        module = LLVMModuleCreateWithNameInContext(moduleName, self.context)
        builder = LLVMCreateBuilderInContext(self.context)
    }

    /// A builder holding the module read from `bitcode`, in a context of its own (the second
    /// half of `ParallelCodegen`, compiled on another thread).
    init(bitcode: [UInt8]) throws(CodegenError) {
        guard let context = LLVMContextCreate() else { throw CodegenError("internal: cannot create an LLVM context") }
        let buffer = bitcode.withUnsafeBufferPointer { p in
            LLVMCreateMemoryBufferWithMemoryRangeCopy(
                UnsafeRawPointer(p.baseAddress)?.assumingMemoryBound(to: CChar.self), p.count, "half")
        }
        defer { LLVMDisposeMemoryBuffer(buffer) }
        var parsed: LLVMModuleRef?
        guard LLVMParseBitcodeInContext2(context, buffer, &parsed) == 0, let parsed else {
            LLVMContextDispose(context)
            throw CodegenError("internal: cannot read bitcode of a split module")
        }
        self.context = context
        ownsContext = true
        module = parsed
        builder = LLVMCreateBuilderInContext(context)
    }

    /// Hands the module to someone else (the JIT); the builder no longer disposes it.
    private(set) var moduleTaken = false
    func takeModule() -> OpaquePointer {
        moduleTaken = true
        return module
    }

    deinit {
        LLVMDisposeBuilder(builder)
        if !moduleTaken { LLVMDisposeModule(module) }
        if ownsContext { LLVMContextDispose(context) }
    }

    // MARK: types

    var f32: IRType { IRType(ref: LLVMFloatTypeInContext(context)) }
    var f64: IRType { IRType(ref: LLVMDoubleTypeInContext(context)) }
    var f16: IRType { IRType(ref: LLVMHalfTypeInContext(context)) }
    var bf16: IRType { IRType(ref: LLVMBFloatTypeInContext(context)) }
    var i16: IRType { IRType(ref: LLVMInt16TypeInContext(context)) }
    var i1: IRType { IRType(ref: LLVMInt1TypeInContext(context)) }
    var i8: IRType { IRType(ref: LLVMInt8TypeInContext(context)) }
    var i32: IRType { IRType(ref: LLVMInt32TypeInContext(context)) }
    var i64: IRType { IRType(ref: LLVMInt64TypeInContext(context)) }
    func integer(bits: Int) -> IRType { IRType(ref: LLVMIntTypeInContext(context, UInt32(bits))) }
    var ptr: IRType { IRType(ref: LLVMPointerTypeInContext(context, 0)) }
    var void: IRType { IRType(ref: LLVMVoidTypeInContext(context)) }
    func vector(_ t: IRType, _ n: Int) -> IRType { n == 1 ? t : IRType(ref: LLVMVectorType(t.ref, UInt32(n))) }
    func array(_ t: IRType, _ n: Int) -> IRType { IRType(ref: LLVMArrayType2(t.ref, UInt64(n))) }
    func structType(_ fields: [IRType]) -> IRType {
        var refs: [LLVMTypeRef?] = fields.map(\.ref)
        return IRType(
            ref: refs.withUnsafeMutableBufferPointer {
                LLVMStructTypeInContext(context, $0.baseAddress, UInt32($0.count), 0)
            })
    }
    func functionType(_ ret: IRType, _ params: [IRType]) -> IRType {
        var refs: [LLVMTypeRef?] = params.map(\.ref)
        return IRType(
            ref: refs.withUnsafeMutableBufferPointer { LLVMFunctionType(ret.ref, $0.baseAddress, UInt32($0.count), 0) })
    }
    func scalarType(of t: IRType) -> IRType { t.isVector ? IRType(ref: LLVMGetElementType(t.ref)) : t }

    // MARK: constants

    func constF32(_ v: Float, width: Int = 1) -> IRValue {
        splatConst(IRValue(ref: LLVMConstReal(f32.ref, Double(v))), width)
    }
    func constReal(_ t: IRType, _ v: Double, width: Int = 1) -> IRValue {
        splatConst(IRValue(ref: LLVMConstReal(t.ref, v)), width)
    }
    func constInt(_ t: IRType, _ v: Int, width: Int) -> IRValue {
        splatConst(IRValue(ref: LLVMConstInt(t.ref, UInt64(bitPattern: Int64(v)), 1)), width)
    }
    func constI32(_ v: Int32, width: Int = 1) -> IRValue {
        splatConst(IRValue(ref: LLVMConstInt(i32.ref, UInt64(bitPattern: Int64(v)), 1)), width)
    }
    func constI64(_ v: Int) -> IRValue { IRValue(ref: LLVMConstInt(i64.ref, UInt64(bitPattern: Int64(v)), 1)) }
    func constInt(_ t: IRType, _ v: Int) -> IRValue {
        IRValue(ref: LLVMConstInt(t.ref, UInt64(bitPattern: Int64(v)), 1))
    }
    var nullPointer: IRValue { IRValue(ref: LLVMConstPointerNull(ptr.ref)) }

    private func splatConst(_ v: IRValue, _ width: Int) -> IRValue {
        guard width > 1 else { return v }
        var refs: [LLVMValueRef?] = Array(repeating: v.ref, count: width)
        return IRValue(ref: refs.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32($0.count)) })
    }

    /// A private constant table of f32 values (an int8 kernel's per-channel scales).
    func constantFloats(_ name: String, _ values: [Float]) -> IRValue {
        constantBytes(name, values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) } })
    }

    /// A private, read-only, 64-byte aligned byte string: how weights are embedded (one
    /// constant per tensor, never one LLVM constant per element).
    func constantBytes(_ name: String, _ bytes: [UInt8], alignment: Int = 64) -> IRValue {
        let storage = bytes.isEmpty ? [0] : bytes  // a valid pointer even for empty tensors
        let init_ = storage.withUnsafeBytes { raw in
            LLVMConstStringInContext2(context, raw.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, 1)
        }
        let g = LLVMAddGlobal(module, LLVMTypeOf(init_), name)!
        LLVMSetInitializer(g, init_)
        LLVMSetGlobalConstant(g, 1)
        LLVMSetLinkage(g, LLVMPrivateLinkage)
        LLVMSetAlignment(g, UInt32(alignment))
        return IRValue(ref: g)
    }

    /// A NUL-terminated private string constant.
    func constantCString(_ name: String, _ text: String) -> IRValue {
        constantBytes(name, Array(text.utf8) + [0], alignment: 1)
    }

    /// A private constant global with an arbitrary initializer built from `values`.
    func constantGlobal(_ name: String, _ value: IRValue, exported: Bool = false) -> IRValue {
        let g = LLVMAddGlobal(module, LLVMTypeOf(value.ref), name)!
        LLVMSetInitializer(g, value.ref)
        LLVMSetGlobalConstant(g, 1)
        LLVMSetLinkage(g, exported ? LLVMExternalLinkage : LLVMPrivateLinkage)
        return IRValue(ref: g)
    }

    func constArray(_ t: IRType, _ values: [IRValue]) -> IRValue {
        var refs: [LLVMValueRef?] = values.map(\.ref)
        return IRValue(
            ref: refs.withUnsafeMutableBufferPointer { LLVMConstArray2(t.ref, $0.baseAddress, UInt64($0.count)) })
    }

    func constStruct(_ values: [IRValue]) -> IRValue {
        var refs: [LLVMValueRef?] = values.map(\.ref)
        return IRValue(
            ref: refs.withUnsafeMutableBufferPointer {
                LLVMConstStructInContext(context, $0.baseAddress, UInt32($0.count), 0)
            })
    }

    // MARK: functions and blocks

    /// Declares a function. `exported` functions keep external linkage; everything else is
    /// internal so that the artifact exports only the prefixed API.
    func function(_ name: String, _ type: IRType, exported: Bool, noinline: Bool = false) -> IRFunction {
        // An existing function of that name is returned as is (forward declarations).
        if let existing = LLVMGetNamedFunction(module, name) { return IRFunction(ref: existing, type: type) }
        let f = LLVMAddFunction(module, name, type.ref)!
        LLVMSetLinkage(f, exported ? LLVMExternalLinkage : LLVMInternalLinkage)
        if exported { LLVMSetVisibility(f, LLVMDefaultVisibility) }
        for (k, v) in functionAttributes {
            let a = LLVMCreateStringAttribute(context, k, UInt32(k.utf8.count), v, UInt32(v.utf8.count))
            LLVMAddAttributeAtIndex(f, LLVMAttributeIndex(bitPattern: -1), a)
        }
        let nounwind = LLVMCreateEnumAttribute(context, LLVMGetEnumAttributeKindForName("nounwind", 8), 0)
        LLVMAddAttributeAtIndex(f, LLVMAttributeIndex(bitPattern: -1), nounwind)
        if noinline {
            let a = LLVMCreateEnumAttribute(context, LLVMGetEnumAttributeKindForName("noinline", 8), 0)
            LLVMAddAttributeAtIndex(f, LLVMAttributeIndex(bitPattern: -1), a)
        }
        return IRFunction(ref: f, type: type)
    }

    /// Starts emitting the body of `f` in a fresh entry block.
    func begin(_ f: IRFunction) {
        currentFunction = f
        position(at: appendBlock("entry"))
    }

    /// Continues emitting in `f` at block `b` (after emitting another function).
    func resume(_ f: IRFunction?, at b: IRBlock) {
        currentFunction = f
        position(at: b)
    }

    func appendBlock(_ name: String) -> IRBlock {
        IRBlock(ref: LLVMAppendBasicBlockInContext(context, currentFunction!.ref, name))
    }

    func position(at b: IRBlock) { LLVMPositionBuilderAtEnd(builder, b.ref) }
    var insertBlock: IRBlock { IRBlock(ref: LLVMGetInsertBlock(builder)) }

    // MARK: control flow

    func br(_ b: IRBlock) { LLVMBuildBr(builder, b.ref) }
    func condBr(_ c: IRValue, _ t: IRBlock, _ f: IRBlock) { LLVMBuildCondBr(builder, c.ref, t.ref, f.ref) }
    func ret(_ v: IRValue? = nil) {
        if let v { LLVMBuildRet(builder, v.ref) } else { LLVMBuildRetVoid(builder) }
    }

    func phi(_ t: IRType, _ name: String = "") -> IRValue { IRValue(ref: LLVMBuildPhi(builder, t.ref, name)) }
    func addIncoming(_ phi: IRValue, _ v: IRValue, _ b: IRBlock) {
        var vals: [LLVMValueRef?] = [v.ref]
        var blocks: [LLVMBasicBlockRef?] = [b.ref]
        LLVMAddIncoming(phi.ref, &vals, &blocks, 1)
    }

    /// `for (i = start; i < end; i += step) body(i)` with an i64 induction variable.
    func forLoop(_ start: IRValue, _ end: IRValue, step: Int = 1, _ name: String = "i", body: (IRValue) -> Void) {
        _ = forLoop(start, end, step: step, carrying: [], name) { i, _ in
            body(i)
            return []
        }
    }

    /// `if (cond) { body }`; a nil condition runs the body unconditionally.
    func ifThen(_ condition: IRValue?, _ body: () -> Void) {
        guard let condition else { return body() }
        let then = appendBlock("then"), after = appendBlock("after")
        condBr(condition, then, after)
        position(at: then)
        body()
        br(after)
        position(at: after)
    }

    /// `if (cond) return value;` and continue emitting in a fresh block.
    func returnIf(_ cond: IRValue, _ value: IRValue?) {
        let exit = appendBlock("early.exit"), rest = appendBlock("cont")
        condBr(cond, exit, rest)
        position(at: exit)
        ret(value)
        position(at: rest)
    }

    /// A loop that carries values (accumulators) from one iteration to the next and returns
    /// their final values.
    func forLoop(
        _ start: IRValue, _ end: IRValue, step: Int = 1, carrying initial: [IRValue], _ name: String = "k",
        unroll: Bool = true, vectorize: Bool = true, body: (IRValue, [IRValue]) -> [IRValue]
    ) -> [IRValue] {
        let pre = insertBlock
        let header = appendBlock(name + ".header")
        let bodyBlock = appendBlock(name + ".body")
        let exit = appendBlock(name + ".exit")
        br(header)
        position(at: header)
        let i = phi(i64, name)
        addIncoming(i, start, pre)
        let carried = initial.map { v -> IRValue in
            let p = phi(v.type)
            addIncoming(p, v, pre)
            return p
        }
        condBr(icmp(.slt, i, end), bodyBlock, exit)
        position(at: bodyBlock)
        let updated = body(i, carried)
        let latch = insertBlock
        addIncoming(i, add(i, constI64(step)), latch)
        for (p, u) in zip(carried, updated) { addIncoming(p, u, latch) }
        let back = LLVMBuildBr(builder, header.ref)!
        if !unroll || !vectorize { loopHints(back, unroll: unroll, vectorize: vectorize) }
        position(at: exit)
        return carried
    }

    /// Attaches loop hints to the loop whose back edge is `branch`. `llvm.loop.unroll.disable`:
    /// a loop with a constant trip count (a conv's taps) that LLVM would otherwise copy out in
    /// full, for no gain when its body is already a long register tile, at the cost of compile
    /// time. `llvm.loop.vectorize.enable` false: a scalar loop with a few iterations (the border
    /// columns of a row) that the loop vectorizer would otherwise turn into gathers.
    private func loopHints(_ branch: LLVMValueRef, unroll: Bool, vectorize: Bool) {
        var hints: [LLVMMetadataRef?] = []
        if !unroll {
            let name = "llvm.loop.unroll.disable"
            var option: [LLVMMetadataRef?] = [LLVMMDStringInContext2(context, name, name.utf8.count)]
            hints.append(option.withUnsafeMutableBufferPointer { LLVMMDNodeInContext2(context, $0.baseAddress, 1) })
        }
        if !vectorize {
            let name = "llvm.loop.vectorize.enable"
            let no = LLVMValueAsMetadata(LLVMConstInt(LLVMInt1TypeInContext(context), 0, 0))
            var option: [LLVMMetadataRef?] = [LLVMMDStringInContext2(context, name, name.utf8.count), no]
            hints.append(option.withUnsafeMutableBufferPointer { LLVMMDNodeInContext2(context, $0.baseAddress, 2) })
        }
        // A loop ID is a distinct node whose first operand is itself.
        let temporary = LLVMTemporaryMDNode(context, nil, 0)
        var operands: [LLVMMetadataRef?] = [temporary] + hints
        let id = operands.withUnsafeMutableBufferPointer {
            LLVMMDNodeInContext2(context, $0.baseAddress, $0.count)
        }!
        LLVMMetadataReplaceAllUsesWith(temporary, id)
        let kind = LLVMGetMDKindIDInContext(context, "llvm.loop", UInt32("llvm.loop".utf8.count))
        LLVMSetMetadata(branch, kind, LLVMMetadataAsValue(context, id))
    }

    // MARK: memory

    /// Address of element `index` (i64) of type `elem` from `base`.
    func gep(_ elem: IRType, _ base: IRValue, _ index: IRValue) -> IRValue {
        var idx: [LLVMValueRef?] = [index.ref]
        return IRValue(ref: LLVMBuildInBoundsGEP2(builder, elem.ref, base.ref, &idx, 1, ""))
    }

    func load(_ t: IRType, _ p: IRValue, align: Int = 4) -> IRValue {
        let v = LLVMBuildLoad2(builder, t.ref, p.ref, "")!
        LLVMSetAlignment(v, UInt32(align))
        return IRValue(ref: v)
    }

    func store(_ v: IRValue, _ p: IRValue, align: Int = 4) {
        let s = LLVMBuildStore(builder, v.ref, p.ref)!
        LLVMSetAlignment(s, UInt32(align))
    }

    /// `base` + `index` elements without `inbounds`: the address may lie outside any object
    /// (a masked load whose first lanes, before a row's start, are off).
    func gepAnywhere(_ elem: IRType, _ base: IRValue, _ index: IRValue) -> IRValue {
        var idx: [LLVMValueRef?] = [index.ref]
        return IRValue(ref: LLVMBuildGEP2(builder, elem.ref, base.ref, &idx, 1, ""))
    }

    /// A constant `<n x i1>` mask with lane i set when `lanes[i]`.
    func laneMask(_ lanes: [Bool]) -> IRValue {
        var refs: [LLVMValueRef?] = lanes.map { LLVMConstInt(i1.ref, $0 ? 1 : 0, 0) }
        return IRValue(ref: refs.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32($0.count)) })
    }

    /// A constant `<width x i1>` mask with the first `valid` lanes set (edge tiles).
    func laneMask(_ valid: Int, width: Int) -> IRValue { laneMask((0..<width).map { $0 < valid }) }

    /// `llvm.masked.load`: lanes outside `mask` are not read (and are 0, or `passthru`'s, in the result), so an
    /// edge tile never touches memory past the end of a row. Generic LLVM: k-masks on
    /// AVX-512, `vmaskmov` on AVX2, split loads elsewhere.
    func maskedLoad(_ t: IRType, _ p: IRValue, mask: IRValue, align: Int = 4, passthru: IRValue? = nil) -> IRValue {
        intrinsic(
            "llvm.masked.load", [p, constInt(i32, align), mask, passthru ?? IRValue(ref: LLVMConstNull(t.ref))],
            overloads: [t, ptr])
    }

    /// `llvm.prefetch` of the cache line at `p` into L1, for writing when `write`.
    func prefetch(_ p: IRValue, write: Bool) {
        _ = intrinsic(
            "llvm.prefetch", [p, constInt(i32, write ? 1 : 0), constInt(i32, 3), constInt(i32, 1)], overloads: [ptr])
    }

    /// `llvm.masked.store`: writes only the lanes in `mask`.
    func maskedStore(_ v: IRValue, _ p: IRValue, mask: IRValue, align: Int = 4) {
        _ = intrinsic("llvm.masked.store", [v, p, constInt(i32, align), mask], overloads: [v.type, ptr])
    }

    /// Address of field `index` of a struct of type `t` at `base`.
    func structField(_ t: IRType, _ base: IRValue, _ index: Int) -> IRValue {
        IRValue(ref: LLVMBuildStructGEP2(builder, t.ref, base.ref, UInt32(index), ""))
    }

    func sextI64(_ v: IRValue) -> IRValue { IRValue(ref: LLVMBuildSExt(builder, v.ref, i64.ref, "")) }

    func memcpy(_ dst: IRValue, _ src: IRValue, bytes: Int) {
        LLVMBuildMemCpy(builder, dst.ref, 1, src.ref, 1, constI64(bytes).ref)
    }

    // MARK: arithmetic (works on scalars and vectors alike)

    func fadd(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildFAdd(builder, a.ref, b.ref, "")) }
    func fsub(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildFSub(builder, a.ref, b.ref, "")) }
    func fmul(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildFMul(builder, a.ref, b.ref, "")) }
    func fdiv(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildFDiv(builder, a.ref, b.ref, "")) }
    func fneg(_ a: IRValue) -> IRValue { IRValue(ref: LLVMBuildFNeg(builder, a.ref, "")) }
    func add(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildAdd(builder, a.ref, b.ref, "")) }
    func sub(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildSub(builder, a.ref, b.ref, "")) }
    func mul(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildMul(builder, a.ref, b.ref, "")) }
    func and(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildAnd(builder, a.ref, b.ref, "")) }
    func or(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildOr(builder, a.ref, b.ref, "")) }
    func xor(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildXor(builder, a.ref, b.ref, "")) }
    func shl(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildShl(builder, a.ref, b.ref, "")) }
    func ashr(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildAShr(builder, a.ref, b.ref, "")) }
    func lshr(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildLShr(builder, a.ref, b.ref, "")) }

    func icmp(_ p: IntPredicate, _ a: IRValue, _ b: IRValue) -> IRValue {
        let pred: LLVMIntPredicate =
            switch p {
            case .eq: LLVMIntEQ
            case .ne: LLVMIntNE
            case .slt: LLVMIntSLT
            case .sle: LLVMIntSLE
            case .sgt: LLVMIntSGT
            case .sge: LLVMIntSGE
            case .ult: LLVMIntULT
            case .ule: LLVMIntULE
            case .ugt: LLVMIntUGT
            case .uge: LLVMIntUGE
            }
        return IRValue(ref: LLVMBuildICmp(builder, pred, a.ref, b.ref, ""))
    }

    func fcmp(_ p: FloatPredicate, _ a: IRValue, _ b: IRValue) -> IRValue {
        let pred: LLVMRealPredicate =
            switch p {
            case .olt: LLVMRealOLT
            case .ogt: LLVMRealOGT
            case .oeq: LLVMRealOEQ
            case .une: LLVMRealUNE
            case .uno: LLVMRealUNO
            case .ord: LLVMRealORD
            case .oge: LLVMRealOGE
            case .ole: LLVMRealOLE
            }
        return IRValue(ref: LLVMBuildFCmp(builder, pred, a.ref, b.ref, ""))
    }

    func select(_ c: IRValue, _ a: IRValue, _ b: IRValue) -> IRValue {
        IRValue(ref: LLVMBuildSelect(builder, c.ref, a.ref, b.ref, ""))
    }
    func bitcast(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildBitCast(builder, v.ref, t.ref, "")) }
    func fptosi(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildFPToSI(builder, v.ref, t.ref, "")) }
    func sitofp(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildSIToFP(builder, v.ref, t.ref, "")) }
    func fpext(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildFPExt(builder, v.ref, t.ref, "")) }
    func fptrunc(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildFPTrunc(builder, v.ref, t.ref, "")) }
    func sext(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildSExt(builder, v.ref, t.ref, "")) }
    func zext(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildZExt(builder, v.ref, t.ref, "")) }
    func trunc(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildTrunc(builder, v.ref, t.ref, "")) }
    func uitofp(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildUIToFP(builder, v.ref, t.ref, "")) }
    func fptoui(_ v: IRValue, _ t: IRType) -> IRValue { IRValue(ref: LLVMBuildFPToUI(builder, v.ref, t.ref, "")) }
    func sdiv(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildSDiv(builder, a.ref, b.ref, "")) }
    func udiv(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildUDiv(builder, a.ref, b.ref, "")) }
    func srem(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildSRem(builder, a.ref, b.ref, "")) }
    func urem(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildURem(builder, a.ref, b.ref, "")) }
    func frem(_ a: IRValue, _ b: IRValue) -> IRValue { IRValue(ref: LLVMBuildFRem(builder, a.ref, b.ref, "")) }
    func not(_ a: IRValue) -> IRValue { IRValue(ref: LLVMBuildNot(builder, a.ref, "")) }
    func intBits(_ t: IRType) -> Int { Int(LLVMGetIntTypeWidth(scalarType(of: t).ref)) }

    func ptrtoint(_ v: IRValue) -> IRValue { IRValue(ref: LLVMBuildPtrToInt(builder, v.ref, i64.ref, "")) }
    func isNull(_ v: IRValue) -> IRValue { IRValue(ref: LLVMBuildIsNull(builder, v.ref, "")) }

    /// Broadcasts a scalar to a vector of `width` lanes (identity for width 1).
    func splat(_ v: IRValue, _ width: Int) -> IRValue {
        guard width > 1 else { return v }
        let vt = vector(v.type, width)
        let undef = LLVMGetPoison(vt.ref)
        let ins = LLVMBuildInsertElement(builder, undef, v.ref, constI32(0).ref, "")
        let mask = LLVMConstNull(vector(i32, width).ref)
        return IRValue(ref: LLVMBuildShuffleVector(builder, ins, undef, mask, ""))
    }

    /// `v` with lane `i` replaced by the scalar `x`.
    func replacingLane(_ v: IRValue, _ i: Int, _ x: IRValue) -> IRValue {
        IRValue(ref: LLVMBuildInsertElement(builder, v.ref, x.ref, constI32(Int32(i)).ref, ""))
    }

    /// Lanes [lo, lo+n) of a vector.
    func slice(_ v: IRValue, _ lo: Int, _ n: Int) -> IRValue {
        lanes(v, Array(lo..<(lo + n)))
    }

    /// The vector of `v`'s lanes at `indices` (a scalar for one index): a slice, or every
    /// s-th lane to deinterleave a strided row.
    func lanes(_ v: IRValue, _ indices: [Int]) -> IRValue {
        if indices.count == 1 {
            return IRValue(ref: LLVMBuildExtractElement(builder, v.ref, constI32(Int32(indices[0])).ref, ""))
        }
        var lanes: [LLVMValueRef?] = indices.map { constI32(Int32($0)).ref }
        let mask = lanes.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32($0.count)) }
        return IRValue(ref: LLVMBuildShuffleVector(builder, v.ref, LLVMGetPoison(v.type.ref), mask, ""))
    }

    /// The lanes of `a` followed by `b` (same type) at `indices`: interleaves and concatenations.
    func shuffle(_ a: IRValue, _ b: IRValue, _ indices: [Int]) -> IRValue {
        var lanes: [LLVMValueRef?] = indices.map { constI32(Int32($0)).ref }
        let mask = lanes.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32($0.count)) }
        return IRValue(ref: LLVMBuildShuffleVector(builder, a.ref, b.ref, mask, ""))
    }

    // MARK: intrinsics and calls

    /// Calls an overloaded LLVM intrinsic such as `llvm.fma` at the type of its first argument.
    func intrinsic(_ name: String, _ args: [IRValue], overloads: [IRType]? = nil) -> IRValue {
        let id = LLVMLookupIntrinsicID(name, name.utf8.count)
        var tys: [LLVMTypeRef?] = (overloads ?? [args[0].type]).map(\.ref)
        let fn = tys.withUnsafeMutableBufferPointer {
            LLVMGetIntrinsicDeclaration(module, id, $0.baseAddress, $0.count)
        }!
        let fty = tys.withUnsafeMutableBufferPointer { LLVMIntrinsicGetType(context, id, $0.baseAddress, $0.count) }!
        var a: [LLVMValueRef?] = args.map(\.ref)
        return IRValue(
            ref: a.withUnsafeMutableBufferPointer {
                LLVMBuildCall2(builder, fty, fn, $0.baseAddress, UInt32($0.count), "")
            })
    }

    @discardableResult
    func call(_ f: IRFunction, _ args: [IRValue]) -> IRValue {
        var a: [LLVMValueRef?] = args.map(\.ref)
        return IRValue(
            ref: a.withUnsafeMutableBufferPointer {
                LLVMBuildCall2(builder, f.type.ref, f.ref, $0.baseAddress, UInt32($0.count), "")
            })
    }

    /// A stack slot in the current function.
    func alloca(_ t: IRType) -> IRValue { IRValue(ref: LLVMBuildAlloca(builder, t.ref, "")) }

    /// `atomicrmw add ptr, v seq_cst`, returning the old value.
    func atomicAdd(_ p: IRValue, _ v: IRValue) -> IRValue {
        IRValue(
            ref: LLVMBuildAtomicRMW(
                builder, LLVMAtomicRMWBinOpAdd, p.ref, v.ref, LLVMAtomicOrderingSequentiallyConsistent, 0))
    }

    /// Calls a function pointer of type `type`.
    @discardableResult
    func callIndirect(_ type: IRType, _ fn: IRValue, _ args: [IRValue]) -> IRValue {
        var a: [LLVMValueRef?] = args.map(\.ref)
        return IRValue(
            ref: a.withUnsafeMutableBufferPointer {
                LLVMBuildCall2(builder, type.ref, fn.ref, $0.baseAddress, UInt32($0.count), "")
            })
    }

    /// Declares an external C function (malloc, free, aligned_alloc).
    func externalFunction(_ name: String, _ type: IRType) -> IRFunction {
        if let f = LLVMGetNamedFunction(module, name) { return IRFunction(ref: f, type: type) }
        let f = LLVMAddFunction(module, name, type.ref)!
        return IRFunction(ref: f, type: type)
    }

    // MARK: module

    /// Runs LLVM's verifier; returns its message on failure.
    func verify() -> String? {
        var msg: UnsafeMutablePointer<CChar>?
        let bad = LLVMVerifyModule(module, LLVMReturnStatusAction, &msg) != 0
        defer { if let msg { LLVMDisposeMessage(msg) } }
        return bad ? msg.map { String(cString: $0) } ?? "invalid module" : nil
    }

    var irText: String {
        let s = LLVMPrintModuleToString(module)!
        defer { LLVMDisposeMessage(s) }
        return String(cString: s)
    }
}
