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

/// The int8 GEMM (`qmatmul`) against exact integer sums in plain Swift, on each dot-step
/// flavour this host can run: VNNI on 512-bit or 256-bit registers, and the portable IR an
/// AVX2-only CPU gets. Shapes cover edges (k not a multiple of 4, partial panels and row
/// tiles, m = 1, batch dims), u8 and i8 activations, per-tensor and per-column weights, a fused
/// f32 bias + ReLU or an i32 bias operand (added to the sums, ONNX's QLinear form) + ReLU, and
/// 1–3 threads giving identical results.
struct Int8GemmTests {
    static func flavours() throws -> [(String, Target)] {
        let host = TargetInfo(.host)
        var out: [(String, Target)] = [("host", .host)]
        guard host.isa == .x86_64, host.features.contains(.avx2) else { return out }
        out.append(("portable (AVX2)", try Target.named("x86_64-linux-gnu", cpu: "haswell")))
        // alderlake's 256-bit VNNI is the VEX encoding (AVX-VNNI), which an AVX-512 VNNI core
        // without it (Zen 4) faults on: that core runs the same dot step EVEX-encoded instead.
        if host.features.contains(.avxvnni) {
            out.append(("vpdpbusd ymm", try Target.named("x86_64-linux-gnu", cpu: "alderlake")))
        } else if host.features.contains(.avx512vnni) {
            let evex = try Target.named(
                "x86_64-linux-gnu", cpu: "skylake-avx512",
                features: "+avx2,+fma,+avx512f,+avx512vl,+avx512bw,+avx512vnni,-evex512")
            out.append(("vpdpbusd ymm (EVEX)", evex))
        }
        return out
    }

    @Test func matchesExactIntegerSums() throws {
        var rng = Support.RNG(seed: 11)
        let shapes: [([Int], Int, Int, Int)] = [
            ([], 1, 1, 1), ([], 5, 3, 17), ([], 37, 29, 53), ([2], 13, 64, 40), ([], 64, 300, 33), ([], 130, 70, 96),
        ]
        var checked = Set<String>()
        for (name, target) in try Self.flavours() {
            for (index, (batch, m, k, n)) in shapes.enumerated() {
                let signed = index % 2 == 1
                let (sa, za): (Float, Int) = signed ? (0.03, -5) : (0.02, 131)
                let perColumn = index % 3 != 0
                let sb = (0..<(perColumn ? n : 1)).map { _ in rng.float(0.001, 0.01) }
                let qa = QuantParams(scale: sa, zeroPoint: za)
                let qb = QuantParams(scales: sb, zeroPoints: sb.map { _ in 0 }, axis: perColumn ? 1 : nil)
                let dtype: DType = signed ? .i8 : .u8
                let aShape = batch + [m, k]
                let aValues = (0..<aShape.reduce(1, *)).map { _ in Double(rng.int(signed ? -128...127 : 0...255)) }
                let wValues = (0..<(k * n)).map { _ in Double(rng.int(-127...127)) }
                // An i32 bias operand on u8 (0, 2) and i8 (3, 5) activations; an f32 bias added in
                // the epilogue on the others.
                let integerBias = index % 3 != 1
                let bias = (0..<n).map { _ in integerBias ? 0 : rng.float(-1, 1) }
                let biasI = (0..<n).map { _ in integerBias ? rng.int(-40_000...40_000) : 0 }
                var g = GraphBuilder(name: "q")
                let a = try g.input("a", TensorType(dtype, aShape, quant: qa))
                var w = TensorData(dtype: .i8, shape: [k, n], values: wValues)
                w.quant = qb
                var operands = [a, try g.constant(w)]
                if integerBias {
                    operands.append(try g.constant(TensorData(dtype: .i32, shape: [n], values: biasI.map(Double.init))))
                }
                let product = try g.apply(.qmatmul, operands)[0]
                let biased = integerBias ? product : try g.add(product, try g.constant(TensorData(bias, shape: [n])))
                g.output(try g.relu(biased))
                var want = [Float]()
                for row in 0..<(aValues.count / k) {
                    for j in 0..<n {
                        var acc = 0
                        for kk in 0..<k { acc += (Int(aValues[row * k + kk]) - za) * Int(wValues[kk * n + j]) }
                        want.append(max(0, Float(acc + biasI[j]) * (sa * sb[perColumn ? j : 0]) + bias[j]))
                    }
                }
                var options = CompileOptions()
                options.target = target
                let input = TensorData(dtype: dtype, shape: aShape, values: aValues)
                var results: [[Float]] = []
                for threads in 1...3 {
                    let got = try Sinter.jit(g.graph, options, threads: threads).run([input])[0]
                    results.append(got.floats ?? [])
                }
                let label =
                    "\(name) \(batch)×\(m)×\(k)×\(n) \(dtype.rawValue) \(perColumn ? "per column" : "per tensor")"
                #expect(Support.mismatch(results[0], want, atol: 1e-5, rtol: 1e-6) == nil, "\(label)")
                #expect(results[1] == results[0] && results[2] == results[0], "\(label): thread counts differ")
                checked.insert(name)
            }
        }
        print("int8 GEMM: \(shapes.count) shapes on \(checked.sorted().joined(separator: ", "))")
    }

