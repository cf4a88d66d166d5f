import SinterCodegen
import SinterIR
import Testing

/// The generated code really is vectorised for each target: packed zmm (AVX-512), ymm (AVX2),
/// xmm (SSE) or NEON `.4s` instructions in the kernels for add, exp and reduce-sum at an
/// awkward size (n = 1027). Assembly needs no host that can run it, so every target is
/// checked on every host.
struct AssemblyTests {
    /// (triple, cpu, register pattern, mnemonic for add, mnemonic for a fused multiply-add).
    static let targets: [(String, String, String, String, String)] = [
        ("x86_64-linux-gnu", "skylake-avx512", "%zmm", "vaddps", "vfmadd"),
        ("x86_64-linux-gnu", "haswell", "%ymm", "vaddps", "vfmadd"),
        ("x86_64-linux-gnu", "x86-64-v2", "%xmm", "addps", "mulps"),
        ("aarch64-linux-gnu", "generic", ".4s", "fadd", "fmla"),
    ]

    static func kernelAssembly(_ g: Graph, target: Target = .host) throws -> String {
        let asm = try Codegen.assembly(lowered(g, target: target), prefix: "t", options: CodegenOptions(target: target))
        // Only the kernel functions (k<index>_<op>), not the ABI glue.
        var out = "", inKernel = false
        for line in asm.split(separator: "\n") {
            if line.hasSuffix(":") && !line.hasPrefix(".") && !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                inKernel = line.hasPrefix("k")
            }
            if inKernel { out += line + "\n" }
        }
        return out
    }

    @Test(arguments: ["add", "exp", "reduce-sum"], 0..<4)
    func packedVectorCode(_ opName: String, _ t: Int) throws {
        let (triple, cpu, reg, add, fma) = Self.targets[t]
        let target = try Target.named(triple, cpu: cpu)
        let op = try #require(Op(rawValue: opName))
        var b = GraphBuilder(name: "v")
        let x = try b.input("x", TensorType(.f32, [1027]))
        let y = op == .add ? try b.binary(.add, x, try b.input("y", TensorType(.f32, [1027]))) : try b.unary(op, x)
        b.output(y)
        let asm = try Self.kernelAssembly(b.graph, target: target)
        let mnemonic = op == .exp ? fma : add
        let packed = asm.split(separator: "\n").filter { $0.contains(mnemonic) && $0.contains(reg) }
        #expect(
            !packed.isEmpty, "no packed \(mnemonic) on \(reg) for \(cpu) in the \(opName) kernel:\n\(asm.prefix(3000))")
    }

    @Test func weightsAreOneByteStringPerTensor() throws {
        var b = GraphBuilder(name: "w")
        // An elementwise operand keeps its layout (a matmul's B would be packed into panels).
        let x = try b.input("x", TensorType(.f32, [2, 3]))
        let w = try b.constant(TensorData((0..<6).map(Float.init), shape: [2, 3]))
        b.output(try b.apply(.add, [x, w])[0])
        let ll = try Codegen.llvmIR(lowered(b.graph), prefix: "w", optimize: false)
        let weightLines = ll.split(separator: "\n").filter { $0.hasPrefix("@w_weight0 ") }
        #expect(weightLines.count == 1)
        #expect(weightLines.first?.contains("constant [24 x i8] c\"") == true, "\(weightLines)")
    }

    /// The packed GEMM's micro-kernel, found as the loop (a label and the backward branch to
    /// it) with the most FMAs: each k step is mr × nv full-width FMAs — 12×2 zmm on AVX-512,
    /// 6×2 ymm on AVX2, 8×3 `v.4s` on NEON (a multiple of that if LLVM unrolls).
    @Test(arguments: [
        ("x86_64-linux-gnu", "skylake-avx512", "vfmadd", "%zmm", 24),
        ("x86_64-linux-gnu", "haswell", "vfmadd", "%ymm", 12),
        ("aarch64-linux-gnu", "", "fmla", ".4s", 24),
    ])
    func gemmInnerLoopIsFullWidthFMAs(_ triple: String, _ cpu: String, _ fma: String, _ reg: String, _ tile: Int) throws
    {
        var b = GraphBuilder(name: "mm")
        let x = try b.input("x", TensorType(.f32, [96, 256]))
        b.output(
            try b.matmul(x, try b.constant(TensorData([Float](repeating: 0.5, count: 256 * 256), shape: [256, 256]))))
        let target = try Target.named(triple, cpu: cpu.isEmpty ? nil : cpu)
        let asm = try Codegen.assembly(
            try lowered(b.graph, target: target), prefix: "mm", options: CodegenOptions(target: target))
        let best = Self.innermostLoopCount(asm, fma, reg)
        #expect(best > 0 && best % tile == 0, "\(cpu.isEmpty ? triple : cpu): inner loop has \(best) \(fma) on \(reg)")
    }

    /// The most `mnemonic` instructions on `reg` registers in one innermost loop (a label and
    /// the backward branch to it, with no label between).
    static func innermostLoopCount(_ asm: String, _ mnemonic: String, _ reg: String) -> Int {
        // AVX-VNNI's VEX forms print as `{vex} vpdpbusd`.
        let lines = asm.split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces).replacing("{vex}", with: "").trimmingCharacters(in: .whitespaces)
        }
        var best = 0
        for (i, line) in lines.enumerated() where line.hasSuffix(":") && line.hasPrefix(".LBB") {
            let label = String(line.dropLast())
            guard
                let end = lines[(i + 1)...].firstIndex(where: {
                    $0.hasSuffix("\t\(label)") || $0.hasSuffix(" \(label)")
                })
            else { continue }
            let body = lines[(i + 1)..<end]
            guard !body.contains(where: { $0.hasSuffix(":") }) else { continue }  // innermost loops only
            best = max(best, body.filter { $0.hasPrefix(mnemonic) && $0.contains(reg) }.count)
        }
        return best
    }

    /// The int8 GEMM's micro-kernel: one dot step per accumulator per k quad — `vpdpbusd` on
    /// 12×2 zmm (AVX512-VNNI) or 6×2 ymm (AVX-VNNI), and on an AVX2 CPU without VNNI the portable
    /// IR, which LLVM turns into `vpmaddwd` (two per dot step: the byte products widened in halves);
    /// 8×3 `sdot` on `.4s` for ARM with `+dotprod`.
    @Test(arguments: [
        ("sapphirerapids", "vpdpbusd", "%zmm", 24),
        ("alderlake", "vpdpbusd", "%ymm", 12),
        ("haswell", "vpmaddwd", "%ymm", 24),
        ("aarch64+dotprod", "sdot", ".4s", 24),
    ])
    func int8GemmInnerLoopIsDotSteps(_ cpu: String, _ mnemonic: String, _ reg: String, _ tile: Int) throws {
        var b = GraphBuilder(name: "qm")
        let x = try b.input("x", TensorType(.u8, [96, 256], quant: QuantParams(scale: 0.02, zeroPoint: 128)))
        var w = TensorData(dtype: .i8, shape: [256, 256], values: (0..<65536).map { Double($0 % 255 - 127) })
        w.quant = QuantParams(scale: 0.01, zeroPoint: 0)
        b.output(try b.apply(.qmatmul, [x, try b.constant(w)])[0])
        let target =
            cpu.hasPrefix("aarch64")
            ? try Target.named("aarch64-linux-gnu", features: "+neon,+dotprod")
            : try Target.named("x86_64-linux-gnu", cpu: cpu)
        let asm = try Codegen.assembly(
            try lowered(b.graph, target: target), prefix: "qm", options: CodegenOptions(target: target))
        let count = Self.innermostLoopCount(asm, mnemonic, reg)
        #expect(count > 0 && count % tile == 0, "\(cpu): inner loop has \(count) \(mnemonic) on \(reg)")
    }
}

