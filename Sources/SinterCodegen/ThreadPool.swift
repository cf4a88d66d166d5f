import SinterIR

/// The thread pool inside every artifact with split kernels: pthreads only, owned by the
/// context, created with num_threads − 1 workers (none for 1); the calling thread works too.
/// A dispatch publishes (job, args, tasks) under the mutex and bumps a generation counter;
/// every thread takes task numbers with an atomic add until none are left; the caller then
/// waits until all workers have checked in, so the next dispatch starts clean. Before sleeping
/// on a condition, a worker (waiting for the next generation) and the caller (waiting for the
/// workers) poll the counter a bounded number of times, yielding the CPU between polls
/// (`spinPolls`): consecutive kernels then hand over without a futex wake, which on these VMs
/// costs more than a small kernel. A poll reads the counter only while holding the mutex,
/// taken with `pthread_mutex_trylock` (which never sleeps): every access to the pool's words
/// is under the lock or an atomic add, so there is no racy read for valgrind's helgrind,
/// which does not model C11 atomics, to report, and it checks the whole lock protocol.
///
/// Pool memory (bytes): 0 mutex, 64 "work" condition, 128 "done" condition (64 each, enough
/// for glibc on x86-64 and AArch64), 192 generation, 200 stop, 208 job, 216 args, 224 tasks,
/// 232 next task, 240 workers still running the job, 248 worker count, 256 busy, 264…
/// pthread_t ids. A dispatch that finds the pool busy (another thread is running the same
/// context with its own workspace) runs its tasks on its own thread instead of waiting.
extension ModuleEmitter {
    var hasSplitKernels: Bool { programs.contains { $0.kernels.contains { $0.tasks > 1 } } }

    /// Polls before sleeping (each followed by `sched_yield`, so a spinning thread never keeps
    /// the CPU from one that has work): about a millisecond at most.
    static let spinPolls = 1024

    /// Polls `field` until `done(value)` holds or `spinPolls` polls have passed, then takes the
    /// mutex: the caller continues holding it either way and re-checks under it.
    private func lockAfterPolling(_ pool: IRValue, _ f: Field, until done: (IRValue) -> IRValue) {
        let yield = libc("sched_yield", ir.i32, []), lock = libc("pthread_mutex_lock", ir.i32, [ir.ptr])
        let tryLock = libc("pthread_mutex_trylock", ir.i32, [ir.ptr])
        let unlock = libc("pthread_mutex_unlock", ir.i32, [ir.ptr])
        let head = ir.appendBlock("spin"), poll = ir.appendBlock("poll"), read = ir.appendBlock("read")
        let busy = ir.appendBlock("busy"), notYet = ir.appendBlock("notyet"), sleep = ir.appendBlock("lock")
        let exit = ir.appendBlock("locked")
        let entry = ir.insertBlock
        ir.br(head)
        ir.position(at: head)
        let i = ir.phi(ir.i64, "polls")
        ir.addIncoming(i, ir.constI64(0), entry)
        ir.condBr(ir.icmp(.sge, i, ir.constI64(Self.spinPolls)), sleep, poll)
        ir.position(at: poll)
        ir.condBr(ir.icmp(.eq, ir.call(tryLock, [field(pool, .mutex)]), ir.constI32(0)), read, busy)
        ir.position(at: read)
        ir.condBr(done(ir.load(ir.i64, field(pool, f), align: 8)), exit, notYet)
        ir.position(at: notYet)
        ir.call(unlock, [field(pool, .mutex)])
        ir.br(busy)
        ir.position(at: busy)
        ir.call(yield, [])
        ir.addIncoming(i, ir.add(i, ir.constI64(1)), busy)
        ir.br(head)
        ir.position(at: sleep)
        ir.call(lock, [field(pool, .mutex)])
        ir.br(exit)
        ir.position(at: exit)
    }

    private enum Field: Int {
        case mutex = 0, work = 64, done = 128, generation = 192, stop = 200, job = 208, args = 216, tasks = 224, next =
            232,
            pending = 240, workers = 248, busy = 256, threads = 264
    }

    private func field(_ pool: IRValue, _ f: Field) -> IRValue { ir.gep(ir.i8, pool, ir.constI64(f.rawValue)) }

