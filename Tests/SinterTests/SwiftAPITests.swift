import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The Swift API as an app uses it: load an ONNX file, compile in process, run on [Float].
struct SwiftAPITests {
    @Test func loadOnnxCompileAndRunOnFloatArrays() throws {
        let dir = try Support.temporaryDirectory("api")
        defer { try? FileManager.default.removeItem(at: dir) }
        var b = GraphBuilder(name: "api")
        let x = try b.input("x", TensorType(.f32, [2, 3]))
        let w = try b.constant(TensorData([1, 0, 0, 1, 1, 1], shape: [3, 2]))
        b.output(try b.softmax(try b.matmul(x, w)))
        let path = dir.appendingPathComponent("api.onnx")
        try ONNXExporter.export(b.graph).write(to: path)

        let model = try Sinter.jit(try Sinter.load(path.path))
        let y = try model.run([[0, 1, 2, 3, 4, 5]])[0]
        // Row 0: logits (0+2, 1+2) = (2, 3); row 1: (3+5, 4+5) = (8, 9).
        let p = Float(1 / (1 + Foundation.exp(1.0)))
        #expect(Support.mismatch(y, [p, 1 - p, p, 1 - p], atol: 1e-6, rtol: 1e-6) == nil)
        let named = try model.run(named: ["x": TensorData([0, 1, 2, 3, 4, 5], shape: [2, 3])])
        #expect(named.keys.sorted() == [model.program.outputs[0].name])
        #expect(throws: SinterError.self) { try model.run([[1, 2]]) }
        #expect(throws: SinterError.self) { try model.run(named: ["z": TensorData([1], shape: [1])]) }
    }
}
