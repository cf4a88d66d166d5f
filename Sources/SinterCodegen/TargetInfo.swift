import Foundation
import SinterIR

/// Everything a schedule needs to know about a target, as one value built from
/// `--target/--cpu/--features`: the ISA, its features, vector width per dtype, register count
/// and cache sizes. Every schedule decision (layout block, conv register tiles, when and how
/// finely a kernel splits across threads) derives from it through `Schedules`, so supporting
/// a new CPU means describing it here, not finding `block == 8` tests in kernels.
public struct TargetInfo: Hashable, Sendable, CustomStringConvertible {
    public enum ISA: String, Hashable, Sendable { case x86_64 = "x86-64", aarch64, other }

    /// CPU features schedules and the next kernels (int8, bf16) choose by.
    public struct Features: OptionSet, Hashable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let sse4 = Features(rawValue: 1 << 0)
        public static let avx2 = Features(rawValue: 1 << 1)
        public static let fma = Features(rawValue: 1 << 2)
        public static let avx512f = Features(rawValue: 1 << 3)
        public static let avx512vnni = Features(rawValue: 1 << 4)
        public static let avxvnni = Features(rawValue: 1 << 5)
        public static let avx512bf16 = Features(rawValue: 1 << 6)
        public static let neon = Features(rawValue: 1 << 7)
        public static let dotprod = Features(rawValue: 1 << 8)
        public static let i8mm = Features(rawValue: 1 << 9)
        public static let bf16 = Features(rawValue: 1 << 10)

        /// LLVM feature names, as in `+avx512vnni`.
        static let llvmNames: [(String, Features)] = [
            ("sse4.1", .sse4), ("avx2", .avx2), ("fma", .fma), ("avx512f", .avx512f),
            ("avx512vnni", .avx512vnni), ("avxvnni", .avxvnni), ("avx512bf16", .avx512bf16), ("neon", .neon),
            ("dotprod", .dotprod), ("i8mm", .i8mm), ("bf16", .bf16),
        ]