    var jobType: IRType { ir.functionType(ir.void, [ir.ptr, ir.i64]) }
    var poolCreate: IRFunction {
        ir.function("\(prefix)_pool_create", ir.functionType(ir.ptr, [ir.i64]), exported: false)
    }
    var poolDestroy: IRFunction {
        ir.function("\(prefix)_pool_destroy", ir.functionType(ir.void, [ir.ptr]), exported: false)
    }
    var poolRun: IRFunction {
        ir.function("\(prefix)_pool_run", ir.functionType(ir.void, [ir.ptr, ir.ptr, ir.ptr, ir.i64]), exported: false)
    }

    private func libc(_ name: String, _ ret: IRType, _ params: [IRType]) -> IRFunction {
        ir.externalFunction(name, ir.functionType(ret, params))
    }

    func emitPool() {
        let lock = libc("pthread_mutex_lock", ir.i32, [ir.ptr]), unlock = libc("pthread_mutex_unlock", ir.i32, [ir.ptr])
        let wait = libc("pthread_cond_wait", ir.i32, [ir.ptr, ir.ptr]),
            broadcast = libc("pthread_cond_broadcast", ir.i32, [ir.ptr])
        let signal = libc("pthread_cond_signal", ir.i32, [ir.ptr])
        let calloc = libc("calloc", ir.ptr, [ir.i64, ir.i64]), free = libc("free", ir.void, [ir.ptr])

        // Takes task numbers until none are left.
        let drain = ir.function(
            "\(prefix)_pool_drain", ir.functionType(ir.void, [ir.ptr, ir.ptr, ir.ptr, ir.i64]), exported: false)
        ir.begin(drain)
        do {
            let pool = drain.param(0), job = drain.param(1), args = drain.param(2), tasks = drain.param(3)
            let head = ir.appendBlock("take"), body = ir.appendBlock("run"), exit = ir.appendBlock("done")
            ir.br(head)
            ir.position(at: head)
            let t = ir.atomicAdd(field(pool, .next), ir.constI64(1))
            ir.condBr(ir.icmp(.slt, t, tasks), body, exit)
            ir.position(at: body)
            ir.callIndirect(jobType, job, [args, t])
            ir.br(head)
            ir.position(at: exit)
            ir.ret()
        }

        // Worker: wait for a new generation (or stop), drain, check in.
        let worker = ir.function("\(prefix)_pool_worker", ir.functionType(ir.ptr, [ir.ptr]), exported: false)
        ir.begin(worker)
        do {
            let pool = worker.param(0)
            let seen = ir.alloca(ir.i64)
            ir.store(ir.constI64(0), seen, align: 8)
            let top = ir.appendBlock("top"), check = ir.appendBlock("check"), sleep = ir.appendBlock("sleep")
            let quit = ir.appendBlock("quit"), work = ir.appendBlock("work"), notStopped = ir.appendBlock("notstopped")
            ir.br(top)
            ir.position(at: top)
            let last = ir.load(ir.i64, seen, align: 8)
            lockAfterPolling(pool, .generation) { ir.icmp(.ne, $0, last) }
            ir.br(check)
            ir.position(at: check)
            let stop = ir.load(ir.i64, field(pool, .stop), align: 8)
            ir.condBr(ir.icmp(.ne, stop, ir.constI64(0)), quit, notStopped)
            ir.position(at: notStopped)
            let gen = ir.load(ir.i64, field(pool, .generation), align: 8)
            ir.condBr(ir.icmp(.eq, gen, ir.load(ir.i64, seen, align: 8)), sleep, work)
            ir.position(at: sleep)
            ir.call(wait, [field(pool, .work), field(pool, .mutex)])
            ir.br(check)
            ir.position(at: work)
            ir.store(gen, seen, align: 8)
            let job = ir.load(ir.ptr, field(pool, .job), align: 8), args = ir.load(ir.ptr, field(pool, .args), align: 8)
            let tasks = ir.load(ir.i64, field(pool, .tasks), align: 8)
            ir.call(unlock, [field(pool, .mutex)])
            ir.call(drain, [pool, job, args, tasks])
            ir.call(lock, [field(pool, .mutex)])
            let left = ir.sub(ir.load(ir.i64, field(pool, .pending), align: 8), ir.constI64(1))
            ir.store(left, field(pool, .pending), align: 8)
            let lastOne = ir.appendBlock("last"), next = ir.appendBlock("next")
            ir.condBr(ir.icmp(.eq, left, ir.constI64(0)), lastOne, next)
            ir.position(at: lastOne)
            ir.call(signal, [field(pool, .done)])
            ir.br(next)
            ir.position(at: next)
            ir.call(unlock, [field(pool, .mutex)])
            ir.br(top)
            ir.position(at: quit)
            ir.call(unlock, [field(pool, .mutex)])
            ir.ret(ir.nullPointer)
        }

        // create(workers): NULL when there are none, or when memory or threads run out.
        let create = poolCreate
        ir.begin(create)
        do {
            let workers = create.param(0)
            ir.returnIf(ir.icmp(.sle, workers, ir.constI64(0)), ir.nullPointer)
            let pool = ir.call(
                calloc, [ir.constI64(1), ir.add(ir.constI64(Field.threads.rawValue), ir.mul(workers, ir.constI64(8)))])
            ir.returnIf(ir.isNull(pool), ir.nullPointer)
            let mutexInit = libc("pthread_mutex_init", ir.i32, [ir.ptr, ir.ptr]),
                condInit = libc("pthread_cond_init", ir.i32, [ir.ptr, ir.ptr])
            ir.call(mutexInit, [field(pool, .mutex), ir.nullPointer])
            ir.call(condInit, [field(pool, .work), ir.nullPointer])
            ir.call(condInit, [field(pool, .done), ir.nullPointer])
            let spawn = libc("pthread_create", ir.i32, [ir.ptr, ir.ptr, ir.ptr, ir.ptr])
            let started = ir.forLoop(ir.constI64(0), workers, carrying: [ir.constI64(0)], "w") { w, count in
                let slot = ir.gep(ir.i64, field(pool, .threads), count[0])
                let ok = ir.icmp(.eq, ir.call(spawn, [slot, ir.nullPointer, worker.value, pool]), ir.constI32(0))
                return [ir.select(ok, ir.add(count[0], ir.constI64(1)), count[0])]
            }[0]
            ir.store(started, field(pool, .workers), align: 8)
            ir.ret(pool)
        }

        // destroy: stop and join the workers, then free.
        let destroy = poolDestroy
        ir.begin(destroy)
        do {
            let pool = destroy.param(0)
            ir.returnIf(ir.isNull(pool), nil)
            ir.call(lock, [field(pool, .mutex)])
            ir.store(ir.constI64(1), field(pool, .stop), align: 8)
            ir.call(broadcast, [field(pool, .work)])
            ir.call(unlock, [field(pool, .mutex)])
            let join = libc("pthread_join", ir.i32, [ir.i64, ir.ptr])
            ir.forLoop(ir.constI64(0), ir.load(ir.i64, field(pool, .workers), align: 8), "j") { j in
                ir.call(join, [ir.load(ir.i64, ir.gep(ir.i64, field(pool, .threads), j), align: 8), ir.nullPointer])
            }
            libcCall("pthread_mutex_destroy", [field(pool, .mutex)])
            libcCall("pthread_cond_destroy", [field(pool, .work)])
            libcCall("pthread_cond_destroy", [field(pool, .done)])
            ir.call(free, [pool])
            ir.ret()
        }

        // run(pool, job, args, tasks): everything on the caller without a pool.
        let run = poolRun
        ir.begin(run)
        do {
            let pool = run.param(0), job = run.param(1), args = run.param(2), tasks = run.param(3)
            let serial = ir.appendBlock("serial"), shared = ir.appendBlock("shared")
            ir.condBr(ir.isNull(pool), serial, shared)
            ir.position(at: serial)
            ir.forLoop(ir.constI64(0), tasks, "t") { t in ir.callIndirect(jobType, job, [args, t]) }
            ir.ret()
            ir.position(at: shared)
            ir.call(lock, [field(pool, .mutex)])
            let busy = ir.appendBlock("busy"), claim = ir.appendBlock("claim")
            ir.condBr(ir.icmp(.ne, ir.load(ir.i64, field(pool, .busy), align: 8), ir.constI64(0)), busy, claim)
            ir.position(at: busy)
            ir.call(unlock, [field(pool, .mutex)])
            ir.br(serial)
            ir.position(at: claim)
            ir.store(ir.constI64(1), field(pool, .busy), align: 8)
            ir.store(job, field(pool, .job), align: 8)
            ir.store(args, field(pool, .args), align: 8)
            ir.store(tasks, field(pool, .tasks), align: 8)
            ir.store(ir.constI64(0), field(pool, .next), align: 8)
            ir.store(ir.load(ir.i64, field(pool, .workers), align: 8), field(pool, .pending), align: 8)
            ir.store(
                ir.add(ir.load(ir.i64, field(pool, .generation), align: 8), ir.constI64(1)), field(pool, .generation),
                align: 8)
            ir.call(broadcast, [field(pool, .work)])
            ir.call(unlock, [field(pool, .mutex)])
            ir.call(drain, [pool, job, args, tasks])
            lockAfterPolling(pool, .pending) { ir.icmp(.eq, $0, ir.constI64(0)) }
            let check = ir.appendBlock("check"), sleep = ir.appendBlock("sleep"), done = ir.appendBlock("done")
            ir.br(check)
            ir.position(at: check)
            ir.condBr(ir.icmp(.eq, ir.load(ir.i64, field(pool, .pending), align: 8), ir.constI64(0)), done, sleep)
            ir.position(at: sleep)
            ir.call(wait, [field(pool, .done), field(pool, .mutex)])
            ir.br(check)
            ir.position(at: done)
            ir.store(ir.constI64(0), field(pool, .busy), align: 8)
            ir.call(unlock, [field(pool, .mutex)])
            ir.ret()
        }
    }

