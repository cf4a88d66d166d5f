import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Every pass keeps the meaning of the graph: each golden case, and the MLP example, computes
/// the same outputs on random inputs with and without the pass.
struct PassEquivalenceTests {
    static let goldenDir = Support.root.appendingPathComponent("Tests/SinterPassesTests/Golden")

    static func graphs() throws -> [(String, Graph)] {
        var out: [(String, Graph)] = [
            ("mlp", try SirFile.load(Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path))
        ]
        for file in try FileManager.default.contentsOfDirectory(atPath: goldenDir.path).sorted()
        where file.hasSuffix(".sir") {
            let text = try String(contentsOf: goldenDir.appendingPathComponent(file), encoding: .utf8)
            for (i, part) in text.components(separatedBy: "// -----").enumerated() {
                // Without their kernel and memory lines: a pass that rewrites a kernel's members
                // or changes a planned graph is meant to fail the pipeline (PassTests, the
                // memory-line goldens); here only the computation matters.
                var g = try Parser.parse(part)
                g.kernels = []
                g.memory = nil
                out.append(("\(file)#\(i)", g))
            }
        }
        return out
    }

    /// autodiff adds outputs and refuses graphs with ops that have no gradient (GradientTests
    /// covers it); quantize-dynamic and precision-bf16 round on purpose (Int8GemmTests and
    /// Bf16GemmTests check their numbers); the others must leave every output as it was.
    static let exempt = ["plan-memory", "infer-shapes", "autodiff", "quantize-dynamic", "precision-bf16"]

    @Test(arguments: PassRegistry.all.map(\.name).filter { !exempt.contains($0) })
    func passPreservesOutputs(_ pass: String) throws {
        var rng = Support.RNG(seed: pass.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) })
        for (name, g) in try Self.graphs() {
            var reference = CompileOptions()
            // expand-quant and expand-training last in both: codegen needs those ops expanded.
            reference.passes = ["infer-shapes", "expand-quant", "expand-training"]
            var optimised = CompileOptions()
            optimised.passes = ["infer-shapes", PassSpec(pass), "expand-quant", "expand-training"]
            let a = try Sinter.jit(g, reference), b = try Sinter.jit(g, optimised)
            for _ in 0..<3 {
                let inputs = a.program.inputs.map { s in
                    TensorData(
                        dtype: s.type.dtype, shape: s.shape,
                        values: (0..<s.shape.reduce(1, *)).map { _ in
                            s.type.dtype.isFloat ? Double(rng.float(-2, 2)) : Double(rng.int(-5...5))
                        })
                }
                for (x, y) in zip(try a.run(inputs), try b.run(inputs)) {
                    #expect(
                        Support.mismatch(y.doubles, x.doubles, atol: 1e-5, rtol: 1e-5) == nil, "\(pass) changes \(name)"
                    )
                }
            }
        }
    }
}
