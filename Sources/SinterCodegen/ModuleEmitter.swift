import SinterIR

/// Builds the LLVM module of an artifact: embedded weights, one internal function per kernel,
/// and the exported `NAME_*` C ABI (introspection, context, workspace, run, status). A dynamic
/// artifact (`DynamicProgram`) holds one program per specialised size behind one `NAME_run`.
struct ModuleEmitter {
    /// One program, or one per specialised size of a dynamic artifact.
    let programs: [KernelProgram]
    let dynamic: DynamicProgram?
    /// The artifact's weights (every program's, each distinct tensor once), and for program p
    /// the index in it of p's constant i.
    let constants: [TensorData]
    let constantIndex: [[Int]]
    let prefix: String
    let ir: IRBuilder
    let target: Target
    var weightsMode: ABI.WeightsMode = .embedded
    var profile = false
    /// The exported constant that the header of the same compile references (HeaderWriter.linkSymbol).
    var linkSymbol: String?
    /// A training artifact's programs (`programs[1...3]`) and the indices in `constants` of the
    /// parameters' starting values.
    let training: TrainingProgram?
    let initialIndex: [Int]
    /// `--explain`: the explanation program (Explanation.build), the last of `programs`.
    let explain: KernelProgram?

    init(program: KernelProgram, prefix: String, ir: IRBuilder, target: Target) {
        programs = [program]
        dynamic = nil
        constants = program.constants
        constantIndex = [Array(program.constants.indices)]
        self.prefix = prefix
        self.ir = ir
        self.target = target
        training = nil
        initialIndex = []
        explain = nil
    }

    /// Inference plus the train step's programs: gradients, apply and predict follow the
    /// inference program, and every distinct constant (the parameters' starting values too)
    /// is embedded once.
    init(
        program: KernelProgram, training: TrainingProgram?, explain: KernelProgram?, prefix: String, ir: IRBuilder,
        target: Target
    ) {
        programs =
            [program] + (training.map { [$0.gradients, $0.apply, $0.predict] } ?? []) + (explain.map { [$0] } ?? [])
        dynamic = nil
        var constants: [TensorData] = [], index: [TensorData: Int] = [:]
        func slot(_ t: TensorData) -> Int {
            if let i = index[t] { return i }
            constants.append(t)
            index[t] = constants.count - 1
            return constants.count - 1
        }
        constantIndex = programs.map { $0.constants.map(slot) }
        initialIndex = training.map { ($0.initialParameters + $0.initialStates).map(slot) } ?? []
        self.explain = explain
        self.constants = constants
        self.training = training
        self.prefix = prefix
        self.ir = ir
        self.target = target
    }

    init(dynamic: DynamicProgram, prefix: String, ir: IRBuilder, target: Target) {
        programs = dynamic.variants.map(\.program)
        self.dynamic = dynamic
        constants = dynamic.constants
        constantIndex = dynamic.constantIndex
        self.prefix = prefix
        self.ir = ir
        self.target = target
        training = nil
        initialIndex = []
        explain = nil
    }

    var inputs: [KernelProgram.TensorSpec] { dynamic?.inputs ?? programs[0].inputs }
    var outputs: [KernelProgram.TensorSpec] { dynamic?.outputs ?? programs[0].outputs }
    /// The context's workspace: enough for `run`, and for `explain` when there is one.
    var workspaceSize: Int {
        if let dynamic { return dynamic.workspaceSize }
        return Swift.max(programs[0].workspaceSize, explainLayout?.total ?? 0)
    }

    /// Context layout: { int32 num_threads; void *workspace; void *weights; void *pool }.
    var ctxType: IRType { ir.structType([ir.i32, ir.ptr, ir.ptr, ir.ptr]) }