    private func libcCall(_ name: String, _ args: [IRValue]) {
        ir.call(libc(name, ir.i32, args.map { _ in ir.ptr }), args)
    }

    /// Runs split kernel `k` through the pool: a small job function unpacks the pointers and
    /// calls the kernel for one task.
    /// Without a pool the kernel runs as one part on the calling thread.
    func dispatch(_ k: Kernel, _ fn: IRFunction, _ pointers: [IRValue], pool: IRValue) {
        let alone = ir.appendBlock("alone"), shared = ir.appendBlock("pool"), after = ir.appendBlock("after")
        ir.condBr(ir.isNull(pool), alone, shared)
        ir.position(at: alone)
        ir.call(fn, pointers + [ir.constI64(0), ir.constI64(1)])
        ir.br(after)
        ir.position(at: shared)
        dispatchToPool(k, fn, pointers, pool: pool)
        ir.br(after)
        ir.position(at: after)
    }

    /// The number of parts is decided here, at run time: `partsPerThread` per thread of the
    /// context's pool (workers + the caller), at most `k.tasks` (the kernel's grain-limited
    /// maximum). More parts than threads let a thread that wakes late take fewer of them.
    /// Parts split output rows or pixels, never a sum, so every thread count gives the same bits.
    private func dispatchToPool(_ k: Kernel, _ fn: IRFunction, _ pointers: [IRValue], pool: IRValue) {
        // One job per kernel function: kernels that share a function share its job too.
        let job = ir.function("\(prefix)_job_\(fn.name)", jobType, exported: false)
        if !job.isDefined {
            let here = ir.insertBlock
            let current = ir.currentFunction
            ir.begin(job)
            let args = job.param(0)
            let loaded = pointers.indices.map { ir.load(ir.ptr, ir.gep(ir.ptr, args, ir.constI64($0)), align: 8) }
            let jobParts = ir.load(ir.i64, ir.gep(ir.ptr, args, ir.constI64(pointers.count)), align: 8)
            ir.call(fn, loaded + [job.param(1), jobParts])
            ir.ret()
            ir.resume(current, at: here)
        }
        let threads = ir.add(ir.load(ir.i64, field(pool, .workers), align: 8), ir.constI64(1))
        let wanted = ir.mul(threads, ir.constI64(TargetInfo(target).schedules.partsPerThread))
        let parts = ir.select(ir.icmp(.slt, wanted, ir.constI64(k.tasks)), wanted, ir.constI64(k.tasks))
        let array = ir.alloca(ir.array(ir.ptr, pointers.count + 1))
        for (i, p) in pointers.enumerated() { ir.store(p, ir.gep(ir.ptr, array, ir.constI64(i)), align: 8) }
        ir.store(parts, ir.gep(ir.ptr, array, ir.constI64(pointers.count)), align: 8)
        ir.call(poolRun, [pool, job.value, array, parts])
    }
}
