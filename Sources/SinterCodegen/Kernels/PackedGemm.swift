import SinterIR

/// The register-tiled GEMM behind `matmul`, in the manner of BLIS and MLAS: C is computed in
/// tiles of `mr` rows × `nv` vectors held in registers over a block of `kc` values of k; each
/// k step loads `nv` vectors of one B panel row and broadcasts one A value per row, so every
/// B vector feeds `mr` FMAs and every broadcast `nv`. B is a packed panel (a constant packed
/// at compile time, zero-padded to whole panels) or the rows of a run-time B read in place.
///
/// Edges have no scalar code: the last panel's last vector is a masked load and store, and a
/// partial row tile clamps its row pointers to the last valid row, so its extra rows compute
/// and store that row's values again (XNNPACK's trick). K blocks after the first add to the
/// partial sums in C; the epilogue (bias, activation, residual) runs on the last one.
///
/// Loop nest of one part: batch entries → k blocks → blocks of `mc` rows → panels → row
/// tiles → k. Parts own whole panels or whole row tiles, never a piece of k, so the sums run
/// in the same order for every thread count.
extension KernelEmitter {
    /// The epilogue's operands for one gemm call: pointers, base offsets and strides.
    struct EpilogueArgs {
        var expr: ScalarExpr
        var types: [DType]
        var pointers: [IRValue]
        var bases: [IRValue]
        var rows: [Int]
        var cols: [Int]
    }

    /// How a k block starts its accumulators.
    enum GemmStart {
        case zero, accumulate
        /// Zero when the condition holds (the first block of a run-time loop), else C.
        case zeroIf(IRValue)
    }

    /// Where a tile reads B: packed panels (`rowStride` nr) or rows in place.
    struct GemmB {
        var pointer: IRValue
        var offset: IRValue
        var packed: Bool
        var rowStride: Int
    }

    /// One C = A · B problem for `gemmBlocks`: its sizes and blocking, A's row stride and k
    /// step, and C's row stride (elements).
    struct GemmProblem {
        var m: Int, n: Int, k: Int
        var blocking: GemmBlocking
        var lda: Int
        var aStep: Int
        var ldc: Int
        var panels: Int { (n + blocking.nr - 1) / blocking.nr }
        /// Parts divide columns (whole panels) when C is wider than tall, rows otherwise — and
        /// rows when A is packed, so that each part packs only its own rows of A (split by
        /// columns, every part would pack all of A: MLP 784-512 at batch 256 on 2 threads went
        /// from 1.6 to 1.1 ms).
        var splitsColumns: Bool { n > m && panels > 1 && !blocking.packA }
        var units: Int { splitsColumns ? panels : (m + blocking.mr - 1) / blocking.mr }
    }

    /// Rows and panels part `task` of `tasks` computes.
    func gemmPart(_ p: GemmProblem, task: IRValue, tasks: IRValue) -> (
        rows: (IRValue, IRValue), panels: (IRValue, IRValue)
    ) {
        let (u0, u1) = partRange(p.units, task: task, tasks: tasks)
        if p.splitsColumns { return ((c(0), c(p.m)), (u0, u1)) }
        return ((ir.mul(u0, c(p.blocking.mr)), smin(ir.mul(u1, c(p.blocking.mr)), c(p.m))), (c(0), c(p.panels)))
    }

    /// A run-time B with strided columns (a transposed operand) is first packed into this
    /// part's scratch as panels, like a constant B at compile time.
    func packedGemm(
        _ body: MatmulUnit.Body, _ out: IRValue, _ a: IRValue, _ b: IRValue, _ extras: [IRValue], scratch: IRValue,
        task: IRValue, tasks: IRValue
    ) {
        let bl = body.blocking
        let (m, n) = (body.m, body.n)
        guard m > 0, n > 0, body.batch.allSatisfy({ $0 > 0 }) else { return }
        let problem = body.problem
        let part = gemmPart(problem, task: task, tasks: tasks)
        forEachBatchEntry(body, extras) { offs, args in
            let region = ir.gep(ir.f32, scratch, ir.mul(task, c(body.partScratchFloats)))
            var source = GemmB(pointer: b, offset: offs[1], packed: body.packedB, rowStride: body.b.rowStride)
            if body.packsAtRunTime {
                packPanels(body, b, offs[1], into: region)
                source = GemmB(pointer: region, offset: c(0), packed: true, rowStride: bl.nr)
            }
            let aBuffer = bl.packA ? ir.gep(ir.f32, region, c(body.packsAtRunTime ? body.runTimePanelFloats : 0)) : nil
            gemmBlocks(problem, a, offs[0], source, out, offs[2], part, args, packA: aBuffer)
        }
    }