    func emit() {
        ir.functionAttributes = [("target-cpu", target.cpu), ("target-features", target.features)]
        if target.isX86 { ir.functionAttributes.append(("prefer-vector-width", String(TargetInfo(target).vectorBits))) }
        let weights =
            weightsMode == .embedded
            ? constants.enumerated().map { i, t in ir.constantBytes("\(prefix)_weight\(i)", t.bytes) } : []
        let kernels = emitKernels()
        if hasSplitKernels { emitPool() }
        emitIntrospection()
        emitContext()
        if weightsMode == .sideFile { emitLoadWeights() }
        if let dynamic {
            let runs = programs.indices.map { p in
                emitRun(p, kernels[p], weights, name: "\(prefix)_run_\(dynamic.variants[p].size)", exported: false)
            }
            emitDynamicRun(dynamic, runs)
        } else {
            emitRun(0, kernels[0], weights, name: "\(prefix)_run", exported: true)
            if profile {
                emitRun(0, kernels[0], weights, name: "\(prefix)_run_profiled", exported: true, profiled: true)
            }
            if training != nil {
                let runs = (1...3).map { p in
                    emitRun(p, kernels[p], weights, name: "\(prefix)__train_run\(p)", exported: false)
                }
                emitTraining(runs: runs, weights: weights)
            }
            if explain != nil {
                let p = programs.count - 1
                emitExplain(emitRun(p, kernels[p], weights, name: "\(prefix)__explain_run", exported: false))
            }
        }
        emitStatusString()
    }

    /// From this many distinct kernels on, exp, log, tanh and erf become calls to one shared
    /// function each (`IRBuilder.outlineMath`) instead of 20–40 instructions written into every
    /// kernel. Only generated or very large graphs get there (ResNet-50 has about 60 distinct
    /// kernels); for them it cuts LLVM's time about five-fold (10,000 random nodes: 63 s to
    /// 11 s) and costs transcendental-bound kernels about 10% at run time.
    static let outlineMathKernels = 512

    /// One LLVM function per distinct kernel: kernels whose bodies, signatures and schedules
    /// are equal (a recurrent cell's time steps, a network's repeated blocks, the same layer
    /// in two sizes of a dynamic artifact) share one, since buffers are arguments. This is most
    /// of the compile time on deep and unrolled models.
    private func emitKernels() -> [[IRFunction]] {
        var functions: [Kernel.Code: IRFunction] = [:]
        ir.outlineMath = Set(programs.flatMap { $0.kernels.map(\.code) }).count >= Self.outlineMathKernels
        return programs.enumerated().map { p, program in
            program.kernels.map { k in
                if let f = functions[k.code] { return f }
                var k = k
                if let dynamic { k.name += "_n\(dynamic.variants[p].size)" }
                let f = KernelEmitter(ir: ir).emit(k)
                functions[k.code] = f
                return f
            }
        }
    }

