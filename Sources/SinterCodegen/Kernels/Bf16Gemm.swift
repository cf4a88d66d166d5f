import SinterIR

/// `matmul {to = "f32"}` on bf16 operands — what `--precision bf16` makes of a matmul with
/// constant weights — as the bf16 GEMM: the int8 GEMM's structure with pairs. b (the
/// weights) is packed at compile time into panels of nr columns, each k pair of a panel one
/// row of nr × 2 bf16 (zero past k and n). Each part packs its row tiles of a (two k per
/// 32-bit word, mr words per pair) into its scratch, a block of rows at a time, then walks
/// panels × row tiles. A tile holds mr × nv f32 accumulators; per k pair it loads nv vectors
/// of the panel and each row broadcasts one word of a into a dot step per vector: `vdpbf16ps`
/// (avx512_bf16), BFDOT (ARM `+bf16`) or portable IR. Products of two bf16 values are exact
/// in f32, so the steps differ only in how they round sums. k is never split and parts own
/// whole row tiles: results are the same for every thread count. A run-time b (never made by
/// the pipeline) takes the typed loops.
struct Bf16GemmBody: KernelUnitBody, Hashable {
    /// The matmul's sizes, layouts, epilogue and blocking (`dotGemm`, two k per word).
    var shape: MatmulUnit.Body
    var dot: Bf16Dot

    var accumulator: DType? { .f32 }
    var multiplyAdds: Int? { shape.multiplyAdds }
    var blocking: GemmBlocking { shape.blocking }
    var pairs: Int { (shape.k + 1) / 2 }
    var panels: Int { (shape.n + blocking.nr - 1) / blocking.nr }
    var panelBytes: Int { pairs * blocking.nr * 4 }
    var rowTiles: Int { (shape.m + blocking.mr - 1) / blocking.mr }
    /// Row tiles of a packed from one block (its words stay in half of L2).
    var tilesPerBlock: Int { max(1, min(rowTiles, blocking.mc / blocking.mr)) }
    /// Bytes of scratch one part packs a into.
    var partScratchBytes: Int { (tilesPerBlock * pairs * blocking.mr * 4 + 63) / 64 * 64 }

    var description: String {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        return "\(shape.batch)×[\(m)×\(k)]·[\(k)×\(n)] bf16·bf16 in f32, \(dot.rawValue), \(blocking)"
            + (shape.packedB ? ", B packed" : ", B unpacked") + (shape.epilogue.map { ", epilogue \($0.expr)" } ?? "")
    }

    func emit(_ e: KernelEmitter, _ x: KernelArguments) {
        let extras = Array(x.ins.dropFirst(2))
        guard shape.packedB else { return e.typedGemm(shape, x.out, x.ins[0], x.ins[1], extras) }
        e.bf16Gemm(self, x.out, x.ins[0], x.ins[1], extras, scratch: x.scratch, task: x.task, tasks: x.parts)
    }

    /// Split by row tiles once the work pays for waking threads; each part packs its own rows
    /// of a into its scratch.
    func schedule(_ kernel: inout Kernel, _ s: Schedules) {
        kernel.registerTile = [blocking.mr, blocking.nr]
        guard shape.packedB else { return }
        kernel.scratchBytes = KernelProgram.aligned(partScratchBytes)
        let work = checkedProduct(shape.batch + [shape.m, shape.n, shape.k]) ?? .max
        // A bf16 multiply-add costs about half an f32 one.
        guard work / 2 >= s.splitFlops else { return }
        kernel.tasks = s.parts(work: work / 2, grain: s.grainFlops, units: min(rowTiles, s.maxScratchParts))
        kernel.scratchBytes = KernelProgram.aligned(kernel.tasks * partScratchBytes)
    }