        public var names: [String] { Self.llvmNames.filter { contains($0.1) }.map(\.0) }
    }

    public let target: Target
    public let isa: ISA
    public let features: Features
    /// Width of the vector registers kernels use, in bits.
    public let vectorBits: Int
    /// Vector registers the ISA has (16 for SSE/AVX2, 32 for AVX-512 and NEON).
    public let vectorRegisters: Int
    /// Per-core data cache sizes in bytes (typical values for the ISA; schedules only need
    /// their order of magnitude).
    public let l1Bytes: Int
    public let l2Bytes: Int

    public init(_ target: Target) {
        self.target = target
        var f = Features()
        let enabled = Set(target.features.split(separator: ",").filter { $0.hasPrefix("+") }.map { $0.dropFirst() })
        for (name, feature) in Features.llvmNames where enabled.contains(Substring(name)) { f.insert(feature) }
        if target.isX86 {
            isa = .x86_64
            // A CPU named without features: what the name implies (the widest vectors decide).
            if target.features.isEmpty {
                switch target.vectorWidth {
                case 16: f.formUnion([.sse4, .avx2, .fma, .avx512f])
                case 8: f.formUnion([.sse4, .avx2, .fma])
                default: f.insert(.sse4)
                }
                f.formUnion(Self.namedFeatures[target.cpu] ?? [])
            }
            // `Target.vectorWidth` knows CPU names and AVX without AVX2 (256-bit floats).
            vectorBits = target.vectorWidth * 32
            vectorRegisters = vectorBits == 512 ? 32 : 16
            (l1Bytes, l2Bytes) = Self.hostCaches(target) ?? (32 << 10, vectorBits == 512 ? 1 << 20 : 256 << 10)
        } else if target.isAArch64 {
            isa = .aarch64
            f.insert(.neon)
            vectorBits = 128
            vectorRegisters = 32
            l1Bytes = 64 << 10
            l2Bytes = 1 << 20
        } else {
            isa = .other
            vectorBits = 128
            vectorRegisters = 16
            l1Bytes = 32 << 10
            l2Bytes = 256 << 10
        }
        features = f
    }

    /// This machine's per-core L1 data and L2 sizes (Linux sysfs), when `target` is this
    /// machine: VMs report CPU names that say little about their caches (a Sapphire Rapids
    /// with 48 KiB L1 and 2 MiB L2 calls itself rocketlake). Nil for any other target, whose
    /// typical sizes are used, so a cross-compiled artifact does not depend on the build host.
    static func hostCaches(_ target: Target) -> (l1: Int, l2: Int)? {
        guard target == hostTarget.target, let caches = hostTarget.caches else { return nil }
        return caches
    }

    private static let hostTarget: (target: Target, caches: (l1: Int, l2: Int)?) = {
        var l1: Int?, l2: Int?
        for index in 0..<8 {
            let dir = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            func read(_ name: String) -> String? {
                (try? String(contentsOfFile: dir + name, encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines)
            }
            guard let level = read("level"), let type = read("type"), let size = read("size") else { continue }
            let scale = size.hasSuffix("K") ? 1 << 10 : size.hasSuffix("M") ? 1 << 20 : 1
            guard let value = Int(size.trimmingCharacters(in: .letters)), value > 0 else { continue }
            if level == "1" && type == "Data" { l1 = value * scale }
            if level == "2" && type != "Instruction" { l2 = value * scale }
        }
        guard let l1, let l2, (8 << 10...1 << 20).contains(l1), (64 << 10...64 << 20).contains(l2) else {
            return (Target.host, nil)
        }
        return (Target.host, (l1, l2))
    }()

    /// The int8 and bf16 features x86 CPU names imply (LLVM's CPU definitions), for a target
    /// named by CPU without a feature list.
    static let namedFeatures: [String: Features] = {
        var table: [String: Features] = [:]
        for cpu in ["cascadelake", "icelake-client", "icelake-server", "tigerlake", "rocketlake"] {
            table[cpu] = [.avx512vnni]
        }
        for cpu in ["cooperlake"] { table[cpu] = [.avx512vnni, .avx512bf16] }
        for cpu in ["sapphirerapids", "emeraldrapids", "graniterapids", "graniterapids-d", "znver5"] {
            table[cpu] = [.avx512vnni, .avx512bf16, .avxvnni]
        }
        table["znver4"] = [.avx512vnni, .avx512bf16]
        for cpu in [
            "alderlake", "raptorlake", "meteorlake", "arrowlake", "arrowlake-s", "lunarlake", "pantherlake",
            "gracemont", "sierraforest", "grandridge", "clearwaterforest",
        ] {
            table[cpu] = [.avxvnni]
        }
        return table
    }()

    /// Lanes of one vector register for `dtype` (f32: 16 on AVX-512, 8 on AVX2, 4 on NEON).
    public func lanes(_ dtype: DType) -> Int { vectorBits / (8 * dtype.byteSize) }

    public var schedules: Schedules { Schedules(self) }

    public var description: String {
        "\(target.triple) cpu \(target.cpu): \(isa.rawValue), \(vectorBits)-bit vectors (f32 × \(lanes(.f32))), "
            + "\(vectorRegisters) vector registers, L1 \(l1Bytes >> 10) KiB, L2 \(l2Bytes >> 10) KiB, features "
            + (features.names.isEmpty ? "none" : features.names.joined(separator: " "))
    }
}

