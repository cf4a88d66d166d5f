import SinterIR

/// `qmatmul` as a kernel unit: the int8 GEMM. a (u8 or i8, per tensor) times b (i8, zero
/// point 0, per tensor or per column) summed in i32, then
/// `f32(acc - zero_a · colsum(b) + bias[j]) · (scale_a · scale_b[j])` (the i32 bias is optional)
/// and the fused f32 epilogue; batch dimensions broadcast.
///
/// b is packed for `vpdpbusd` (u8 × s8, four k per i32 lane): panels of nr columns, each k quad
/// of a panel one row of nr × 4 bytes, zero past k and n; after the panels come the
/// compensation `zero_a · colsum(b)` (i32) and the scales (f32), one per padded column. A
/// constant b [K, N] is packed so at compile time; any other b (attention's Kᵀ and V) by each
/// part into its scratch, per batch entry, as the kernel runs. a is moved into the dot step's
/// domain while it is packed (i8 → u8 for VNNI, u8 → s8 for ARM's SDOT, flipping the top bit),
/// and its zero point with it.
struct QMatmulUnit: KernelUnit {
    static let name = "qmatmul"

    /// a is u8 or i8 (quantized per tensor), or f32: quantized per row while it is packed.
    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands.count == 2 || (operands.count == 3 && operands[2] == .i32))
            && [.u8, .i8, .f32].contains(operands[0]) && operands[1] == .i8 && results == [.f32]
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let a = c.operandTypes[0], b = c.operandTypes[1]
        guard let qb = b.quant, qb.isSymmetric, a.dtype == .f32 || a.quant != nil else {
            throw c.fail("qmatmul needs b with zero point 0 (expand-quant runs other cases in f32)")
        }
        let x = c.inShapes[0], out = c.outShape
        let (m, k, n) = (x[x.count - 2], x[x.count - 1], out[out.count - 1])
        let batch = Array(out.dropLast(2))
        // Operands are contiguous (no view is fused into a qmatmul).
        let contiguous = { (s: [Int]) in MatmulUnit.batchStrides(s, contiguousStrides(s), along: batch) }
        let strides = (a: contiguous(x), b: contiguous(c.inShapes[1]))
        let signed = a.dtype == .i8, dot = c.schedules.int8Dot
        let blocking = c.schedules.int8Gemm(m: m, n: n, k: k)
        guard let qa = a.quant else {
            // The shape rule refuses an i32 bias here (its scale would be the rows' own).
            guard c.operandTypes.count == 2 else { throw c.fail("a dynamic qmatmul takes no i32 bias") }
            // Dynamic: the trailer holds colsum(b) (zero 1) and b's scales; rows bring their own.
            let scales = (0..<n).map { j in qb.pair(j).scale }
            return [
                Body(
                    batch: batch, aBatch: strides.a, bBatch: strides.b, m: m, n: n, k: k, flipA: false, zeroA: 1,
                    scales: scales, blocking: blocking, dot: dot, epilogue: c.epilogue, dynamic: true)
            ]
        }
        let scales = QuantParams.bias(a: qa, b: qb, channels: n).scales
        // Bytes are packed in the dot step's domain (`Int8Dot.zeroShift`).
        let shift = dot.zeroShift(signed: signed)
        return [
            Body(
                batch: batch, aBatch: strides.a, bBatch: strides.b, m: m, n: n, k: k, flipA: shift != 0,
                zeroA: qa.zeroPoints[0] + shift, scales: scales, blocking: blocking, dot: dot, epilogue: c.epilogue,
                bias: c.operandTypes.count == 3)
        ]
    }

    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? {
        MatmulUnit.epilogueOperand(strides, dtype)
    }

    struct Body: KernelUnitBody, Hashable {
        var batch: [Int]
        /// a's and b's element strides along `batch` (0 where they broadcast).
        var aBatch: [Int], bBatch: [Int]
        var m: Int, n: Int, k: Int
        /// Packing flips each byte's top bit into the dot step's domain; `zeroA` is a's zero
        /// point there.
        var flipA: Bool
        var zeroA: Int
        /// scale_a · scale_b[j] per column (f32, as the reference multiplies them).
        var scales: [Float]
        var blocking: GemmBlocking
        var dot: Int8Dot
        var epilogue: Epilogue?
        /// An i32 bias per column (operand 2), added to the sums with the compensation.
        var bias = false
        /// a is f32, quantized per row as it is packed (`quantizeRows`): `zeroA` is 1 (the
        /// trailer holds colsum(b)) and `scales` are b's alone.
        var dynamic = false
        /// b is the packed constant (panels, compensation, scales); otherwise each part packs it
        /// the same way at run time (`packInt8Panels`).
        var packedB = false

        var accumulator: DType? { .i32 }
        var multiplyAdds: Int? { checkedProduct(batch + [m, n, k]) }
        var quads: Int { (k + 3) / 4 }
        var panels: Int { (n + blocking.nr - 1) / blocking.nr }
        var paddedColumns: Int { panels * blocking.nr }
        var panelBytes: Int { quads * blocking.nr * 4 }
        /// Byte offsets of the compensation and the scales in the packed constant.
        var compensationOffset: Int { (panels * panelBytes + 63) / 64 * 64 }
        var scalesOffset: Int { compensationOffset + paddedColumns * 4 }
        var rowTiles: Int { (m + blocking.mr - 1) / blocking.mr }
        /// Row tiles of a packed from one block (its bytes stay in half of L2).
        var tilesPerBlock: Int { max(1, min(rowTiles, blocking.mc / blocking.mr)) }
        /// Where a dynamic part keeps its rows' scales and zero points, after the packed bytes.
        var rowInfoOffset: Int { (tilesPerBlock * quads * blocking.mr * 4 + 63) / 64 * 64 }
        /// Where a part packs b at run time: after its block of a (and the rows' scales and zero
        /// points).
        var runTimeBOffset: Int { rowInfoOffset + (dynamic ? (tilesPerBlock * blocking.mr * 8 + 63) / 64 * 64 : 0) }
        /// The bytes of b packed: panels and trailer.
        var packedBBytes: Int { scalesOffset + paddedColumns * 4 }
        /// Bytes of scratch one part packs a (and a run-time b) into.
        var partScratchBytes: Int { runTimeBOffset + (packedB ? 0 : (packedBBytes + 63) / 64 * 64) }

        var description: String {
            let bytes = (dynamic ? "f32 quantized per row, " : "") + (dot.signedA ? "s8·s8" : "u8·s8")
            return "\(batch)×[\(m)×\(k)]·[\(k)×\(n)] \(bytes) in i32, \(dot.rawValue), \(blocking)"
                + (packedB ? ", B packed" : ", B packed at run time") + (bias ? ", i32 bias" : "")
                + (epilogue.map { ", epilogue \($0.expr)" } ?? "")
        }

        /// The same sizes as a matmul body, for the batch loop and the epilogue's addressing.
        var shape: MatmulUnit.Body {
            MatmulUnit.Body(
                batch: batch, a: MatrixLayout(offset: 0, batch: aBatch, rowStride: k, colStride: 1),
                b: MatrixLayout(offset: 0, batch: bBatch, rowStride: n, colStride: 1), m: m, n: n, k: k,
                accumulating: .i32, epilogue: epilogue, blocking: blocking, dtype: .f32)
        }

        func emit(_ e: KernelEmitter, _ x: KernelArguments) {
            e.int8Gemm(
                self, x.out, x.ins[0], x.ins[1], bias ? x.ins[2] : nil, Array(x.ins.dropFirst(bias ? 3 : 2)),
                scratch: x.scratch, task: x.task, tasks: x.parts)
        }

        /// Split by row tiles once the work pays for waking threads; each part packs its own rows
        /// of a (and, when b is not a packed constant, all of b) into its scratch.
        func schedule(_ kernel: inout Kernel, _ s: Schedules) {
            kernel.registerTile = [blocking.mr, blocking.nr]
            kernel.scratchBytes = KernelProgram.aligned(partScratchBytes)
            let work = checkedProduct(batch + [m, n, k]) ?? .max
            // An int8 multiply-add costs about a quarter of an f32 one.
            guard work / 4 >= s.splitFlops else { return }
            kernel.tasks = s.parts(work: work / 4, grain: s.grainFlops, units: min(rowTiles, s.maxScratchParts))
            kernel.scratchBytes = KernelProgram.aligned(kernel.tasks * partScratchBytes)
        }

        func prepacking(_ operand: Int, _ data: TensorData) -> (body: any KernelUnitBody, data: TensorData)? {
            guard operand == 1, !packedB, data.dtype == .i8, data.shape == [k, n] else { return nil }
            let nr = blocking.nr
            // b[kk, j]: panel j / nr, k quad kk / 4, column j % nr, byte kk % 4.
            let packed = Int8Packing.pack(
                data, count: scalesOffset + paddedColumns * 4, slots: paddedColumns, zero: zeroA, scales: scales,
                compensationAt: compensationOffset, scalesAt: scalesOffset
            ) { i in
                let (kk, j) = (i / n, i % n)
                return ((j / nr) * panelBytes + ((kk / 4) * nr + j % nr) * 4 + kk % 4, j)
            }
            var body = self
            body.packedB = true
            return (body, packed)
        }
    }
}

