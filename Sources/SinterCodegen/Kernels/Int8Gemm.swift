import SinterIR

/// The int8 GEMM behind `qmatmul`, the f32 GEMM's structure with bytes: each part packs its
/// row tiles of a (four k per i32 word, mr words per k quad, +128 when a is i8) into its
/// scratch, one block of rows at a time, then walks panels × row tiles. A tile holds mr × nv
/// i32 accumulators; each k quad loads nv vectors of the panel (nr columns × 4 bytes), and
/// each row broadcasts one word of a into a dot step per vector: `vpdpbusd` where the target
/// has VNNI, `sdot` on ARM with `+dotprod`, or portable IR (widen, multiply, add each group of
/// four lanes) elsewhere. After
/// k, each accumulator vector loses the compensation, turns f32, takes its columns' scales
/// and the fused epilogue, and is stored (masked at the last panel's edge). Parts own whole row
/// tiles and k is never split, so results are the same for every thread count.
extension KernelEmitter {
    func int8Gemm(
        _ body: QMatmulUnit.Body, _ out: IRValue, _ a: IRValue, _ b: IRValue, _ bias: IRValue?, _ extras: [IRValue],
        scratch: IRValue,
        task: IRValue, tasks: IRValue
    ) {
        guard body.m > 0, body.n > 0, body.batch.allSatisfy({ $0 > 0 }) else { return }
        let bl = body.blocking
        let (u0, u1) = partRange(body.rowTiles, task: task, tasks: tasks)
        let rowBegin = ir.mul(u0, c(bl.mr)), rowEnd = smin(ir.mul(u1, c(bl.mr)), c(body.m))
        let buffer = ir.gep(ir.i8, scratch, ir.mul(task, c(body.partScratchBytes)))
        let panels = body.packedB ? b : ir.gep(ir.i8, buffer, c(body.runTimeBOffset))
        let blockRows = body.tilesPerBlock * bl.mr
        let full = body.n / bl.nr
        forEachBatchEntry(body.shape, extras) { offs, args in
            if !body.packedB { packInt8Panels(body, b, offs[1], into: panels) }
            ir.forLoop(rowBegin, rowEnd, step: blockRows, "qb") { r0 in
                let r1 = smin(ir.add(r0, c(blockRows)), rowEnd)
                if body.dynamic {
                    quantizeRows(body, a, offs[0], r0, r1, into: buffer)
                } else {
                    packInt8Rows(body, a, offs[0], r0, r1, into: buffer)
                }
                if full > 0 {
                    ir.forLoop(c(0), c(full), "qp") { p in
                        ir.forLoop(r0, r1, step: bl.mr, "qr") { i in
                            int8Tile(body, buffer, (panels, bias), out, offs[2], i, r0, r1, p, args, partial: false)
                        }
                    }
                }
                if body.n % bl.nr != 0 {
                    ir.forLoop(r0, r1, step: bl.mr, "qrt") { i in
                        int8Tile(body, buffer, (panels, bias), out, offs[2], i, r0, r1, c(full), args, partial: true)
                    }
                }
            }
        }
    }

    /// acc + Σ of each group of four u8 × s8 products, per i32 lane (`a`, `b`: w i32 lanes of
    /// four bytes each).
    func dot8(_ kind: Int8Dot, _ acc: IRValue, _ a: IRValue, _ b: IRValue, lanes w: Int) -> IRValue {
        switch kind {
        case .vnni512: return ir.intrinsic("llvm.x86.avx512.vpdpbusd.512", [acc, a, b], overloads: [])
        case .vnni256: return ir.intrinsic("llvm.x86.avx512.vpdpbusd.256", [acc, a, b], overloads: [])
        case .sdot:
            let bytes = ir.vector(ir.i8, 4 * w)
            return ir.intrinsic(
                "llvm.aarch64.neon.sdot", [acc, ir.bitcast(a, bytes), ir.bitcast(b, bytes)],
                overloads: [acc.type, bytes])
        case .generic:
            let bytes = ir.vector(ir.i8, 4 * w), wide = ir.vector(ir.i32, 4 * w)
            let products = ir.mul(ir.zext(ir.bitcast(a, bytes), wide), ir.sext(ir.bitcast(b, bytes), wide))
            var sum = acc
            for t in 0..<4 { sum = ir.add(sum, ir.lanes(products, (0..<w).map { 4 * $0 + t })) }
            return sum
        }
    }

