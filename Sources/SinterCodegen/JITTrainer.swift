import SinterIR

/// The compiled train step in this process: the module `sinter compile --train` writes, run
/// through its own `NAME_train_*` entry points, so the Swift API, the C ABI and the Python
/// loader share one implementation (parameters, slots, steps and lr live in the C context).
///
///     let t = try Sinter.jitTraining(graph, config, learningRate: 1e-3)
///     let loss = try t.step([x], labels: y)
///     t.learningRate = 1e-4
///     try t.save("run.ckpt")
public final class JITTrainer: @unchecked Sendable {
    // Sendable: every call that touches the context holds `lock`.
    public let training: TrainingProgram
    private let session: JITSession
    private let context: UnsafeMutableRawPointer
    private let lock = Lock()
    private typealias IO =
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<UnsafeRawPointer?>?, UnsafeRawPointer?,
            UnsafeMutablePointer<Float>?,
            UnsafeMutableRawPointer?
        ) -> Int32
    private typealias Copy = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?) -> Int32
    private typealias Path = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
    private let stepFn: IO, gradsFn: IO
    private let applyFn: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    private let gradientFn: @convention(c) (UnsafeMutableRawPointer?, Int32) -> UnsafeMutableRawPointer?
    private let predictFn:
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<UnsafeMutableRawPointer?>?,
            UnsafeMutableRawPointer?
        ) -> Int32
    private let setLRFn: @convention(c) (UnsafeMutableRawPointer?, Float) -> Int32
    private let lrFn: @convention(c) (UnsafeMutableRawPointer?) -> Float
    private let stepsFn: @convention(c) (UnsafeMutableRawPointer?) -> Int64
    private let getParamFn: Copy, setParamFn: Copy, getSlotFn: Copy, setSlotFn: Copy
    private let saveFn: Path, loadFn: Path
    private let destroyFn: @convention(c) (UnsafeMutableRawPointer?) -> Void
    private let statusFn: @convention(c) (Int32) -> UnsafePointer<CChar>?

    /// `inference` is the model's own program (`NAME_run`); the training context starts from
    /// `training.initialParameters` and zero slots.
    public init(
        inference: KernelProgram, training: TrainingProgram, prefix: String, target: Target = .host, threads: Int = 1
    ) throws(SinterError) {
        self.training = training
        let machine = try MachineCode(target)
        session = try JITSession(machine: machine)
        let ir = try Codegen.build(
            inference, prefix: prefix, machine: machine, training: training, context: session.context)
        try session.add(ir)
        let s = session
        func fn<T>(_ name: String, _ type: T.Type) throws(SinterError) -> T {
            unsafeBitCast(try s.address(of: "\(prefix)_\(name)"), to: type)
        }
        stepFn = try fn("train_step", IO.self)
        gradsFn = try fn("train_grads", IO.self)
        applyFn = try fn("train_apply", type(of: applyFn))
        gradientFn = try fn("train_gradient", type(of: gradientFn))
        predictFn = try fn("train_predict", type(of: predictFn))
        setLRFn = try fn("train_set_lr", type(of: setLRFn))
        lrFn = try fn("train_lr", type(of: lrFn))
        stepsFn = try fn("train_steps", type(of: stepsFn))
        getParamFn = try fn("train_get_param", Copy.self)
        setParamFn = try fn("train_set_param", Copy.self)
        getSlotFn = try fn("train_get_slot", Copy.self)
        setSlotFn = try fn("train_set_slot", Copy.self)
        saveFn = try fn("train_save", Path.self)
        loadFn = try fn("train_load", Path.self)
        destroyFn = try fn("train_destroy", type(of: destroyFn))
        statusFn = try fn("status_string", type(of: statusFn))
        typealias Create = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int32) -> Int32
        let create = try fn("train_create", Create.self)
        var ctx: UnsafeMutableRawPointer?
        let status = create(&ctx, Int32(clamping: max(threads, 1)))
        guard status == 0, let ctx else { throw SinterError("creating the training context failed (status \(status))") }
        context = ctx
    }

    deinit { destroyFn(context) }

    private func check(_ status: Int32, _ what: String) throws(SinterError) {
        guard status != 0 else { return }
        let msg = statusFn(status).map { String(cString: $0) } ?? "unknown"
        throw SinterError("\(what) failed: \(msg) (status \(status))")
    }

    private func checked(_ tensors: [TensorData], _ specs: [KernelProgram.TensorSpec]) throws(SinterError) {
        guard tensors.count == specs.count else {
            throw SinterError("expected \(specs.count) tensor(s), got \(tensors.count)")
        }
        var diags: [Diagnostic] = []
        for (t, spec) in zip(tensors, specs) where t.dtype != spec.type.dtype || t.shape != spec.shape {
            diags.append(Diagnostic("'\(spec.name)' must be \(spec.type), got \(t.type)"))
        }
        if !diags.isEmpty { throw SinterError(diags) }
    }

    private func call(_ fn: IO, _ inputs: [TensorData], _ labels: TensorData, _ what: String) throws(SinterError)
        -> Float
    {
        try checked(inputs + [labels], training.modelInputs + [training.labels])
        let buffers = inputs.map { AlignedBuffer($0.bytes) }, label = AlignedBuffer(labels.bytes)
        let pointers: [UnsafeRawPointer?] = buffers.map { UnsafeRawPointer($0.pointer) } + [nil]
        var loss: Float = 0
        let status = withExtendedLifetime((buffers, label)) {
            lock.withLock {
                pointers.withUnsafeBufferPointer { fn(context, $0.baseAddress, label.pointer, &loss, nil) }
            }
        }
        try check(status, what)
        return loss
    }

    /// One optimizer step on a batch; the loss before the update.
    @discardableResult
    public func step(_ inputs: [TensorData], labels: TensorData) throws(SinterError) -> Float {
        try call(stepFn, inputs, labels, "train step")
    }

    /// The loss and gradients of a batch, kept in the context for `gradient`/`setGradient` and `apply`.
    @discardableResult
    public func gradients(_ inputs: [TensorData], labels: TensorData) throws(SinterError) -> Float {
        try call(gradsFn, inputs, labels, "gradients")
    }

    /// Parameter `i`'s gradient from the last `gradients` call.
    public func gradient(_ i: Int) throws(SinterError) -> TensorData {
        let spec = try index(i, training.parameters)
        let count = spec.shape.reduce(1, *) * spec.type.dtype.byteSize
        return lock.withLock {
            let p = gradientFn(context, Int32(i))
            return TensorData(
                dtype: spec.type.dtype, shape: spec.shape,
                bytes: p.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? [])
        }
    }

    /// Replaces parameter `i`'s gradient (e.g. with an average over workers) before `apply`.
    public func setGradient(_ i: Int, _ value: TensorData) throws(SinterError) {
        let spec = try index(i, training.parameters)
        try checked([value], [spec])
        lock.withLock {
            guard let p = gradientFn(context, Int32(i)) else { return }
            value.bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
        }
    }

    /// The update from the stored gradients.
    public func apply() throws(SinterError) {
        try check(lock.withLock { applyFn(context, nil) }, "apply")
    }

    /// The model's outputs with the current parameters.
    public func predict(_ inputs: [TensorData]) throws(SinterError) -> [TensorData] {
        try checked(inputs, training.modelInputs)
        let buffers = inputs.map { AlignedBuffer($0.bytes) }
        let outs = training.outputs.map { AlignedBuffer(count: $0.shape.reduce(1, *) * $0.type.dtype.byteSize) }
        let ins: [UnsafeRawPointer?] = buffers.map { UnsafeRawPointer($0.pointer) } + [nil]
        let outPointers: [UnsafeMutableRawPointer?] = outs.map(\.pointer) + [nil]
        let status = withExtendedLifetime((buffers, outs)) {
            lock.withLock {
                ins.withUnsafeBufferPointer { i in
                    outPointers.withUnsafeBufferPointer { o in predictFn(context, i.baseAddress, o.baseAddress, nil) }
                }
            }
        }
        try check(status, "predict")
        return zip(training.outputs, outs).map { TensorData(dtype: $0.type.dtype, shape: $0.shape, bytes: $1.bytes) }
    }

    /// The learning rate the next update uses (finite, >= 0).
    public var learningRate: Float { lock.withLock { lrFn(context) } }

    public func setLearningRate(_ lr: Float) throws(SinterError) {
        try check(lock.withLock { setLRFn(context, lr) }, "setting the learning rate to \(lr)")
    }

    /// Updates applied so far.
    public var steps: Int { Int(lock.withLock { stepsFn(context) }) }

    private func index(_ i: Int, _ specs: [KernelProgram.TensorSpec]) throws(SinterError) -> KernelProgram.TensorSpec {
        guard specs.indices.contains(i) else { throw SinterError("index \(i) is out of range 0..<\(specs.count)") }
        return specs[i]
    }

    private func get(_ fn: Copy, _ i: Int, _ specs: [KernelProgram.TensorSpec]) throws(SinterError) -> TensorData {
        let spec = try index(i, specs)
        let buffer = AlignedBuffer(count: spec.shape.reduce(1, *) * spec.type.dtype.byteSize)
        try check(lock.withLock { fn(context, Int32(i), buffer.pointer) }, "reading '\(spec.name)'")
        return TensorData(dtype: spec.type.dtype, shape: spec.shape, bytes: buffer.bytes)
    }

    private func set(_ fn: Copy, _ i: Int, _ value: TensorData, _ specs: [KernelProgram.TensorSpec])
        throws(SinterError)
    {
        let spec = try index(i, specs)
        try checked([value], [spec])
        let buffer = AlignedBuffer(value.bytes)
        try check(withExtendedLifetime(buffer) { lock.withLock { fn(context, Int32(i), buffer.pointer) } }, "setting")
    }

    public func parameter(_ i: Int) throws(SinterError) -> TensorData { try get(getParamFn, i, training.parameters) }
    public func setParameter(_ i: Int, _ v: TensorData) throws(SinterError) {
        try set(setParamFn, i, v, training.parameters)
    }
    /// The ABI's slots: the optimizer's, then the states (batch norm's running statistics).
    public func slot(_ i: Int) throws(SinterError) -> TensorData {
        try get(getSlotFn, i, training.slots + training.states)
    }
    public func setSlot(_ i: Int, _ v: TensorData) throws(SinterError) {
        try set(setSlotFn, i, v, training.slots + training.states)
    }

    /// A checkpoint (`NAME_train_save`: PATH.tmp, fsync, rename).
    public func save(_ path: String) throws(SinterError) {
        try check(lock.withLock { path.withCString { saveFn(context, $0) } }, "saving '\(path)'")
    }

    /// Restores a checkpoint of this model and optimizer; on failure nothing changes.
    public func load(_ path: String) throws(SinterError) {
        try check(lock.withLock { path.withCString { loadFn(context, $0) } }, "loading '\(path)'")
    }
}