    /// `int32 NAME_load_weights(ctx, const char *path)`: reads the side file into the context,
    /// checking its magic, size and fingerprint, and the payload's bytes against the fingerprint.
    private func emitLoadWeights() {
        let fopen = ir.externalFunction("fopen", ir.functionType(ir.ptr, [ir.ptr, ir.ptr]))
        let fread = ir.externalFunction("fread", ir.functionType(ir.i64, [ir.ptr, ir.i64, ir.i64, ir.ptr]))
        let fclose = ir.externalFunction("fclose", ir.functionType(ir.i32, [ir.ptr]))
        let alignedAlloc = ir.externalFunction("aligned_alloc", ir.functionType(ir.ptr, [ir.i64, ir.i64]))
        let free = ir.externalFunction("free", ir.functionType(ir.void, [ir.ptr]))
        let memcmp = ir.externalFunction("memcmp", ir.functionType(ir.i32, [ir.ptr, ir.ptr, ir.i64]))
        let (_, size) = ABI.weightsLayout(constants)
        let expectedHeader = ABI.weightsHeader(constants)
        let header = ir.constantBytes("\(prefix)_weights_header", Array(expectedHeader), alignment: 8)
        let mode = ir.constantCString("\(prefix)_rb", "rb")

        let f = ir.function("\(prefix)_load_weights", ir.functionType(ir.i32, [ir.ptr, ir.ptr]), exported: true)
        ir.begin(f)
        let ctx = f.param(0), path = f.param(1)
        ir.returnIf(ir.or(ir.isNull(ctx), ir.isNull(path)), status(.nullArgument))
        let file = ir.call(fopen, [path, mode])
        ir.returnIf(ir.isNull(file), status(.weightsIO))
        let buffer = ir.call(alignedAlloc, [ir.constI64(64), ir.constI64(max(size, 64))])
        let oom = ir.isNull(buffer)
        let oomBlock = ir.appendBlock("oom"), readHeader = ir.appendBlock("header")
        ir.condBr(oom, oomBlock, readHeader)
        ir.position(at: oomBlock)
        ir.call(fclose, [file])
        ir.ret(status(.outOfMemory))
        ir.position(at: readHeader)
        // The 64-byte header goes through the buffer first, then the payload replaces it.
        let got = ir.call(fread, [buffer, ir.constI64(1), ir.constI64(64), file])
        let headerOK = ir.and(
            ir.icmp(.eq, got, ir.constI64(64)),
            ir.icmp(.eq, ir.call(memcmp, [buffer, header, ir.constI64(64)]), ir.constI32(0)))
        let bad = ir.appendBlock("bad"), payload = ir.appendBlock("payload")
        ir.condBr(headerOK, payload, bad)
        ir.position(at: bad)
        ir.call(fclose, [file])
        ir.call(free, [buffer])
        ir.ret(status(.weightsMismatch))
        ir.position(at: payload)
        let read = size > 0 ? ir.call(fread, [buffer, ir.constI64(1), ir.constI64(size), file]) : ir.constI64(0)
        ir.call(fclose, [file])
        let short = ir.appendBlock("short"), store = ir.appendBlock("store")
        ir.condBr(ir.icmp(.ne, read, ir.constI64(size)), short, store)
        ir.position(at: short)
        ir.call(free, [buffer])
        ir.ret(status(.weightsIO))
        ir.position(at: store)
        // The header's fingerprint only names the model; the payload must also hash to it
        // (FNV-1a over the tensor sizes, then every payload byte, padding included), so a
        // corrupted file is refused.
        let (_, payloadSize) = ABI.weightsLayout(constants)
        var h = fnvBasis
        for t in constants {
            withUnsafeBytes(of: UInt64(t.bytes.count).littleEndian) {
                for b in $0 { h = ir.mul(ir.xor(h, ir.constI64(Int(b))), ir.constI64(0x100_0000_01b3)) }
            }
        }
        h = fnv(h, buffer, ir.constI64(payloadSize))
        let corrupt = ir.appendBlock("corrupt"), keep = ir.appendBlock("keep")
        ir.condBr(ir.icmp(.ne, h, ir.constI64(Int(bitPattern: UInt(ABI.weightsFingerprint(constants))))), corrupt, keep)
        ir.position(at: corrupt)
        ir.call(free, [buffer])
        ir.ret(status(.weightsMismatch))
        ir.position(at: keep)
        let slot = ir.structField(ctxType, ctx, 2)
        ir.call(free, [ir.load(ir.ptr, slot, align: 8)])
        ir.store(buffer, slot, align: 8)
        ir.ret(status(.ok))
    }

    func status(_ s: ABI.Status) -> IRValue { ir.constI32(s.rawValue) }

    /// FNV-1a's 64-bit offset basis, and `h` carried on over `count` bytes at `p` (the weights
    /// file's and the training checkpoint's integrity hash).
    var fnvBasis: IRValue { ir.constI64(Int(bitPattern: 0xcbf2_9ce4_8422_2325)) }

    func fnv(_ h: IRValue, _ p: IRValue, _ count: IRValue) -> IRValue {
        let prime = ir.constI64(0x100_0000_01b3)
        return ir.forLoop(ir.constI64(0), count, carrying: [h], "fnv") { j, acc in
            [ir.mul(ir.xor(acc[0], ir.zext(ir.load(ir.i8, ir.gep(ir.i8, p, j), align: 1), ir.i64)), prime)]
        }[0]
    }

