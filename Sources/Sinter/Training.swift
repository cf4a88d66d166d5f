import Foundation

/// Trains a model in-process: the train step (`TrainStep`) and the inference graph compiled
/// once through the JIT, with the parameters and optimizer slots held here between steps. The
/// learning rate is a run-time input, so schedules need no recompile.
///
///     let trainer = try Trainer(graph, config: config, learningRate: 1e-3)
///     let (loss, _) = try trainer.train([x], labels: y)
///     let logits = try trainer.predict([x])[0]
public final class Trainer {
    public let step: TrainStep
    public let config: TrainingConfig
    /// The batch size `step` was built for.
    public let batchSize: Int
    private let options: CompileOptions
    private let threads: Int
    /// The model with its batch axis bound to another size (nil: the batch is fixed).
    private let rebind: ((Int) throws(SinterError) -> Graph)?
    /// Compiled programs by batch size: the train step, and lazily inference and evaluation.
    private var steps: [Int: TrainStep] = [:]
    private var programs: [String: JITModel] = [:]
    public private(set) var parameters: [TensorData]
    public private(set) var slots: [TensorData]
    /// Batch norm's running statistics, updated by each step and used by `predict`.
    public private(set) var states: [TensorData]
    /// Updates applied so far (Adam's bias correction reads it).
    public private(set) var updates = 0
    public var learningRate: Double

    /// `rebind(n)`: the model with batch n, for models whose batch is symbolic; then `train`,
    /// `predict` and `evaluate` take any batch size (each new size compiles once).
    public init(
        _ model: Graph, config: TrainingConfig, learningRate: Double, options: CompileOptions = CompileOptions(),
        threads: Int = 1, rebind: ((Int) throws(SinterError) -> Graph)? = nil
    ) throws(SinterError) {
        self.config = config
        self.learningRate = learningRate
        self.options = options
        self.threads = threads
        self.rebind = rebind
        step = try TrainStep.build(model, config)
        guard let first = step.graph.type(of: step.graph.inputs[0]).shape?.first else {
            throw SinterError("the model's first input needs a static batch axis")
        }
        batchSize = first
        steps[batchSize] = step
        parameters = step.parameters.map(\.value)
        states = step.states.map(\.value)
        slots = step.slots.map { s in
            let shape = s.type.shape ?? []
            return TensorData(
                dtype: s.type.dtype, shape: shape,
                bytes: [UInt8](repeating: 0, count: shape.reduce(1, *) * s.type.dtype.byteSize))
        }
        _ = try program("train", batchSize)
    }

    /// Whether batches of other sizes than `batchSize` run.
    public var dynamicBatch: Bool { rebind != nil }

    private func program(_ kind: String, _ n: Int) throws(SinterError) -> JITModel {
        if let p = programs["\(kind)\(n)"] { return p }
        let s: TrainStep
        if let known = steps[n] {
            s = known
        } else {
            guard let rebind else {
                throw SinterError("the model's batch is fixed at \(batchSize); got a batch of \(n)")
            }
            s = try TrainStep.build(try rebind(n), config)
            steps[n] = s
        }
        let graph =
            switch kind {
            case "train": s.graph
            case "eval": s.evaluation
            case "grads": s.gradients
            case "apply": s.apply
            default: s.inference
            }
        let p = try Sinter.jit(graph, options, threads: threads)
        programs["\(kind)\(n)"] = p
        return p
    }

    /// The parameters and states (running statistics) by name, as trained so far.
    public var namedParameters: [String: TensorData] {
        Dictionary(
            uniqueKeysWithValues: zip(step.parameters.map(\.name) + step.states.map(\.name), parameters + states))
    }

    private func batch(of inputs: [TensorData]) throws(SinterError) -> Int {
        guard inputs.count == step.modelInputs else {
            throw SinterError("the model takes \(step.modelInputs) input(s), got \(inputs.count)")
        }
        return inputs.first?.shape.first ?? batchSize
    }

