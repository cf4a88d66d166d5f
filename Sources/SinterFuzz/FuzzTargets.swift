import Foundation
import Sinter
import SinterCodegen
import SinterIR
import SinterONNX

/// The fuzz targets (`Scripts/fuzz.sh TARGET SECONDS`). Each takes arbitrary bytes; a clean
/// `SinterError` is the expected outcome for bad input, and a trap, a time-out or an
/// out-of-memory is a finding. Properties beyond "does not crash" trap too:
/// - `sir`: a graph that parses prints to text that parses back to the same graph;
/// - `weights`: only the model's own weights file loads (status 0), and then the model runs;
/// - `pipeline`: a graph generated from the bytes either fails with a located error before
///   codegen or becomes LLVM IR that verifies;
/// - `onnx-lower`, `sir-lower`: a model that imports (ONNX) or parses (`.sir` text) also goes
///   through the verifier, the pass pipeline and lowering to kernels (no LLVM, for speed),
///   where any error is fine and only a trap, hang or out-of-memory is a finding;
/// - `checkpoint`: only the model's own checkpoints load, in both loaders (`sinter train`'s
///   `Checkpoint.decode` and the C ABI's `NAME_train_load`), and a loaded one trains on.
enum FuzzTarget: String, CaseIterable {
    case onnx, sir, npy, weights, pipeline, checkpoint
    case onnxLower = "onnx-lower"
    case sirLower = "sir-lower"

    func run(_ bytes: [UInt8]) {
        switch self {
        case .onnx: Self.onnx(bytes)
        case .onnxLower: Self.onnxLower(bytes)
        case .sirLower: Self.sirLower(bytes)
        case .sir: Self.sir(bytes)
        case .npy:
            // The same bytes as one array and as a numpy.savez archive of them.
            _ = try? Npy.decode(bytes, origin: "fuzz.npy")
            _ = try? Npz.decode(bytes, origin: "fuzz.npz")
        case .weights: Self.weights(bytes)
        case .pipeline: Self.pipeline(bytes)
        case .checkpoint: Self.checkpoint(bytes)
        }
    }

