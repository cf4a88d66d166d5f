import SinterCodegen
import SinterIR
import Testing

/// One `TargetInfo` value per target; every schedule number derives from it.
struct TargetInfoTests {
    @Test func featuresWidthsAndRegistersFromTargetCpuAndFeatures() throws {
        let avx512 = TargetInfo(try Target.named("x86_64-linux-gnu", cpu: "skylake-avx512"))
        #expect(avx512.vectorBits == 512 && avx512.vectorRegisters == 32 && avx512.lanes(.f32) == 16)
        #expect(avx512.lanes(.i8) == 64 && avx512.lanes(.bf16) == 32)
        #expect(avx512.features.contains([.avx2, .fma, .avx512f]))
        let avx2 = TargetInfo(try Target.named("x86_64-linux-gnu", cpu: "haswell"))
        #expect(avx2.vectorBits == 256 && avx2.vectorRegisters == 16 && !avx2.features.contains(.avx512f))
        let vnni = TargetInfo(
            try Target.named("x86_64-linux-gnu", cpu: "x86-64-v3", features: "+avx2,+fma,+avxvnni,-avx512f"))
        #expect(vnni.features.contains([.avx2, .fma, .avxvnni]) && !vnni.features.contains(.avx512vnni))
        #expect(vnni.lanes(.f32) == 8)
        // +avx512f means 512-bit schedules, so LLVM gets the zmm registers with it.
        let forced = try Target.named("x86_64-linux-gnu", cpu: "alderlake", features: "+avx2,+avx512f")
        #expect(forced.features == "+avx2,+avx512f,+evex512" && TargetInfo(forced).lanes(.f32) == 16)
        let declined = try Target.named("x86_64-linux-gnu", cpu: "alderlake", features: "+avx512f,-evex512")
        #expect(declined.features == "+avx512f,-evex512" && TargetInfo(declined).lanes(.f32) == 8)
        let arm = TargetInfo(try Target.named("aarch64-linux-gnu", features: "+neon,+dotprod,+i8mm"))
        #expect(arm.isa == .aarch64 && arm.vectorBits == 128 && arm.vectorRegisters == 32)
        #expect(arm.features.contains([.neon, .dotprod, .i8mm]) && arm.lanes(.f32) == 4)
    }

    /// The register tiles are the measured ones where they were measured (AVX2, AVX-512), and
    /// fit the register file everywhere (SSE has 16 registers, so 12 accumulators).
    @Test func blockedConvTilesFitTheRegisterFile() throws {
        let cases: [(String, String, (Int, Int), (Int, Int))] = [
            ("x86_64-linux-gnu", "haswell", (2, 6), (1, 12)),
            ("x86_64-linux-gnu", "skylake-avx512", (2, 12), (1, 14)),
            ("x86_64-linux-gnu", "x86-64-v2", (2, 6), (1, 12)),
            ("aarch64-linux-gnu", "generic", (2, 12), (1, 14)),
        ]
        for (triple, cpu, even, odd) in cases {
            let info = TargetInfo(try Target.named(triple, cpu: cpu))
            let s = info.schedules
            #expect(s.layoutBlock == info.lanes(.f32))
            let (b2, p2) = s.blockedConvTile(outBlocks: 4), (b1, p1) = s.blockedConvTile(outBlocks: 3)
            #expect((b2, p2) == even && (b1, p1) == odd, "\(cpu)")
            #expect(b2 * p2 <= s.accumulators && b1 * p1 <= s.accumulators && s.accumulators < info.vectorRegisters)
        }
    }

    /// The kernel report shows the target, the schedules and each blocked conv's tile.
    @Test func kernelReportShowsSchedules() throws {
        var b = GraphBuilder(name: "c")
        let x = try b.input("x", TensorType(.f32, [1, 16, 8, 8]))
        let w = try b.constant(TensorData([Float](repeating: 0.01, count: 16 * 16 * 9), shape: [16, 16, 3, 3]))
        b.output(try b.apply(.conv, [x, w], attributes: Attributes(["pads": .ints([1, 1, 1, 1])]))[0])
        let target = try Target.named("x86_64-linux-gnu", cpu: "haswell")
        let report = try lowered(b.graph, target: target).kernelReport(TargetInfo(target))
        #expect(report.contains("// target: x86_64-unknown-linux-gnu cpu haswell: x86-64, 256-bit vectors (f32 × 8)"))
        #expect(report.contains("// schedules: layout block 8, 12 accumulators"))
        // 16 output channels × 64 pixels × 16 input channels × 9 taps.
        #expect(report.contains("conv-nchwc, f32 × 8, accumulates f32, 147456 multiply-adds, tile 2×6"), "\(report)")
    }
}
