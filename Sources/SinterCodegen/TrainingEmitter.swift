import SinterIR

/// The `NAME_train_*` C ABI of a `--train` artifact (docs/abi.md, "Training"): a context that
/// owns the parameters and optimizer slots (`TrainingProgram.Layout`), the step as the
/// gradients program followed by the apply program, and checkpoints written atomically.
extension ModuleEmitter {
    func emitTraining(runs: [IRFunction], weights: [IRValue]) {
        guard let t = training else { return }
        let layout = t.layout
        let gradsRun = runs[0], applyRun = runs[1], predictRun = runs[2]
        // The ABI's slots are the optimizer's, then the states (batch norm's running statistics).
        let params = t.parameters, slots = t.slots + t.states, tensors = params + slots
        let stateIndices = (params.count + t.slots.count)..<tensors.count
        let libc = TrainingLibc(ir)
        let name = { (s: String) in "\(prefix)_train_\(s)" }

        i32Function("train_num_params", Int32(params.count))
        i32Function("train_num_slots", Int32(slots.count))
        i64Function("train_state_size", layout.stateSize)
        i64Function("train_workspace_size", t.workspaceSize)
        i64Function("train_gradients_size", layout.gradientsSize)
        emitInfo("train_param", params)
        emitInfo("train_slot", slots)
        emitInfo("train_label", [t.labels])

        func at(_ ctx: IRValue, _ offset: IRValue) -> IRValue { ir.gep(ir.i8, ctx, offset) }
        func at(_ ctx: IRValue, _ offset: Int) -> IRValue { ir.gep(ir.i8, ctx, ir.constI64(offset)) }
        /// The byte offset of bank `active` (0/1) or the other one.
        func bank(_ ctx: IRValue, active: Bool) -> IRValue {
            let b = ir.zext(ir.load(ir.i32, at(ctx, TrainingProgram.Layout.bank)), ir.i64)
            let which = active ? b : ir.xor(b, ir.constI64(1))
            return ir.add(ir.constI64(TrainingProgram.Layout.header), ir.mul(which, ir.constI64(layout.bankSize)))
        }
        func tensor(_ ctx: IRValue, _ bankOffset: IRValue, _ i: Int) -> IRValue {
            at(ctx, ir.add(bankOffset, ir.constI64(layout.bankOffsets[i])))
        }
        let offsetTable = ir.constantGlobal(
            "\(prefix)_train_offsets", ir.constArray(ir.i64, layout.bankOffsets.map { ir.constI64($0) }))
        let sizeTable = ir.constantGlobal(
            "\(prefix)_train_sizes",
            ir.constArray(ir.i64, tensors.map { ir.constI64($0.shape.reduce(1, *) * $0.type.dtype.byteSize) }))

        // init: formats a caller-owned block as a context with one thread and no own workspace.
        let initFn = ir.function(name("init"), ir.functionType(ir.i32, [ir.ptr]), exported: true)
        ir.begin(initFn)
        let state = initFn.param(0)
        ir.returnIf(ir.isNull(state), status(.nullArgument))
        ir.returnIf(
            ir.icmp(.ne, ir.and(ir.ptrtoint(state), ir.constI64(63)), ir.constI64(0)), status(.misalignedWorkspace))
        ir.call(libc.memset, [state, ir.constI32(0), ir.constI64(layout.stateSize)])
        ir.store(ir.constI32(1), at(state, TrainingProgram.Layout.threads))
        ir.store(ir.constF32(t.learningRate), at(state, TrainingProgram.Layout.lr))
        // Parameters and states start at the model's values, slots at zero.
        let starting = Array(params.indices) + Array(stateIndices)
        for (i, c) in zip(starting, initialIndex) {
            // `--train` embeds the weights (Sinter.compile refuses a side file with it).
            ir.memcpy(at(state, layout.bank(0) + layout.bankOffsets[i]), weights[c], bytes: constants[c].bytes.count)
        }
        ir.ret(status(.ok))

        // create / destroy: the context's own block, workspace and thread pool.
        let create = ir.function(name("create"), ir.functionType(ir.i32, [ir.ptr, ir.i32]), exported: true)
        ir.begin(create)
        let out = create.param(0), threads = create.param(1)
        ir.returnIf(ir.isNull(out), status(.nullArgument))
        ir.returnIf(ir.icmp(.slt, threads, ir.constI32(0)), status(.invalidArgument))
        let block = ir.call(libc.alignedAlloc, [ir.constI64(64), ir.constI64(layout.stateSize)])
        ir.returnIf(ir.isNull(block), status(.outOfMemory))
        ir.call(initFn, [block])
        var ws = ir.nullPointer
        if t.workspaceSize > 0 {
            ws = ir.call(libc.alignedAlloc, [ir.constI64(64), ir.constI64(t.workspaceSize)])
            let bad = ir.appendBlock("wsoom"), good = ir.appendBlock("wsok")
            ir.condBr(ir.isNull(ws), bad, good)
            ir.position(at: bad)
            ir.call(libc.free, [block])
            ir.ret(status(.outOfMemory))
            ir.position(at: good)
        }
        let n = threadCount(threads)
        ir.store(n, at(block, TrainingProgram.Layout.threads))
        ir.store(ws, at(block, TrainingProgram.Layout.workspace), align: 8)
        let pool = hasSplitKernels ? ir.call(poolCreate, [ir.sextI64(ir.sub(n, ir.constI32(1)))]) : ir.nullPointer
        ir.store(pool, at(block, TrainingProgram.Layout.pool), align: 8)
        ir.store(ir.constI32(1), at(block, TrainingProgram.Layout.owns))
        ir.store(block, out, align: 8)
        ir.ret(status(.ok))

        let destroy = ir.function(name("destroy"), ir.functionType(ir.void, [ir.ptr]), exported: true)
        ir.begin(destroy)
        let d = destroy.param(0)
        ir.returnIf(ir.isNull(d), nil)
        ir.returnIf(ir.icmp(.eq, ir.load(ir.i32, at(d, TrainingProgram.Layout.owns)), ir.constI32(0)), nil)
        ir.call(libc.free, [ir.load(ir.ptr, at(d, TrainingProgram.Layout.workspace), align: 8)])
        if hasSplitKernels { ir.call(poolDestroy, [ir.load(ir.ptr, at(d, TrainingProgram.Layout.pool), align: 8)]) }
        ir.call(libc.free, [d])
        ir.ret()

        // grads: the gradients program on the active parameters; the loss stays in the context.
        let modelInputs = t.modelInputs.count
        let ioType = ir.functionType(ir.i32, [ir.ptr, ir.ptr, ir.ptr, ir.ptr, ir.ptr])
        let grads = ir.function(name("grads"), ioType, exported: true)
        ir.begin(grads)
        do {
            let ctx = grads.param(0), inputs = grads.param(1), labels = grads.param(2), loss = grads.param(3)
            ir.returnIf(ir.isNull(ctx), status(.nullArgument))
            if modelInputs > 0 { ir.returnIf(ir.isNull(inputs), status(.nullArgument)) }
            ir.returnIf(ir.isNull(labels), status(.nullArgument))
            let active = bank(ctx, active: true)
            let given = (0..<modelInputs).map { ir.load(ir.ptr, ir.gep(ir.ptr, inputs, ir.constI64($0)), align: 8) }
            // The step the update will be (dropout's masks are drawn from it).
            let next = ir.add(ir.load(ir.i64, at(ctx, TrainingProgram.Layout.steps), align: 8), ir.constI64(1))
            ir.store(ir.sitofp(next, ir.f32), at(ctx, TrainingProgram.Layout.stepInput))
            let stepInput = at(ctx, TrainingProgram.Layout.stepInput)
            // States are read from the active bank and written to the other one, which apply
            // then completes and makes active.
            let other = bank(ctx, active: false)
            let ins = pointerArray(
                given + [labels, stepInput] + params.indices.map { tensor(ctx, active, $0) }
                    + stateIndices.map { tensor(ctx, active, $0) })
            let outs = pointerArray(
                [at(ctx, TrainingProgram.Layout.loss)]
                    + layout.gradientOffsets.map { at(ctx, layout.gradients + $0) }
                    + stateIndices.map { tensor(ctx, other, $0) })
            let s = ir.call(gradsRun, [ctx, ins, outs, grads.param(4)])
            ir.returnIf(ir.icmp(.ne, s, status(.ok)), s)
            let noLoss = ir.appendBlock("noloss"), store = ir.appendBlock("loss")
            ir.condBr(ir.isNull(loss), noLoss, store)
            ir.position(at: store)
            ir.store(ir.load(ir.f32, at(ctx, TrainingProgram.Layout.loss)), loss)
            ir.br(noLoss)
            ir.position(at: noLoss)
            ir.ret(status(.ok))
        }

        // apply: the update from the stored gradients into the other bank, then the banks swap.
        let apply = ir.function(name("apply"), ir.functionType(ir.i32, [ir.ptr, ir.ptr]), exported: true)
        ir.begin(apply)
        do {
            let ctx = apply.param(0)
            ir.returnIf(ir.isNull(ctx), status(.nullArgument))
            let steps = ir.load(ir.i64, at(ctx, TrainingProgram.Layout.steps), align: 8)
            let next = ir.add(steps, ir.constI64(1))
            ir.store(ir.sitofp(next, ir.f32), at(ctx, TrainingProgram.Layout.stepInput))
            let active = bank(ctx, active: true), other = bank(ctx, active: false)
            let updated = Array(0..<(params.count + t.slots.count))
            let ins = pointerArray(
                layout.gradientOffsets.map { at(ctx, layout.gradients + $0) }
                    + [at(ctx, TrainingProgram.Layout.lr), at(ctx, TrainingProgram.Layout.stepInput)]
                    + updated.map { tensor(ctx, active, $0) })
            let outs = pointerArray(updated.map { tensor(ctx, other, $0) })
            let s = ir.call(applyRun, [ctx, ins, outs, apply.param(1)])
            ir.returnIf(ir.icmp(.ne, s, status(.ok)), s)
            let b = at(ctx, TrainingProgram.Layout.bank)
            ir.store(ir.xor(ir.load(ir.i32, b), ir.constI32(1)), b)
            ir.store(next, at(ctx, TrainingProgram.Layout.steps), align: 8)
            ir.ret(status(.ok))
        }

        // step = grads, then apply.
        let step = ir.function(name("step"), ioType, exported: true)
        ir.begin(step)
        do {
            let s = ir.call(grads, (0..<5).map { step.param($0) })
            ir.returnIf(ir.icmp(.ne, s, status(.ok)), s)
            ir.ret(ir.call(apply, [step.param(0), step.param(4)]))
        }

        let gradient = ir.function(name("gradient"), ir.functionType(ir.ptr, [ir.ptr, ir.i32]), exported: true)
        ir.begin(gradient)
        do {
            let ctx = gradient.param(0), i = gradient.param(1)
            ir.returnIf(ir.isNull(ctx), ir.nullPointer)
            ir.returnIf(
                ir.or(ir.icmp(.slt, i, ir.constI32(0)), ir.icmp(.sge, i, ir.constI32(Int32(params.count)))),
                ir.nullPointer)
            // Gradients are packed like the bank's leading parameters.
            let offset = ir.load(ir.i64, ir.gep(ir.i64, offsetTable, ir.sextI64(i)), align: 8)
            ir.ret(at(ctx, ir.add(ir.constI64(layout.gradients), offset)))
        }

        let predict = ir.function(
            name("predict"), ir.functionType(ir.i32, [ir.ptr, ir.ptr, ir.ptr, ir.ptr]), exported: true)
        ir.begin(predict)
        do {
            let ctx = predict.param(0), inputs = predict.param(1)
            ir.returnIf(ir.isNull(ctx), status(.nullArgument))
            if modelInputs > 0 { ir.returnIf(ir.isNull(inputs), status(.nullArgument)) }
            let active = bank(ctx, active: true)
            let given = (0..<modelInputs).map { ir.load(ir.ptr, ir.gep(ir.ptr, inputs, ir.constI64($0)), align: 8) }
            let ins = pointerArray(
                given + params.indices.map { tensor(ctx, active, $0) } + stateIndices.map { tensor(ctx, active, $0) })
            ir.ret(ir.call(predictRun, [ctx, ins, predict.param(2), predict.param(3)]))
        }

        // The learning rate and the update count.
        let setLR = ir.function(name("set_lr"), ir.functionType(ir.i32, [ir.ptr, ir.f32]), exported: true)
        ir.begin(setLR)
        do {
            let ctx = setLR.param(0), lr = setLR.param(1)
            ir.returnIf(ir.isNull(ctx), status(.nullArgument))
            // NaN, infinities and negative rates are refused.
            let valid = ir.and(ir.fcmp(.oge, lr, ir.constF32(0)), ir.fcmp(.olt, lr, ir.constF32(.infinity)))
            ir.returnIf(ir.icmp(.eq, ir.zext(valid, ir.i32), ir.constI32(0)), status(.invalidArgument))
            ir.store(lr, at(ctx, TrainingProgram.Layout.lr))
            ir.ret(status(.ok))
        }
        let getLR = ir.function(name("lr"), ir.functionType(ir.f32, [ir.ptr]), exported: true)
        ir.begin(getLR)
        ir.returnIf(ir.isNull(getLR.param(0)), ir.constF32(0))
        ir.ret(ir.load(ir.f32, at(getLR.param(0), TrainingProgram.Layout.lr)))
        let getSteps = ir.function(name("steps"), ir.functionType(ir.i64, [ir.ptr]), exported: true)
        ir.begin(getSteps)
        ir.returnIf(ir.isNull(getSteps.param(0)), ir.constI64(0))
        ir.ret(ir.load(ir.i64, at(getSteps.param(0), TrainingProgram.Layout.steps), align: 8))
        let setSteps = ir.function(name("set_steps"), ir.functionType(ir.i32, [ir.ptr, ir.i64]), exported: true)
        ir.begin(setSteps)
        ir.returnIf(ir.isNull(setSteps.param(0)), status(.nullArgument))
        ir.returnIf(ir.icmp(.slt, setSteps.param(1), ir.constI64(0)), status(.invalidArgument))
        ir.store(setSteps.param(1), at(setSteps.param(0), TrainingProgram.Layout.steps), align: 8)
        ir.ret(status(.ok))

        // get/set of parameter or slot i: a copy to or from the active bank.
        for (kind, first, count) in [("param", 0, params.count), ("slot", params.count, slots.count)] {
            for write in [false, true] {
                let f = ir.function(
                    name(write ? "set_\(kind)" : "get_\(kind)"), ir.functionType(ir.i32, [ir.ptr, ir.i32, ir.ptr]),
                    exported: true)
                ir.begin(f)
                let ctx = f.param(0), i = f.param(1), data = f.param(2)
                ir.returnIf(ir.or(ir.isNull(ctx), ir.isNull(data)), status(.nullArgument))
                ir.returnIf(
                    ir.or(ir.icmp(.slt, i, ir.constI32(0)), ir.icmp(.sge, i, ir.constI32(Int32(count)))),
                    status(.invalidArgument))
                let j = ir.add(ir.sextI64(i), ir.constI64(first))
                let offset = ir.load(ir.i64, ir.gep(ir.i64, offsetTable, j), align: 8)
                let size = ir.load(ir.i64, ir.gep(ir.i64, sizeTable, j), align: 8)
                let place = at(ctx, ir.add(bank(ctx, active: true), offset))
                ir.call(libc.memcpyFn, write ? [place, data, size] : [data, place, size])
                ir.ret(status(.ok))
            }
        }
        emitCheckpoints(layout, libc, at: at, bank: bank)
    }

