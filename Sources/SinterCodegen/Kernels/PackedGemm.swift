import SinterIR

/// The register-tiled GEMM behind `matmul`, in the manner of BLIS and MLAS: C is computed in
/// tiles of `mr` rows × `nv` vectors held in registers over a block of `kc` values of k; each
/// k step loads `nv` vectors of one B panel row and broadcasts one A value per row, so every
/// B vector feeds `mr` FMAs and every broadcast `nv`. B is a packed panel (a constant packed
/// at compile time, zero-padded to whole panels) or the rows of a run-time B read in place.
///
/// Edges have no scalar code: the last panel's last vector is a masked load and store, and
/// C's last m % mr rows run as a tile of that many rows (the same loop with fewer
/// accumulators; A's packing repeats the last row up to mr, XNNPACK's clamping, and the tile
/// skips them). Each k block sums from zero; blocks after the first add their sum to C; the
/// epilogue (bias, activation, residual) runs on the last one.
///
/// Loop nest of one part: batch entries → its rectangles → (chunks of `ncPanels` panels when B
/// is packed at run time) → k blocks → blocks of `mc` rows → panels → row tiles → k. Parts own
/// runs of (row tile × panel) cells (`gemmPart`), never a piece of k, so the sums run in the
/// same order for every thread count.
extension KernelEmitter {
    /// The epilogue's operands for one gemm call: pointers, base offsets and strides.
    struct EpilogueArgs {
        var expr: ScalarExpr
        var types: [DType]
        var pointers: [IRValue]
        var bases: [IRValue]
        var rows: [Int]
        var cols: [Int]
        /// The epilogue's result dtype (Epilogue.result).
        var result: DType = .f32
    }

    /// How a k block starts its accumulators.
    enum GemmStart {
        case zero, accumulate
        /// Zero when the condition holds (the first block of a run-time loop), else C.
        case zeroIf(IRValue)
    }

    /// Where a tile reads B: packed panels (`rowStride` nr), rows in place, or one block of k
    /// packed at run time by this part (`block`).
    struct GemmB {
        var pointer: IRValue
        var offset: IRValue
        var packed: Bool
        var rowStride: Int
        /// Element step between columns (1: rows are contiguous), for run-time packing.
        var colStride = 1
        /// A block packed at run time: panel q at (q − firstPanel) · length · nr, no k offset.
        var block: (firstPanel: IRValue, length: Int)? = nil
    }

    /// One C = A · B problem for `gemmBlocks`: its sizes and blocking, A's row stride and k
    /// step, and C's row stride (elements).
    struct GemmProblem {
        var m: Int, n: Int, k: Int
        var blocking: GemmBlocking
        var lda: Int
        var aStep: Int
        var ldc: Int
        /// B is packed at run time, per part and rectangle (`gemmPart` counts a part's strips).
        var packsB = false
        var panels: Int { (n + blocking.nr - 1) / blocking.nr }
        var rowTiles: Int { (m + blocking.mr - 1) / blocking.mr }
        /// Cells of the finest split (one row tile × one panel): the most parts it can take.
        var units: Int { rowTiles * panels }
    }