    /// The micro-kernel's sums over `quads` k quads: `rows` × `vectors` i32 accumulators
    /// (row-major), laid out as `dotSums` reads them. With `unsignedA` the broadcast bytes are
    /// the dot step's unsigned operand (a GEMM's activations); otherwise the vectors are (a
    /// conv's packed input against its weights).
    func int8Sums(
        _ dot: Int8Dot, a: IRValue, aBase: IRValue, aRows: Int, rows: Int, b: IRValue, bBase: IRValue, bBytes: Int,
        vectors: Int, lanes w: Int, quads: Int, unsignedA: Bool
    ) -> [IRValue] {
        dotSums(
            zero: ir.constInt(ir.i32, 0, width: w), a: a, aBase: aBase, aRows: aRows, rows: rows, b: b, bBase: bBase,
            bBytes: bBytes, vectors: vectors, lanes: w, words: quads
        ) { acc, av, bv in unsignedA ? dot8(dot, acc, av, bv, lanes: w) : dot8(dot, acc, bv, av, lanes: w) }
    }

    /// The sums of a dot-step micro-kernel over `words` k words (four int8 or two bf16 values
    /// of k per 32-bit lane): `rows` × `vectors` accumulators (row-major) starting at `zero`.
    /// Row r's broadcast word for word q is at byte aBase + (q · aRows + r) · 4 of `a`; vector
    /// u of word q at byte bBase + q · bBytes + u · lanes · 4 of `b`. `step(acc, a, b)` is one
    /// dot step on i32-lane vectors.
    func dotSums(
        zero: IRValue, a: IRValue, aBase: IRValue, aRows: Int, rows: Int, b: IRValue, bBase: IRValue, bBytes: Int,
        vectors: Int, lanes w: Int, words count: Int, _ step: (IRValue, IRValue, IRValue) -> IRValue
    ) -> [IRValue] {
        let words = ir.vector(ir.i32, w)
        return ir.forLoop(c(0), c(count), carrying: Array(repeating: zero, count: rows * vectors), "q") { q, acc in
            let bRow = ir.add(bBase, ir.mul(q, c(bBytes)))
            let bv = (0..<vectors).map { u in ir.load(words, ir.gep(ir.i8, b, ir.add(bRow, c(u * w * 4)))) }
            var next = acc
            for r in 0..<rows {
                let word = ir.load(ir.i32, ir.gep(ir.i8, a, ir.add(aBase, ir.add(ir.mul(q, c(aRows * 4)), c(r * 4)))))
                let av = ir.splat(word, w)
                for u in 0..<vectors { next[r * vectors + u] = step(acc[r * vectors + u], av, bv[u]) }
            }
            return next
        }
    }