/// The named schedule values every kernel family reads, derived from one `TargetInfo`.
/// `sinter dump --kernel-report` prints them with each kernel's own choices.
public struct Schedules: Hashable, Sendable, CustomStringConvertible {
    /// Channels per block for the `layout` pass: one f32 vector.
    public let layoutBlock: Int
    /// Accumulator registers a register-blocked micro-kernel may use: three quarters of the
    /// register file (the rest holds weights and broadcasts). 12 on AVX2, 24 on AVX-512/NEON.
    public let accumulators: Int
    /// Output pixels per register tile when a blocked conv has a single output block: bounded
    /// by the accumulators and by how much input one weight load is reused over (measured on
    /// ResNet-50 and Inception v1: 12 on AVX2, 14 on AVX-512).
    public let singleBlockPixels: Int
    /// Work (multiply-adds, or reads for memory-bound kernels) below which a kernel stays
    /// whole: waking threads costs more. Matmul and dense conv, depthwise conv, pooling.
    public let splitFlops: Int
    public let splitDepthwiseFlops: Int
    public let splitReads: Int
    /// Work per part below which a kernel is not split finer: a kernel may split into up to
    /// work / grain parts (and no more than it has rows). At run time the context splits it
    /// into one part per thread, at most that many; there is no other cap.
    public let grainFlops: Int
    public let grainDepthwiseFlops: Int
    public let grainReads: Int
    /// Kernels whose parts each get their own scratch (strided-B packing, im2col columns)
    /// size the scratch for at most this many parts; more threads share them.
    public let maxScratchParts: Int
    /// Parts per thread at run time. One: a thread that wakes late finds its part taken by
    /// the others (parts are claimed with an atomic counter), and fewer, larger parts reuse
    /// packed panels more (measured on 2 Zen 5 cores, 4 → 1 per thread: the 1024³ product 5.18 →
    /// 4.59 ms, the MLP at batch 256 0.81 → 0.73, ShuffleNet −7%, SqueezeNet −4%, ResNet-50
    /// and the LSTM unchanged; 2 per thread was in between).
    public let partsPerThread: Int

    /// Masked vector loads and stores are single instructions (x86: AVX-512 k-masks, AVX2
    /// `vmaskmov`), so short rows may run as masked vectors rather than with scalar borders.
    public let maskedLoads: Bool
    /// Masked byte loads are single instructions too: AVX-512 (with BW, which every AVX-512
    /// CPU since Skylake-SP has); AVX2 has no byte-masked load.
    public let maskedByteLoads: Bool

    /// How int8 micro-kernels multiply four u8 × s8 pairs into one i32 lane.
    public let int8Dot: Int8Dot
    /// How the bf16 GEMM sums a pair of products per f32 lane.
    public let bf16Dot: Bf16Dot

    /// f32 lanes and cache sizes, for the GEMM blocking.
    let f32Lanes: Int
    let l1Bytes: Int
    let l2Bytes: Int

    init(_ t: TargetInfo) {
        let vnni = t.features.contains(.avx512vnni) || t.features.contains(.avxvnni)
        int8Dot =
            t.features.contains(.avx512vnni) && t.lanes(.f32) == 16
            ? .vnni512 : vnni && t.lanes(.f32) == 8 ? .vnni256 : t.features.contains(.dotprod) ? .sdot : .generic
        bf16Dot =
            t.features.contains(.avx512bf16) && t.lanes(.f32) == 16
            ? .avx512
            : t.features.contains(.avx512bf16) && t.lanes(.f32) == 8
                ? .avx256 : t.features.contains(.bf16) && t.lanes(.f32) == 4 ? .bfdot : .generic
        f32Lanes = t.lanes(.f32)
        maskedLoads = t.isa == .x86_64 && (t.features.contains(.avx2) || t.features.contains(.avx512f))
        maskedByteLoads = t.isa == .x86_64 && t.features.contains(.avx512f)
        l1Bytes = t.l1Bytes
        l2Bytes = t.l2Bytes
        layoutBlock = t.lanes(.f32)
        accumulators = t.vectorRegisters * 3 / 4
        singleBlockPixels = min(accumulators, 14)
        splitFlops = 1 << 21
        splitDepthwiseFlops = 1 << 19
        splitReads = 1 << 18
        grainFlops = splitFlops / 8
        grainDepthwiseFlops = splitDepthwiseFlops / 8
        grainReads = splitReads / 8
        maxScratchParts = 8
        partsPerThread = 1
    }