    /// What part `task` of `tasks` computes: its share of the (row tile × panel) cells of a
    /// band of panels. The grid of pm × pn parts is chosen at run time (the part count is known
    /// only then), the one whose largest part costs least: its multiply-adds plus what it reads
    /// or packs once per k (its rows of A, its band's columns of B). So a tall C splits by rows,
    /// a wide one by columns, a square one both ways (1024² on 8 parts: 4 × 2). The pm parts of a
    /// band take equal runs of its cells in row-major order, so a part may start or end partway
    /// along a row tile: 11 row tiles (m = 128, 12-row tiles) split 5.5 / 5.5 tiles, not 6 / 5
    /// (the 6 / 5 split ran 1.73× faster on two threads, m = 120 and 144 1.95×). A run is at
    /// most three rectangles: the end of its first row tile, whole row tiles, the start of its
    /// last. Parts past the grid get empty ones. Every element is still one tile's k loop in
    /// the same order, so results are identical for every part count.
    func gemmPart(_ p: GemmProblem, task: IRValue, tasks: IRValue) -> GemmPart {
        let bl = p.blocking
        // A packed per block is copied one float at a time, B a vector at a time; read in
        // place, each is loaded again per tile.
        let (aWeight, bWeight) = (bl.packA ? 64 : 16, 8)
        func columnParts(_ pm: IRValue) -> IRValue { smax(smin(ir.sdiv(tasks, pm), c(p.panels)), c(1)) }
        let limit = smin(tasks, c(p.rowTiles))
        let best = ir.forLoop(c(1), ir.add(limit, c(1)), carrying: [c(1), c(Int.max)], "grid") { pm, acc in
            let band = ceilDiv(c(p.panels), columnParts(pm))
            let cells = ceilDiv(ir.mul(c(p.rowTiles), band), pm)
            let rows = ir.mul(smin(ir.add(ceilDiv(cells, band), c(1)), c(p.rowTiles)), c(bl.mr))
            // A run that starts or ends partway along a row tile has strips; each packs its
            // panels of a run-time B again.
            let strips = p.packsB ? ir.icmp(.ne, ir.srem(cells, band), c(0)) : nil
            let cols = ir.mul(strips.map { ir.select($0, ir.mul(band, c(2)), band) } ?? band, c(bl.nr))
            let cost = ir.add(
                ir.mul(cells, c(bl.mr * bl.nr)), ir.add(ir.mul(rows, c(aWeight)), ir.mul(cols, c(bWeight))))
            let better = ir.icmp(.slt, cost, acc[1])
            return [ir.select(better, pm, acc[0]), ir.select(better, cost, acc[1])]
        }
        let pm = best[0]
        let pn = columnParts(pm)
        let (q0, q1) = partRange(p.panels, task: ir.srem(task, pn), tasks: pn)
        let band = smax(ir.sub(q1, q0), c(1))
        // Cells [u0, u1) of the band's rowTiles × band, row-major; empty past the grid.
        let cells = ir.mul(c(p.rowTiles), ir.sub(q1, q0))
        let per = ceilDiv(cells, pm)
        let u0 = smin(ir.mul(ir.sdiv(task, pn), per), cells)
        let u1 = smin(ir.add(u0, per), cells)
        let (t0, c0) = (ir.sdiv(u0, band), ir.srem(u0, band))
        let (t1, c1) = (ir.sdiv(u1, band), ir.srem(u1, band))
        let oneTile = ir.icmp(.eq, t0, t1)
        // The first row tile is a strip of its own when the run starts partway along it or
        // ends in it.
        let strip = ir.select(ir.or(ir.icmp(.sgt, c0, c(0)), oneTile), c(1), c(0))
        func rect(_ tiles: (IRValue, IRValue), _ panels: (IRValue, IRValue)) -> GemmRect {
            // No rows when no panels: A is not packed for nothing.
            let empty = ir.icmp(.sge, panels.0, panels.1)
            let r0 = ir.mul(tiles.0, c(bl.mr))
            let r1 = ir.select(empty, r0, smax(r0, smin(ir.mul(tiles.1, c(bl.mr)), c(p.m))))
            return GemmRect(rows: (r0, r1), panels: panels)
        }
        let first = rect(
            (t0, ir.add(t0, strip)), (ir.add(q0, c0), ir.add(q0, ir.select(oneTile, c1, ir.sub(q1, q0)))))
        let whole = rect((ir.add(t0, strip), t1), (q0, q1))
        let last = rect((t1, ir.select(oneTile, t1, ir.add(t1, c(1)))), (q0, ir.add(q0, c1)))
        return GemmPart(rects: [first, whole, last])
    }

    /// Rows [rows.0, rows.1) × panels [panels.0, panels.1) of C.
    struct GemmRect {
        var rows: (IRValue, IRValue)
        var panels: (IRValue, IRValue)
    }

    /// A part's rectangles (`gemmPart`), computed once per kernel call.
    struct GemmPart {
        var rects: [GemmRect]
    }

