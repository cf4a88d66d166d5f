import Foundation
import Sinter
import SinterTestSupport
import Testing

/// `--max-memory`: a model that needs more than the budget is refused before anything that
/// large is allocated, naming the node and the bytes, and nothing is written.
struct MemoryBudgetTests {
    let sinter = Support.sinterExecutable

    /// An output of 2^40 floats (4 TiB): `run` names the node and the bytes, exit code 1.
    static let hugeOutput = """
        graph @huge(%x: f32[1]) -> (%e: f32[1048576,1048576]) {
          %e = expand %x {shape = [1048576, 1048576]} : f32[1048576,1048576]
        }
        """

    /// Two 4 GiB intermediates live at once: the arena needs 8 GiB.
    static let bigArena = """
        graph @arena(%x: f32[1]) -> (%y: f32[]) {
          %e = expand %x {shape = [65536, 16384]} : f32[65536,16384]
          %m = softmax %e {axis = 0} : f32[65536,16384]
          %y = reduce-sum %m {axes = [0, 1], keepdims = false} : f32[]
        }
        """

    @Test func hugeOutputIsRefusedBeforeItIsAllocated() throws {
        let dir = try Support.temporaryDirectory("budget")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("huge.sir")
        try Self.hugeOutput.write(to: model, atomically: true, encoding: .utf8)
        let x = dir.appendingPathComponent("x.npy")
        try Support.writeNpy(TensorData([1], shape: [1]), to: x)
        let r = try Support.run(sinter, ["run", model.path, "--input", "x=\(x.path)"])
        #expect(r.status == 1)
        #expect(
            r.stderr.contains("huge.sir:2:")
                && r.stderr.contains("output '%e' of type f32[1048576,1048576] needs 4.0 TiB (4398046511104 bytes)")
                && r.stderr.contains("--max-memory"), "\(r.stderr)")
    }

    @Test func workspaceOverTheBudgetNamesItsLargestTensor() throws {
        let dir = try Support.temporaryDirectory("budget")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("arena.sir")
        try Self.bigArena.write(to: model, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("arena.so")
        try Data("the user's file".utf8).write(to: out)
        let r = try Support.run(sinter, ["compile", model.path, "-o", out.path, "--max-memory", "100M"])
        #expect(r.status == 1)
        #expect(
            r.stderr.contains("arena.sir:2:") && r.stderr.contains("workspace of 8.0 GiB (8589934592 bytes)")
                && r.stderr.contains("budget of 100.0 MiB (104857600 bytes)")
                && r.stderr.contains("largest intermediate is '%e' of type f32[65536,16384]"), "\(r.stderr)")
        #expect(try String(contentsOf: out, encoding: .utf8) == "the user's file", "an existing file is kept")
    }

    @Test func sizesParse() throws {
        let cases: [(String, Int)] = [
            ("4096", 4096), ("512K", 512 << 10), ("64MB", 64 << 20), ("8GiB", 8 << 30), ("1.5G", 3 << 29),
            ("2t", 2 << 40),
        ]
        for (text, bytes) in cases { #expect(try MemoryBudget.parse(text).bytes == bytes, "\(text)") }
        for bad in ["", "x", "-1G", "0", "1.5x", "99999999T"] {
            #expect(throws: SinterError.self, "\(bad)") { try MemoryBudget.parse(bad) }
        }
        #expect(MemoryBudget.standard.bytes <= 8 << 30 && MemoryBudget.standard.bytes > 0)
    }
}
