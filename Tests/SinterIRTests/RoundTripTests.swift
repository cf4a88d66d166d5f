import Foundation
import SinterIR
import SinterTestSupport
import Testing

/// print(parse(t)) == t for canonical text, on golden files and on random builder graphs.
struct RoundTripTests {
    static let goldenDir = Support.root.appendingPathComponent("Tests/SinterIRTests/Golden")

    static var goldenFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: goldenDir.path)) ?? []).filter { $0.hasSuffix(".sir") }
            .sorted()
    }

    @Test func goldenFilesExist() { #expect(Self.goldenFiles.count >= 4) }

    @Test(arguments: goldenFiles)
    func goldenRoundTrip(_ file: String) throws {
        let text = try String(contentsOf: Self.goldenDir.appendingPathComponent(file), encoding: .utf8)
        let canonical = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("//") }.joined(separator: "\n")
        let g = try Parser.parse(text, path: file)
        #expect(Printer.print(g) == canonical)
        #expect(try Parser.parse(Printer.print(g)) == g)
    }

    @Test func exampleWithNpyConstantsRoundTrips() throws {
        let path = Support.root.appendingPathComponent("Examples/mlp/mlp.sir").path
        let g = try SirFile.load(path)
        let dir = try Support.temporaryDirectory("rt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("mlp.sir").path
        try SirFile.save(g, to: copy)
        let again = try SirFile.load(copy)
        #expect(again == g)
        #expect(Printer.print(again) == Printer.print(g))
        #expect(g.nodes.filter { $0.payload?.file != nil }.count == 6)
    }

    @Test func randomGraphsRoundTrip() throws {
        var rng = Support.RNG(seed: 42)
        var opsSeen = Set<Op>(), dtypesSeen = Set<DType>()
        for i in 0..<300 {
            let g = try RandomGraph.make(&rng, index: i)
            for n in g.nodes { opsSeen.insert(n.op) }
            for v in g.values { dtypesSeen.insert(v.type.dtype) }
            let text = Printer.print(g)
            let parsed = try Parser.parse(text, path: "random\(i).sir")
            #expect(Printer.print(parsed) == text, "graph \(i):\n\(text)")
            #expect(parsed == g, "graph \(i) differs after parsing:\n\(text)")
        }
        #expect(opsSeen == Set(Op.allCases), "missing ops: \(Set(Op.allCases).subtracting(opsSeen))")
        #expect(dtypesSeen == Set(DType.allCases), "missing dtypes: \(Set(DType.allCases).subtracting(dtypesSeen))")
    }
}

/// Random well-typed graphs built with the builder: every op, every dtype, special float
/// constants (NaN, −0, ±inf), symbolic dims and names that need quoting.
enum RandomGraph {
    static let names = [
        "x", "a.b", "onnx::Gemm_0", "/layer1/conv", "with space", "q\"uote", "back\\slash", "tab\tx", "ünï", "0lead",
    ]

    static func value(_ dtype: DType, _ rng: inout Support.RNG) -> Double {
        switch dtype {
        case .f32, .f16, .bf16, .f64:
            return rng.pick([
                Double.nan, -0.0, .infinity, -.infinity, 0, 1, -2.5, 1e-5, 3.14159, 65504, Double(rng.float(-100, 100)),
            ])
        case .bool: return Double(rng.int(0...1))
        case .i8: return Double(rng.int(-128...127))
        case .u8: return Double(rng.int(0...255))
        case .i16: return Double(rng.int(-32768...32767))
        case .i32: return Double(rng.int(-2_000_000_000...2_000_000_000))
        case .i64: return Double(rng.int(-(1 << 50)...(1 << 50)))
        case .u16: return Double(rng.int(0...65535))
        case .u32: return Double(rng.int(0...4_000_000_000))
        case .u64: return Double(rng.int(0...(1 << 52)))
        }
    }

    static func make(_ rng: inout Support.RNG, index: Int) throws -> Graph {
        var b = GraphBuilder(name: rng.pick(["g\(index)", "model-\(index)", "torch/jit \(index)"]))
        var nameIndex = 0
        func fresh() -> String? {
            nameIndex += 1
            return rng.bool() ? "\(rng.pick(names))_\(nameIndex)" : nil
        }
        // Constants of every dtype, splat or not, including empty tensors.
        let dtype = rng.pick(DType.allCases)
        let shape = rng.pick([[], [0], [3], [2, 2], [1, 5]])
        let n = shape.reduce(1, *)
        let splat = rng.bool()
        let first = value(dtype, &rng)
        let vals = (0..<n).map { _ in splat ? first : value(dtype, &rng) }
        let c = try b.constant(TensorData(dtype: dtype, shape: shape, values: vals), name: fresh())
        b.output(c)

        // A float chain over every op kind, with a symbolic batch sometimes.
        let batch: Dim = rng.bool() ? .symbol(rng.pick(["N", "batch"])) : .fixed(rng.int(1...4))
        let fdtype = rng.pick([DType.f32, .f16, .bf16, .f64])
        var x = try b.input(rng.pick(names) + "_in", TensorType(fdtype, [batch, .fixed(6)]))
        let ops = Op.allCases.filter { $0 != .constant }
        for _ in 0..<rng.int(2...8) {
            let op = rng.pick([
                Op.add, .mul, .sub, .div, .max, .min, .neg, .abs, .exp, .tanh, .relu, .leakyRelu, .softmax, .matmul,
                .reduceSum, .reduceMax, .transpose,
            ])
            switch op {
            case .add, .mul, .sub, .div, .max, .min:
                let y = try b.constant(
                    TensorData(dtype: fdtype, shape: [6], values: (0..<6).map { _ in value(fdtype, &rng) }),
                    name: fresh())
                x = try b.apply(op, [x, y], name: fresh())[0]
            case .matmul:
                let w = try b.constant(
                    TensorData(dtype: fdtype, shape: [6, 6], values: (0..<36).map { _ in value(fdtype, &rng) }),
                    name: fresh())
                x = try b.apply(op, [x, w], name: fresh())[0]
            case .transpose:
                let tt = try b.apply(.transpose, [x], attributes: Attributes(["perm": .ints([1, 0])]), name: fresh())[0]
                x = try b.apply(.transpose, [tt], name: fresh())[0]
            case .reduceSum, .reduceMax:
                x = try b.apply(
                    op, [x], attributes: Attributes(["axes": .ints([1]), "keepdims": .bool(true)]), name: fresh())[0]
                let y = try b.constant(
                    TensorData(dtype: fdtype, shape: [6], values: Array(repeating: 1, count: 6)), name: fresh())
                x = try b.apply(.mul, [x, y], name: fresh())[0]
            case .leakyRelu:
                x = try b.apply(
                    op, [x], attributes: Attributes(["alpha": .float(Double(rng.float(-1, 1)))]), name: fresh())[0]
            default:
                x = try b.apply(op, [x], name: fresh())[0]
            }
        }
        b.output(x)
        // Make sure every op appears across the run: one of each on a fixed-size float input.
        let z = try b.input("z\(index)", TensorType(.f32, [2, 3, 4, 5]))
        b.output(try OpSamples.apply(ops[index % ops.count], &b, z))
        return b.graph
    }
}
