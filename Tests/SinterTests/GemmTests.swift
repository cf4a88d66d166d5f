import Sinter
import SinterTestSupport
import Testing

/// The packed GEMM behind `matmul` against a float64 reference: shapes off every tile and
/// block grid (edge panels, partial row tiles, several k blocks), B as a packed constant, as a
/// run-time input read in place or packed a block at a time, and as a transposed input packed at run time, transposed A, broadcast batch dims and a fused
/// epilogue; each target's register tile (AVX-512 12×32, AVX2 6×16, SSE 6×8) run on this
/// host as generic vector code, and results bit-identical for 1, 2 and 3 threads.
struct GemmTests {
    struct Case: Sendable, CustomStringConvertible {
        var batchA: [Int], batchB: [Int], m: Int, n: Int, k: Int
        var transA = false, transB = false, constantB = true, bias = false
        var description: String {
            "\(batchA)×[\(m)×\(k)]·\(batchB)×[\(k)×\(n)]\(transA ? " tA" : "")\(transB ? " tB" : "")"
                + (constantB ? " const B" : " input B") + (bias ? " +bias relu" : "")
        }
    }

    static let cases: [Case] = [
        Case(batchA: [], batchB: [], m: 1, n: 10, k: 784),
        Case(batchA: [], batchB: [], m: 37, n: 53, k: 71),
        Case(batchA: [], batchB: [], m: 37, n: 53, k: 71, constantB: false),
        Case(batchA: [], batchB: [], m: 25, n: 100, k: 700, bias: true),
        Case(batchA: [], batchB: [], m: 64, n: 48, k: 300, transA: true, transB: true),
        Case(batchA: [], batchB: [], m: 33, n: 65, k: 129, transB: true, constantB: false),
        Case(batchA: [2, 3], batchB: [], m: 13, n: 33, k: 17, bias: true),
        Case(batchA: [2, 3], batchB: [2, 3], m: 7, n: 19, k: 40, constantB: false),
        Case(batchA: [4], batchB: [4], m: 5, n: 40, k: 9),
        Case(batchA: [], batchB: [], m: 200, n: 3, k: 5),
        // Large enough to split across threads: by rows, by panels (n > m), with batch dims.
        Case(batchA: [], batchB: [], m: 150, n: 130, k: 257, bias: true),
        Case(batchA: [], batchB: [], m: 20, n: 300, k: 400),
        Case(batchA: [3], batchB: [3], m: 40, n: 70, k: 300, constantB: false),
        Case(batchA: [2], batchB: [2], m: 150, n: 100, k: 200, transB: true, constantB: false),
        // Parts that start or end partway along a row tile (11 row tiles of 12 on AVX-512 split
        // 5.5 / 5.5, thirds of 65 cells), with B constant and with a transposed B packed at run time.
        Case(batchA: [], batchB: [], m: 128, n: 256, k: 256, bias: true),
        Case(batchA: [4], batchB: [4], m: 128, n: 128, k: 64, transB: true, constantB: false),
        // A packed per (k block, row block): rows that do not fit half of L2, several k blocks.
        Case(batchA: [], batchB: [], m: 200, n: 40, k: 900, transA: true, constantB: false, bias: true),
        // B packed at run time a k block at a time, in several column chunks (jc), split as a
        // rows × panels grid; and a transposed B with a partial last panel.
        Case(batchA: [], batchB: [], m: 100, n: 700, k: 500, constantB: false, bias: true),
        Case(batchA: [], batchB: [], m: 130, n: 45, k: 1000, transB: true, constantB: false),
    ]

