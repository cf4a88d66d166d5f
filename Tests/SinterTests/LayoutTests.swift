import Foundation
import Sinter
import SinterTestSupport
import Testing

/// The `layout` pass at every block size the targets use (4: SSE/NEON, 8: AVX2, 16: AVX-512):
/// a small CNN with every blocked op (a first conv on a 3-channel NCHW input, a depthwise conv, convs with
/// bias/relu/residual epilogues, strided and 1x1 convs, max and average pooling, a channel
/// concat, global average pooling, a last conv whose 60 channels pad the last block) computes
/// what the same model computes without the pass.
struct LayoutTests {
    static func cnn() throws -> Graph {
        var b = GraphBuilder(name: "blocked")
        var rng = Support.RNG(seed: 31)
        func w(_ shape: [Int], _ scale: Float = 0.2) throws -> ValueID {
            try b.constant(TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-scale, scale) }, shape: shape))
        }
        func conv(_ x: ValueID, _ shape: [Int], _ attrs: [String: AttributeValue] = [:]) throws -> ValueID {
            let c = try b.apply(.conv, [x, try w(shape)], attributes: Attributes(attrs))[0]
            return try b.relu(try b.add(c, try w([shape[0], 1, 1])))
        }
        // Three input channels: the first conv reads NCHW directly (input blocks of 1).
        let x = try b.input("x", TensorType(.f32, [2, 3, 15, 17]))
        let pad1: [String: AttributeValue] = ["pads": .ints([1, 1, 1, 1])]
        let c0 = try conv(x, [32, 3, 3, 3], pad1)
        // A depthwise conv (one 3x3 filter per channel).
        let dw = try b.apply(
            .conv, [c0, try w([32, 1, 3, 3])],
            attributes: Attributes(["pads": .ints([1, 1, 1, 1]), "group": .int(32)]))[0]
        let c1 = try b.relu(try b.add(dw, try w([32, 1, 1])))
        let c2 = try b.add(try conv(c1, [32, 32, 3, 3], pad1), c1)
        let p = try b.apply(
            .maxPool, [c2],
            attributes: Attributes([
                "kernel": .ints([3, 3]), "strides": .ints([2, 2]),
                "pads": .ints([1, 1, 1, 1]),
            ]))[0]
        let s = try conv(p, [16, 32, 1, 1])
        let t = try conv(
            p, [16, 32, 5, 3], ["pads": .ints([2, 1, 2, 1]), "strides": .ints([1, 2]), "dilations": .ints([1, 1])])
        let u = try b.apply(
            .avgPool, [t],
            attributes: Attributes([
                "kernel": .ints([3, 3]), "strides": .ints([1, 1]),
                "pads": .ints([1, 1, 1, 1]), "count_include_pad": .bool(false),
            ]))[0]
        let s2 = try b.apply(
            .maxPool, [s],
            attributes: Attributes(["kernel": .ints([1, 2]), "strides": .ints([1, 2]), "pads": .ints([0, 0, 0, 1])]))[0]
        let cat = try b.apply(.concat, [s2, u], attributes: Attributes(["axis": .int(1)]))[0]
        let d = try conv(
            cat, [48, 32, 3, 3], ["pads": .ints([1, 1, 1, 1]), "dilations": .ints([1, 1]), "strides": .ints([2, 1])])
        // 60 classes: blocks of 8 and 16 pad the last block (sliced off at the conversion).
        let e = try conv(d, [60, 48, 1, 1])
        b.output(try b.apply(.reduceMean, [e], attributes: Attributes(["axes": .ints([2, 3])]))[0])
        b.output(e)
        return b.graph
    }

    @Test(arguments: [("x86-64-v2", 4), ("haswell", 8), ("skylake-avx512", 16)])
    func blockedModelMatchesUnblocked(_ cpu: String, _ block: Int) throws {
        let g = try Self.cnn()
        var blocked = CompileOptions()
        blocked.target = try Target.named("x86_64-linux-gnu", cpu: cpu)
        #expect(blocked.target.vectorWidth == block)
        // The instruction choice: the blocked kernels use that ISA's registers and FMA.
        let asm = try Codegen.assembly(
            try Sinter.lower(g, blocked), prefix: "t", options: CodegenOptions(target: blocked.target))
        let (reg, fma) = block == 16 ? ("%zmm", "vfmadd") : block == 8 ? ("%ymm", "vfmadd") : ("%xmm", "mulps")
        let lines = asm.split(separator: "\n").filter { $0.contains(fma) && $0.contains(reg) }
        #expect(!lines.isEmpty, "no packed \(fma) on \(reg) in the blocked kernels for \(cpu)")
        // Code for wider vectors than the host has would not run here: its schedules run
        // instead as generic vector code for the host (CompileOptions.scheduleTarget).
        if !(Target.host.isX86 && Target.host.vectorWidth >= block) {
            blocked.scheduleTarget = blocked.target
            blocked.target = .host
        }
        var plain = CompileOptions()
        plain.passes = Pipeline.default.filter { $0.name != "layout" }
        let a = try Sinter.jit(g, blocked), r = try Sinter.jit(g, plain)
        let convs = a.program.kernels.filter { $0.body.unit == "conv-nchwc" && !"\($0.body)".contains("depthwise") }
        let pools = a.program.kernels.filter { $0.body.unit == "pool" && "\($0.body)".contains("block") }
        let depthwise = a.program.kernels.filter { "\($0.body)".hasPrefix("conv-nchwc(depthwise") }
        #expect(
            convs.count == 6 && pools.count == 3 && depthwise.count == 1,
            "\(convs.count) blocked convs, \(pools.count) blocked pools, \(depthwise.count) depthwise")
        var rng = Support.RNG(seed: 5)
        let input = TensorData((0..<(2 * 3 * 15 * 17)).map { _ in rng.float(-2, 2) }, shape: [2, 3, 15, 17])
        for (got, want) in zip(try a.run([input]), try r.run([input])) {
            #expect(Support.mismatch(got.doubles, want.doubles, atol: 1e-5, rtol: 1e-4) == nil, "block \(block)")
        }
    }

    /// AVX-512 schedules (16-lane blocks, a 2×12 register tile from 32 registers) built as
    /// generic vector code for an AVX2 machine: LLVM splits each 16-lane vector in two, so the
    /// wider schedule's tiles, tails and packing run and are checked on any x86-64 host with
    /// AVX2, and no AVX-512 instruction is emitted.
    @Test func widerSchedulesRunAsGenericVectorCode() throws {
        let g = try Self.cnn()
        let host = Target.host
        var wide = CompileOptions()
        wide.scheduleTarget = try Target.named("x86_64-linux-gnu", cpu: "skylake-avx512")
        wide.target = host.isX86 ? try Target.named("x86_64-linux-gnu", cpu: "haswell") : host
        let program = try Sinter.lower(g, wide)
        let convs = program.kernels.filter { $0.body.unit == "conv-nchwc" }
        #expect(!convs.isEmpty && convs.allSatisfy { $0.vectorWidth == 16 })
        #expect(convs.contains { $0.registerTile == [2, 12] }, "\(convs.map(\.registerTile))")
        if host.isX86 {
            let asm = try Codegen.assembly(program, prefix: "t", options: CodegenOptions(target: wide.target))
            #expect(!asm.contains("%zmm"), "AVX-512 registers in code built for haswell")
            #expect(asm.contains("vfmadd") && asm.contains("%ymm"))
        }
        var plain = CompileOptions()
        plain.passes = Pipeline.default.filter { $0.name != "layout" }
        let a = try Sinter.jit(g, wide), r = try Sinter.jit(g, plain)
        var rng = Support.RNG(seed: 9)
        let input = TensorData((0..<(2 * 3 * 15 * 17)).map { _ in rng.float(-2, 2) }, shape: [2, 3, 15, 17])
        for (got, want) in zip(try a.run([input]), try r.run([input])) {
            #expect(Support.mismatch(got.doubles, want.doubles, atol: 1e-5, rtol: 1e-4) == nil)
        }
    }

    /// Blocked convs whose pixel tiles span rows (`layout` pads blocked inputs explicitly, so
    /// no tap is outside): a padded 3×3 on a 13×13 plane, a strided 1×1 down to 7×7 with an odd
    /// block count at b = 16 (2-block tiles and a last block) and a dilated, padded 3×3 with a residual epilogue, two
    /// images, so tiles end mid-row and the last tile of a plane is short. Against the same
    /// graph without the pass, at every block size, on 1 and 3 threads.
    @Test(arguments: [("x86-64-v2", 4), ("haswell", 8), ("skylake-avx512", 16)])
    func pixelTilesSpanRows(_ cpu: String, _ block: Int) throws {
        var b = GraphBuilder(name: "rows")
        var rng = Support.RNG(seed: 17)
        func w(_ shape: [Int]) throws -> ValueID {
            try b.constant(TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-0.2, 0.2) }, shape: shape))
        }
        func conv(_ x: ValueID, _ shape: [Int], _ attrs: [String: AttributeValue]) throws -> ValueID {
            let c = try b.apply(.conv, [x, try w(shape)], attributes: Attributes(attrs))[0]
            return try b.relu(try b.add(c, try w([shape[0], 1, 1])))
        }
        let x = try b.input("x", TensorType(.f32, [2, 32, 13, 13]))
        let c0 = try conv(x, [32, 32, 3, 3], ["pads": .ints([1, 1, 1, 1])])
        let c1 = try conv(c0, [48, 32, 1, 1], ["strides": .ints([2, 2])])
        let c2 = try b.apply(
            .conv, [c1, try w([48, 48, 3, 3])],
            attributes: Attributes(["pads": .ints([2, 2, 2, 2]), "dilations": .ints([2, 2])]))[0]
        b.output(try b.relu(try b.add(c2, c1)))
        let g = b.graph
        var blocked = CompileOptions()
        blocked.target = try Target.named("x86_64-linux-gnu", cpu: cpu)
        if !(Target.host.isX86 && Target.host.vectorWidth >= block) {
            blocked.scheduleTarget = blocked.target
            blocked.target = .host
        }
        let program = try Sinter.lower(g, blocked)
        #expect(program.kernels.filter { $0.body.unit == "conv-nchwc" }.count == 3)
        // 48 channels in 3 blocks of 16: 2-block tiles, then the last block on its own.
        #expect(program.kernels.contains { $0.registerTile.count == 3 } == (block == 16))
        var plain = CompileOptions()
        plain.passes = Pipeline.default.filter { $0.name != "layout" }
        let input = TensorData((0..<(2 * 32 * 13 * 13)).map { _ in rng.float(-2, 2) }, shape: [2, 32, 13, 13])
        let want = try Sinter.jit(g, plain).run([input])[0]
        let one = try Sinter.jit(g, blocked).run([input])[0]
        #expect(Support.mismatch(one.doubles, want.doubles, atol: 1e-5, rtol: 1e-4) == nil, "block \(block)")
        #expect(try Sinter.jit(g, blocked, threads: 3).run([input])[0].bytes == one.bytes)
    }

    /// Grouped convs (not depthwise) inside a blocked chain run blocked: each output block reads
    /// only the input blocks of its channels' groups. After a dense conv: a 1×1 with 4 groups of
    /// 24 channels (at b = 16 an output block straddles two groups), a padded 3×3 with 4 groups,
    /// a strided 3×3 and a 1×1 with 2 groups and a residual, and 16 groups of 4 channels
    /// (ResNeXt-like), blocked at b = 4 and 8 but at b = 16 it would read 4 times the channels
    /// and stays NCHW. A grouped conv on an input with no blocked form stays NCHW. Against the graph without
    /// the pass, on 1 and 3 threads.
    @Test(arguments: [("x86-64-v2", 4), ("haswell", 8), ("skylake-avx512", 16)])
    func groupedConvsRunBlocked(_ cpu: String, _ block: Int) throws {
        var b = GraphBuilder(name: "grouped")
        var rng = Support.RNG(seed: 23)
        func w(_ shape: [Int]) throws -> ValueID {
            try b.constant(TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-0.3, 0.3) }, shape: shape))
        }
        func conv(_ x: ValueID, _ shape: [Int], _ attrs: [String: AttributeValue]) throws -> ValueID {
            let c = try b.apply(.conv, [x, try w(shape)], attributes: Attributes(attrs))[0]
            return try b.relu(try b.add(c, try w([shape[0], 1, 1])))
        }
        let x = try b.input("x", TensorType(.f32, [2, 32, 9, 11]))
        let dense = try conv(x, [96, 32, 1, 1], [:])
        let c0 = try conv(dense, [96, 24, 1, 1], ["group": .int(4)])
        let c1 = try conv(c0, [96, 24, 3, 3], ["group": .int(4), "pads": .ints([1, 1, 1, 1])])
        let c2 = try b.apply(
            .conv, [c1, try w([64, 48, 3, 3])],
            attributes: Attributes(["group": .int(2), "strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 0])]))[0]
        let c3 = try conv(c2, [64, 32, 1, 1], ["group": .int(2)])
        b.output(try b.add(c3, c2))
        b.output(try conv(c3, [64, 4, 1, 1], ["group": .int(16)]))
        let z = try b.input("z", TensorType(.f32, [2, 32, 9, 11]))
        b.output(try conv(z, [32, 8, 1, 1], ["group": .int(4)]))
        let g = b.graph
        var blocked = CompileOptions()
        blocked.target = try Target.named("x86_64-linux-gnu", cpu: cpu)
        if !(Target.host.isX86 && Target.host.vectorWidth >= block) {
            blocked.scheduleTarget = blocked.target
            blocked.target = .host
        }
        let program = try Sinter.lower(g, blocked)
        let grouped = program.kernels.filter { "\($0.body)".contains("groups reading") }
        #expect(grouped.count == (block == 16 ? 4 : 5), "\(program.kernels.map(\.body))")
        #expect(grouped.allSatisfy { $0.registerTile.first == 1 })
        #expect(program.kernels.filter { $0.body.unit == "conv" }.count == (block == 16 ? 2 : 1))
        var plain = CompileOptions()
        plain.passes = Pipeline.default.filter { $0.name != "layout" }
        let inputs = (0..<2).map { _ in
            TensorData((0..<(2 * 32 * 9 * 11)).map { _ in rng.float(-2, 2) }, shape: [2, 32, 9, 11])
        }
        let want = try Sinter.jit(g, plain).run(inputs)
        let one = try Sinter.jit(g, blocked).run(inputs)
        for (got, ref) in zip(one, want) {
            #expect(Support.mismatch(got.doubles, ref.doubles, atol: 1e-5, rtol: 1e-4) == nil, "block \(block)")
        }
        let three = try Sinter.jit(g, blocked, threads: 3).run(inputs)
        #expect(zip(three, one).allSatisfy { $0.bytes == $1.bytes })
    }
}