    /// `NAME_train_save` / `NAME_train_load`: a 64-byte header (magic, bank size, fingerprint,
    /// steps, lr), the active bank, and an FNV-1a hash over both. Saving writes PATH.tmp,
    /// flushes and fsyncs it, then renames it over PATH; loading reads into the inactive bank
    /// and swaps only when everything matches, so a failure leaves the context as it was.
    private func emitCheckpoints(
        _ layout: TrainingProgram.Layout, _ libc: TrainingLibc, at: (IRValue, Int) -> IRValue,
        bank: (IRValue, Bool) -> IRValue
    ) {
        guard let t = training else { return }
        let headerPrefix = t.checkpointPrefix
        let expected = ir.constantBytes(
            "\(prefix)_train_ckpt", headerPrefix + [UInt8](repeating: 0, count: 64 - headerPrefix.count), alignment: 8)
        let bankBytes = ir.constI64(layout.bankSize)

        let save = ir.function("\(prefix)_train_save", ir.functionType(ir.i32, [ir.ptr, ir.ptr]), exported: true)
        ir.begin(save)
        do {
            let ctx = save.param(0), path = save.param(1)
            ir.returnIf(ir.or(ir.isNull(ctx), ir.isNull(path)), status(.nullArgument))
            let header = ir.alloca(ir.array(ir.i64, 8))
            ir.memcpy(header, expected, bytes: 64)
            ir.store(
                ir.load(ir.i64, at(ctx, TrainingProgram.Layout.steps), align: 8),
                ir.gep(ir.i8, header, ir.constI64(24)), align: 8)
            ir.store(ir.load(ir.f32, at(ctx, TrainingProgram.Layout.lr)), ir.gep(ir.i8, header, ir.constI64(32)))
            let payload = ir.gep(ir.i8, ctx, bank(ctx, true))
            let trailer = ir.alloca(ir.i64)
            ir.store(fnv(fnv(fnvBasis, header, ir.constI64(64)), payload, bankBytes), trailer, align: 8)
            // PATH.tmp, then rename.
            let length = ir.call(libc.strlen, [path])
            let tmp = ir.call(libc.malloc, [ir.add(length, ir.constI64(5))])
            ir.returnIf(ir.isNull(tmp), status(.outOfMemory))
            ir.call(libc.memcpyFn, [tmp, path, length])
            ir.call(
                libc.memcpyFn,
                [ir.gep(ir.i8, tmp, length), ir.constantCString("\(prefix)_tmp_suffix", ".tmp"), ir.constI64(5)])
            let file = ir.call(libc.fopen, [tmp, ir.constantCString("\(prefix)_wb", "wb")])
            let opened = ir.appendBlock("opened"), cannot = ir.appendBlock("cannot")
            ir.condBr(ir.isNull(file), cannot, opened)
            ir.position(at: cannot)
            ir.call(libc.free, [tmp])
            ir.ret(status(.checkpointIO))
            ir.position(at: opened)
            let one = ir.constI64(1)
            var ok = ir.icmp(.eq, ir.call(libc.fwrite, [header, one, ir.constI64(64), file]), ir.constI64(64))
            ok = ir.and(ok, ir.icmp(.eq, ir.call(libc.fwrite, [payload, one, bankBytes, file]), bankBytes))
            ok = ir.and(ok, ir.icmp(.eq, ir.call(libc.fwrite, [trailer, one, ir.constI64(8), file]), ir.constI64(8)))
            ok = ir.and(ok, ir.icmp(.eq, ir.call(libc.fflush, [file]), ir.constI32(0)))
            ok = ir.and(ok, ir.icmp(.eq, ir.call(libc.fsync, [ir.call(libc.fileno, [file])]), ir.constI32(0)))
            ok = ir.and(ok, ir.icmp(.eq, ir.call(libc.fclose, [file]), ir.constI32(0)))
            let written = ir.appendBlock("written"), failed = ir.appendBlock("failed")
            ir.condBr(ok, written, failed)
            ir.position(at: written)
            let renamed = ir.appendBlock("renamed")
            ir.condBr(ir.icmp(.eq, ir.call(libc.rename, [tmp, path]), ir.constI32(0)), renamed, failed)
            ir.position(at: renamed)
            ir.call(libc.free, [tmp])
            ir.ret(status(.ok))
            ir.position(at: failed)
            ir.call(libc.remove, [tmp])
            ir.call(libc.free, [tmp])
            ir.ret(status(.checkpointIO))
        }

        let load = ir.function("\(prefix)_train_load", ir.functionType(ir.i32, [ir.ptr, ir.ptr]), exported: true)
        ir.begin(load)
        do {
            let ctx = load.param(0), path = load.param(1)
            ir.returnIf(ir.or(ir.isNull(ctx), ir.isNull(path)), status(.nullArgument))
            let file = ir.call(libc.fopen, [path, ir.constantCString("\(prefix)_train_rb", "rb")])
            ir.returnIf(ir.isNull(file), status(.checkpointIO))
            let header = ir.alloca(ir.array(ir.i64, 8))
            let trailer = ir.alloca(ir.i64)
            let one = ir.constI64(1)
            func refuse(_ cond: IRValue, _ s: ABI.Status) {
                let bad = ir.appendBlock("refuse"), good = ir.appendBlock("go")
                ir.condBr(cond, bad, good)
                ir.position(at: bad)
                ir.call(libc.fclose, [file])
                ir.ret(status(s))
                ir.position(at: good)
            }
            refuse(
                ir.icmp(.ne, ir.call(libc.fread, [header, one, ir.constI64(64), file]), ir.constI64(64)),
                .checkpointMismatch)
            refuse(
                ir.icmp(.ne, ir.call(libc.memcmp, [header, expected, ir.constI64(24)]), ir.constI32(0)),
                .checkpointMismatch)
            let other = ir.gep(ir.i8, ctx, bank(ctx, false))
            refuse(ir.icmp(.ne, ir.call(libc.fread, [other, one, bankBytes, file]), bankBytes), .checkpointIO)
            refuse(
                ir.icmp(.ne, ir.call(libc.fread, [trailer, one, ir.constI64(8), file]), ir.constI64(8)), .checkpointIO)
            let h = fnv(fnv(fnvBasis, header, ir.constI64(64)), other, bankBytes)
            refuse(ir.icmp(.ne, h, ir.load(ir.i64, trailer, align: 8)), .checkpointMismatch)
            let steps = ir.load(ir.i64, ir.gep(ir.i8, header, ir.constI64(24)), align: 8)
            refuse(ir.icmp(.slt, steps, ir.constI64(0)), .checkpointMismatch)
            ir.call(libc.fclose, [file])
            ir.store(steps, at(ctx, TrainingProgram.Layout.steps), align: 8)
            ir.store(ir.load(ir.f32, ir.gep(ir.i8, header, ir.constI64(32))), at(ctx, TrainingProgram.Layout.lr))
            let b = at(ctx, TrainingProgram.Layout.bank)
            ir.store(ir.xor(ir.load(ir.i32, b), ir.constI32(1)), b)
            ir.ret(status(.ok))
        }
    }
}