    /// Emits `body` once, in a run-time loop over the part's rectangles (a copy per rectangle
    /// would triple the micro-kernel's code).
    func forEachRect(_ part: GemmPart, _ body: (GemmRect) -> Void) {
        let rs = part.rects
        ir.forLoop(c(0), c(rs.count), "rect") { r in
            func pick(_ value: (GemmRect) -> IRValue) -> IRValue {
                rs.indices.dropLast().reversed().reduce(value(rs[rs.count - 1])) { acc, i in
                    ir.select(ir.icmp(.eq, r, c(i)), value(rs[i]), acc)
                }
            }
            body(
                GemmRect(
                    rows: (pick { $0.rows.0 }, pick { $0.rows.1 }), panels: (pick { $0.panels.0 }, pick { $0.panels.1 })
                ))
        }
    }

    /// C = A · B for one matmul: each part computes its rectangle of every batch entry. B
    /// packed at run time (a transposed operand, or rows reused by enough row tiles) is
    /// copied a block at a time into the part's scratch, A (when packed) after it.
    func packedGemm(
        _ body: MatmulUnit.Body, _ out: IRValue, _ a: IRValue, _ b: IRValue, _ extras: [IRValue], scratch: IRValue,
        task: IRValue, tasks: IRValue
    ) {
        let bl = body.blocking
        let (m, n) = (body.m, body.n)
        guard m > 0, n > 0, body.batch.allSatisfy({ $0 > 0 }) else { return }
        var problem = body.problem
        problem.packsB = body.packsBAtRunTime
        let part = gemmPart(problem, task: task, tasks: tasks)
        forEachBatchEntry(body, extras) { offs, args in
            let region = ir.gep(ir.f32, scratch, ir.mul(task, c(body.partScratchFloats)))
            let source = GemmB(
                pointer: b, offset: offs[1], packed: body.packedB, rowStride: body.b.rowStride,
                colStride: body.b.colStride)
            let bBuffer = body.packsBAtRunTime ? region : nil
            let aBuffer =
                bl.packA ? ir.gep(ir.f32, region, c(body.packsBAtRunTime ? body.runTimeBlockFloats : 0)) : nil
            forEachRect(part) { rect in
                gemmBlocks(problem, a, offs[0], source, out, offs[2], rect, args, packA: aBuffer, packB: bBuffer)
            }
        }
    }