    /// One register tile: rows i..<i+mr (clamped below `rowLimit`) of panel `p` over all of k.
    private func int8Tile(
        _ body: QMatmulUnit.Body, _ aPacked: IRValue, _ operands: (b: IRValue, bias: IRValue?), _ out: IRValue,
        _ cOff: IRValue, _ i: IRValue, _ blockStart: IRValue, _ rowLimit: IRValue, _ p: IRValue,
        _ epilogue: EpilogueArgs?, partial: Bool
    ) {
        let b = operands.b
        let bl = body.blocking
        let (w, mr, nr) = (bl.lanes, bl.mr, bl.nr)
        let tail = body.n % nr
        let vectors = partial ? (tail + w - 1) / w : bl.nv
        let lastMask: IRValue? = partial && tail % w != 0 ? ir.laneMask(tail % w, width: w) : nil
        func mask(_ u: Int) -> IRValue? { u == vectors - 1 ? lastMask : nil }
        let rows = (0..<mr).map { r in r == 0 ? i : smin(ir.add(i, c(r)), ir.sub(rowLimit, c(1))) }
        let tile = ir.sdiv(ir.sub(i, blockStart), c(mr))
        let aTile = ir.mul(tile, c(body.quads * mr * 4))
        let bPanel = ir.mul(p, c(body.panelBytes))
        let words = ir.vector(ir.i32, w)
        let acc = int8Sums(
            body.dot, a: aPacked, aBase: aTile, aRows: mr, rows: mr, b: b, bBase: bPanel, bBytes: nr * 4,
            vectors: vectors, lanes: w, quads: body.quads, unsignedA: true)
        let col0 = ir.mul(p, c(nr))
        // Dynamic: each row's own scale and zero point, as `quantizeRows` left them.
        let rowInfo = (0..<mr).map { r -> (scale: IRValue, zero: IRValue)? in
            guard body.dynamic else { return nil }
            let at = ir.add(c(body.rowInfoOffset), ir.mul(ir.sub(rows[r], blockStart), c(8)))
            let scale = ir.load(ir.f32, ir.gep(ir.i8, aPacked, at))
            let zero = ir.load(ir.i32, ir.gep(ir.i8, aPacked, ir.add(at, c(4))))
            return (ir.splat(scale, w), ir.splat(zero, w))
        }
        for u in 0..<vectors {
            let col = ir.add(col0, c(u * w))
            // The compensation zero_a · colsum(b); dynamic rows keep colsum(b) and their zero points.
            var comp = ir.load(words, ir.gep(ir.i8, b, ir.add(c(body.compensationOffset), ir.mul(col, c(4)))))
            // The compensation less the columns' i32 bias: acc − comp + bias in one subtraction.
            if let bias = operands.bias {
                let at = ir.gep(ir.i32, bias, col)
                comp = ir.sub(comp, mask(u).map { ir.maskedLoad(words, at, mask: $0, align: 4) } ?? ir.load(words, at))
            }
            let scale = ir.load(
                ir.vector(ir.f32, w), ir.gep(ir.i8, b, ir.add(c(body.scalesOffset), ir.mul(col, c(4)))))
            for r in 0..<mr {
                let rowComp = rowInfo[r].map { ir.mul($0.zero, comp) } ?? comp
                let rowScale = rowInfo[r].map { ir.fmul($0.scale, scale) } ?? scale
                var value = ir.fmul(ir.sitofp(ir.sub(acc[r * vectors + u], rowComp), ir.vector(ir.f32, w)), rowScale)
                if let e = epilogue {
                    value = applyEpilogue(e, value, row: rows[r], col: col, width: w, mask: mask(u), dtype: e.result)
                }
                storeResult(
                    value, out, ir.add(cOff, ir.add(ir.mul(rows[r], c(body.n)), col)), epilogue?.result, mask: mask(u))
            }
        }
    }

