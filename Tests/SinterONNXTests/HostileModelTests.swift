import Foundation
import Sinter
import SinterTestSupport
import Testing

@testable import SinterONNX

/// Models from the mutation probe that crashed or hung the importer: each must now give a
/// located error.
struct HostileModelTests {
    typealias M = ImporterTests

    static func floats(_ name: String, _ dims: [Int64], _ values: [Float] = []) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = 1
        t.dims = dims
        t.floatData = values
        return t
    }

    static func errors(_ m: Onnx_ModelProto) throws -> [String] {
        let dir = try Support.temporaryDirectory("hostile")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try M.write(m, dir)
        return M.failure { try ONNXImporter.load(path) } ?? []
    }

    @Test func initializerWhoseByteCountOverflows() throws {
        let m = M.model(
            [M.node("Relu", ["w"], ["y"])], inputs: [], outputs: [M.value("y", 1, [])],
            initializers: [Self.floats("w", [Int64(1) << 61, 2])])
        let e = try Self.errors(m)
        #expect(e.count == 1 && e[0].contains("'w'") && e[0].contains("error:"), "\(e)")
    }

    @Test func recurrentCellWithADeletedInput() throws {
        // W deleted: R takes its place and B (rank 2) takes R's.
        let h = 2
        let m = M.model(
            [
                M.node(
                    "LSTM", ["x", "r", "b"], ["y"], name: "cell", [ControlFlowTests.intAttr("hidden_size", Int64(h))])
            ],
            inputs: [M.value("x", 1, [3, 1, 4])], outputs: [M.value("y", 1, [])],
            initializers: [
                Self.floats("r", [1, Int64(4 * h), Int64(h)], Array(repeating: 0.1, count: 4 * h * h)),
                Self.floats("b", [1, Int64(8 * h)], Array(repeating: 0, count: 8 * h)),
            ])
        let e = try Self.errors(m)
        #expect(e.first?.hasPrefix("node 'cell' (LSTM): error: needs W [directions, 4·hidden, 4]") == true, "\(e)")
    }

    @Test func splitWhoseSizesComeFromAWeightTensor() throws {
        // An LSTM whose op type became Split: its weights are read as split sizes.
        let m = M.model(
            [M.node("Split", ["x", "w"], ["y"], name: "s")], inputs: [M.value("x", 1, [3, 4])],
            outputs: [M.value("y", 1, [])],
            initializers: [Self.floats("w", [1, 8, 4], (0..<32).map { Float($0) * 1e6 - 3e6 })])
        let e = try Self.errors(m)
        #expect(e.count == 1 && e[0].hasPrefix("node 's' (Split): error: split sizes"), "\(e)")
    }
}