    /// C[rows, panels] (+)= A · B for one problem: chunks of `ncPanels` panels when B is
    /// packed here (BLIS's jc loop), k blocks (B's block packed once per chunk and block),
    /// then blocks of `mc` rows, then panels (whole ones, then the partial last), then row tiles.
    func gemmBlocks(
        _ p: GemmProblem, _ a: IRValue, _ aOff: IRValue, _ b: GemmB, _ out: IRValue, _ cOff: IRValue,
        _ part: GemmRect, _ args: EpilogueArgs?,
        packA: IRValue? = nil, packB: IRValue? = nil
    ) {
        let bl = p.blocking
        let (rowBegin, rowEnd) = part.rows
        let blocks = max(1, (p.k + bl.kc - 1) / bl.kc)
        func block(_ kb: IRValue, length: Int, start: GemmStart, last: Bool, _ b: GemmB, _ panels: (IRValue, IRValue)) {
            let (panelBegin, panelEnd) = panels
            ir.forLoop(rowBegin, rowEnd, step: bl.mc, "ic") { ic in
                let icEnd = smin(ir.add(ic, c(bl.mc)), rowEnd)
                let full = p.n / bl.nr
                let packed = packA.map { buffer in
                    packRows(p, a, aOff, ic, icEnd, kb, length, into: buffer)
                    return (buffer, ic, length)
                }
                // Whole row tiles, then C's last rows (m % mr of them, only where a block ends
                // at m) as a tile of that many rows: a full tile there would compute its
                // clamped rows again (m = 256 with 12-row tiles: 3% more multiply-adds).
                let rem = p.m % bl.mr
                let tilesEnd = rem == 0 ? icEnd : ir.add(ic, ir.mul(ir.sdiv(ir.sub(icEnd, ic), c(bl.mr)), c(bl.mr)))
                func rows(_ panel: IRValue, partial: Bool) {
                    ir.forLoop(ic, tilesEnd, step: bl.mr, partial ? "irt" : "ir") { i in
                        gemmTile(
                            p, a, aOff, b, out, cOff, i, icEnd, panel, kb, length, start, last ? args : nil, last,
                            partial: partial, packedA: packed)
                    }
                    guard rem > 0 else { return }
                    ir.ifThen(ir.icmp(.slt, tilesEnd, icEnd)) {
                        gemmTile(
                            p, a, aOff, b, out, cOff, tilesEnd, icEnd, panel, kb, length, start, last ? args : nil,
                            last, partial: partial, packedA: packed, rowsInTile: rem)
                    }
                }
                // Whole panels, then the partial last one (at most one iteration).
                ir.forLoop(panelBegin, smin(panelEnd, c(full)), "p") { panel in rows(panel, partial: false) }
                if p.n % bl.nr != 0 {
                    ir.forLoop(smax(panelBegin, c(full)), panelEnd, "pt") { panel in rows(panel, partial: true) }
                }
            }
        }
        func chunk(_ panels: (IRValue, IRValue)) {
            func run(_ kb: IRValue, length: Int, start: GemmStart, last: Bool) {
                guard let buffer = packB else { return block(kb, length: length, start: start, last: last, b, panels) }
                packBlock(p, b, kb, length, panels, into: buffer)
                let packed = GemmB(
                    pointer: buffer, offset: c(0), packed: true, rowStride: bl.nr, block: (panels.0, length))
                block(kb, length: length, start: start, last: last, packed, panels)
            }
            if blocks > 1 {
                ir.forLoop(c(0), c(blocks - 1), "kb") { kb in
                    run(kb, length: bl.kc, start: .zeroIf(ir.icmp(.eq, kb, c(0))), last: false)
                }
            }
            run(c(blocks - 1), length: p.k - (blocks - 1) * bl.kc, start: blocks == 1 ? .zero : .accumulate, last: true)
        }
        guard packB != nil else { return chunk(part.panels) }
        // An empty rectangle (a part past the grid) packs nothing.
        ir.ifThen(ir.icmp(.slt, rowBegin, rowEnd)) {
            ir.forLoop(part.panels.0, part.panels.1, step: bl.ncPanels, "jc") { jc in
                chunk((jc, smin(ir.add(jc, c(bl.ncPanels)), part.panels.1)))
            }
        }
    }

