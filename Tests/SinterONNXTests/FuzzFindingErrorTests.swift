import Foundation
import SinterIR
import SinterTestSupport
import Testing

@testable import SinterONNX

/// The ONNX models kept under Tests/Fuzz/onnx once trapped the importer (index out of range,
/// overflow, division by zero). FuzzRegressionTests checks they no longer crash; this checks
/// what they give instead: an error naming the node and op and saying what is wrong, or, where
/// the model is valid after all, the right result type.
struct FuzzFindingErrorTests {
    static let expectedErrors: [String: String] = [
        "pad-axes-with-too-few-pads": "node 'pad' (Pad): error: has 2 pads for 2 axes; needs 4",
        "scan8-scalar-input": "node 'scan' (Scan): error: needs an axis 0 on an input of shape []",
        "scan8-no-inputs": "(Scan): error: needs inputs with a batch axis",
        "same-pad-zero-strides": "(MaxPool): error: strides must be 2 values in 1...1048576, got [0, 0]",
        "same-pad-short-strides": "(MaxPool): error: strides must be 2 values in 1...1048576, got [2]",
        "graph-input-negative-dim": "node 'x' (graph input): error: 'x': f32[2,-1] has a negative dimension",
        "graph-input-too-large": "(graph input): error: 'x': f32[4294967296,4294967296] has more bytes than",
        "conv-transpose-group-zero": "(ConvTranspose): error: group 0 must be positive and divide the 1 input",
        "depth-to-space-huge-blocksize": "(DepthToSpace): error: needs a 4-D input whose channels divide",
        "topk-negative-k-symbolic-axis": "(TopK): error: 'top-k': k = -3 is negative",
        "concat-overflowing-axis": "(Concat): error: 'concat': concat result along axis 0 is too large",
    ]

    /// Valid models among the findings, and the type of their one output.
    static let expectedTypes: [String: String] = [
        "range-limit-beyond-int": "f32[0]",  // limit below start: an empty range
        "slice-step-int64-max": "f32[1,3]",  // a step past the axis takes its first row
        "u64-add-of-max": "u64[1]",  // wraps to 0
    ]

    @Test(arguments: expectedErrors.keys.sorted() + expectedTypes.keys.sorted())
    func findingGivesALocatedErrorOrTheRightType(_ name: String) throws {
        let path = Support.root.appendingPathComponent("Tests/Fuzz/onnx/\(name)").path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        do {
            let g = try ONNXImporter.load(bytes: bytes, name: name, directory: NSTemporaryDirectory())
            let types = g.outputs.map { "\(g.type(of: $0))" }
            #expect(types == [Self.expectedTypes[name] ?? "an error"], "\(name)")
        } catch {
            let text = error.diagnostics.map(\.description).joined(separator: "\n")
            let want = Self.expectedErrors[name] ?? "no error"
            #expect(text.contains(want), "\(name): \(text)")
        }
    }

    @Test func everyKeptOnnxFindingIsListedHere() throws {
        let folder = Support.root.appendingPathComponent("Tests/Fuzz/onnx").path
        let kept = Set(try FileManager.default.contentsOfDirectory(atPath: folder))
        let listed = Set(Self.expectedErrors.keys).union(Self.expectedTypes.keys)
        // Findings from before this suite are covered by ImporterTests and HostileModelTests.
        let older: Set = ["attention-key-of-rank-1", "conv-transpose-short-strides", "einsum-ellipsis-wider-than-rank"]
        #expect(kept.subtracting(older) == listed)
    }
}
