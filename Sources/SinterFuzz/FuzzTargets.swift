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
///   codegen or becomes LLVM IR that verifies.
enum FuzzTarget: String, CaseIterable {
    case onnx, sir, npy, weights, pipeline

    func run(_ bytes: [UInt8]) {
        switch self {
        case .onnx: Self.onnx(bytes)
        case .sir: Self.sir(bytes)
        case .npy:
            // The same bytes as one array and as a numpy.savez archive of them.
            _ = try? Npy.decode(bytes, origin: "fuzz.npy")
            _ = try? Npz.decode(bytes, origin: "fuzz.npz")
        case .weights: Self.weights(bytes)
        case .pipeline: Self.pipeline(bytes)
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
}