    static func graph(_ c: Case) throws -> (Graph, [TensorData], [Double]) {
        var rng = Support.RNG(seed: UInt64(c.m * 1000 + c.n * 10 + c.k))
        func data(_ shape: [Int]) -> TensorData {
            TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-1, 1) }, shape: shape)
        }
        let aShape = c.batchA + (c.transA ? [c.k, c.m] : [c.m, c.k])
        let bShape = c.batchB + (c.transB ? [c.n, c.k] : [c.k, c.n])
        let aData = data(aShape), bData = data(bShape), biasData = data([c.n])
        var g = GraphBuilder(name: "gemm")
        let a = try g.input("a", TensorType(.f32, aShape))
        let b = c.constantB ? try g.constant(bData) : try g.input("b", TensorType(.f32, bShape))
        var attrs: [String: AttributeValue] = [:]
        if c.transA { attrs["trans_a"] = .bool(true) }
        if c.transB { attrs["trans_b"] = .bool(true) }
        var y = try g.apply(.matmul, [a, b], attributes: Attributes(attrs))[0]
        if c.bias {
            y = try g.apply(.add, [y, try g.constant(biasData)])[0]
            y = try g.apply(.relu, [y])[0]
        }
        g.output(y)
        // float64 reference.
        let batch = c.batchA.count >= c.batchB.count ? c.batchA : c.batchB
        let entries = batch.reduce(1, *)
        let av = aData.doubles, bv = bData.doubles, biasV = biasData.doubles
        var want = [Double](repeating: 0, count: entries * c.m * c.n)
        for e in 0..<entries {
            let ea = c.batchA.isEmpty ? 0 : e, eb = c.batchB.isEmpty ? 0 : e
            for i in 0..<c.m {
                for j in 0..<c.n {
                    var s = 0.0
                    for kk in 0..<c.k {
                        let x = av[ea * c.m * c.k + (c.transA ? kk * c.m + i : i * c.k + kk)]
                        let w = bv[eb * c.k * c.n + (c.transB ? j * c.k + kk : kk * c.n + j)]
                        s += x * w
                    }
                    if c.bias { s = max(s + biasV[j], 0) }
                    want[(e * c.m + i) * c.n + j] = s
                }
            }
        }
        return (g.graph, c.constantB ? [aData] : [aData, bData], want)
    }

    @Test(arguments: cases)
    func matchesFloat64Reference(_ c: Case) throws {
        let (g, inputs, want) = try Self.graph(c)
        for cpu in ["skylake-avx512", "haswell", "x86-64-v2"] {
            var options = CompileOptions()
            // Each target's tiles as generic vector code for this host (see scheduleTarget).
            options.scheduleTarget = try Target.named("x86_64-linux-gnu", cpu: cpu)
            let model = try Sinter.jit(g, options)
            let one = try model.run(inputs)[0]
            let flops = c.batchA.reduce(1, *) * c.m * c.n * c.k
            if flops >= 1 << 21 {
                #expect(model.program.kernels.contains { $0.tasks > 1 }, "\(c) does not split")
            }
            #expect(
                Support.mismatch(one.doubles, want, atol: 1e-4, rtol: 1e-4) == nil, "\(c) with \(cpu) schedules")
            for threads in [2, 3] {
                let many = try Sinter.jit(g, options, threads: threads).run(inputs)[0]
                #expect(many.bytes == one.bytes, "\(c) with \(cpu) schedules: \(threads) threads differ from 1")
            }
        }
    }

    /// The tile the schedule picks per shape: the full tile for a large m, one row and a wide
    /// panel (up to all 24 accumulators, if it pads n by less than a vector) with no k blocking
    /// for m = 1.
    @Test func tilesFollowTheShape() throws {
        let info = TargetInfo(try Target.named("x86_64-linux-gnu", cpu: "skylake-avx512")).schedules
        #expect(info.gemm(m: 200, n: 40, k: 900).packA && !info.gemm(m: 64, n: 64, k: 64).packA)
        #expect(info.gemm(m: 1024, n: 1024, k: 1024).mr == 12 && info.gemm(m: 1024, n: 1024, k: 1024).nr == 32)
        let gemv = info.gemm(m: 1, n: 1024, k: 1024)
        #expect(gemv.mr == 1 && gemv.nr == 256 && gemv.kc == 1024, "\(gemv)")
        // Widened panels that would pad the weights by a vector or more are not taken.
        #expect(info.gemm(m: 4, n: 128, k: 64).nr == 64 && info.gemm(m: 1, n: 1000, k: 64).nr == 336)
        let avx2 = TargetInfo(try Target.named("x86_64-linux-gnu", cpu: "haswell")).schedules
        #expect(avx2.gemm(m: 512, n: 512, k: 512).mr == 6 && avx2.gemm(m: 512, n: 512, k: 512).nr == 16)
        let neon = TargetInfo(try Target.named("aarch64-linux-gnu")).schedules
        #expect(neon.gemm(m: 512, n: 512, k: 512).mr == 8 && neon.gemm(m: 512, n: 512, k: 512).nr == 12)
        // k blocks are equal and each packed panel fits three quarters of L1.
        let b = info.gemm(m: 256, n: 256, k: 700)
        let blocks = (700 + b.kc - 1) / b.kc
        #expect(blocks > 1 && b.kc * b.nr * 4 <= (32 << 10) * 3 / 4 && blocks * b.kc - 700 < blocks)
    }

    /// Pointwise convolutions (grouped or not, with a fused bias and ReLU) run the same GEMM,
    /// one product per image and group: against a float64 reference, split across threads
    /// when large, bit-identical for 1, 2 and 3 threads.
    @Test(arguments: [[2, 6, 9, 11, 10, 2], [1, 48, 40, 40, 96, 1], [1, 24, 28, 28, 48, 3]])
    func pointwiseConvRunsTheGemm(_ dims: [Int]) throws {
        let (batch, channels, h, w, out, group) = (dims[0], dims[1], dims[2], dims[3], dims[4], dims[5])
        var rng = Support.RNG(seed: UInt64(channels * 100 + out))
        func data(_ shape: [Int]) -> TensorData {
            TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-1, 1) }, shape: shape)
        }
        let xs = data([batch, channels, h, w]), ws = data([out, channels / group, 1, 1]), bs = data([out, 1, 1])
        var g = GraphBuilder(name: "pw")
        let x = try g.input("x", TensorType(.f32, [batch, channels, h, w]))
        var y = try g.apply(.conv, [x, try g.constant(ws)], attributes: Attributes(["group": .int(group)]))[0]
        y = try g.apply(.relu, [try g.apply(.add, [y, try g.constant(bs)])[0]])[0]
        g.output(y)
        var plain = CompileOptions()
        plain.passes = Pipeline.default.filter { $0.name != "layout" }  // keep the NCHW conv
        let model = try Sinter.jit(g.graph, plain)
        #expect(model.program.kernels.contains { "\($0.body)".contains("pointwise GEMM") })
        let got = try model.run([xs])[0]
        let xv = xs.doubles, wv = ws.doubles, bv = bs.doubles
        let (icg, ocg, hw) = (channels / group, out / group, h * w)
        var want = [Double](repeating: 0, count: batch * out * hw)
        for n in 0..<batch {
            for oc in 0..<out {
                let grp = oc / ocg
                for p in 0..<hw {
                    var s = bv[oc]
                    for ic in 0..<icg { s += wv[oc * icg + ic] * xv[(n * channels + grp * icg + ic) * hw + p] }
                    want[(n * out + oc) * hw + p] = max(s, 0)
                }
            }
        }
        #expect(Support.mismatch(got.doubles, want, atol: 1e-4, rtol: 1e-4) == nil)
        if batch * out * hw * icg >= 1 << 21 { #expect(model.program.kernels.contains { $0.tasks > 1 }) }
        for threads in [2, 3] {
            #expect(try Sinter.jit(g.graph, plain, threads: threads).run([xs])[0].bytes == got.bytes)
        }
    }
}

