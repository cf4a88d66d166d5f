import SinterIR

/// A model compiled in memory and ready to run: the same module `sinter compile` writes,
/// executed through ORC LLJIT via its own C ABI entry points.
public final class JITModel: @unchecked Sendable {
    // Sendable: the context is created once and the C ABI is reentrant for distinct workspaces;
    // `run` uses the context's workspace, so calls on one JITModel are serialised by a lock.
    public let program: KernelProgram
    private let session: JITSession
    fileprivate let context: UnsafeMutableRawPointer
    fileprivate let runFn:
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<UnsafeMutableRawPointer?>?,
            UnsafeMutableRawPointer?
        ) -> Int32
    fileprivate let profiledFn:
        (
            @convention(c) (
                UnsafeMutableRawPointer?, UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<UnsafeMutableRawPointer?>?,
                UnsafeMutableRawPointer?, UnsafeMutablePointer<Int64>?
            ) -> Int32
        )?
    private let destroyFn: @convention(c) (UnsafeMutableRawPointer?) -> Void
    fileprivate let statusFn: @convention(c) (Int32) -> UnsafePointer<CChar>?
    fileprivate let lock = Lock()

    private let loadWeightsFn: (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32)?

    /// `threads`: the context's pool size (`NAME_create`'s argument); 1 runs on the caller.
    /// `profile`: also build the profiled run, for `runProfiled`. `weights: .sideFile`: the
    /// weights come from a file through `loadWeights` (`NAME_load_weights`), as in an artifact.
    public init(
        _ program: KernelProgram, prefix: String, target: Target = .host, threads: Int = 1, profile: Bool = false,
        weights: ABI.WeightsMode = .embedded
    ) throws(SinterError) {
        self.program = program
        let machine = try MachineCode(target)
        session = try JITSession(machine: machine)
        let ir = try Codegen.build(
            program, prefix: prefix, machine: machine, weights: weights, profile: profile, context: session.context)
        try session.add(ir)
        typealias Create = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int32) -> Int32
        let create = unsafeBitCast(try session.address(of: "\(prefix)_create"), to: Create.self)
        runFn = unsafeBitCast(try session.address(of: "\(prefix)_run"), to: type(of: runFn))
        typealias Profiled =
            @convention(c) (
                UnsafeMutableRawPointer?, UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<UnsafeMutableRawPointer?>?,
                UnsafeMutableRawPointer?, UnsafeMutablePointer<Int64>?
            ) -> Int32
        profiledFn =
            profile ? unsafeBitCast(try session.address(of: "\(prefix)_run_profiled"), to: Profiled.self) : nil
        destroyFn = unsafeBitCast(try session.address(of: "\(prefix)_destroy"), to: type(of: destroyFn))
        statusFn = unsafeBitCast(try session.address(of: "\(prefix)_status_string"), to: type(of: statusFn))
        typealias Load = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
        loadWeightsFn =
            weights == .sideFile
            ? unsafeBitCast(try session.address(of: "\(prefix)_load_weights"), to: Load.self) : nil
        var ctx: UnsafeMutableRawPointer?
        let status = create(&ctx, Int32(clamping: max(threads, 1)))
        guard status == 0, let ctx else { throw SinterError("creating the model context failed (status \(status))") }
        context = ctx
    }

    deinit { destroyFn(context) }

    /// `NAME_load_weights` on this model's context: the C ABI status (0: loaded). Only for a
    /// model built with side-file weights.
    public func loadWeights(_ path: String) -> Int32 {
        guard let loadWeightsFn else { return -1 }
        return lock.withLock { path.withCString { loadWeightsFn(context, $0) } }
    }

    /// Runs the model. Inputs are checked against the graph's input types (count, dtype,
    /// shape) and rejected with a message naming the input.
    public func run(_ inputs: [TensorData]) throws(SinterError) -> [TensorData] {
        let call = try bind(inputs)
        try call.run()
        return call.outputs
    }

    /// Inputs copied once into aligned buffers, with output buffers beside them, so that
    /// repeated runs time only the compiled code: what a C caller that keeps its buffers pays
    /// (`sinter bench`; converting a 1024² pair of inputs per call added ~8% to a 1024³ product).
    public func bind(_ inputs: [TensorData]) throws(SinterError) -> BoundCall {
        guard inputs.count == program.inputs.count else {
            throw SinterError("model '\(program.name)' takes \(program.inputs.count) input(s), got \(inputs.count)")
        }
        var diags: [Diagnostic] = []
        for (t, spec) in zip(inputs, program.inputs) {
            if t.dtype != spec.type.dtype || t.shape != spec.shape {
                diags.append(Diagnostic("input '\(spec.name)' must be \(spec.type), got \(t.type)"))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return BoundCall(self, inputs)
    }

    /// Runs the model like `run`, adding each kernel's wall time in nanoseconds to
    /// `nanoseconds[k]` (one counter per `program.kernels` entry). Needs `profile: true`.
    @discardableResult
    public func runProfiled(_ inputs: [TensorData], nanoseconds: inout [Int64]) throws(SinterError) -> [TensorData] {
        let call = try bind(inputs)
        try call.runProfiled(nanoseconds: &nanoseconds)
        return call.outputs
    }

    /// One model's inputs and outputs in 64-byte aligned buffers, reused by every `run`.
    public final class BoundCall {
        let model: JITModel
        private let inBufs: [AlignedBuffer], outBufs: [AlignedBuffer]
        // A trailing nil keeps the arrays non-empty, so models without inputs get a valid pointer.
        private let ins: [UnsafeRawPointer?], outs: [UnsafeMutableRawPointer?]

        init(_ model: JITModel, _ inputs: [TensorData]) {
            self.model = model
            inBufs = inputs.map { AlignedBuffer($0.bytes) }
            outBufs = model.program.outputs.map { AlignedBuffer(count: $0.shape.reduce(1, *) * $0.type.dtype.byteSize) }
            ins = inBufs.map { UnsafeRawPointer($0.pointer) } + [nil]
            outs = outBufs.map(\.pointer) + [nil]
        }

        /// The outputs of the last run.
        public var outputs: [TensorData] {
            zip(model.program.outputs, outBufs).map { s, b in
                TensorData(dtype: s.type.dtype, shape: s.shape, bytes: b.bytes)
            }
        }

        /// Runs the model's C entry point on the bound buffers.
        public func run() throws(SinterError) {
            let m = model
            let status: Int32 = m.lock.withLock {
                ins.withUnsafeBufferPointer { i in
                    outs.withUnsafeBufferPointer { o in m.runFn(m.context, i.baseAddress, o.baseAddress, nil) }
                }
            }
            guard status == 0 else {
                let msg = m.statusFn(status).map { String(cString: $0) } ?? "unknown"
                throw SinterError("model run failed: \(msg) (status \(status))")
            }
        }

        /// `run` with a clock around each kernel (see `JITModel.runProfiled`).
        public func runProfiled(nanoseconds: inout [Int64]) throws(SinterError) {
            let m = model
            guard let profiledFn = m.profiledFn else {
                throw SinterError("model '\(m.program.name)' was built without profile: true")
            }
            if nanoseconds.count != m.program.kernels.count {
                nanoseconds = Array(repeating: 0, count: m.program.kernels.count)
            }
            // One extra counter keeps the pointer valid for a model without kernels.
            var counters = nanoseconds + [0]
            let status: Int32 = m.lock.withLock {
                counters.withUnsafeMutableBufferPointer { ns in
                    ins.withUnsafeBufferPointer { i in
                        outs.withUnsafeBufferPointer { o in
                            profiledFn(m.context, i.baseAddress, o.baseAddress, nil, ns.baseAddress)
                        }
                    }
                }
            }
            guard status == 0 else { throw SinterError("model run failed (status \(status))") }
            nanoseconds = Array(counters.dropLast())
        }
    }

    /// Runs on plain arrays (converted to each input's dtype); outputs as Float arrays.
    public func run(_ inputs: [[Float]]) throws(SinterError) -> [[Float]] {
        guard inputs.count == program.inputs.count else {
            throw SinterError("model '\(program.name)' takes \(program.inputs.count) input(s), got \(inputs.count)")
        }
        var tensors: [TensorData] = []
        for (values, spec) in zip(inputs, program.inputs) {
            let n = spec.shape.reduce(1, *)
            guard values.count == n else {
                throw SinterError("input '\(spec.name)' needs \(n) values (\(spec.type)), got \(values.count)")
            }
            tensors.append(TensorData(dtype: spec.type.dtype, shape: spec.shape, values: values.map(Double.init)))
        }
        return try run(tensors).map { $0.doubles.map { Float($0) } }
    }

    /// Runs with inputs given by name.
    public func run(named inputs: [String: TensorData]) throws(SinterError) -> [String: TensorData] {
        let missing = program.inputs.map(\.name).filter { inputs[$0] == nil }
        let unknown = inputs.keys.filter { k in !program.inputs.contains { $0.name == k } }.sorted()
        guard missing.isEmpty, unknown.isEmpty else {
            throw SinterError(
                missing.map { Diagnostic("missing input '\($0)'") }
                    + unknown.map { Diagnostic("model has no input '\($0)'") })
        }
        let outputs = try run(program.inputs.compactMap { inputs[$0.name] })
        return Dictionary(uniqueKeysWithValues: zip(program.outputs.map(\.name), outputs))
    }
}

/// A 64-byte aligned heap buffer (at least one byte, so empty tensors still get a pointer).
final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
    }
    convenience init(_ bytes: [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { pointer.copyMemory(from: b, byteCount: bytes.count) } }
    }
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: pointer, count: count)) }
    deinit { pointer.deallocate() }
}

/// A pthread mutex, so SinterCodegen needs no Foundation.
final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
