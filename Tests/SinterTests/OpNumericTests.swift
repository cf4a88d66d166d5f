import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Every op of the slice, compiled through the JIT on random shapes (broadcasting edge cases
/// included: size-1 dims, rank mismatch, empty tensors) and compared with numpy.
struct OpNumericTests {
    struct Case {
        var op: Op
        var shapes: [[Int]]
        var attrs: Attributes = Attributes()
        var range: (Float, Float) = (-3, 3)
        var specials = false
        var atol: Float = 1e-6
        var rtol: Float = 1e-5
    }

    static let binaryShapes: [[[Int]]] = [
        [[4, 5], [4, 5]], [[3, 1, 5], [4, 5]], [[1], [2, 3]], [[2, 3], []], [[0, 3], [3]],
        [[5], [1, 5]], [[2, 1], [1, 3]], [[1027], [1027]], [[2, 1, 17], [3, 1]], [[1, 1], [1, 1]],
    ]
    static let unaryShapes: [[Int]] = [[], [1], [7], [0], [3, 0, 2], [1027], [4, 33], [2, 3, 5]]

    static func cases() -> [Case] {
        var out: [Case] = []
        var rng = Support.RNG(seed: 7)
        for op in [Op.add, .sub, .mul, .div, .max, .min] {
            for s in binaryShapes { out.append(Case(op: op, shapes: s, specials: true)) }
            // Random broadcast-compatible pairs with a rank mismatch.
            for _ in 0..<3 {
                let rank = rng.int(1...4)
                let a = (0..<rank).map { _ in rng.int(1...6) }
                var b = Array(a.dropFirst(rng.int(0...(rank - 1))))
                for i in b.indices where rng.int(0...2) == 0 { b[i] = 1 }
                out.append(Case(op: op, shapes: rng.bool() ? [a, b] : [b, a], range: (0.5, 4)))
            }
        }
        for op in [Op.neg, .abs, .exp, .log, .sqrt, .relu, .sigmoid, .tanh] {
            let range: (Float, Float) = switch op {
            case .log, .sqrt: (1e-3, 50)
            case .exp: (-88, 88)
            case .sigmoid, .tanh: (-12, 12)
            default: (-10, 10)
            }
            for s in unaryShapes { out.append(Case(op: op, shapes: [s], range: range, specials: true)) }
        }
        let mm: [[[Int]]] = [[[4, 8], [8, 5]], [[1, 1], [1, 1]], [[3, 0], [0, 4]], [[2, 3, 4], [4, 5]],
                             [[2, 1, 3, 4], [5, 4, 6]], [[7, 33], [33, 70]], [[0, 3], [3, 2]], [[5, 64], [64, 129]]]
        for s in mm { out.append(Case(op: .matmul, shapes: s, range: (-1, 1), atol: 1e-5)) }
        out.append(Case(op: .reshape, shapes: [[2, 3, 4]], attrs: Attributes(["shape": .ints([4, -1])])))
        out.append(Case(op: .reshape, shapes: [[6]], attrs: Attributes(["shape": .ints([1, 2, 3])])))
        out.append(Case(op: .transpose, shapes: [[2, 3, 4]], attrs: Attributes(["perm": .ints([2, 0, 1])])))
        out.append(Case(op: .transpose, shapes: [[5, 7]]))
        out.append(Case(op: .transpose, shapes: [[1, 4, 1, 3]], attrs: Attributes(["perm": .ints([3, 2, 1, 0])])))
        for (s, axis) in [([4, 10], -1), ([3, 5, 4], 1), ([2, 3], 0), ([1027], 0), ([2, 0], 1), ([3, 17, 19], 2), ([2, 20], 0)] {
            out.append(Case(op: .softmax, shapes: [s], attrs: Attributes(["axis": .int(axis)]), range: (-20, 20)))
        }
        let reductions: [([Int], [Int]?, Bool)] = [([4, 5], [1], false), ([3, 4, 5], [0, 2], true), ([1027], nil, false),
                                                   ([2, 3, 4], [1], false), ([2, 0, 3], [1], true), ([6, 7], [0], false),
                                                   ([2, 3, 37], [-1], false), ([3, 4], [], false)]
        for op in [Op.reduceSum, .reduceMean, .reduceMax] {
            for (s, axes, keep) in reductions {
                var a = Attributes(["keepdims": .bool(keep)])
                if let axes { a["axes"] = .ints(axes) }
                out.append(Case(op: op, shapes: [s], attrs: a, range: (-1, 1), atol: 1e-5))
            }
        }
        return out
    }

    static func input(_ shape: [Int], _ c: Case, _ rng: inout Support.RNG) -> TensorData {
        let n = shape.reduce(1, *)
        var v = (0..<n).map { _ in rng.float(c.range.0, c.range.1) }
        if c.specials {
            let specials: [Float] = [0, -0.0, .nan, .infinity, -.infinity, 1, -1, 1e-30]
            for i in 0..<min(n, specials.count) where rng.int(0...1) == 0 { v[i] = specials[i] }
        }
        return TensorData(v, shape: shape)
    }

    @Test func everyOpMatchesNumpy() throws {
        let dir = try Support.temporaryDirectory("ops")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = Support.RNG(seed: 2026)
        var refs: [Support.ReferenceCase] = []
        var results: [(Case, TensorData)] = []
        for (i, c) in Self.cases().enumerated() {
            var b = GraphBuilder(name: "case\(i)")
            var ins: [ValueID] = []
            var data: [TensorData] = []
            var paths: [String] = []
            for (k, s) in c.shapes.enumerated() {
                ins.append(try b.input("in\(k)", TensorType(.f32, s)))
                let t = Self.input(s, c, &rng)
                data.append(t)
                let p = dir.appendingPathComponent("c\(i)_in\(k).npy")
                try Support.writeNpy(t, to: p)
                paths.append(p.path)
            }
            b.output(try b.apply(c.op, ins, attributes: c.attrs)[0])
            let out = try Sinter.jit(b.graph).run(data)[0]
            results.append((c, out))
            var attrs: [String: Support.AttrJSON] = [:]
            for (name, value) in c.attrs {
                switch value {
                case .int(let v): attrs[name] = .int(v)
                case .ints(let v): attrs[name] = .ints(v)
                case .bool(let v): attrs[name] = .bool(v)
                case .float, .string: break
                }
            }
            refs.append(Support.ReferenceCase(op: c.op.rawValue, attrs: attrs, inputs: paths,
                                              output: dir.appendingPathComponent("c\(i)_ref.npy").path))
        }
        try Support.numpyReference(refs, in: dir)
        var covered = Set<Op>()
        for ((c, got), ref) in zip(results, refs) {
            let want = try Support.readNpy(URL(fileURLWithPath: ref.output))
            #expect(got.shape == want.shape, "\(c.op.rawValue) \(c.shapes): shape \(got.shape) vs numpy \(want.shape)")
            if let m = Support.mismatch(got.floats ?? [], want.floats ?? [], atol: c.atol, rtol: c.rtol) {
                Issue.record("\(c.op.rawValue) \(c.shapes) \(c.attrs.entries.map { "\($0.name)=\($0.value)" }): \(m)")
            }
            covered.insert(c.op)
        }
        // Every op with a kernel is exercised here.
        #expect(covered == Set(Op.allCases.filter { $0 != .constant }))
        print("op tests: \(results.count) cases over \(covered.count) ops compared with numpy")
    }
}