/// The libc functions the training ABI calls.
struct TrainingLibc {
    let memset, memcpyFn, memcmp, alignedAlloc, malloc, free, strlen: IRFunction
    let fopen, fread, fwrite, fflush, fclose, fileno, fsync, rename, remove: IRFunction

    init(_ ir: IRBuilder) {
        func f(_ name: String, _ ret: IRType, _ params: [IRType]) -> IRFunction {
            ir.externalFunction(name, ir.functionType(ret, params))
        }
        memset = f("memset", ir.ptr, [ir.ptr, ir.i32, ir.i64])
        memcpyFn = f("memcpy", ir.ptr, [ir.ptr, ir.ptr, ir.i64])
        memcmp = f("memcmp", ir.i32, [ir.ptr, ir.ptr, ir.i64])
        alignedAlloc = f("aligned_alloc", ir.ptr, [ir.i64, ir.i64])
        malloc = f("malloc", ir.ptr, [ir.i64])
        free = f("free", ir.void, [ir.ptr])
        strlen = f("strlen", ir.i64, [ir.ptr])
        fopen = f("fopen", ir.ptr, [ir.ptr, ir.ptr])
        fread = f("fread", ir.i64, [ir.ptr, ir.i64, ir.i64, ir.ptr])
        fwrite = f("fwrite", ir.i64, [ir.ptr, ir.i64, ir.i64, ir.ptr])
        fflush = f("fflush", ir.i32, [ir.ptr])
        fclose = f("fclose", ir.i32, [ir.ptr])
        fileno = f("fileno", ir.i32, [ir.ptr])
        fsync = f("fsync", ir.i32, [ir.i32])
        rename = f("rename", ir.i32, [ir.ptr, ir.ptr])
        remove = f("remove", ir.i32, [ir.ptr])
    }
}