extension Schedules {
    /// The int8 GEMM's blocking: `dotGemm` with four k per word.
    public func int8Gemm(m: Int, n: Int, k: Int) -> GemmBlocking { dotGemm(m: m, n: n, k: k, perWord: 4) }

    /// The blocking of a GEMM whose dot step sums `perWord` products per 32-bit lane (int8:
    /// four, bf16: two): the f32 register tile (i32 lanes are f32 lanes), k unblocked (i32
    /// sums of u8 × s8 cannot overflow below 65,536 terms, and every sum runs in one order; a
    /// panel row is one word of k per column), and row blocks of a whose packed words fill
    /// half of L2.
    public func dotGemm(m: Int, n: Int, k: Int, perWord: Int) -> GemmBlocking {
        var g = gemm(m: m, n: n, k: k)
        g.kc = max(k, 1)
        g.mc = max(g.mr, l2Bytes / 2 / max(4 * ((k + perWord - 1) / perWord), 1) / g.mr * g.mr)
        g.packA = true
        return g
    }
}

/// What the int8 kernels' packed constants share.
enum Int8Packing {
    /// i8 weights packed for an int8 kernel: element i of `data` goes to byte `place(i).at` and
    /// adds to the sum of trailer slot `place(i).slot`; `count` bytes in all, the trailer
    /// (`writeTrailer`: each slot's `zero · sum` and `scales[slot]`) at the given offsets.
    static func pack(
        _ data: TensorData, count: Int, slots: Int, zero: Int, scales: [Float], compensationAt: Int, scalesAt: Int,
        place: (Int) -> (at: Int, slot: Int)
    ) -> TensorData {
        var bytes = [UInt8](repeating: 0, count: count)
        var sums = [Int](repeating: 0, count: slots)
        data.bytes.withUnsafeBytes { raw in
            for (i, v) in raw.bindMemory(to: Int8.self).enumerated() {
                let (at, slot) = place(i)
                bytes[at] = UInt8(bitPattern: v)
                sums[slot] += Int(v)
            }
        }
        writeTrailer(
            &bytes, compensationAt: compensationAt, scalesAt: scalesAt, zero: zero, sums: sums, scales: scales)
        return TensorData(dtype: .u8, shape: [count], bytes: bytes)
    }

    /// The trailer after the packed bytes: per padded column (a GEMM's) or row (a conv's) the
    /// compensation `zero · sum` as i32 at `compensationAt`, and the scale as f32 at `scalesAt`
    /// (0 past the real ones).
    static func writeTrailer(
        _ bytes: inout [UInt8], compensationAt: Int, scalesAt: Int, zero: Int, sums: [Int], scales: [Float]
    ) {
        for j in sums.indices {
            let comp = UInt32(bitPattern: Int32(truncatingIfNeeded: zero * sums[j]))
            let scale = j < scales.count ? scales[j].bitPattern : 0
            for t in 0..<4 {
                bytes[compensationAt + j * 4 + t] = UInt8(truncatingIfNeeded: comp >> (8 * t))
                bytes[scalesAt + j * 4 + t] = UInt8(truncatingIfNeeded: scale >> (8 * t))
            }
        }
    }
}