    /// b [k, n] at element offset `bOff` (rows n apart) packed as `QMatmulUnit.Body.prepacking`
    /// packs a constant b, so the tiles read both alike: per panel of nr columns, each k quad's
    /// four rows interleaved into nr words (zero past k and n), then the trailer — each
    /// column's compensation zero_a · colsum(b) and its scale.
    private func packInt8Panels(_ body: QMatmulUnit.Body, _ b: IRValue, _ bOff: IRValue, into out: IRValue) {
        let (k, n, nr) = (body.k, body.n, body.blocking.nr)
        let bytes = ir.vector(ir.i8, nr), sums = ir.vector(ir.i32, nr)
        let scales = ir.constantFloats(
            "qmatmul.scales", body.scales + Array(repeating: 0, count: body.paddedColumns - body.scales.count))
        // Byte 4j + t of a panel row is row t's column j.
        let pairs = (0..<nr).flatMap { j in [j, nr + j] }
        let interleave = (0..<nr).flatMap { (j: Int) -> [Int] in
            let low = 2 * j, high = 2 * nr + 2 * j
            return [low, low + 1, high, high + 1]
        }
        func panel(_ p: IRValue, columns: Int) {
            let mask: IRValue? = columns < nr ? ir.laneMask(columns, width: nr) : nil
            let col0 = ir.mul(p, c(nr))
            let base = ir.mul(p, c(body.panelBytes))
            func row(_ kk: IRValue) -> IRValue {
                let at = ir.gep(ir.i8, b, ir.add(bOff, ir.add(ir.mul(kk, c(n)), col0)))
                return mask.map { ir.maskedLoad(bytes, at, mask: $0, align: 1) } ?? ir.load(bytes, at, align: 1)
            }
            // One k quad: its rows interleaved and stored, their sum added to `s`.
            func quad(_ q: IRValue, _ rows: [IRValue], _ s: IRValue) -> IRValue {
                let words = ir.shuffle(
                    ir.shuffle(rows[0], rows[1], pairs), ir.shuffle(rows[2], rows[3], pairs), interleave)
                ir.store(words, ir.gep(ir.i8, out, ir.add(base, ir.mul(q, c(nr * 4)))), align: 4)
                return rows.reduce(s) { ir.add($0, ir.sext($1, sums)) }
            }
            var total = ir.forLoop(c(0), c(k / 4), carrying: [ir.constInt(ir.i32, 0, width: nr)], "bq") { q, s in
                [quad(q, (0..<4).map { t in row(ir.add(ir.mul(q, c(4)), c(t))) }, s[0])]
            }[0]
            if k % 4 != 0 {
                let rows = (0..<4).map { t in t < k % 4 ? row(c(k / 4 * 4 + t)) : ir.constInt(ir.i8, 0, width: nr) }
                total = quad(c(k / 4), rows, total)
            }
            let compensation = ir.mul(total, ir.constInt(ir.i32, body.zeroA, width: nr))
            let at = ir.mul(col0, c(4))
            ir.store(compensation, ir.gep(ir.i8, out, ir.add(c(body.compensationOffset), at)), align: 4)
            let scale = ir.load(ir.vector(ir.f32, nr), ir.gep(ir.i8, scales, at))
            ir.store(scale, ir.gep(ir.i8, out, ir.add(c(body.scalesOffset), at)), align: 4)
        }
        if n / nr > 0 { ir.forLoop(c(0), c(n / nr), "bp") { p in panel(p, columns: nr) } }
        if n % nr != 0 { panel(c(n / nr), columns: n % nr) }
    }

    /// Rows [begin, end) of a as mr-row tiles: tile t, quad q, row r at byte ((t · quads + q) · mr + r) · 4;
    /// rows past `end` repeat the last one and k past its end is zero.
    private func packInt8Rows(
        _ body: QMatmulUnit.Body, _ a: IRValue, _ aOff: IRValue, _ begin: IRValue, _ end: IRValue,
        into buffer: IRValue
    ) {
        let (mr, k, quads) = (body.blocking.mr, body.k, body.quads)
        let tiles = ceilDiv(ir.sub(end, begin), c(mr))
        let flip = ir.constInt(ir.i32, Int(Int32(bitPattern: 0x8080_8080)), width: 1)
        ir.forLoop(c(0), ir.mul(tiles, c(mr)), "qa") { j in
            let row = smin(ir.add(begin, j), ir.sub(end, c(1)))
            let src = ir.add(aOff, ir.mul(row, c(k)))
            let dst = ir.add(ir.mul(ir.sdiv(j, c(mr)), c(quads * mr * 4)), ir.mul(ir.srem(j, c(mr)), c(4)))
            if k / 4 > 0 {
                ir.forLoop(c(0), c(k / 4), "qk") { q in
                    var v = ir.load(ir.i32, ir.gep(ir.i8, a, ir.add(src, ir.mul(q, c(4)))), align: 1)
                    if body.flipA { v = ir.xor(v, flip) }
                    ir.store(v, ir.gep(ir.i8, buffer, ir.add(dst, ir.mul(q, c(mr * 4)))))
                }
            }
            if k % 4 != 0 {
                let last = ir.add(dst, c((k / 4) * mr * 4))
                for t in 0..<4 {
                    var byte = ir.constInt(ir.i8, 0, width: 1)
                    if t < k % 4 {
                        byte = ir.load(ir.i8, ir.gep(ir.i8, a, ir.add(src, c((k / 4) * 4 + t))), align: 1)
                        if body.flipA { byte = ir.xor(byte, ir.constInt(ir.i8, -128, width: 1)) }
                    }
                    ir.store(byte, ir.gep(ir.i8, buffer, ir.add(last, c(t))), align: 1)
                }
            }
        }
    }