    /// Dynamic int8 (`qmatmul` of an f32 a): each row quantized as the op table defines it,
    /// computed here in Float with the same operations, then exact integer sums. Rows cover a
    /// constant row, an all-positive and an all-negative one, and k not a multiple of 4 or of
    /// the vector width (the range's vector loop and its tail).
    @Test func dynamicRowsMatchExactSums() throws {
        var rng = Support.RNG(seed: 12)
        let shapes: [([Int], Int, Int, Int)] = [([], 1, 1, 1), ([], 5, 3, 17), ([], 37, 29, 53), ([2], 13, 70, 40)]
        var checked = Set<String>()
        for (name, target) in try Self.flavours() {
            for (batch, m, k, n) in shapes {
                let rows = batch.reduce(1, *) * m
                var aValues = (0..<(rows * k)).map { _ in rng.float(-3, 2) }
                if rows > 3 {
                    for t in 0..<k {
                        aValues[t] = 0.75
                        aValues[k + t] = abs(aValues[k + t]) + 0.5
                        aValues[2 * k + t] = -abs(aValues[2 * k + t]) - 0.25
                    }
                }
                let wValues = (0..<(k * n)).map { _ in Double(rng.int(-127...127)) }
                let sb = (0..<n).map { _ in rng.float(0.001, 0.01) }
                let bias = (0..<n).map { _ in rng.float(-1, 1) }
                var g = GraphBuilder(name: "d")
                let a = try g.input("a", TensorType(.f32, batch + [m, k]))
                var w = TensorData(dtype: .i8, shape: [k, n], values: wValues)
                w.quant = QuantParams(scales: sb, zeroPoints: sb.map { _ in 0 }, axis: 1)
                let product = try g.apply(.qmatmul, [a, try g.constant(w)])[0]
                g.output(try g.relu(try g.add(product, try g.constant(TensorData(bias, shape: [n])))))
                var want = [Float]()
                for row in 0..<rows {
                    let x = aValues[(row * k)..<((row + 1) * k)]
                    let lo = min(x.min() ?? 0, 0), hi = max(x.max() ?? 0, 0)
                    let scale: Float = hi - lo > 0 ? (hi - lo) / 255 : 1
                    let inverse = 1 / scale
                    let zero = min(max((-lo * inverse).rounded(.toNearestOrEven), 0), 255)
                    let q = x.map { Int(min(max(($0 * inverse).rounded(.toNearestOrEven) + zero, 0), 255)) }
                    for j in 0..<n {
                        var acc = 0
                        for kk in 0..<k { acc += (q[kk] - Int(zero)) * Int(wValues[kk * n + j]) }
                        want.append(max(0, Float(acc) * (scale * sb[j]) + bias[j]))
                    }
                }
                var options = CompileOptions()
                options.target = target
                let input = TensorData(aValues, shape: batch + [m, k])
                var results: [[Float]] = []
                for threads in 1...3 {
                    results.append(try Sinter.jit(g.graph, options, threads: threads).run([input])[0].floats ?? [])
                }
                let label = "\(name) dynamic \(batch)×\(m)×\(k)×\(n)"
                #expect(Support.mismatch(results[0], want, atol: 1e-5, rtol: 1e-6) == nil, "\(label)")
                #expect(results[1] == results[0] && results[2] == results[0], "\(label): thread counts differ")
                checked.insert(name)
            }
        }
        print("dynamic int8 GEMM: \(shapes.count) shapes on \(checked.sorted().joined(separator: ", "))")
    }