/// The blocked int8 and bf16 convs' inner loop (`qconv-nchwc`, `conv-nchwc {to = "f32"}`): one
/// dot step per accumulator of the target's blocked-conv tile (blocks × pixels) per word —
/// int8: `vpdpbusd` on zmm with 16-channel blocks, on ymm with 8-channel blocks (AVX-VNNI),
/// SDOT on `.4s` with 4-channel blocks, the portable step's two `vpmaddwd` on AVX2; bf16:
/// `vdpbf16ps` on zmm, BFDOT on `.4s`, the portable step's two FMAs on AVX2.
struct BlockedConvAssemblyTests {
    @Test(arguments: [
        (DType.u8, "sapphirerapids", "", "vpdpbusd", "%zmm", 1),
        (.u8, "alderlake", "", "vpdpbusd", "%ymm", 1),
        (.u8, "haswell", "", "vpmaddwd", "%ymm", 2),
        (.u8, "aarch64", "+neon,+dotprod", "sdot", ".4s", 1),
        (.bf16, "sapphirerapids", "", "vdpbf16ps", "%zmm", 1),
        (.bf16, "haswell", "", "vfmadd", "%ymm", 2),
        (.bf16, "aarch64", "+neon,+bf16", "bfdot", ".4s", 1),
    ])
    func innerLoopIsDotSteps(
        _ dtype: DType, _ cpu: String, _ features: String, _ mnemonic: String, _ reg: String, _ perStep: Int
    ) throws {
        var b = GraphBuilder(name: "bc")
        let values = (0..<4096).map { Double($0 % 255 - 127) }
        if dtype == .u8 {
            let x = try b.input("x", TensorType(.u8, [1, 64, 14, 14], quant: QuantParams(scale: 0.02, zeroPoint: 128)))
            var w = TensorData(dtype: .i8, shape: [64, 64, 1, 1], values: values)
            w.quant = QuantParams(scale: 0.01, zeroPoint: 0)
            b.output(try b.apply(.qconv, [x, try b.constant(w)])[0])
        } else {
            let x = try b.input("x", TensorType(.bf16, [1, 64, 14, 14]))
            let w = TensorData(dtype: .bf16, shape: [64, 64, 1, 1], values: values.map { $0 / 64 })
            b.output(try b.apply(.conv, [x, try b.constant(w)], attributes: Attributes(["to": .string("f32")]))[0])
        }
        let target =
            cpu == "aarch64"
            ? try Target.named("aarch64-linux-gnu", features: features)
            : try Target.named("x86_64-linux-gnu", cpu: cpu)
        let program = try lowered(b.graph, target: target)
        let unit = dtype == .u8 ? "qconv-nchwc" : "conv-nchwc"
        #expect(program.kernels.contains { $0.body.unit == unit }, "\(cpu): not blocked")
        let asm = try Codegen.assembly(program, prefix: "bc", options: CodegenOptions(target: target))
        let tile = TargetInfo(target).schedules.blockedConvTile(outBlocks: 4)
        let count = AssemblyTests.innermostLoopCount(asm, mnemonic, reg)
        #expect(
            count > 0 && count % (tile.blocks * tile.pixels * perStep) == 0,
            "\(dtype) \(cpu): inner loop has \(count) \(mnemonic) on \(reg), tile \(tile)")
    }
}