/// Matmul in f64 off the packed GEMM: a fused bias + ReLU epilogue runs in f64 too, checked
/// against the product computed in Swift doubles.
struct TypedGemmTests {
    @Test func f64MatmulWithFusedEpilogue() throws {
        var b = GraphBuilder(name: "f64mm")
        let x = try b.input("x", TensorType(.f64, [3, 4]))
        let w = (0..<20).map { Double($0) * 0.37 - 3.1 }, bias = [0.5, -1, 2, 0, -0.25]
        let wv = try b.constant(TensorData(dtype: .f64, shape: [4, 5], values: w))
        let bv = try b.constant(TensorData(dtype: .f64, shape: [5], values: bias))
        let m = try b.apply(.matmul, [x, wv])[0]
        b.output(try b.apply(.relu, [try b.apply(.add, [m, bv])[0]])[0])
        let model = try Sinter.jit(b.graph)
        #expect(model.program.kernels.count == 1, "matmul, add and relu fuse into one kernel")
        let xs = (0..<12).map { Double($0) * 0.21 - 1.3 }
        let y = try model.run([TensorData(dtype: .f64, shape: [3, 4], values: xs)])[0]
        #expect(y.dtype == .f64)
        for i in 0..<3 {
            for j in 0..<5 {
                let dot = (0..<4).reduce(0.0) { $0 + xs[i * 4 + $1] * w[$1 * 5 + j] }
                #expect(abs(y.doubles[i * 5 + j] - max(dot + bias[j], 0)) < 1e-12, "[\(i), \(j)]")
            }
        }
    }
}