    /// Dynamic quantization of rows [begin, end) of an f32 a while packing them (the layout of
    /// `packInt8Rows`): each row's range widened to hold 0 gives scale = (hi − lo) / 255 and
    /// zero point rint(−lo / scale) in [0, 255]; each value becomes rint(x · (1 / scale)) + zero,
    /// clamped to [0, 255] (moved to s8 for SDOT). The row's scale (f32) and zero point (i32, in
    /// the dot step's domain) go to `rowInfoOffset` + 8 · (row − begin).
    private func quantizeRows(
        _ body: QMatmulUnit.Body, _ a: IRValue, _ aOff: IRValue, _ begin: IRValue, _ end: IRValue,
        into buffer: IRValue
    ) {
        let (mr, k, quads, w) = (body.blocking.mr, body.k, body.quads, body.blocking.lanes)
        let tiles = ceilDiv(ir.sub(end, begin), c(mr))
        let f32v = ir.vector(ir.f32, w), quad = ir.vector(ir.f32, 4)
        ir.forLoop(c(0), ir.mul(tiles, c(mr)), "da") { j in
            let row = smin(ir.add(begin, j), ir.sub(end, c(1)))
            let src = ir.add(aOff, ir.mul(row, c(k)))
            // The row's range: w lanes at a time, then the tail.
            let zero = ir.constReal(ir.f32, 0, width: w)
            var range = [zero, zero]
            if k / w > 0 {
                range = ir.forLoop(c(0), c(k / w), carrying: range, "dr") { v, r in
                    let x = ir.load(f32v, ir.gep(ir.f32, a, ir.add(src, ir.mul(v, c(w)))), align: 4)
                    return [ir.intrinsic("llvm.minnum", [r[0], x]), ir.intrinsic("llvm.maxnum", [r[1], x])]
                }
            }
            var lo = ir.intrinsic("llvm.vector.reduce.fmin", [range[0]], overloads: [f32v])
            var hi = ir.intrinsic("llvm.vector.reduce.fmax", [range[1]], overloads: [f32v])
            for t in (k / w * w)..<k {
                let x = ir.load(ir.f32, ir.gep(ir.f32, a, ir.add(src, c(t))))
                lo = ir.intrinsic("llvm.minnum", [lo, x])
                hi = ir.intrinsic("llvm.maxnum", [hi, x])
            }
            let (scale, inverse, zp) = rowQuantization(lo: lo, hi: hi)
            let info = ir.add(c(body.rowInfoOffset), ir.mul(j, c(8)))
            ir.store(scale, ir.gep(ir.i8, buffer, info))
            let shift = body.dot.signedA ? 128 : 0
            ir.store(
                ir.sub(ir.fptosi(zp, ir.i32), ir.constInt(ir.i32, shift)), ir.gep(ir.i8, buffer, ir.add(info, c(4))))
            let dst = ir.add(ir.mul(ir.sdiv(j, c(mr)), c(quads * mr * 4)), ir.mul(ir.srem(j, c(mr)), c(4)))
            func bytes(_ x: IRValue, _ lanes: Int) -> IRValue {
                let q = clampByte(
                    ir.fadd(
                        ir.intrinsic("llvm.rint", [ir.fmul(x, ir.splat(inverse, lanes))]), ir.splat(zp, lanes)))
                let b = ir.trunc(ir.fptosi(q, ir.vector(ir.i32, lanes)), ir.vector(ir.i8, lanes))
                return shift == 0 ? b : ir.xor(b, ir.constInt(ir.i8, -128, width: lanes))
            }
            // w values (w / 4 quads) at a time, then the remaining quads one at a time.
            let perVector = w / 4
            if perVector > 1, k / w > 0 {
                ir.forLoop(c(0), c(k / w), "dv") { v in
                    let x = ir.load(f32v, ir.gep(ir.f32, a, ir.add(src, ir.mul(v, c(w)))), align: 4)
                    let words = ir.bitcast(bytes(x, w), ir.vector(ir.i32, perVector))
                    for t in 0..<perVector {
                        let at = ir.add(dst, ir.mul(ir.add(ir.mul(v, c(perVector)), c(t)), c(mr * 4)))
                        ir.store(ir.lanes(words, [t]), ir.gep(ir.i8, buffer, at))
                    }
                }
            }
            let firstQuad = perVector > 1 ? k / w * perVector : 0
            if k / 4 > firstQuad {
                ir.forLoop(c(firstQuad), c(k / 4), "dk") { q in
                    let x = ir.load(quad, ir.gep(ir.f32, a, ir.add(src, ir.mul(q, c(4)))), align: 4)
                    ir.store(
                        ir.bitcast(bytes(x, 4), ir.i32), ir.gep(ir.i8, buffer, ir.add(dst, ir.mul(q, c(mr * 4)))))
                }
            }
            if k % 4 != 0 {
                let last = ir.add(dst, c((k / 4) * mr * 4))
                for t in 0..<4 {
                    // Past k: any byte (b is zero there); 0 keeps the buffer deterministic.
                    let at = ir.gep(ir.f32, a, ir.add(src, c((k / 4) * 4 + t)))
                    let byte = t < k % 4 ? bytes(ir.load(ir.f32, at), 1) : ir.constInt(ir.i8, 0, width: 1)
                    ir.store(byte, ir.gep(ir.i8, buffer, ir.add(last, c(t))), align: 1)
                }
            }
        }
    }