    /// A folder with nothing in it: external data in a fuzzed model resolves to missing files.
    static let emptyFolder: String = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sinter-fuzz-empty-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }()

    static func onnx(_ bytes: [UInt8]) {
        guard let g = try? ONNXImporter.load(bytes: bytes, name: "fuzz", directory: emptyFolder) else { return }
        do throws(SinterError) {
            try Verifier.verify(g)
        } catch {
            fatalError("the importer produced a graph the verifier rejects:\n\(error)")
        }
    }

    /// What a user's model goes through before codegen: the importer's graphs are the ones
    /// users bring, and `pipeline`'s generator does not make all of them.
    static func onnxLower(_ bytes: [UInt8]) {
        guard let g = try? ONNXImporter.load(bytes: bytes, name: "fuzz", directory: emptyFolder) else { return }
        lower(g)
    }

    /// A hand-written `.sir` file skips the importer's checks: only the verifier (which
    /// `Sinter.lower` runs first) stands between its attributes and the passes.
    static func sirLower(_ bytes: [UInt8]) {
        guard let g = try? Parser.parse(String(decoding: bytes, as: UTF8.self), path: "fuzz.sir") else { return }
        lower(g)
    }

    static func lower(_ g: Graph) {
        var options = CompileOptions()
        options.maxMemory = MemoryBudget(bytes: 64 << 20)
        _ = try? Sinter.lower(g, options, dump: { _ in })
    }

    static func sir(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let g = try? Parser.parse(text, path: "fuzz.sir") else { return }
        let printed = Printer.print(g)
        do throws(SinterError) {
            let again = try Parser.parse(printed, path: "printed.sir")
            guard Printer.print(again) == printed else { fatalError("print → parse → print changed:\n\(printed)") }
        } catch {
            fatalError("a printed graph does not parse:\n\(printed)\n\(error)")
        }
    }

    // MARK: weights

    /// A small model with side-file weights, compiled once, and its valid weights file.
    struct WeightsModel {
        var model: JITModel
        var valid: [UInt8]
        var input: TensorData
        var path: String
    }

    nonisolated(unsafe) static var weightsModel: WeightsModel? = {
        var b = GraphBuilder(name: "fuzzw")
        guard let x = try? b.input("x", TensorType(.f32, [2, 4])),
            let w = try? b.constant(TensorData((0..<12).map { Float($0) / 7 }, shape: [4, 3])),
            let bias = try? b.constant(TensorData([0.5, -1, 2], shape: [3])),
            let y = try? b.add(try b.matmul(x, w), bias)
        else { return nil }
        b.output(y)
        var options = CompileOptions()
        options.weights = .sideFile
        guard let model = try? Sinter.jit(b.graph, options) else { return nil }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sinter-fuzz-\(getpid()).weights")
        return WeightsModel(
            model: model, valid: ABI.weightsFile(model.program.constants),
            input: TensorData((0..<8).map { Float($0) }, shape: [2, 4]), path: path.path)
    }()

    static func weights(_ bytes: [UInt8]) {
        guard let m = weightsModel else { fatalError("the weights model does not compile") }
        guard FileManager.default.createFile(atPath: m.path, contents: Data(bytes)) else { return }
        let status = m.model.loadWeights(m.path)
        if status == 0 {
            guard bytes.count >= m.valid.count, Array(bytes.prefix(m.valid.count)) == m.valid else {
                fatalError("a weights file that is not the model's own loaded with status 0")
            }
            guard (try? m.model.run([m.input])) != nil else { fatalError("the model does not run after loading") }
        }
    }

    // MARK: pipeline

    nonisolated(unsafe) static var generated = 0
    nonisolated(unsafe) static var reachedCodegen = 0

    static func pipeline(_ bytes: [UInt8]) {
        var gen = GraphGenerator(bytes)
        guard let g = gen.graph() else { return }
        generated += 1
        var options = CompileOptions()
        options.maxMemory = MemoryBudget(bytes: 64 << 20)
        guard let program = try? Sinter.lower(g, options, dump: { _ in }) else { return }
        do throws(SinterError) {
            _ = try Codegen.llvmIR(program, prefix: "fuzz", optimize: false)
            reachedCodegen += 1
        } catch {
            fatalError("a lowered program failed in codegen:\n\(error)\n\(Printer.print(g))")
        }
    }

    // MARK: checkpoint

    /// A small model's train step, compiled once: the C ABI's trainer, its checkpoint after two
    /// steps, and `sinter train`'s checkpoint of the same step.
    struct CheckpointModel {
        var trainer: JITTrainer
        var valid: [UInt8]
        var step: TrainStep
        var swiftValid: [UInt8]
        var fingerprint: UInt64
        var input: TensorData
        var labels: TensorData
        var path: String
    }

    nonisolated(unsafe) static var checkpointModel: CheckpointModel? = {
        var b = GraphBuilder(name: "fuzzc")
        guard let x = try? b.input("x", TensorType(.f32, [2, 4])),
            let w = try? b.constant(TensorData((0..<12).map { Float($0) / 7 - 0.5 }, shape: [4, 3]), name: "w"),
            let y = try? b.matmul(x, w)
        else { return nil }
        b.output(y)
        let input = TensorData((0..<8).map { Float($0) / 8 }, shape: [2, 4])
        let labels = TensorData(dtype: .i64, shape: [2], values: [0, 2])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sinter-fuzz-\(getpid()).ckpt").path
        guard let trainer = try? Sinter.jitTraining(b.graph, TrainingConfig(), learningRate: 0.1),
            (try? trainer.step([input], labels: labels)) != nil, (try? trainer.step([input], labels: labels)) != nil,
            (try? trainer.save(path)) != nil, let valid = FileManager.default.contents(atPath: path),
            let step = try? TrainStep.build(b.graph, TrainingConfig())
        else { return nil }
        let fingerprint = Checkpoint.fingerprint(step, TrainingConfig())
        let tensors =
            step.parameters.map(\.value)
            + step.slots.map { s in
                TensorData(dtype: s.type.dtype, shape: s.type.shape ?? [], values: [Double](repeating: 0.25, count: 12))
            }
        let swift = Checkpoint(
            epoch: 2, batch: 1, updates: 3, rngState: 42, lossSum: 1.5, correct: 1, seen: 2, curve: [2.5, 1.25],
            best: 1.25, sinceBest: 0, tensors: tensors)
        return CheckpointModel(
            trainer: trainer, valid: [UInt8](valid), step: step, swiftValid: swift.encode(fingerprint: fingerprint),
            fingerprint: fingerprint, input: input, labels: labels, path: path)
    }()

    static func checkpoint(_ bytes: [UInt8]) {
        guard let m = checkpointModel else { fatalError("the checkpoint model does not compile") }
        // sinter train's format: decoding succeeds only for the exact bytes (FNV-1a over all).
        let types = m.step.parameters.map(\.value.type) + m.step.slots.map(\.type)
        if (try? Checkpoint.decode(bytes, fingerprint: m.fingerprint, types: types, origin: "fuzz.ckpt")) != nil,
            bytes != m.swiftValid
        {
            fatalError("a checkpoint that is not the model's own decoded")
        }
        // The C ABI's: NAME_train_load refuses anything but a checkpoint of this model.
        guard FileManager.default.createFile(atPath: m.path, contents: Data(bytes)) else { return }
        if (try? m.trainer.load(m.path)) != nil {
            guard bytes.count >= m.valid.count, Array(bytes.prefix(m.valid.count)) == m.valid else {
                fatalError("a checkpoint that is not the model's own loaded")
            }
            guard (try? m.trainer.step([m.input], labels: m.labels)) != nil else {
                fatalError("the trainer does not step after loading")
            }
        }
    }
}
