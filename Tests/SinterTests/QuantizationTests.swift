import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Quantized ONNX models in the form quantization tools write (QDQ pairs with initializer
/// parameters, int8 weights, QLinear* and integer ops) import with their parameters in the IR's
/// quantized types and compute what onnxruntime computes.
struct QuantizationTests {
    /// (model, largest allowed difference): integer results must be exact; the QDQ float
    /// chains may differ by one output step where summation order moves a value across a
    /// rounding boundary.
    static let models: [(String, Double)] = [
        ("qdq_mlp", 0.05), ("qdq_conv", 0.04), ("qlinear_matmul", 0), ("qlinear_conv", 0), ("dynamic_matmul", 0),
    ]

    static func generate() throws -> URL {
        let dir = try Support.temporaryDirectory("qdq")
        let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/qdq_models.py").path
        let r = try Support.run(Support.python, [script, dir.path])
        guard r.status == 0 else { throw SinterError("qdq_models.py failed: \(r.stderr)") }
        return dir
    }

    @Test func quantizedModelsMatchOnnxRuntime() throws {
        let dir = try Self.generate()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, tolerance) in Self.models {
            let folder = dir.appendingPathComponent(name)
            let graph = try Sinter.load(folder.appendingPathComponent("model.onnx").path)
            let inputs = try graph.inputs.indices.map {
                try Support.readNpy(folder.appendingPathComponent("input_\($0).npy"))
            }
            let want = try Support.readNpy(folder.appendingPathComponent("output_0.npy"))
            let got = try Sinter.jit(graph).run(inputs)[0]
            #expect(got.type == want.type, "\(name): \(got.type) vs onnxruntime \(want.type)")
            let diff = zip(got.doubles, want.doubles).map { abs($0 - $1) }.max() ?? 0
            let differing = zip(got.doubles, want.doubles).filter { $0 != $1 }.count
            #expect(diff <= tolerance, "\(name): largest difference \(diff) > \(tolerance)")
            #expect(differing * 100 <= got.count, "\(name): \(differing) of \(got.count) outputs differ")
        }
    }

    /// Constant scales and zero points become quantized types: the int8 weight is a quantized
    /// constant, and the QDQ pairs stay visible as quantize/dequantize for the quantize pass.
    @Test func qdqParametersLandInTheTypes() throws {
        let dir = try Self.generate()
        defer { try? FileManager.default.removeItem(at: dir) }
        let graph = try Sinter.load(dir.appendingPathComponent("qdq_mlp/model.onnx").path)
        let text = Printer.print(graph)
        #expect(text.contains("= quantize %x {to = \"u8<0.02:128>\"} : u8<0.02:128>[8,16]"), "\(text)")
        let weight = graph.nodes.first { $0.op == .constant && $0.payload?.data.quant != nil }
        #expect(weight?.payload?.data.dtype == .i8)
        let quant = try #require(weight?.payload?.data.quant)
        #expect(quant.axis == 1 && quant.scales.count == 12 && quant.zeroPoints.allSatisfy { $0 == 0 })
        #expect(graph.nodes.filter { $0.op == .dequantize }.count == 3)
        // The text round-trips with the parameters.
        #expect(Printer.print(try Parser.parse(text)) == text)
    }
}