/// The bf16 GEMM's micro-kernel: one dot step per accumulator per k pair — `vdpbf16ps` on
/// 12×2 zmm (avx512_bf16), on 6×2 ymm where the schedule is 256 bits wide, BFDOT on 8×3 `.4s`
/// (ARM `+bf16`), and on an AVX2 CPU the portable IR's two FMAs per step (6×2 ymm).
struct Bf16AssemblyTests {
    @Test(arguments: [
        ("sapphirerapids", "", "vdpbf16ps", "%zmm", 24),
        ("alderlake", "+avx2,+fma,+avx512vl,+avx512bf16", "vdpbf16ps", "%ymm", 12),
        // +avx512f on a CPU without AVX-512 (Target.named adds +evex512; LLVM looped without it).
        ("alderlake", "+avx512f,+avx512vl,+avx512bf16", "vdpbf16ps", "%zmm", 24),
        ("haswell", "", "vfmadd", "%ymm", 24),
        ("aarch64", "+neon,+bf16", "bfdot", ".4s", 24),
    ])
    func bf16GemmInnerLoopIsDotSteps(
        _ cpu: String, _ features: String, _ mnemonic: String, _ reg: String, _ tile: Int
    ) throws {
        var b = GraphBuilder(name: "bm")
        let x = try b.input("x", TensorType(.bf16, [96, 256]))
        let w = TensorData(dtype: .bf16, shape: [256, 256], values: (0..<65536).map { Double($0 % 255 - 127) / 64 })
        let to = Attributes(["to": .string("f32")])
        b.output(try b.apply(.matmul, [x, try b.constant(w)], attributes: to)[0])
        let target =
            cpu == "aarch64"
            ? try Target.named("aarch64-linux-gnu", features: features)
            : try Target.named("x86_64-linux-gnu", cpu: cpu, features: features.isEmpty ? nil : features)
        let info = TargetInfo(target)
        let asm = try Codegen.assembly(
            try lowered(b.graph, target: target), prefix: "bm", options: CodegenOptions(target: target))
        let count = AssemblyTests.innermostLoopCount(asm, mnemonic, reg)
        #expect(
            count > 0 && count % tile == 0,
            "\(cpu)\(features): \(info.schedules.bf16Dot) inner loop has \(count) \(mnemonic) on \(reg)")
    }
}