    /// One register tile: rows i..<i+mr (clamped below `rowLimit`) of panel `p`, over the
    /// `length` values of k from block `kb`; `partial` for the last panel of a matrix whose n
    /// is not a multiple of nr (the caller's second loop).
    private func gemmTile(
        _ body: GemmProblem, _ a: IRValue, _ aOff: IRValue, _ b: GemmB, _ out: IRValue, _ cOff: IRValue, _ i: IRValue,
        _ rowLimit: IRValue, _ p: IRValue, _ kb: IRValue, _ length: Int, _ start: GemmStart, _ epilogue: EpilogueArgs?,
        _ last: Bool, partial: Bool, packedA: (buffer: IRValue, blockStart: IRValue, length: Int)? = nil,
        rowsInTile: Int? = nil
    ) {
        let bl = body.blocking
        // The tile's rows: mr, or the fewer rows of C's last tile (A's packing still has mr).
        let tileRows = rowsInTile ?? bl.mr
        let (w, n, k) = (bl.lanes, body.n, body.k)
        // The partial panel: fewer vectors, the last one masked.
        let tailColumns = n % bl.nr
        let vectors = partial ? (tailColumns + w - 1) / w : bl.nv
        let lastMask: IRValue? =
            partial && tailColumns % w != 0 ? ir.laneMask(tailColumns % w, width: w) : nil
        func mask(_ u: Int) -> IRValue? { u == vectors - 1 ? lastMask : nil }
        let kStart = ir.mul(kb, c(bl.kc))
        let rows = (0..<tileRows).map { r in r == 0 ? i : smin(ir.add(i, c(r)), ir.sub(rowLimit, c(1))) }
        // A in place (row pointers, k step aStep), or packed: tile t of the block is `length`
        // steps of mr floats, row r at offset r (k step mr).
        let aBase = packedA?.buffer ?? a
        let aStep = packedA == nil ? body.aStep : bl.mr
        let aRows = (0..<tileRows).map { r -> IRValue in
            guard let pa = packedA else {
                return ir.add(ir.add(aOff, ir.mul(rows[r], c(body.lda))), ir.mul(kStart, c(body.aStep)))
            }
            let tile = ir.sdiv(ir.sub(i, pa.blockStart), c(bl.mr))
            return ir.add(ir.mul(tile, c(pa.length * bl.mr)), c(r))
        }
        let col0 = ir.mul(p, c(bl.nr))
        let cRows = rows.map { r in ir.add(ir.add(cOff, ir.mul(r, c(body.ldc))), col0) }
        let bBase: IRValue =
            if let block = b.block {
                ir.mul(ir.sub(p, block.firstPanel), c(block.length * bl.nr))
            } else if b.packed {
                ir.add(b.offset, ir.add(ir.mul(p, c(k * bl.nr)), ir.mul(kStart, c(bl.nr))))
            } else {
                ir.add(ir.add(b.offset, ir.mul(kStart, c(b.rowStride))), col0)
            }
        let bStride = b.rowStride
        func loadC(_ r: Int, _ u: Int) -> IRValue {
            let at = ir.gep(ir.f32, out, ir.add(cRows[r], c(u * w)))
            if let m = mask(u) { return ir.maskedLoad(ir.vector(ir.f32, w), at, mask: m) }
            return ir.load(ir.vector(ir.f32, w), at)
        }
        // The accumulators start at zero and C is added after the k loop: C's loads then
        // overlap the next tile's work instead of stalling this one's first FMAs (a C tile is
        // mr rows a row stride apart, rarely in L1). Its lines are prefetched for the store.
        for r in 0..<tileRows {
            for u in stride(from: 0, to: vectors, by: max(1, 64 / (4 * w))) {
                ir.prefetch(ir.gep(ir.f32, out, ir.add(cRows[r], c(u * w))), write: true)
            }
        }
        let initial = Array(repeating: ir.constF32(0, width: w), count: tileRows * vectors)
        let acc = ir.forLoop(c(0), c(length), carrying: initial, "k") { kk, acc in
            let bRow = ir.add(bBase, ir.mul(kk, c(bStride)))
            let bv = (0..<vectors).map { u -> IRValue in
                let at = ir.gep(ir.f32, b.pointer, ir.add(bRow, c(u * w)))
                if !b.packed, let m = mask(u) { return ir.maskedLoad(ir.vector(ir.f32, w), at, mask: m) }
                return ir.load(ir.vector(ir.f32, w), at)
            }
            var next = acc
            for r in 0..<tileRows {
                let av = ir.splat(loadF(aBase, ir.add(aRows[r], ir.mul(kk, c(aStep))), 1), w)
                for u in 0..<vectors {
                    next[r * vectors + u] = ir.intrinsic("llvm.fma", [av, bv[u], acc[r * vectors + u]])
                }
            }
            return next
        }
        // Every C load before any store: a partial tile's clamped rows repeat the last row, and
        // each must add to the value before this block, not to a repeat's store.
        let sums = (0..<tileRows).map { r in
            (0..<vectors).map { u -> IRValue in
                let value = acc[r * vectors + u]
                switch start {
                case .zero: return value
                case .accumulate: return ir.fadd(loadC(r, u), value)
                case .zeroIf(let first): return ir.select(first, value, ir.fadd(loadC(r, u), value))
                }
            }
        }
        for r in 0..<tileRows {
            for u in 0..<vectors {
                var value = sums[r][u]
                let col = ir.add(col0, c(u * w))
                if last, let e = epilogue {
                    value = applyEpilogue(e, value, row: rows[r], col: col, width: w, mask: mask(u))
                }
                let at = ir.gep(ir.f32, out, ir.add(cRows[r], c(u * w)))
                if let m = mask(u) { ir.maskedStore(value, at, mask: m) } else { ir.store(value, at) }
            }
        }
    }