    /// One optimizer step on a batch: the mean loss and the model's outputs before the update.
    @discardableResult
    public func train(_ inputs: [TensorData], labels: TensorData) throws(SinterError) -> (
        loss: Double, outputs: [TensorData]
    ) {
        let model = try program("train", try batch(of: inputs))
        let dtype = step.graph.type(of: step.graph.inputs[step.modelInputs + 1]).dtype
        let lr = TensorData(dtype: dtype, shape: [], values: [learningRate])
        let t = TensorData(dtype: dtype, shape: [], values: [Double(updates + 1)])
        let out = try model.run(inputs + [labels, lr, t] + parameters + slots + states)
        let m = step.inference.outputs.count, p = parameters.count, s = slots.count
        parameters = Array(out[(1 + m)..<(1 + m + p)])
        slots = Array(out[(1 + m + p)..<(1 + m + p + s)])
        states = Array(out[(1 + m + p + s)...])
        updates += 1
        return (out[0].element(at: 0), Array(out[1..<(1 + m)]))
    }

    /// One step in two halves with `combine` between them: it gets the batch's loss, every
    /// gradient and the states' new values as one f32 array (the tensors' bytes, in that order)
    /// and changes them in place (data parallelism: summed over workers and divided by their
    /// number). Returns the step's loss as combined.
    @discardableResult
    public func train(
        _ inputs: [TensorData], labels: TensorData, combine: (inout [Float]) throws(SinterError) -> Void
    ) throws(SinterError) -> Double {
        let n = try batch(of: inputs)
        let dtype = step.graph.type(of: step.graph.inputs[step.modelInputs + 1]).dtype
        let t = TensorData(dtype: dtype, shape: [], values: [Double(updates + 1)])
        let out = try program("grads", n).run(inputs + [labels, t] + parameters + states)
        guard out.allSatisfy({ $0.dtype == .f32 }) else { throw SinterError("data parallelism needs f32 gradients") }
        var flat = [Float](repeating: 0, count: out.reduce(0) { $0 + $1.bytes.count } / 4)
        flat.withUnsafeMutableBytes { dst in
            var at = 0
            for o in out {
                o.bytes.withUnsafeBytes {
                    dst.baseAddress?.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
                }
                at += o.bytes.count
            }
        }
        try combine(&flat)
        var at = 0
        let parts = flat.withUnsafeBytes { all in
            out.map { o in
                defer { at += o.bytes.count }
                return TensorData(dtype: o.dtype, shape: o.shape, bytes: Array(all[at..<(at + o.bytes.count)]))
            }
        }
        let p = parameters.count
        let lr = TensorData(dtype: dtype, shape: [], values: [learningRate])
        let applied = try program("apply", n).run(Array(parts[1...p]) + [lr, t] + parameters + slots)
        parameters = Array(applied[..<p])
        slots = Array(applied[p...])
        states = Array(parts[(1 + p)...])
        updates += 1
        return parts[0].element(at: 0)
    }

    /// The model's outputs with the current parameters.
    public func predict(_ inputs: [TensorData]) throws(SinterError) -> [TensorData] {
        try program("infer", try batch(of: inputs)).run(inputs + parameters + states)
    }

    /// The mean loss of a batch and the model's outputs, without an update.
    public func evaluate(_ inputs: [TensorData], labels: TensorData) throws(SinterError) -> (
        loss: Double, outputs: [TensorData]
    ) {
        let out = try program("eval", try batch(of: inputs)).run(inputs + [labels] + parameters + states)
        return (out[0].element(at: 0), Array(out.dropFirst()))
    }

    /// Restores parameters, slots and the update count (from a checkpoint), checking each
    /// tensor against the step's types.
    public func restore(parameters p: [TensorData], slots s: [TensorData], states k: [TensorData] = [], updates u: Int)
        throws(SinterError)
    {
        let want = step.parameters.map(\.value.type) + step.slots.map(\.type) + step.states.map(\.value.type)
        let have = p + s + k
        guard have.count == want.count, zip(have, want).allSatisfy({ $0.type == $1 }) else {
            throw SinterError("the saved state does not match this model's parameters and optimizer")
        }
        parameters = p
        slots = s
        states = k
        updates = u
    }
}

