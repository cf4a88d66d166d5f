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
            + "--loss mse). The model's first input axis must be symbolic or equal --batch-size; a last partial "
            + "batch is dropped (and said so). The trained model is written atomically: for ONNX, the same "
            + "graph with its initializers replaced, so onnxruntime runs it."
    )

    @Argument(help: "The model (.onnx or .sir); its float initializers are the parameters.")
    var model: String

    @Option(help: ArgumentHelp("Training data (numpy.savez).", valueName: "FILE.npz"))
    var data: String

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
    /// Tests: behave as if Ctrl-C came after this many updates (a deterministic mid-epoch stop).
    @Option(name: .customLong("interrupt-after"), help: .hidden) var interruptAfter: Int?

    func run() throws {
        var interrupted = false
        do throws(SinterError) {
            var (config, lr) = try trainingConfig()
            let arrays = Dictionary(try Npz.decode(try FileIO.read(data), origin: data)) { a, _ in a }
            guard let features = arrays[x], let labels = arrays[y] else {
                throw SinterError("\(data) must hold arrays '\(x)' and '\(y)' (it has \(arrays.keys.sorted()))")
            }
            let graph: Graph
            (graph, config) = try loadModel(config)
            if let emitStep {
                let step = try TrainStep.build(graph, config)
                try FileIO.writeAtomically(Array(Printer.print(step.graph).utf8), to: emitStep)
                print("wrote the train step of \(model) to \(emitStep)")
                return
            }
            let trainer = try Trainer(graph, config: config, learningRate: lr, threads: threads)
            let set = try TrainingSet(features, labels, trainer.step, loss: config.loss, origin: data)
            var rng = SplitMix(seed: seed)
            let (trainIdx, valIdx) = set.split(validation, &rng)
            guard trainIdx.count >= batchSize else {
                throw SinterError("\(trainIdx.count) training sample(s) are fewer than one batch of \(batchSize)")
            }
            let dropped = trainIdx.count % batchSize
            if dropped > 0 { print("note: the last \(dropped) sample(s) of each epoch do not fill a batch; dropped") }
            let fingerprint = Checkpoint.fingerprint(trainer.step, config)
            let p = trainer.parameters.count
            var state = Checkpoint(
                epoch: 1, batch: 0, updates: 0, rngState: rng.state, lossSum: 0, correct: 0, seen: 0, curve: [],
                best: .infinity, sinceBest: 0, tensors: [])
            if let resume {
                let types = trainer.step.parameters.map(\.value.type) + trainer.step.slots.map(\.type)
                state = try Checkpoint.decode(
                    try FileIO.read(resume), fingerprint: fingerprint, types: types, origin: resume)
                try trainer.restore(
                    parameters: Array(state.tensors[..<p]), slots: Array(state.tensors[p...]), updates: state.updates)
                rng.state = state.rngState
                print("resumed from \(resume) at epoch \(state.epoch), batch \(state.batch)")
            }
            let checkpointPath = checkpoint ?? ((output ?? model) as NSString).deletingPathExtension + ".ckpt"
            func save(_ s: Checkpoint) throws(SinterError) {
                var full = s
                full.updates = trainer.updates
                full.tensors = trainer.parameters + trainer.slots
                try FileIO.writeAtomically(full.encode(fingerprint: fingerprint), to: checkpointPath)
            }
            signal(SIGINT) { _ in interruptRequested.store(true, ordering: .relaxed) }
            let terminal = isatty(STDOUT_FILENO) == 1
            let batches = (trainIdx.count - dropped) / batchSize
            var epoch = state.epoch
            training: while epoch <= epochs {
                state.rngState = rng.state
                let order = set.shuffled(trainIdx, &rng)
                let start = Date()
                let first = state.batch
                for b in first..<batches {
                    if interruptRequested.load(ordering: .relaxed) || trainer.updates == interruptAfter {
                        state.epoch = epoch
                        state.batch = b
                        try save(state)
                        print((terminal ? "\n" : "") + "interrupted: saved \(checkpointPath); continue with --resume")
                        interrupted = true
                        break training
                    }
                    let idx = Array(order[(b * batchSize)..<((b + 1) * batchSize)])
                    let (l, outs) = try trainer.train([set.features(idx)], labels: set.labels(idx))
                    state.lossSum += l * Double(idx.count)
                    state.correct += set.correct(outs[0], idx)
                    state.seen += idx.count
                    if terminal {
                        let rate = Double((b + 1 - first) * batchSize) / max(Date().timeIntervalSince(start), 1e-9)
                        let text = String(
                            format: "\repoch %d/%d  %d/%d  loss %.4f  %.0f samples/s", epoch, epochs, state.seen,
                            batches * batchSize, state.lossSum / Double(state.seen), rate)
                        FileHandle.standardOutput.write(Data(text.utf8))
                    }
                }
                let seconds = max(Date().timeIntervalSince(start), 1e-9)
                let mean = state.lossSum / Double(max(state.seen, 1))
                state.curve.append(mean)
                var line = String(format: "epoch %d/%d  loss %.4f", epoch, epochs, mean)
                if config.loss == .ce {
                    line += String(format: "  acc %.4f", Double(state.correct) / Double(max(state.seen, 1)))
                }
                var monitored = mean
                if !valIdx.isEmpty {
                    let (vl, vc) = try set.evaluate(trainer, valIdx, batchSize: batchSize)
                    monitored = vl
                    line += String(format: "  val_loss %.4f", vl)
                    if config.loss == .ce { line += String(format: "  val_acc %.4f", vc) }
                }
                line += String(format: "  %.0f samples/s", Double((batches - first) * batchSize) / seconds)
                print((terminal ? "\r\u{1B}[K" : "") + line)
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
                    print(
                        "early stop: no better \(valIdx.isEmpty ? "" : "validation ")loss for \(patience ?? 0) epoch(s)"
                    )
                    break
                }
            }
            if let output, !interrupted { try write(trainer, state.curve, to: output) }
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
    func loadModel(_ config: TrainingConfig) throws(SinterError) -> (Graph, TrainingConfig) {
        var bindings: [String: Int] = [:]
        if model.hasSuffix(".onnx"), let first = try ONNXImporter.inputNames(model).first,
            let t = try ONNXImporter.inputTypes(model)[first], case .symbol(let s)? = t.dims.first
        {
            bindings[s] = batchSize
        }
        var (g, config) = try Sinter.loadForTraining(model, bindings: bindings, config)
        if let v = g.inputs.first, case .symbol(let s)? = g.type(of: v).dims.first {
            var pm = PassManager(options: PassManager.Options(), dump: { _ in })
            try pm.run([PassSpec(InferShapes.name, [s: "\(batchSize)"])], on: &g, context: PassContext())
        }
        guard let v = g.inputs.first, g.type(of: v).dims.first == .fixed(batchSize) else {
            throw SinterError(
                "the model's first input must have a symbolic batch axis or one of --batch-size \(batchSize)")
        }
        return (g, config)
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
        print("wrote \(path) (\(trainer.parameters.count) trained tensor(s)) and \(svg)")
    }
}