    /// A stack array of pointers (never empty), as the programs' run functions take them.
    func pointerArray(_ values: [IRValue]) -> IRValue {
        let array = ir.alloca(ir.array(ir.ptr, max(values.count, 1)))
        for (i, v) in values.enumerated() { ir.store(v, ir.gep(ir.ptr, array, ir.constI64(i)), align: 8) }
        return array
    }

    /// A context's thread count from `create`'s argument: 0 means "pick for me" (1); more than
    /// 256 is capped at 256.
    func threadCount(_ requested: IRValue) -> IRValue {
        let one = ir.select(ir.icmp(.eq, requested, ir.constI32(0)), ir.constI32(1), requested)
        return ir.select(ir.icmp(.sgt, one, ir.constI32(256)), ir.constI32(256), one)
    }

    func i32Function(_ name: String, _ value: Int32) {
        let f = ir.function("\(prefix)_\(name)", ir.functionType(ir.i32, []), exported: true)
        ir.begin(f)
        ir.ret(ir.constI32(value))
    }

    func i64Function(_ name: String, _ value: Int) {
        let f = ir.function("\(prefix)_\(name)", ir.functionType(ir.i64, []), exported: true)
        ir.begin(f)
        ir.ret(ir.constI64(value))
    }

    private func emitIntrospection() {
        i32Function("abi_version", ABI.version)
        if let linkSymbol { _ = ir.constantGlobal(linkSymbol, ir.constI32(ABI.version), exported: true) }
        i32Function("num_inputs", Int32(inputs.count))
        i32Function("num_outputs", Int32(outputs.count))
        i64Function("workspace_size", workspaceSize)
        i64Function("workspace_align", KernelProgram.workspaceAlignment)
        emitInfo("input", inputs)
        emitInfo("output", outputs)
    }

    /// `const sinter_tensor_info *NAME_KIND_info(int32 index)` over a static table; NULL out of range.
    func emitInfo(_ kind: String, _ specs: [KernelProgram.TensorSpec]) {
        // sinter_tensor_info { const char *name; int32_t dtype; int32_t rank; const int64_t *shape;
        //                      float scale; int32_t zero_point; }
        let infoType = ir.structType([ir.ptr, ir.i32, ir.i32, ir.ptr, ir.f32, ir.i32])
        let infos = specs.enumerated().map { i, s -> IRValue in
            let name = ir.constantCString("\(prefix)_\(kind)\(i)_name", s.name)
            let shape = ir.constantGlobal(
                "\(prefix)_\(kind)\(i)_shape",
                ir.constArray(ir.i64, s.shape.map { ir.constI64($0) }))
            return ir.constStruct([
                name, ir.constI32(s.type.dtype.abiCode), ir.constI32(Int32(s.shape.count)), shape,
                ir.constF32(1), ir.constI32(0),
            ])
        }
        let table = ir.constantGlobal("\(prefix)_\(kind)_infos", ir.constArray(infoType, infos))
        let f = ir.function("\(prefix)_\(kind)_info", ir.functionType(ir.ptr, [ir.i32]), exported: true)
        ir.begin(f)
        let ok = ir.appendBlock("ok"), bad = ir.appendBlock("bad")
        let idx = f.param(0)
        let inRange = ir.and(
            ir.icmp(.sge, idx, ir.constI32(0)), ir.icmp(.slt, idx, ir.constI32(Int32(specs.count))))
        ir.condBr(inRange, ok, bad)
        ir.position(at: ok)
        ir.ret(ir.gep(infoType, table, ir.sextI64(idx)))
        ir.position(at: bad)
        ir.ret(ir.nullPointer)
    }

