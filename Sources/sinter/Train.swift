import ArgumentParser
import Foundation
import Sinter
import Synchronization

/// Set by SIGINT; the training loop checks it between steps, saves a checkpoint and exits.
let interruptRequested = Atomic<Bool>(false)

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model's initializers with a compiled train step.",
        discussion:
            "The .npz holds `x` (samples along the first axis, each shaped like the model's first input without "
            + "its batch axis) and `y` (int64 class indices for --loss ce, floats shaped like the output for "
            + "--loss mse); or --data X.npy --labels Y.npy. The model's first input axis must be symbolic or "
            + "equal --batch-size; a last partial batch runs at its own size when the axis is symbolic and is "
            + "dropped (and said so) when it is fixed. The trained model is written atomically: for ONNX, the same "
            + "graph with its initializers replaced, so onnxruntime runs it."
    )

    @Argument(help: "The model (.onnx or .sir); its float initializers are the parameters.")
    var model: String

    @Option(help: ArgumentHelp("Training data: numpy.savez, or the features as .npy.", valueName: "FILE.npz|X.npy"))
    var data: String

    @Option(help: ArgumentHelp("The labels as .npy, when --data is a .npy.", valueName: "Y.npy"))
    var labels: String?

    @Option(help: "The key of the features in the .npz.") var x = "x"
    @Option(help: "The key of the labels in the .npz.") var y = "y"

    @OptionGroup var training: TrainingOptions
    @Option(help: "Passes over the training data.") var epochs = 10
    @Option(name: .customLong("batch-size"), help: "Samples per step.") var batchSize = 32
    @Option(help: "Seed for shuffling and the validation split.") var seed: UInt64 = 0
    @Option(help: "Fraction of the samples held out for validation (0 for none).") var validation = 0.0
    @Option(help: "Stop after this many epochs without a better validation loss.") var patience: Int?
    @Option(help: "Threads for each step.") var threads = 1
    @Option(name: .shortAndLong, help: "Where to write the trained model (.onnx).") var output: String?
    @Option(help: "Checkpoint written after each epoch and on Ctrl-C (default: OUTPUT or MODEL with .ckpt).")
    var checkpoint: String?
    @Option(help: ArgumentHelp("Continue from a checkpoint of the same command.", valueName: "FILE.ckpt"))
    var resume: String?
    @Option(
        name: .customLong("emit-step"),
        help: ArgumentHelp(
            "Write the train step (forward, loss, backward, update) as .sir and stop, e.g. for `sinter bench`.",
            valueName: "FILE.sir"))
    var emitStep: String?
    @Flag(
        name: .customLong("data-parallel"),
        help: ArgumentHelp(
            "Under `mpirun -n K`: each rank trains on its K-th of every global batch (--batch-size), with the "
                + "gradients averaged over the ranks (Open MPI, loaded at run time)."))
    var dataParallel = false
    /// Tests: each rank trains on its shard with no all-reduce.
    @Flag(name: .customLong("shards-alone"), help: .hidden) var shardsAlone = false
    /// Tests: behave as if Ctrl-C came after this many updates (a deterministic mid-epoch stop).
    @Option(name: .customLong("interrupt-after"), help: .hidden) var interruptAfter: Int?

    func run() throws {
        var interrupted = false
        do throws(SinterError) {
            var (config, lr) = try trainingConfig()
            let workers = Workers(mpi: dataParallel ? try MPI() : nil, alone: shardsAlone)
            defer { workers.mpi?.finalize() }
            guard batchSize % workers.size == 0 else {
                throw SinterError(
                    "--batch-size \(batchSize) is the global batch: it must be divisible by the \(workers.size) ranks")
            }
            let local = batchSize / workers.size
            let showsAccuracy = config.loss.classifies && workers.mpi == nil
            let (features, labelData) = try readData()
            let graph: Graph, symbolic: Bool
            (graph, config, symbolic) = try loadModel(config, batch: local)
            if let emitStep {
                let step = try TrainStep.build(graph, config)
                try FileIO.writeAtomically(Array(Printer.print(step.graph).utf8), to: emitStep)
                workers.say("wrote the train step of \(model) to \(emitStep)")
                return
            }
            let base = config
            let trainer = try Trainer(
                graph, config: config, learningRate: lr, threads: threads,
                rebind: symbolic ? { (n: Int) throws(SinterError) -> Graph in try loadModel(base, batch: n).0 } : nil)
            let set = try TrainingSet(features, labelData, trainer.step, loss: config.loss, origin: data)
            var rng = SplitMix(seed: seed)
            let (trainIdx, valIdx) = set.split(validation, &rng)
            guard trainIdx.count >= batchSize else {
                throw SinterError("\(trainIdx.count) training sample(s) are fewer than one batch of \(batchSize)")
            }
            let remainder = trainIdx.count % batchSize
            let partial = trainer.dynamicBatch && workers.size == 1
            if remainder > 0 {
                workers.say(
                    partial
                        ? "note: the last \(remainder) sample(s) of each epoch run as a batch of \(remainder)"
                        : "note: the last \(remainder) sample(s) of each epoch do not fill a batch of the model's "
                            + "fixed \(batchSize); dropped")
            }
            let used = partial ? trainIdx.count : trainIdx.count - remainder
            let fingerprint = Checkpoint.fingerprint(trainer.step, config)
            let p = trainer.parameters.count
            var state = Checkpoint(
                epoch: 1, batch: 0, updates: 0, rngState: rng.state, lossSum: 0, correct: 0, seen: 0, curve: [],
                best: .infinity, sinceBest: 0, tensors: [])
            if let resume {
                let types =
                    trainer.step.parameters.map(\.value.type) + trainer.step.slots.map(\.type)
                    + trainer.step.states.map(\.value.type)
                state = try Checkpoint.decode(
                    try FileIO.read(resume), fingerprint: fingerprint, types: types, origin: resume)
                try trainer.restore(
                    parameters: Array(state.tensors[..<p]), slots: Array(state.tensors[p..<(p + trainer.slots.count)]),
                    states: Array(state.tensors[(p + trainer.slots.count)...]), updates: state.updates)
                rng.state = state.rngState
                workers.say("resumed from \(resume) at epoch \(state.epoch), batch \(state.batch)")
            }
            let checkpointPath = checkpoint ?? ((output ?? model) as NSString).deletingPathExtension + ".ckpt"
            func save(_ s: Checkpoint) throws(SinterError) {
                var full = s
                full.updates = trainer.updates
                full.tensors = trainer.parameters + trainer.slots + trainer.states
                if workers.rank == 0 {
                    try FileIO.writeAtomically(full.encode(fingerprint: fingerprint), to: checkpointPath)
                }
            }
            signal(SIGINT) { _ in interruptRequested.store(true, ordering: .relaxed) }
            let terminal = isatty(STDOUT_FILENO) == 1 && workers.rank == 0
            let batches = (used + batchSize - 1) / batchSize
            var epoch = state.epoch
            // Data parallel: a stop every rank agreed on in the last step's all-reduce.
            var agreedStop = false
            training: while epoch <= epochs {
                state.rngState = rng.state
                let order = set.shuffled(trainIdx, &rng)
                let start = Date()
                let first = state.batch
                for b in first..<batches {
                    let wantsStop = interruptRequested.load(ordering: .relaxed) || trainer.updates == interruptAfter
                    if workers.mpi == nil ? wantsStop : agreedStop {
                        state.epoch = epoch
                        state.batch = b
                        try save(state)
                        workers.say(
                            (terminal ? "\n" : "") + "interrupted: saved \(checkpointPath); continue with --resume")
                        interrupted = true
                        break training
                    }
                    let idx = Array(order[(b * batchSize)..<min((b + 1) * batchSize, used)])
                    if workers.mpi != nil {
                        let mine = workers.shard(idx)
                        let l = try trainer.train([set.features(mine)], labels: set.labels(mine)) {
                            (v: inout [Float]) throws(SinterError) in
                            agreedStop = try workers.mean(&v, stop: wantsStop)
                        }
                        state.lossSum += l * Double(idx.count)
                    } else {
                        let (l, outs) = try trainer.train([set.features(idx)], labels: set.labels(idx))
                        state.lossSum += l * Double(idx.count)
                        state.correct += set.correct(outs[0], idx)
                    }
                    state.seen += idx.count
                    if terminal {
                        let rate = Double((b + 1 - first) * batchSize) / max(Date().timeIntervalSince(start), 1e-9)
                        let text = String(
                            format: "\repoch %d/%d  %d/%d  loss %.4f%@  %.0f samples/s", epoch, epochs, state.seen,
                            used, state.lossSum / Double(state.seen),
                            showsAccuracy
                                ? String(format: "  acc %.4f", Double(state.correct) / Double(state.seen)) : "",
                            rate)
                        FileHandle.standardOutput.write(Data(text.utf8))
                    }
                }
                let seconds = max(Date().timeIntervalSince(start), 1e-9)
                let mean = state.lossSum / Double(max(state.seen, 1))
                state.curve.append(mean)
                var line = String(format: "epoch %d/%d  loss %.4f", epoch, epochs, mean)
                if showsAccuracy {
                    line += String(format: "  acc %.4f", Double(state.correct) / Double(max(state.seen, 1)))
                }
                var monitored = mean
                if !valIdx.isEmpty {
                    let (vl, vc) = try set.evaluate(trainer, valIdx, batchSize: batchSize)
                    monitored = vl
                    line += String(format: "  val_loss %.4f", vl)
                    if config.loss.classifies { line += String(format: "  val_acc %.4f", vc) }
                }
                line += String(format: "  %.0f samples/s", Double(used - first * batchSize) / seconds)
                workers.say((terminal ? "\r\u{1B}[K" : "") + line)
                var stop = false
                if monitored < state.best {
                    state.best = monitored
                    state.sinceBest = 0
                } else if let patience {
                    state.sinceBest += 1
                    stop = state.sinceBest >= patience
                }
                epoch += 1
                (state.epoch, state.batch, state.lossSum, state.correct, state.seen) = (epoch, 0, 0, 0, 0)
                state.rngState = rng.state
                try save(state)
                if stop {
                    workers.say(
                        "early stop: no better \(valIdx.isEmpty ? "" : "validation ")loss for \(patience ?? 0) epoch(s)"
                    )
                    break
                }
            }
            if let output, !interrupted, workers.rank == 0 { try write(trainer, state.curve, to: output) }
        } catch {
            throw reportAndExit(error)
        }
        if interrupted { throw ExitCode(130) }
    }

    func trainingConfig() throws(SinterError) -> (TrainingConfig, Double) {
        let (c, lr) = try training.config()
        guard batchSize > 0, epochs > 0, (0..<1).contains(validation) else {
            throw SinterError("--batch-size and --epochs must be positive, --validation in [0, 1)")
        }
        return (c, lr)
    }

    /// The model with its batch axis bound to --batch-size and its initializers kept apart.
    /// The features and labels: `--x`/`--y` of the .npz, or the two .npy files.
    func readData() throws(SinterError) -> (TensorData, TensorData) {
        if data.hasSuffix(".npy") {
            guard let labels else { throw SinterError("--data \(data) is a .npy: give the labels with --labels Y.npy") }
            return (
                try Npy.decode(try FileIO.read(data), origin: data),
                try Npy.decode(try FileIO.read(labels), origin: labels)
            )
        }
        if let labels { throw SinterError("--labels \(labels) goes with --data X.npy; \(data) holds both") }
        let arrays = Dictionary(try Npz.decode(try FileIO.read(data), origin: data)) { a, _ in a }
        guard let features = arrays[x], let labels = arrays[y] else {
            throw SinterError("\(data) must hold arrays '\(x)' and '\(y)' (it has \(arrays.keys.sorted()))")
        }
        return (features, labels)
    }

    /// The model with its batch axis bound to `batch` and its initializers kept apart; whether
    /// that axis is symbolic (then other batch sizes can be bound too).
    func loadModel(_ config: TrainingConfig, batch batchSize: Int) throws(SinterError) -> (
        Graph, TrainingConfig, Bool
    ) {
        var trained = config
        let (g, symbolic) = try Sinter.loadBatched(model, batch: batchSize) { path, bindings throws(SinterError) in
            let (g, c) = try Sinter.loadForTraining(path, bindings: bindings, config)
            trained = c
            return g
        }
        return (g, trained, symbolic)
    }

    /// The trained model (ONNX: the input file with its initializers replaced) and the loss
    /// curve as an SVG beside it.
    func write(_ trainer: Trainer, _ curve: [Double], to path: String) throws(SinterError) {
        guard path.hasSuffix(".onnx"), model.hasSuffix(".onnx") else {
            throw SinterError("-o writes an ONNX model trained from an ONNX model; '\(path)' is not that")
        }
        let bytes = try ONNXImporter.replacingInitializers(model, with: trainer.namedParameters)
        try FileIO.writeAtomically([UInt8](bytes), to: path)
        let svg = (path as NSString).deletingPathExtension + ".loss.svg"
        try FileIO.writeAtomically(Array(LossCurve.svg(curve).utf8), to: svg)
        let states = trainer.states.isEmpty ? "" : ", \(trainer.states.count) running statistic(s)"
        print("wrote \(path) (\(trainer.parameters.count) trained tensor(s)\(states)) and \(svg)")
    }
}
