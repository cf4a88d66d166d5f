import Foundation
import Sinter
import SinterTestSupport
import Testing

/// `sinter export`: every IR op's sample graph, written as ONNX, passes the ONNX checker and
/// gives onnxruntime the same outputs as Sinter's JIT; and it imports back unchanged.
struct ExportTests {
    @Test func everyOpExportsAndMatchesOnnxruntime() throws {
        let dir = try Support.temporaryDirectory("export")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = Support.RNG(seed: 5)
        var args: [String] = []
        var expected: [(Op, TensorData, URL)] = []
        for op in Op.allCases {
            var b = GraphBuilder(name: "sample")
            let x = try b.input("x", TensorType(.f32, [2, 3, 4, 5]))
            b.output(try OpSamples.apply(op, &b, x))
            let g = b.graph
            let input = TensorData((0..<120).map { _ in rng.float(0.1, 2) }, shape: [2, 3, 4, 5])
            let caseDir = dir.appendingPathComponent(op.rawValue)
            try FileManager.default.createDirectory(at: caseDir, withIntermediateDirectories: true)
            let model = caseDir.appendingPathComponent("model.onnx")
            try ONNXExporter.export(g).write(to: model)
            try Support.writeNpy(input, to: caseDir.appendingPathComponent("input_0.npy"))
            args += [model.path, caseDir.path, caseDir.appendingPathComponent("ort").path]
            expected.append((op, try Sinter.jit(g).run([input])[0], caseDir))
            // Import of the export computes the same.
            let back = try ONNXImporter.load(model.path)
            let again = try Sinter.jit(back).run([input])[0]
            #expect(Conformance.compare(again, expected.last!.1) == nil, "\(op.rawValue): re-imported model differs")
        }
        let r = try Support.run(
            Support.python,
            [Support.root.appendingPathComponent("Tests/SinterTestSupport/ort_reference.py").path] + args)
        #expect(r.status == 0, "\(r.stderr.suffix(2000))")
        for (op, got, caseDir) in expected {
            let want = try Support.readNpy(caseDir.appendingPathComponent("ort/output_0.npy"))
            #expect(Conformance.compare(got, want) == nil, "\(op.rawValue): \(Conformance.compare(got, want) ?? "")")
        }
    }
}