    /// C[rows, panels] (+)= A · B for one problem: k blocks, then blocks of `mc` rows, then
    /// panels (whole ones, then the partial last), then row tiles.
    func gemmBlocks(
        _ p: GemmProblem, _ a: IRValue, _ aOff: IRValue, _ b: GemmB, _ out: IRValue, _ cOff: IRValue,
        _ part: (rows: (IRValue, IRValue), panels: (IRValue, IRValue)), _ args: EpilogueArgs?,
        packA: IRValue? = nil
    ) {
        let bl = p.blocking
        let (rowBegin, rowEnd) = part.rows
        let (panelBegin, panelEnd) = part.panels
        let blocks = max(1, (p.k + bl.kc - 1) / bl.kc)
        func block(_ kb: IRValue, length: Int, start: GemmStart, last: Bool) {
            ir.forLoop(rowBegin, rowEnd, step: bl.mc, "ic") { ic in
                let icEnd = smin(ir.add(ic, c(bl.mc)), rowEnd)
                let full = p.n / bl.nr
                let packed = packA.map { buffer in
                    packRows(p, a, aOff, ic, icEnd, kb, length, into: buffer)
                    return (buffer, ic, length)
                }
                // Whole panels, then the partial last one (at most one iteration).
                ir.forLoop(panelBegin, smin(panelEnd, c(full)), "p") { panel in
                    ir.forLoop(ic, icEnd, step: bl.mr, "ir") { i in
                        gemmTile(
                            p, a, aOff, b, out, cOff, i, icEnd, panel, kb, length, start, last ? args : nil, last,
                            partial: false, packedA: packed)
                    }
                }
                if p.n % bl.nr != 0 {
                    ir.forLoop(smax(panelBegin, c(full)), panelEnd, "pt") { panel in
                        ir.forLoop(ic, icEnd, step: bl.mr, "irt") { i in
                            gemmTile(
                                p, a, aOff, b, out, cOff, i, icEnd, panel, kb, length, start, last ? args : nil,
                                last, partial: true, packedA: packed)
                        }
                    }
                }
            }
        }
        if blocks > 1 {
            ir.forLoop(c(0), c(blocks - 1), "kb") { kb in
                block(kb, length: bl.kc, start: .zeroIf(ir.icmp(.eq, kb, c(0))), last: false)
            }
        }
        block(c(blocks - 1), length: p.k - (blocks - 1) * bl.kc, start: blocks == 1 ? .zero : .accumulate, last: true)
    }