    /// A row's dynamic quantization from its range [lo, hi] (f32; 0 is added to it here):
    /// scale (hi − lo) / 255 (1 for a constant row), its reciprocal, and the zero point
    /// rint(−lo / scale) in [0, 255], as f32.
    func rowQuantization(lo: IRValue, hi: IRValue) -> (scale: IRValue, inverse: IRValue, zero: IRValue) {
        let zero = ir.constReal(ir.f32, 0)
        let l = ir.intrinsic("llvm.minnum", [lo, zero]), h = ir.intrinsic("llvm.maxnum", [hi, zero])
        let spread = ir.fsub(h, l)
        let scale = ir.select(
            ir.fcmp(.ogt, spread, zero), ir.fdiv(spread, ir.constReal(ir.f32, 255)), ir.constReal(ir.f32, 1))
        let inverse = ir.fdiv(ir.constReal(ir.f32, 1), scale)
        return (scale, inverse, clampByte(ir.intrinsic("llvm.rint", [ir.fmul(ir.fneg(l), inverse)])))
    }

    /// x clamped to [0, 255] (f32).
    private func clampByte(_ x: IRValue) -> IRValue {
        let lanes = x.type.vectorWidth
        return ir.intrinsic(
            "llvm.minnum",
            [
                ir.intrinsic("llvm.maxnum", [x, ir.constReal(ir.f32, 0, width: lanes)]),
                ir.constReal(ir.f32, 255, width: lanes),
            ])
    }

    /// Stores an int8, bf16 or depthwise kernel's result at element `index` of `out`: f32, or the type its
    /// epilogue ends in (`result`, the epilogue's final cast applied: `value` is in its domain).
    func storeResult(_ value: IRValue, _ out: IRValue, _ index: IRValue, _ result: DType?, mask: IRValue?) {
        let d = result ?? .f32
        let raw = ir.narrowed(Typed(value: value, domain: Domain(d)), to: d)
        let at = ir.gep(ir.storageType(d, width: 1), out, index)
        if let mask {
            ir.maskedStore(raw, at, mask: mask, align: d.byteSize)
        } else {
            ir.store(raw, at, align: d.byteSize)
        }
    }

    /// An activation byte as the packed kernel sees it: moved into the dot step's domain
    /// (top bit flipped when `flip`) and widened to i32 as the dot step reads it.
    func dotDomain(_ byte: IRValue, flip: Bool, _ dot: Int8Dot) -> IRValue {
        let b = flip ? ir.xor(byte, ir.constInt(ir.i8, -128, width: 1)) : byte
        return dot.signedA ? ir.sext(b, ir.i32) : ir.zext(b, ir.i32)
    }
}