    /// b (operand 1, a constant shared by every batch entry) as panels of k pairs.
    func prepacking(_ operand: Int, _ data: TensorData) -> (body: any KernelUnitBody, data: TensorData)? {
        let b = shape.b
        guard operand == 1, !shape.packedB, data.dtype == .bf16, b.batch.allSatisfy({ $0 == 0 }) else { return nil }
        let (k, n, nr) = (shape.k, shape.n, blocking.nr)
        var bytes = [UInt8](repeating: 0, count: panels * panelBytes)
        let ok = data.bytes.withUnsafeBytes { raw -> Bool in
            let values = raw.bindMemory(to: UInt16.self)
            for kk in 0..<k {
                for j in 0..<n {
                    let at = b.offset + kk * b.rowStride + j * b.colStride
                    guard values.indices.contains(at) else { return false }
                    let dst = (j / nr) * panelBytes + ((kk / 2) * nr + j % nr) * 4 + (kk % 2) * 2
                    bytes[dst] = UInt8(truncatingIfNeeded: values[at])
                    bytes[dst + 1] = UInt8(truncatingIfNeeded: values[at] >> 8)
                }
            }
            return true
        }
        guard ok else { return nil }
        var body = self
        body.shape.packedB = true
        return (body, TensorData(dtype: .u8, shape: [bytes.count], bytes: bytes))
    }
}

extension KernelEmitter {
    func bf16Gemm(
        _ body: Bf16GemmBody, _ out: IRValue, _ a: IRValue, _ b: IRValue, _ extras: [IRValue], scratch: IRValue,
        task: IRValue, tasks: IRValue
    ) {
        let s = body.shape
        guard s.m > 0, s.n > 0, s.batch.allSatisfy({ $0 > 0 }) else { return }
        let bl = body.blocking
        let (u0, u1) = partRange(body.rowTiles, task: task, tasks: tasks)
        let rowBegin = ir.mul(u0, c(bl.mr)), rowEnd = smin(ir.mul(u1, c(bl.mr)), c(s.m))
        let buffer = ir.gep(ir.i8, scratch, ir.mul(task, c(body.partScratchBytes)))
        let blockRows = body.tilesPerBlock * bl.mr
        let full = s.n / bl.nr
        forEachBatchEntry(s, extras) { offs, args in
            ir.forLoop(rowBegin, rowEnd, step: blockRows, "bb") { r0 in
                let r1 = smin(ir.add(r0, c(blockRows)), rowEnd)
                packBf16Rows(body, a, offs[0], r0, r1, into: buffer)
                for (first, count, partial) in [(c(0), c(full), false), (c(full), c(s.n % bl.nr == 0 ? 0 : 1), true)] {
                    if partial ? s.n % bl.nr == 0 : full == 0 { continue }
                    ir.forLoop(first, ir.add(first, count), partial ? "bpt" : "bp") { p in
                        ir.forLoop(r0, r1, step: bl.mr, "br") { i in
                            bf16Tile(body, buffer, b, out, offs[2], i, r0, r1, p, args, partial: partial)
                        }
                    }
                }
            }
        }
    }

    /// acc + a[2i] · b[2i] + a[2i+1] · b[2i+1] per f32 lane (`a`, `b`: w i32 lanes of two bf16).
    func dotBf16(_ kind: Bf16Dot, _ acc: IRValue, _ a: IRValue, _ b: IRValue, lanes w: Int) -> IRValue {
        let halves = ir.vector(ir.bf16, 2 * w)
        switch kind {
        case .avx512, .avx256:
            let name = "llvm.x86.avx512bf16.dpbf16ps.\(w * 32)"
            return ir.intrinsic(name, [acc, ir.bitcast(a, halves), ir.bitcast(b, halves)], overloads: [])
        case .bfdot:
            return ir.intrinsic(
                "llvm.aarch64.neon.bfdot", [acc, ir.bitcast(a, halves), ir.bitcast(b, halves)],
                overloads: [acc.type, halves])
        case .generic:
            let floats = ir.vector(ir.f32, w)
            let high = ir.constInt(ir.i32, Int(Int32(bitPattern: 0xFFFF_0000)), width: w)
            func odd(_ x: IRValue) -> IRValue { ir.bitcast(ir.and(x, high), floats) }
            func even(_ x: IRValue) -> IRValue { ir.bitcast(ir.shl(x, ir.constInt(ir.i32, 16, width: w)), floats) }
            let sum = ir.intrinsic("llvm.fma", [odd(a), odd(b), acc])
            return ir.intrinsic("llvm.fma", [even(a), even(b), sum])
        }
    }