    /// `create` allocates the context
    /// and a workspace of workspace_size() bytes used when `run` gets a NULL workspace.
    private func emitContext() {
        let malloc = ir.externalFunction("malloc", ir.functionType(ir.ptr, [ir.i64]))
        let alignedAlloc = ir.externalFunction("aligned_alloc", ir.functionType(ir.ptr, [ir.i64, ir.i64]))
        let free = ir.externalFunction("free", ir.functionType(ir.void, [ir.ptr]))

        let create = ir.function("\(prefix)_create", ir.functionType(ir.i32, [ir.ptr, ir.i32]), exported: true)
        ir.begin(create)
        let outPtr = create.param(0), threads = create.param(1)
        ir.returnIf(ir.isNull(outPtr), status(.nullArgument))
        ir.returnIf(ir.icmp(.slt, threads, ir.constI32(0)), status(.invalidArgument))
        let ctx = ir.call(malloc, [ir.constI64(32)])
        ir.returnIf(ir.isNull(ctx), status(.outOfMemory))
        let n = threadCount(threads)
        ir.store(n, ir.structField(ctxType, ctx, 0))
        let size = workspaceSize
        if size > 0 {
            let ws = ir.call(alignedAlloc, [ir.constI64(KernelProgram.workspaceAlignment), ir.constI64(size)])
            let wsBad = ir.appendBlock("wsoom"), wsOK = ir.appendBlock("wsok")
            ir.condBr(ir.isNull(ws), wsBad, wsOK)
            ir.position(at: wsBad)
            ir.call(free, [ctx])
            ir.ret(status(.outOfMemory))
            ir.position(at: wsOK)
            ir.store(ws, ir.structField(ctxType, ctx, 1), align: 8)
        } else {
            ir.store(ir.nullPointer, ir.structField(ctxType, ctx, 1), align: 8)
        }
        ir.store(ir.nullPointer, ir.structField(ctxType, ctx, 2), align: 8)
        // The pool: num_threads − 1 workers; the calling thread is the last one.
        let pool = hasSplitKernels ? ir.call(poolCreate, [ir.sextI64(ir.sub(n, ir.constI32(1)))]) : ir.nullPointer
        ir.store(pool, ir.structField(ctxType, ctx, 3), align: 8)
        ir.store(ctx, outPtr, align: 8)
        ir.ret(ir.constI32(ABI.Status.ok.rawValue))

        let destroy = ir.function("\(prefix)_destroy", ir.functionType(ir.void, [ir.ptr]), exported: true)
        ir.begin(destroy)
        let d = destroy.param(0)
        ir.returnIf(ir.isNull(d), nil)
        ir.call(free, [ir.load(ir.ptr, ir.structField(ctxType, d, 1), align: 8)])
        ir.call(free, [ir.load(ir.ptr, ir.structField(ctxType, d, 2), align: 8)])
        if hasSplitKernels { ir.call(poolDestroy, [ir.load(ir.ptr, ir.structField(ctxType, d, 3), align: 8)]) }
        ir.call(free, [d])
        ir.ret()

        let threadsFn = ir.function("\(prefix)_num_threads", ir.functionType(ir.i32, [ir.ptr]), exported: true)
        ir.begin(threadsFn)
        let t = threadsFn.param(0)
        ir.returnIf(ir.isNull(t), ir.constI32(0))
        ir.ret(ir.load(ir.i32, ir.structField(ctxType, t, 0)))
    }

    /// Kernel calls per function: a run with more is emitted as a chain of `noinline` parts,
    /// since LLVM's optimiser and register allocator grow faster than linearly on one huge
    /// function (a 100,000-node graph has tens of thousands of calls).
    static let callsPerPart = 512