extension Sinter {
    /// The three programs of a compiled train step (`sinter compile --train`): gradients,
    /// apply and predict, lowered through the standard pipeline, with the parameters'
    /// starting values and the checkpoint fingerprint.
    public static func lowerTraining(
        _ model: Graph, _ config: TrainingConfig, learningRate: Double, _ options: CompileOptions
    ) throws(SinterError) -> TrainingProgram {
        guard options.weights == .embedded else {
            throw SinterError("--train embeds the starting parameters: it cannot be combined with --weights-file")
        }
        guard options.int8 == nil else { throw SinterError("--train trains f32 parameters: drop --int8") }
        guard learningRate >= 0, learningRate.isFinite else {
            throw SinterError("the learning rate must be a finite number >= 0, got \(learningRate)")
        }
        let step = try TrainStep.build(model, config)
        let gradients = try lower(step.gradients, options)
        guard gradients.inputs.count == step.gradients.inputs.count else {
            throw SinterError("internal: the gradients program lost an input")
        }
        return TrainingProgram(
            gradients: gradients, apply: try lower(step.apply, options), predict: try lower(step.inference, options),
            initialParameters: step.parameters.map(\.value), initialStates: step.states.map(\.value),
            learningRate: Float(learningRate),
            fingerprint: Checkpoint.fingerprint(step, config))
    }

    /// A model ready for training: for ONNX, loaded with its initializers kept as constants,
    /// and `config.parameters` set to its f32 initializers that are not frozen.
    public static func loadForTraining(
        _ path: String, bindings: [String: Int], _ config: TrainingConfig
    ) throws(SinterError) -> (Graph, TrainingConfig) {
        guard path.hasSuffix(".onnx") else { return (try load(path, bindings: bindings), config) }
        let graph = try ONNXImporter.load(path, bindings: bindings, keepInitializers: true)
        var config = config
        let constants = Set(graph.nodes.filter { $0.op == .constant }.map { graph.name(of: $0.results[0]) })
        let frozen = Set(config.frozen)
        config.parameters = try ONNXImporter.f32InitializerNames(path).filter {
            constants.contains($0) && !frozen.contains($0)
        }
        return (graph, config)
    }
}

extension Sinter {
    /// The compiled train step in this process, through the same `NAME_train_*` entry points an
    /// artifact exports (`JITTrainer`).
    public static func jitTraining(
        _ model: Graph, _ config: TrainingConfig, learningRate: Double, _ options: CompileOptions = CompileOptions(),
        name: String? = nil, threads: Int = 1
    ) throws(SinterError) -> JITTrainer {
        let training = try lowerTraining(model, config, learningRate: learningRate, options)
        return try JITTrainer(
            inference: try lower(model, options), training: training,
            prefix: ABI.cIdentifier(name ?? model.name), target: options.target, threads: threads)
    }
}

extension Sinter {
    /// A model with its first input's leading (batch) axis bound to `batch` when that axis is
    /// symbolic (for ONNX, bound at import; for .sir, by `infer-shapes`), loaded by `load`;
    /// whether it was symbolic. Anything else than a symbolic axis or one of `batch` is an error.
    public static func loadBatched(
        _ path: String, batch: Int,
        load: (String, [String: Int]) throws(SinterError) -> Graph = { p, b throws(SinterError) in
            try Sinter.load(p, bindings: b)
        }
    ) throws(SinterError) -> (Graph, symbolic: Bool) {
        var bindings: [String: Int] = [:]
        if path.hasSuffix(".onnx"), let first = try ONNXImporter.inputNames(path).first,
            let t = try ONNXImporter.inputTypes(path)[first], case .symbol(let s)? = t.dims.first
        {
            bindings[s] = batch
        }
        var g = try load(path, bindings)
        var symbolic = !bindings.isEmpty
        if let v = g.inputs.first, case .symbol(let s)? = g.type(of: v).dims.first {
            symbolic = true
            var pm = PassManager(options: PassManager.Options(), dump: { _ in })
            try pm.run([PassSpec(InferShapes.name, [s: "\(batch)"])], on: &g, context: PassContext())
        }
        guard let v = g.inputs.first, g.type(of: v).dims.first == .fixed(batch) else {
            throw SinterError("the model's first input must have a symbolic batch axis or one of \(batch)")
        }
        return (g, symbolic)
    }
}