    /// Rows [begin, end) of A over the `length` values of k from block `kb` as mr-row panels:
    /// tile t, step kk, row r at (t · length + kk) · mr + r; rows past `end` repeat the last
    /// one, as the tiles' clamped row pointers do. (Rows kept contiguous instead — a plain
    /// vector copy — ran the 1024³ product 5% slower: a tile's broadcasts then come from mr
    /// lines rather than one.)
    private func packRows(
        _ p: GemmProblem, _ a: IRValue, _ aOff: IRValue, _ begin: IRValue, _ end: IRValue, _ kb: IRValue,
        _ length: Int, into buffer: IRValue
    ) {
        let mr = p.blocking.mr
        let kStart = ir.mul(kb, c(p.blocking.kc))
        let tiles = ceilDiv(ir.sub(end, begin), c(mr))
        // Per k step, the tile's mr values (one from each row's stream) are stored together.
        // (Row by row, the loop vectorizer wrote each row's k values with a scatter: 4% of
        // the 1024³ product on a Zen 5 core.)
        ir.forLoop(c(0), tiles, "pt") { t in
            let sources = (0..<mr).map { r in
                let row = smin(ir.add(begin, ir.add(ir.mul(t, c(mr)), c(r))), ir.sub(end, c(1)))
                return ir.add(ir.add(aOff, ir.mul(row, c(p.lda))), ir.mul(kStart, c(p.aStep)))
            }
            let dst = ir.mul(t, c(length * mr))
            // Contiguous k (a row-major A): four k steps of four rows at a time, as a 4 × 4
            // transpose in registers (four loads, four stores of four floats).
            let quads = p.aStep == 1 ? length / 4 : 0
            if quads > 0 {
                _ = ir.forLoop(c(0), c(quads), carrying: [], "pq", vectorize: false) { q, _ in
                    let k0 = ir.mul(q, c(4))
                    let at = ir.add(dst, ir.mul(k0, c(mr)))
                    for g in stride(from: 0, to: mr - mr % 4, by: 4) {
                        let v = (g..<(g + 4)).map { r in loadF(a, ir.add(sources[r], k0), 4) }
                        let pairs = [0, 4, 1, 5, 2, 6, 3, 7]
                        let low = ir.shuffle(v[0], v[1], pairs), high = ir.shuffle(v[2], v[3], pairs)
                        for step in 0..<4 {
                            let column = ir.shuffle(low, high, [2 * step, 2 * step + 1, 8 + 2 * step, 9 + 2 * step])
                            storeF(column, buffer, ir.add(at, c(step * mr + g)))
                        }
                    }
                    for r in (mr - mr % 4)..<mr {
                        for step in 0..<4 {
                            let value = loadF(a, ir.add(sources[r], ir.add(k0, c(step))), 1)
                            storeF(value, buffer, ir.add(at, c(step * mr + r)))
                        }
                    }
                    return []
                }
            }
            _ = ir.forLoop(c(quads * 4), c(length), carrying: [], "pk", vectorize: false) { kk, _ in
                let at = ir.add(dst, ir.mul(kk, c(mr)))
                for (r, src) in sources.enumerated() {
                    storeF(loadF(a, ir.add(src, ir.mul(kk, c(p.aStep))), 1), buffer, ir.add(at, c(r)))
                }
                return []
            }
        }
    }