    /// `int32 NAME_run(ctx, const void *const *inputs, void *const *outputs, void *workspace)`;
    /// profiled, `NAME_run_profiled(..., int64_t *ns)` also adds kernel k's wall time in
    /// nanoseconds (CLOCK_MONOTONIC) to `ns[k]`.
    @discardableResult
    func emitRun(
        _ p: Int, _ kernels: [IRFunction], _ weights: [IRValue], name: String, exported: Bool, profiled: Bool = false
    ) -> IRFunction {
        let program = programs[p]
        let calls = Array(zip(program.kernels, kernels).enumerated())
        let offsets = ABI.weightsLayout(constants).offsets
        // The parts of a long run: (ws, inputs, outputs, weights blob, pool[, profile slots]).
        let partParams = Array(repeating: ir.ptr, count: profiled ? 6 : 5)
        let parts: [IRFunction] =
            calls.count <= Self.callsPerPart
            ? []
            : stride(from: 0, to: calls.count, by: Self.callsPerPart).enumerated().map { n, first in
                let part = ir.function(
                    "\(name)_part\(n)", ir.functionType(ir.void, partParams), exported: false, noinline: true)
                ir.begin(part)
                let inputs = part.param(1), outputs = part.param(2)
                emitCalls(
                    p, calls[first..<min(first + Self.callsPerPart, calls.count)], weights, offsets, ws: part.param(0),
                    input: { ir.load(ir.ptr, ir.gep(ir.ptr, inputs, ir.constI64($0)), align: 8) },
                    output: { ir.load(ir.ptr, ir.gep(ir.ptr, outputs, ir.constI64($0)), align: 8) },
                    blob: part.param(3), pool: part.param(4), profile: profiled ? part.param(5) : nil)
                ir.ret()
                return part
            }
        let params = Array(repeating: ir.ptr, count: profiled ? 5 : 4)
        let f = ir.function(name, ir.functionType(ir.i32, params), exported: exported)
        ir.begin(f)
        let ctx = f.param(0), inputs = f.param(1), outputs = f.param(2), wsArg = f.param(3)
        func fail(_ cond: IRValue, _ s: ABI.Status) { ir.returnIf(cond, status(s)) }
        fail(ir.isNull(ctx), .nullArgument)
        if !program.inputs.isEmpty { fail(ir.isNull(inputs), .nullArgument) }
        fail(ir.isNull(outputs), .nullArgument)
        let ownWS = ir.load(ir.ptr, ir.structField(ctxType, ctx, 1), align: 8)
        let ws = ir.select(ir.isNull(wsArg), ownWS, wsArg)
        if program.workspaceSize > 0 {
            fail(ir.isNull(ws), .nullArgument)
            let mask = ir.constI64(KernelProgram.workspaceAlignment - 1)
            fail(ir.icmp(.ne, ir.and(ir.ptrtoint(ws), mask), ir.constI64(0)), .misalignedWorkspace)
        }
        var blob = ir.nullPointer
        if weightsMode == .sideFile && !constants.isEmpty {
            blob = ir.load(ir.ptr, ir.structField(ctxType, ctx, 2), align: 8)
            fail(ir.isNull(blob), .weightsNotLoaded)
        }
        let inPtrs = program.inputs.indices.map { ir.load(ir.ptr, ir.gep(ir.ptr, inputs, ir.constI64($0)), align: 8) }
        let outPtrs = program.outputs.indices.map {
            ir.load(ir.ptr, ir.gep(ir.ptr, outputs, ir.constI64($0)), align: 8)
        }
        for p in inPtrs + outPtrs { fail(ir.isNull(p), .nullArgument) }
        let pool = ir.load(ir.ptr, ir.structField(ctxType, ctx, 3), align: 8)
        if profiled { fail(ir.isNull(f.param(4)), .nullArgument) }
        if parts.isEmpty {
            emitCalls(
                p, calls[...], weights, offsets, ws: ws, input: { inPtrs[$0] }, output: { outPtrs[$0] }, blob: blob,
                pool: pool,
                profile: profiled ? f.param(4) : nil)
        } else {
            let args: [IRValue] = [ws, inputs, outputs, blob, pool] + (profiled ? [f.param(4)] : [])
            for part in parts { ir.call(part, args) }
        }
        ir.ret(ir.constI32(ABI.Status.ok.rawValue))
        return f
    }