    /// Bytes of packed im2col columns the int8 and bf16 convolutions pack at a time: half of
    /// L2, so the chunk stays there while every row tile of weights sweeps it.
    var packedConvChunk: Int { l2Bytes / 2 }

    /// The accumulator type of multiply-accumulate kernels (matmul, conv) for an operand dtype:
    /// f32 for floats (f16/bf16 storage widens), i32 for 8- and 16-bit integers (int8 GEMMs
    /// accumulate in i32, as VNNI and SDOT do), the type itself otherwise.
    public static func accumulator(for dtype: DType) -> DType {
        switch dtype {
        case .f16, .bf16, .f32: .f32
        case .i8, .u8, .i16: .i32
        default: dtype
        }
    }

    /// The packed GEMM's blocking for an m × n × k product (BLIS-style, with A broadcast from
    /// its rows as MLAS does): an `mr` × `nv` vectors register tile using up to `accumulators`
    /// registers (AVX2 6×16, AVX-512 12×32, NEON 8×12 for large m); fewer rows for a small m,
    /// with panels widened to use the accumulators the missing rows leave (m = 1: up to 1×384 on
    /// AVX-512), and no k blocking when one row tile covers m. `kc` keeps one
    /// packed B panel (kc × nr floats) in three quarters of L1 (measured on the 1024³ product:
    /// half of L1 reached 67 GFLOP/s, three quarters 88–91, all of it 83, on a Zen 4 core where
    /// numpy/OpenBLAS reaches ~100), balanced so the K blocks are equal; `mc`
    /// keeps the rows of A one part walks per panel (mc × kc floats) in half of L2.
    public func gemm(m: Int, n: Int, k: Int) -> GemmBlocking {
        let w = f32Lanes
        let nvLarge = accumulators >= 24 && w == 4 ? 3 : 2
        let mr = max(1, min(accumulators / nvLarge, m))
        // Fewer rows than the full tile: wider panels use the accumulators the rows leave
        // (a matrix-vector product streams whole rows of B).
        let widest = max(1, min(max(nvLarge, accumulators / mr), (n + w - 1) / w))
        // A widened panel is only taken when it pads n by less than one vector (so packed
        // weights do not grow); the standard tile is kept whatever its padding.
        let standard = min(nvLarge, widest)
        let nv =
            stride(from: widest, to: standard, by: -1).first { nv in
                (n + nv * w - 1) / (nv * w) * (nv * w) - n < w
            } ?? standard
        let nr = nv * w
        // At most 256: on a 48 KiB L1 the three-quarter rule gives 288, and the MLP's k = 784
        // then blocks as 3 × 262 and ran 8% slower than as 4 × 196 (the 1024³ product is
        // fastest at 256).
        var kc = max(16, min(256, l1Bytes * 3 / 4 / (nr * 4)))
        if m <= mr || k <= kc + kc / 2 {
            // One row tile reuses no B panel across rows, so blocking k would only add C reloads.
            kc = max(k, 1)
        } else {
            let blocks = (k + kc - 1) / kc
            kc = (k + blocks - 1) / blocks
        }
        // No more rows than A has: a packed A's scratch is mc × kc per part.
        let mc = min(max(mr, l2Bytes / 2 / (kc * 4) / mr * mr), (m + mr - 1) / mr * mr)
        // A whose rows do not fit half of L2 (at most 512 KiB) is packed per (k block, row
        // block): its rows are far apart, and a tile's mr broadcasts per k step then come from
        // one cache line. (Unpacked on a 2 MiB-L2 core, the 800 KB A of the MLP's 784-wide
        // layer at batch 256 ran 5–10% slower; a 128-row A stays faster in place.)
        // So is an A whose rows are a multiple of 1 KiB apart: its tile's mr rows then share at
        // most 4 of L1's 64 sets (the MLP's 512-wide layer at batch 256: 61 → 90 GFLOP/s).
        let packA = m >= 4 * mr && (m * k * 4 > min(l2Bytes / 2, 512 << 10) || k % 256 == 0)
        // B packed at run time is copied up to half of L2 at a time (kc × ncPanels panels):
        // each further chunk of a part's columns packs its rows of A again.
        let ncPanels = max(1, l2Bytes / 2 / (kc * nr * 4))
        return GemmBlocking(mr: mr, nv: nv, lanes: w, kc: kc, mc: mc, packA: packA, ncPanels: ncPanels)
    }