    /// One register tile: rows i..<i+mr (clamped below `rowLimit`) of panel `p` over all of k.
    private func bf16Tile(
        _ body: Bf16GemmBody, _ aPacked: IRValue, _ b: IRValue, _ out: IRValue, _ cOff: IRValue, _ i: IRValue,
        _ blockStart: IRValue, _ rowLimit: IRValue, _ p: IRValue, _ epilogue: EpilogueArgs?, partial: Bool
    ) {
        let bl = body.blocking, n = body.shape.n
        let (w, mr, nr) = (bl.lanes, bl.mr, bl.nr)
        let tail = n % nr
        let vectors = partial ? (tail + w - 1) / w : bl.nv
        let lastMask: IRValue? = partial && tail % w != 0 ? ir.laneMask(tail % w, width: w) : nil
        let rows = (0..<mr).map { r in r == 0 ? i : smin(ir.add(i, c(r)), ir.sub(rowLimit, c(1))) }
        let tile = ir.sdiv(ir.sub(i, blockStart), c(mr))
        let acc = dotSums(
            zero: ir.constReal(ir.f32, 0, width: w), a: aPacked, aBase: ir.mul(tile, c(body.pairs * mr * 4)),
            aRows: mr, rows: mr, b: b, bBase: ir.mul(p, c(body.panelBytes)), bBytes: nr * 4, vectors: vectors,
            lanes: w, words: body.pairs
        ) { acc, av, bv in dotBf16(body.dot, acc, av, bv, lanes: w) }
        let col0 = ir.mul(p, c(nr))
        for u in 0..<vectors {
            let col = ir.add(col0, c(u * w))
            let mask = u == vectors - 1 ? lastMask : nil
            for r in 0..<mr {
                var value = acc[r * vectors + u]
                if let e = epilogue {
                    value = applyEpilogue(e, value, row: rows[r], col: col, width: w, mask: mask, dtype: e.result)
                }
                storeResult(value, out, ir.add(cOff, ir.add(ir.mul(rows[r], c(n)), col)), epilogue?.result, mask: mask)
            }
        }
    }

    /// Rows [begin, end) of a as mr-row tiles: tile t, pair q, row r at byte ((t · pairs + q) · mr + r) · 4,
    /// read through a's layout; rows past `end` repeat the last one and k past its end is zero.
    private func packBf16Rows(
        _ body: Bf16GemmBody, _ a: IRValue, _ aOff: IRValue, _ begin: IRValue, _ end: IRValue, into buffer: IRValue
    ) {
        let (mr, k, pairs) = (body.blocking.mr, body.shape.k, body.pairs)
        let layout = body.shape.a
        let tiles = ceilDiv(ir.sub(end, begin), c(mr))
        ir.forLoop(c(0), ir.mul(tiles, c(mr)), "ba") { j in
            let row = smin(ir.add(begin, j), ir.sub(end, c(1)))
            let src = ir.add(aOff, ir.mul(row, c(layout.rowStride)))
            let dst = ir.add(ir.mul(ir.sdiv(j, c(mr)), c(pairs * mr * 4)), ir.mul(ir.srem(j, c(mr)), c(4)))
            func half(_ kk: IRValue) -> IRValue {
                ir.zext(
                    ir.load(ir.i16, ir.gep(ir.i16, a, ir.add(src, ir.mul(kk, c(layout.colStride)))), align: 2), ir.i32)
            }
            if k / 2 > 0 {
                ir.forLoop(c(0), c(k / 2), "bk") { q in
                    let word: IRValue
                    if layout.colStride == 1 {
                        word = ir.load(ir.i32, ir.gep(ir.i16, a, ir.add(src, ir.mul(q, c(2)))), align: 2)
                    } else {
                        let kk = ir.mul(q, c(2))
                        word = ir.or(half(kk), ir.shl(half(ir.add(kk, c(1))), ir.constInt(ir.i32, 16)))
                    }
                    ir.store(word, ir.gep(ir.i8, buffer, ir.add(dst, ir.mul(q, c(mr * 4)))))
                }
            }
            if k % 2 != 0 {
                ir.store(half(c(k - 1)), ir.gep(ir.i8, buffer, ir.add(dst, c((k / 2) * mr * 4))))
            }
        }
    }
}