    /// The kernel calls of a run (or of one part of it), in order; `offsets` are the weights'
    /// places in the side-file blob (worked out once per run); `profile` adds each kernel's
    /// nanoseconds to its slot.
    private func emitCalls(
        _ p: Int, _ calls: ArraySlice<(offset: Int, element: (Kernel, IRFunction))>, _ weights: [IRValue],
        _ offsets: [Int], ws: IRValue, input: (Int) -> IRValue, output: (Int) -> IRValue, blob: IRValue, pool: IRValue,
        profile: IRValue?
    ) {
        let program = programs[p]
        var inputs: [Int: IRValue] = [:], outputs: [Int: IRValue] = [:]
        func address(_ b: Buffer) -> IRValue {
            switch b {
            case .input(let i):
                let v = inputs[i] ?? input(i)
                inputs[i] = v
                return v
            case .output(let i):
                let v = outputs[i] ?? output(i)
                outputs[i] = v
                return v
            case .workspace(let off): return ir.gep(ir.i8, ws, ir.constI64(off))
            case .constant(let i):
                let c = constantIndex[p][i]
                return weightsMode == .embedded ? weights[c] : ir.gep(ir.i8, blob, ir.constI64(offsets[c]))
            }
        }
        let scratch = ir.gep(ir.i8, ws, ir.constI64(program.scratchOffset))
        let clock = profile != nil ? Clock(ir: ir, target: target) : nil
        for (i, (k, fn)) in calls {
            let operands = k.operands.enumerated().map { j, b in
                j < k.operandOffsets.count && k.operandOffsets[j] != 0
                    ? ir.gep(ir.i8, address(b), ir.constI64(k.operandOffsets[j])) : address(b)
            }
            let pointers = [address(k.result)] + operands + (k.scratchBytes > 0 ? [scratch] : [])
            let start = clock?.now()
            if k.tasks > 1 {
                dispatch(k, fn, pointers, pool: pool)
            } else {
                ir.call(fn, pointers)
            }
            if let clock, let start, let profile {
                let slot = ir.gep(ir.i64, profile, ir.constI64(i))
                ir.store(ir.add(ir.load(ir.i64, slot, align: 8), ir.sub(clock.now(), start)), slot, align: 8)
            }
        }
    }

    /// Reads CLOCK_MONOTONIC in nanoseconds through libc's `clock_gettime`.
    private struct Clock {
        let ir: IRBuilder
        let fn: IRFunction
        let timespec: IRType
        let ts: IRValue
        let id: Int32

        init(ir: IRBuilder, target: Target) {
            self.ir = ir
            timespec = ir.structType([ir.i64, ir.i64])
            ts = ir.alloca(timespec)
            fn = ir.externalFunction("clock_gettime", ir.functionType(ir.i32, [ir.i32, ir.ptr]))
            id = target.triple.contains("apple") ? 6 : 1
        }

        func now() -> IRValue {
            ir.call(fn, [ir.constI32(id), ts])
            let sec = ir.load(ir.i64, ir.structField(timespec, ts, 0), align: 8)
            let nsec = ir.load(ir.i64, ir.structField(timespec, ts, 1), align: 8)
            return ir.add(ir.mul(sec, ir.constI64(1_000_000_000)), nsec)
        }
    }

    private func emitStatusString() {
        let f = ir.function("\(prefix)_status_string", ir.functionType(ir.ptr, [ir.i32]), exported: true)
        ir.begin(f)
        let status = f.param(0)
        for s in ABI.Status.allCases {
            let text = ir.constantCString("\(prefix)_status\(s.rawValue)", s.message)
            let hit = ir.appendBlock("s\(s.rawValue)"), next = ir.appendBlock("n\(s.rawValue)")
            ir.condBr(ir.icmp(.eq, status, ir.constI32(s.rawValue)), hit, next)
            ir.position(at: hit)
            ir.ret(text)
            ir.position(at: next)
        }
        ir.ret(ir.constantCString("\(prefix)_status_unknown", "unknown status code"))
    }
}
