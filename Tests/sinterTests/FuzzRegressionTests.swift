import Foundation
import SinterTestSupport
import Testing

/// Every input a fuzz target ever crashed on (kept under Tests/Fuzz/TARGET) runs through that
/// target's reproducer (`sinter-fuzz TARGET FILE...`, the same code libFuzzer drives) without
/// a crash, and a short run of each target's seeds works the same way.
struct FuzzRegressionTests {
    @Test(arguments: ["onnx", "onnx-lower", "sir", "sir-lower", "npy", "weights", "pipeline", "checkpoint"])
    func keptFindingsStayFixed(_ target: String) throws {
        // `onnx-lower` and `sir-lower` also lower every input that once crashed `onnx` or `sir`.
        let kept = (target.hasSuffix("-lower") ? [String(target.dropLast(6)), target] : [target]).flatMap { name in
            let folder = Support.root.appendingPathComponent("Tests/Fuzz/\(name)")
            return ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted().map {
                folder.appendingPathComponent($0).path
            }
        }
        let seeds = try Support.temporaryDirectory("seeds")
        defer { try? FileManager.default.removeItem(at: seeds) }
        let fuzz = Support.executable("sinter-fuzz")
        let made = try Support.run(fuzz, [target, "--write-seeds", seeds.path])
        #expect(made.status == 0, "\(made.stderr)")
        let extra = try FileManager.default.contentsOfDirectory(atPath: seeds.path).map {
            seeds.appendingPathComponent($0).path
        }
        let repository = [
            "onnx": "Examples/transformer/transformer.onnx", "onnx-lower": "Examples/transformer/transformer.onnx",
            "sir": "Examples/mlp/mlp.sir", "sir-lower": "Examples/mlp/mlp.sir",
            "npy": "Examples/mlp/input.npy",
        ][target].map { [Support.root.appendingPathComponent($0).path] }
        let files =
            kept + extra.filter { !$0.hasSuffix(".dict") }
            + (repository ?? [])
        #expect(!files.isEmpty)
        let r = try Support.run(fuzz, [target] + files)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == files.count, "\(r.stdout)")
    }
}