    /// One register tile: rows i..<i+mr (clamped below `rowLimit`) of panel `p`, over the
    /// `length` values of k from block `kb`; `partial` for the last panel of a matrix whose n
    /// is not a multiple of nr (the caller's second loop).
    private func gemmTile(
        _ body: GemmProblem, _ a: IRValue, _ aOff: IRValue, _ b: GemmB, _ out: IRValue, _ cOff: IRValue, _ i: IRValue,
        _ rowLimit: IRValue, _ p: IRValue, _ kb: IRValue, _ length: Int, _ start: GemmStart, _ epilogue: EpilogueArgs?,
        _ last: Bool, partial: Bool, packedA: (buffer: IRValue, blockStart: IRValue, length: Int)? = nil
    ) {
        let bl = body.blocking
        let (w, n, k) = (bl.lanes, body.n, body.k)
        // The partial panel: fewer vectors, the last one masked.
        let tailColumns = n % bl.nr
        let vectors = partial ? (tailColumns + w - 1) / w : bl.nv
        let lastMask: IRValue? =
            partial && tailColumns % w != 0 ? ir.laneMask(tailColumns % w, width: w) : nil
        func mask(_ u: Int) -> IRValue? { u == vectors - 1 ? lastMask : nil }
        let kStart = ir.mul(kb, c(bl.kc))
        let rows = (0..<bl.mr).map { r in r == 0 ? i : smin(ir.add(i, c(r)), ir.sub(rowLimit, c(1))) }
        // A in place (row pointers, k step aStep), or packed: tile t of the block is `length`
        // steps of mr floats, row r at offset r (k step mr).
        let aBase = packedA?.buffer ?? a
        let aStep = packedA == nil ? body.aStep : bl.mr
        let aRows = (0..<bl.mr).map { r -> IRValue in
            guard let pa = packedA else {
                return ir.add(ir.add(aOff, ir.mul(rows[r], c(body.lda))), ir.mul(kStart, c(body.aStep)))
            }
            let tile = ir.sdiv(ir.sub(i, pa.blockStart), c(bl.mr))
            return ir.add(ir.mul(tile, c(pa.length * bl.mr)), c(r))
        }
        let col0 = ir.mul(p, c(bl.nr))
        let cRows = rows.map { r in ir.add(ir.add(cOff, ir.mul(r, c(body.ldc))), col0) }
        let bBase =
            b.packed
            ? ir.add(b.offset, ir.add(ir.mul(p, c(k * bl.nr)), ir.mul(kStart, c(bl.nr))))
            : ir.add(ir.add(b.offset, ir.mul(kStart, c(b.rowStride))), col0)
        let bStride = b.rowStride
        func loadC(_ r: Int, _ u: Int) -> IRValue {
            let at = ir.gep(ir.f32, out, ir.add(cRows[r], c(u * w)))
            if let m = mask(u) { return ir.maskedLoad(ir.vector(ir.f32, w), at, mask: m) }
            return ir.load(ir.vector(ir.f32, w), at)
        }
        let zero = ir.constF32(0, width: w)
        var initial: [IRValue] = []
        for r in 0..<bl.mr {
            for u in 0..<vectors {
                switch start {
                case .zero: initial.append(zero)
                case .accumulate: initial.append(loadC(r, u))
                case .zeroIf(let first): initial.append(ir.select(first, zero, loadC(r, u)))
                }
            }
        }
        let acc = ir.forLoop(c(0), c(length), carrying: initial, "k") { kk, acc in
            let bRow = ir.add(bBase, ir.mul(kk, c(bStride)))
            let bv = (0..<vectors).map { u -> IRValue in
                let at = ir.gep(ir.f32, b.pointer, ir.add(bRow, c(u * w)))
                if !b.packed, let m = mask(u) { return ir.maskedLoad(ir.vector(ir.f32, w), at, mask: m) }
                return ir.load(ir.vector(ir.f32, w), at)
            }
            var next = acc
            for r in 0..<bl.mr {
                let av = ir.splat(loadF(aBase, ir.add(aRows[r], ir.mul(kk, c(aStep))), 1), w)
                for u in 0..<vectors {
                    next[r * vectors + u] = ir.intrinsic("llvm.fma", [av, bv[u], acc[r * vectors + u]])
                }
            }
            return next
        }
        for r in 0..<bl.mr {
            for u in 0..<vectors {
                var value = acc[r * vectors + u]
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
    /// one, as the tiles' clamped row pointers do.
    private func packRows(
        _ p: GemmProblem, _ a: IRValue, _ aOff: IRValue, _ begin: IRValue, _ end: IRValue, _ kb: IRValue,
        _ length: Int, into buffer: IRValue
    ) {
        let mr = p.blocking.mr
        let kStart = ir.mul(kb, c(p.blocking.kc))
        let tiles = ceilDiv(ir.sub(end, begin), c(mr))
        ir.forLoop(c(0), ir.mul(tiles, c(mr)), "pr") { j in
            let row = smin(ir.add(begin, j), ir.sub(end, c(1)))
            let src = ir.add(ir.add(aOff, ir.mul(row, c(p.lda))), ir.mul(kStart, c(p.aStep)))
            let dst = ir.add(ir.mul(ir.sdiv(j, c(mr)), c(length * mr)), ir.srem(j, c(mr)))
            ir.forLoop(c(0), c(length), "pk") { kk in
                storeF(loadF(a, ir.add(src, ir.mul(kk, c(p.aStep))), 1), buffer, ir.add(dst, ir.mul(kk, c(mr))))
            }
        }
    }

    /// B (one batch entry, at `offset` through its layout) as panels of nr columns, k rows of
    /// nr floats each, zero past n: the layout `prepacking` makes at compile time.
    private func packPanels(_ body: MatmulUnit.Body, _ b: IRValue, _ offset: IRValue, into panels: IRValue) {
        let (n, k, nr) = (body.n, body.k, body.blocking.nr)
        ir.forLoop(c(0), c(body.panels * nr), "pc") { col in
            let valid = ir.icmp(.slt, col, c(n))
            let src = ir.add(offset, ir.mul(smin(col, c(n - 1)), c(body.b.colStride)))
            let dst = ir.add(ir.mul(ir.sdiv(col, c(nr)), c(k * nr)), ir.srem(col, c(nr)))
            ir.forLoop(c(0), c(k), "pk") { kk in
                let v = loadF(b, ir.add(src, ir.mul(kk, c(body.b.rowStride))), 1)
                storeF(ir.select(valid, v, ir.constF32(0)), panels, ir.add(dst, ir.mul(kk, c(nr))))
            }
        }
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
                    bases: Array(offs.dropFirst(3)), rows: e.operands.map(\.row), cols: e.operands.map(\.col))
            }
            f(offs, args)
        }
    }

    /// The epilogue on one accumulator vector at (row, col): its operands are loaded at their
    /// strides (a broadcast scalar, or `width` lanes — masked at the edge).
    func applyEpilogue(
        _ e: EpilogueArgs, _ acc: IRValue, row: IRValue, col: IRValue, width: Int, mask: IRValue?,
        dtype: DType = .f32
    ) -> IRValue {
        var args = [Typed(value: acc, domain: Domain(dtype))]
        for x in e.pointers.indices {
            let at = ir.add(ir.add(e.bases[x], ir.mul(row, c(e.rows[x]))), ir.mul(col, c(e.cols[x])))
            if e.cols[x] == 0 {
                let s = ir.loadTyped(e.pointers[x], at, e.types[x + 1], width: 1)
                args.append(Typed(value: ir.splat(s.value, width), domain: s.domain))
            } else {
                args.append(ir.loadTyped(e.pointers[x], at, e.types[x + 1], width: width, mask: mask))
            }
        }
        return ir.lowerTyped(e.expr, args, e.types, result: dtype, want: Domain(dtype), width: width).value
    }
}