    /// Panels [first, end) of B over the `length` values of k from block `kb`, as the tiles
    /// read a block: panel q at (q − first) · length · nr, one row of nr floats per k step,
    /// zero past n. Contiguous rows copy whole vectors (masked in the partial panel); strided
    /// columns (a transposed operand) are gathered one float at a time.
    private func packBlock(
        _ p: GemmProblem, _ b: GemmB, _ kb: IRValue, _ length: Int, _ panels: (IRValue, IRValue),
        into buffer: IRValue
    ) {
        let bl = p.blocking
        let (w, nr, tail) = (bl.lanes, bl.nr, p.n % bl.nr)
        let kStart = ir.mul(kb, c(bl.kc))
        func panel(_ q: IRValue, partial: Bool) {
            let dst0 = ir.mul(ir.sub(q, panels.0), c(length * nr))
            let col0 = ir.mul(q, c(nr * b.colStride))
            ir.forLoop(c(0), c(length), "bk") { kk in
                let dst = ir.add(dst0, ir.mul(kk, c(nr)))
                let row = ir.add(ir.add(b.offset, ir.mul(ir.add(kStart, kk), c(b.rowStride))), col0)
                if b.colStride == 1 {
                    for u in 0..<bl.nv {
                        let valid = partial ? max(0, min(w, tail - u * w)) : w
                        let at = ir.add(row, c(u * w))
                        let v =
                            valid == w
                            ? loadF(b.pointer, at, w)
                            : valid == 0
                                ? ir.constF32(0, width: w)
                                : ir.maskedLoad(
                                    ir.vector(ir.f32, w), ir.gep(ir.f32, b.pointer, at),
                                    mask: ir.laneMask(valid, width: w))
                        storeF(v, buffer, ir.add(dst, c(u * w)))
                    }
                } else {
                    for col in 0..<nr {
                        let v =
                            partial && col >= tail
                            ? ir.constF32(0) : loadF(b.pointer, ir.add(row, c(col * b.colStride)), 1)
                        storeF(v, buffer, ir.add(dst, c(col)))
                    }
                }
            }
        }
        let full = p.n / nr
        ir.forLoop(panels.0, smin(panels.1, c(full)), "bq") { panel($0, partial: false) }
        if tail != 0 { ir.forLoop(smax(panels.0, c(full)), panels.1, "bqt") { panel($0, partial: true) } }
    }

    /// Loops over a matmul's batch entries: `f` gets the element offsets of A, B and C for
    /// the entry and the epilogue with its operands' bases there.
    func forEachBatchEntry(
        _ body: MatmulUnit.Body, _ extras: [IRValue], _ f: (_ offs: [IRValue], EpilogueArgs?) -> Void
    ) {
        let cStrides = contiguousStrides(body.batch).map { $0 * body.m * body.n }
        let extraStrides = body.epilogue?.operands.map(\.batch) ?? []
        nest(
            body.batch, [body.a.batch, body.b.batch, cStrides] + extraStrides,
            [c(body.a.offset), c(body.b.offset), c(0)] + extraStrides.map { _ in c(0) }
        ) { offs in
            let args = body.epilogue.map { e in
                EpilogueArgs(
                    expr: e.expr, types: [body.dtype] + e.operands.map(\.dtype), pointers: extras,
                    bases: Array(offs.dropFirst(3)), rows: e.operands.map(\.row), cols: e.operands.map(\.col),
                    result: e.result)
            }
            f(offs, args)
        }
    }

    /// The epilogue on one accumulator vector at (row, col): its operands are loaded at their
    /// strides (a broadcast scalar, or `width` lanes — masked at the edge). The accumulator is
    /// in `e.types[0]`; the value returned is in `dtype` (they differ when the epilogue ends in a
    /// quantization's cast).
    func applyEpilogue(
        _ e: EpilogueArgs, _ acc: IRValue, row: IRValue, col: IRValue, width: Int, mask: IRValue?,
        dtype: DType = .f32
    ) -> IRValue {
        let working = Domain(e.types[0])
        var args = [Typed(value: acc, domain: working)]
        for x in e.pointers.indices {
            let at = ir.add(ir.add(e.bases[x], ir.mul(row, c(e.rows[x]))), ir.mul(col, c(e.cols[x])))
            if e.cols[x] == 0 {
                let s = ir.loadTyped(e.pointers[x], at, e.types[x + 1], width: 1)
                args.append(Typed(value: ir.splat(s.value, width), domain: s.domain))
            } else {
                args.append(ir.loadTyped(e.pointers[x], at, e.types[x + 1], width: width, mask: mask))
            }
        }
        return ir.lowerTyped(e.expr, args, e.types, result: dtype, want: working, width: width).value
    }
}