    /// b computed at run time (attention's Kᵀ and V): packed by each part as the kernel runs,
    /// with its column sums, for every batch entry. Batch dimensions broadcast either way (a
    /// rank-2 b, a rank-2 a, both broadcasting), k not a multiple of 4 and n not of a panel,
    /// u8 and i8 a, b per tensor and per column; exact sums, 1–3 threads alike.
    @Test func runTimeBMatchesExactSums() throws {
        var rng = Support.RNG(seed: 13)
        let cases: [(a: [Int], b: [Int])] = [
            ([2, 13, 29], [2, 29, 40]), ([3, 5, 17], [17, 33]), ([5, 16], [2, 16, 9]),
            ([1, 2, 37, 70], [3, 1, 70, 50]), ([4, 128, 64], [4, 64, 128]),
        ]
        var checked = Set<String>()
        for (name, target) in try Self.flavours() {
            for (index, (aShape, bShape)) in cases.enumerated() {
                let signed = index % 2 == 1, perColumn = index == 2
                let (sa, za): (Float, Int) = signed ? (0.03, -5) : (0.02, 131)
                let (m, k, n) = (aShape[aShape.count - 2], aShape[aShape.count - 1], bShape[bShape.count - 1])
                let sb = (0..<(perColumn ? n : 1)).map { _ in rng.float(0.001, 0.01) }
                let dtype: DType = signed ? .i8 : .u8
                let qa = QuantParams(scale: sa, zeroPoint: za)
                let qb = QuantParams(
                    scales: sb, zeroPoints: sb.map { _ in 0 }, axis: perColumn ? bShape.count - 1 : nil)
                let aValues = (0..<aShape.reduce(1, *)).map { _ in Double(rng.int(signed ? -128...127 : 0...255)) }
                let bValues = (0..<bShape.reduce(1, *)).map { _ in Double(rng.int(-127...127)) }
                var g = GraphBuilder(name: "qb")
                let a = try g.input("a", TensorType(dtype, aShape, quant: qa))
                let b = try g.input("b", TensorType(.i8, bShape, quant: qb))
                g.output(try g.apply(.qmatmul, [a, b])[0])
                // The result's batch: numpy broadcasting of the two batch shapes.
                let rank = max(aShape.count, bShape.count) - 2
                func padded(_ s: [Int]) -> [Int] { Array(repeating: 1, count: rank - (s.count - 2)) + s.dropLast(2) }
                let (ab, bb) = (padded(aShape), padded(bShape))
                let batch = zip(ab, bb).map { max($0, $1) }
                func offset(_ index: [Int], _ dims: [Int], _ matrix: Int) -> Int {
                    zip(index, dims).reduce(0) { $0 * $1.1 + ($1.1 == 1 ? 0 : $1.0) } * matrix
                }
                var want = [Float]()
                for entry in 0..<batch.reduce(1, *) {
                    var index = [Int](), rest = entry
                    for d in batch.reversed() {
                        index.insert(rest % d, at: 0)
                        rest /= d
                    }
                    let (ao, bo) = (offset(index, ab, m * k), offset(index, bb, k * n))
                    for i in 0..<m {
                        for j in 0..<n {
                            var acc = 0
                            for kk in 0..<k {
                                acc += (Int(aValues[ao + i * k + kk]) - za) * Int(bValues[bo + kk * n + j])
                            }
                            want.append(Float(acc) * (sa * sb[perColumn ? j : 0]))
                        }
                    }
                }
                var options = CompileOptions()
                options.target = target
                let inputs = [
                    TensorData(dtype: dtype, shape: aShape, values: aValues),
                    TensorData(dtype: .i8, shape: bShape, values: bValues),
                ]
                var results: [[Float]] = []
                for threads in 1...3 {
                    results.append(try Sinter.jit(g.graph, options, threads: threads).run(inputs)[0].floats ?? [])
                }
                let label = "\(name) \(aShape)·\(bShape) \(dtype.rawValue) \(perColumn ? "per column" : "per tensor")"
                #expect(Support.mismatch(results[0], want, atol: 1e-5, rtol: 1e-6) == nil, "\(label)")
                #expect(results[1] == results[0] && results[2] == results[0], "\(label): thread counts differ")
                checked.insert(name)
            }
        }
        print("int8 GEMM, b at run time: \(cases.count) shapes on \(checked.sorted().joined(separator: ", "))")
    }
}