    /// Parts a kernel may split into: as many grains of `work` as it has, at most `units`.
    public func parts(work: Int, grain: Int, units: Int) -> Int { max(1, min(units, work / max(grain, 1))) }

    /// Register tile for a blocked conv: `blocks` output channel blocks (2 when the count is
    /// even) × up to `pixels` output pixels, so blocks × pixels accumulators fit.
    public func blockedConvTile(outBlocks: Int) -> (blocks: Int, pixels: Int) {
        let blocks = outBlocks % 2 == 0 ? 2 : 1
        return (blocks, blocks == 1 ? singleBlockPixels : accumulators / blocks)
    }

    public var description: String {
        "layout block \(layoutBlock), \(accumulators) accumulators, "
            + "single-block conv tile \(singleBlockPixels) pixels, "
            + "split above \(splitFlops) flops (depthwise \(splitDepthwiseFlops), pooling \(splitReads) reads), "
            + "parts of at least \(grainFlops) flops, \(partsPerThread) per thread at run time, "
            + "at most \(maxScratchParts) with their own scratch"
    }
}

/// The packed GEMM's register tile and cache blocks (`Schedules.gemm`).
/// The instruction behind an int8 dot step: `vpdpbusd` on 512- or 256-bit registers (AVX512-VNNI,
/// AVX-VNNI), or portable IR (widen, multiply, add groups of four) that any target compiles,
/// so the same packing and compensation run and are tested on every host.
public enum Int8Dot: String, Hashable, Sendable {
    case vnni512 = "vpdpbusd zmm"
    case vnni256 = "vpdpbusd ymm"
    /// ARM's SDOT (`+dotprod`): s8 × s8, so a is packed as s8 and the compensation moves by 128.
    case sdot
    case generic

    /// The dot step multiplies signed a bytes (SDOT) instead of unsigned ones (VNNI, portable).
    public var signedA: Bool { self == .sdot }

    /// How far an activation byte and its zero point move into this dot step's domain: 0, or
    /// ±128 when packing flips the top bit (i8 → u8 for VNNI, u8 → s8 for SDOT).
    func zeroShift(signed: Bool) -> Int { signed == signedA ? 0 : signed ? 128 : -128 }

    /// The i32 lanes of the instruction's vectors; nil for the portable step, which takes any.
    var lanes: Int? {
        switch self {
        case .vnni512: 16
        case .vnni256: 8
        case .sdot: 4
        case .generic: nil
        }
    }
}

/// The bf16 GEMM's dot step: acc[i] += a[2i] · b[2i] + a[2i+1] · b[2i+1] with f32 products
/// and sums.
public enum Bf16Dot: String, Hashable, Sendable {
    /// `vdpbf16ps` (avx512_bf16) on zmm, or on ymm where the schedule is 8 lanes wide.
    case avx512 = "vdpbf16ps zmm"
    case avx256 = "vdpbf16ps ymm"
    /// ARM's BFDOT (`+bf16`) on `.4s`.
    case bfdot
    /// Portable IR: each half of a pair widened to f32 (a shift or a mask) and two FMAs, odd
    /// half first as `vdpbf16ps` orders them.
    case generic

    /// Whether the target's own instruction runs (`--precision bf16` asks for that).
    public var isNative: Bool { self != .generic }

    /// The f32 lanes of the instruction's vectors; nil for the portable step, which takes any.
    var lanes: Int? {
        switch self {
        case .avx512: 16
        case .avx256: 8
        case .bfdot: 4
        case .generic: nil
        }
    }
}

public struct GemmBlocking: Hashable, Sendable, CustomStringConvertible {
    /// Rows of C per register tile, vectors per row, and f32 lanes per vector.
    public var mr: Int
    public var nv: Int
    public var lanes: Int
    /// K per block (one packed B panel stays in L1) and rows of A per block (in L2).
    public var kc: Int
    public var mc: Int
    /// A is packed into mr-row panels per (k block, row block) in the part's scratch.
    public var packA = false
    /// Panels of B one run-time packed block holds (BLIS's nc, in panels): the jc step.
    public var ncPanels = 1
    /// Columns per packed B panel.
    public var nr: Int { nv * lanes }
    /// Floats of scratch one part packs A into (a multiple of 16: parts stay 64-byte aligned).
    public var packedAFloats: Int { packA ? (mc * kc + 15) / 16 * 16 : 0 }

    public var description: String { "\(mr)×\(nr) tile, kc \(kc), mc \(mc)\(packA ? ", A packed" : "")" }
}

extension KernelProgram {
    /// The matmul and convolution kernels' multiply-adds, and those of the int8 kernels and
    /// the bf16 GEMM and convolution.
    public var multiplyAdds: (total: Int, int8: Int, bf16: Int) {
        var total = 0, int8 = 0, bf16 = 0
        for k in kernels {
            guard let n = k.body.body.multiplyAdds else { continue }
            total &+= n
            if ["qmatmul", "qconv", "qconv-nchwc"].contains(k.body.unit) { int8 &+= n }
            if k.body.body is Bf16GemmBody || (k.body.body as? QConvUnit.Body)?.bf16 != nil
                || (k.body.body as? QConvBlockedUnit.Body)?.bf16 != nil
            {
                bf16 &+= n
            }
        }
        return (total, int8, bf16)
    }

    /// `sinter dump --kernel-report`: the target, its schedule values, and each kernel's own
    /// choices (vector width, register tile, parallel parts, scratch), one line per kernel.
    public func kernelReport(_ target: TargetInfo) -> String {
        var out = "// target: \(target)\n// schedules: \(target.schedules)\n"
        out += "// kernels: \(kernels.count), workspace \(workspaceSize) bytes\n"
        let macs = multiplyAdds
        if macs.total > 0 {
            let share = String(format: "%.1f", 100 * Double(macs.int8) / Double(macs.total))
            out += "// multiply-adds: \(macs.total), in int8 \(macs.int8) (\(share)%)"
            if macs.bf16 > 0 {
                // %d is 32-bit: ResNet-50's 4.1 G multiply-adds would wrap.
                let share = String(format: "%.1f", 100 * Double(macs.bf16) / Double(macs.total))
                out += ", in bf16 \(macs.bf16) (\(share)%)"
            }
            out += "\n"
        }
        for k in kernels {
            var parts = [k.body.unit, "f32 × \(k.vectorWidth)"]
            if let acc = k.body.body.accumulator { parts.append("accumulates \(acc)") }
            if let b = k.body.body as? Bf16GemmBody { parts.append("bf16 operands (\(b.dot.rawValue))") }
            if let dot = (k.body.body as? QConvUnit.Body)?.bf16 ?? (k.body.body as? QConvBlockedUnit.Body)?.bf16 {
                parts.append("bf16 operands (\(dot.rawValue))")
            }
            if let n = k.body.body.multiplyAdds { parts.append("\(n) multiply-adds") }
            if !k.registerTile.isEmpty {
                // A blocked conv's third entry: the last odd block's pixels.
                let tile = k.registerTile.prefix(2).map(String.init).joined(separator: "×")
                parts.append("tile \(tile)" + (k.registerTile.count > 2 ? ", last block 1×\(k.registerTile[2])" : ""))
            }
            parts.append(k.tasks > 1 ? "up to \(k.tasks) parts" : "whole")
            if k.scratchBytes > 0 { parts.append("scratch \(k.scratchBytes) B") }
            out +=
                "// \(k.name): \(parts.joined(separator: ", ")) "
                + "[\(k.sources.map { "%" + $0 }.joined(separator: ", "))]\n"
        }
        return out
    }
}
