import SinterIR

/// Direct 2-D convolution on channel-blocked (NCHWc) tensors, in the manner of MLAS's and
/// TVM's NCHWc kernels: one vector holds `block` output channels of one pixel, a row of up to
/// `tile` neighbouring pixels accumulates in registers, and for each input channel and tap
/// one weight vector is loaded and multiplied by each pixel's broadcast input value. Columns
/// whose taps all fall inside the image run without bounds checks; the border columns and
/// rows clip their tap ranges instead of testing each tap.
/// `depthwise-conv-nchwc` (one filter per channel) is the same unit: each output vector is one
/// pixel's block of channels and the taps multiply lane by lane.
struct BlockedConvUnit: KernelUnit {
    static let name = "conv-nchwc"

    /// f32, or bf16 operands summed into an f32 result (`to = "f32"`).
    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands + results).allSatisfy { $0 == .f32 }
            || (operands.count == 2 && operands.allSatisfy { $0 == .bf16 } && results == [.f32])
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let x = c.inShapes[0], w = c.inShapes[1]
        if c.operandTypes[0].dtype == .bf16 {
            // Pairs of input channels per word: the int8 blocked kernel with the bf16 dot step.
            let win = try c.window([x[2], x[3]], [w[2], w[3]])
            guard c.node.op == .convNCHWc, max(c.int("group"), 1) == 1, x[4] % 2 == 0,
                (win.padBegin + win.padEnd).allSatisfy({ $0 == 0 })
            else {
                throw c.fail(
                    "a bf16 conv-nchwc must be dense, unpadded (layout pads its input), in blocks of whole pairs")
            }
            let geometry = BlockedConvGeometry(
                batch: x[0], inBlocks: x[1], outBlocks: w[0], block: w[5], inBlock: x[4], input: [x[2], x[3]],
                window: win)
            // The target's dot step where its lanes are the block's; the portable one otherwise.
            let native = c.schedules.bf16Dot
            return [
                QConvBlockedUnit.Body(
                    geometry: geometry, flipX: false, zeroX: 0, scales: [], dot: .generic, epilogue: c.epilogue,
                    bias: false, bf16: native.lanes == w[5] ? native : .generic)
            ]
        }
        let depthwise = c.node.op == .depthwiseConvNCHWc
        // Weights: [M/b, C/bi, kh, kw, bi, b], or [C/b, kh, kw, b] for depthwise.
        let win = try c.window([x[2], x[3]], depthwise ? [w[1], w[2]] : [w[2], w[3]])
        var geometry = BlockedConvGeometry(
            batch: x[0], inBlocks: x[1], outBlocks: depthwise ? x[1] : w[0], block: depthwise ? x[4] : w[5],
            inBlock: x[4], input: [x[2], x[3]], window: win)
        if !depthwise {
            geometry.group = max(c.int("group"), 1)
            geometry.weightInBlocks = w[1]
        }
        return [
            Body(
                geometry: geometry, depthwise: depthwise,
                accumulating: Schedules.accumulator(for: c.operandTypes[0].dtype), epilogue: c.epilogue)
        ]
    }

    /// Epilogue operands are addressed per (image, out block, row, column) and by lane (0: one
    /// value broadcast over the block, 1: one value per channel).
    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? {
        Epilogue.Operand(dtype: dtype, batch: Array(strides.prefix(4)), row: 0, col: strides[4])
    }

    struct Body: KernelUnitBody, Hashable {
        var geometry: BlockedConvGeometry
        var depthwise: Bool
        var accumulating: DType
        var accumulator: DType? { accumulating }
        /// Each output channel reads one input channel (depthwise) or its group's.
        var multiplyAdds: Int? {
            let g = geometry
            let perOutput = depthwise ? 1 : g.inBlocks * g.inBlock / max(g.group, 1)
            return checkedProduct([g.batch, g.outBlocks * g.block, perOutput] + g.window.output + g.window.kernel)
        }
        var epilogue: Epilogue?

        var description: String { (depthwise ? "depthwise " : "") + geometry.summary + ", in \(accumulating)" }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let extras = Array(a.ins.dropFirst(2))
            if depthwise {
                e.depthwiseBlocked(geometry, a.out, a.ins[0], a.ins[1], epilogue, extras, task: a.task, tasks: a.parts)
            } else {
                e.convBlocked(
                    geometry, a.out, a.ins[0], a.ins[1], epilogue, extras, tile: a.registerTile, task: a.task,
                    tasks: a.parts)
            }
        }

        /// The register tile from the target's accumulators (dense convs); parts are ranges of
        /// output rows, or of pixel tiles when the tile spans rows (`tilesAcrossRows`).
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let g = geometry
            let rows = g.batch * g.outBlocks * g.window.output[0]
            if depthwise {
                let flops = (checkedProduct([rows, g.window.output[1], g.block] + g.window.kernel) ?? .max)
                if flops >= s.splitDepthwiseFlops {
                    k.tasks = s.parts(work: flops, grain: s.grainDepthwiseFlops, units: rows)
                }
                return
            }
            // A grouped conv's output blocks read different input blocks: one block per tile.
            // Flat tiles take 2-block tiles for an odd block count too, and one last block
            // (SqueezeNet's 1000 classes in 63 blocks: 56 → 89 GFLOP/s, from one-block tiles).
            let across = KernelEmitter.tilesAcrossRows(g)
            let tile = s.blockedConvTile(
                outBlocks: g.group > 1 ? 1 : across && g.outBlocks > 1 ? g.outBlocks / 2 * 2 : g.outBlocks)
            k.registerTile = [tile.blocks, tile.pixels]
            if across && tile.blocks > 1 && g.outBlocks % tile.blocks != 0 {
                k.registerTile.append(s.blockedConvTile(outBlocks: 1).pixels)
            }
            let flops =
                (checkedProduct([rows, g.window.output[1], g.block, g.inBlocks, g.inBlock] + g.window.kernel) ?? .max)
            let plane = g.window.output[0] * g.window.output[1]
            let units =
                across
                ? g.batch * ((g.outBlocks + tile.blocks - 1) / tile.blocks)
                    * KernelEmitter.planeTiles(plane, tile: tile.pixels).count
                : rows
            if flops >= s.splitFlops { k.tasks = s.parts(work: flops, grain: s.grainFlops, units: units) }
        }
    }
}

extension BlockedConvGeometry {
    var summary: String {
        "\(batch)×\(inBlocks)×\(input)×\(inBlock) → \(outBlocks)×\(window.output)×\(block), "
            + "kernel \(window.kernel)" + (group > 1 ? ", \(group) groups reading \(weightInBlocks) blocks" : "")
    }
}

extension KernelEmitter {
    func convBlocked(
        _ g: BlockedConvGeometry, _ out: IRValue, _ x: IRValue, _ wt: IRValue, _ epilogue: Epilogue?,
        _ extras: [IRValue], tile registerTile: [Int], task: IRValue, tasks: IRValue
    ) {
        // Output lanes b; input lanes bi (b, or 1 for an NCHW input viewed as [N, C, H, W, 1]).
        let b = g.block, bi = g.inBlock, win = g.window
        let (h, w) = (g.input[0], g.input[1])
        let (oh, ow) = (win.output[0], win.output[1])
        let (kh, kw) = (win.kernel[0], win.kernel[1])
        let (sh, sw) = (win.strides[0], win.strides[1])
        let (dh, dw) = (win.dilations[0], win.dilations[1])
        let (ph, pw) = (win.padBegin[0], win.padBegin[1])
        guard g.batch * g.outBlocks * oh * ow * b * bi > 0 else { return }
        let xBlock = h * w * bi, xImage = g.inBlocks * xBlock, xRow = w * bi
        let oBlock = oh * ow * b, oImage = g.outBlocks * oBlock, oRow = ow * b
        let (owLo, owHi) = Self.interiorColumns(win, width: w)
        // The register tile comes from the target's schedules (Schedules.blockedConvTile).
        let (ob4, tile) = (registerTile.first ?? 1, registerTile.count > 1 ? registerTile[1] : 1)
        if Self.tilesAcrossRows(g) {
            return convBlockedAcrossRows(
                g, out, x, wt, epilogue, extras, ob4: ob4, tile: tile, tailTile: registerTile.last ?? 1, task: task,
                tasks: tasks)
        }
        let groups = g.outBlocks / ob4
        // Parts take contiguous ranges of output rows (image, group of out blocks, row).
        let units = g.batch * groups * oh
        let (u0, u1) = partRange(units, task: task, tasks: tasks)
        ir.forLoop(u0, u1, "row") { u in
            let n = ir.sdiv(u, c(groups * oh))
            let ob = ir.mul(ir.srem(ir.sdiv(u, c(oh)), c(groups)), c(ob4))
            let y = ir.srem(u, c(oh))
            let ihBase = ir.sub(ir.mul(y, c(sh)), c(ph))
            let (khBegin, khEnd) = taps(ihBase, kh, dh, lo: 0, hi: h)
            let xImageBase = ir.mul(n, c(xImage))
            let oBase = ir.add(ir.add(ir.mul(n, c(oImage)), ir.mul(ob, c(oBlock))), ir.mul(y, c(oRow)))

            /// `count` pixels from column `col`; `checked` clips the horizontal taps (count 1).
            func pixels(_ col: IRValue, _ count: Int, _ checked: Bool) {
                let iwBase = ir.sub(ir.mul(col, c(sw)), c(pw))
                let (kwBegin, kwEnd) = checked ? taps(iwBase, kw, dw, lo: 0, hi: w) : (c(0), c(kw))
                let rowBase = ir.add(xImageBase, ir.mul(ihBase, c(xRow)))
                let starts = (0..<count).map { t in ir.add(rowBase, ir.mul(ir.add(iwBase, c(t * sw)), c(bi))) }
                let acc = blockedAccumulate(g, x, wt, ob, starts, ob4, (khBegin, khEnd), (kwBegin, kwEnd))
                for j in 0..<ob4 {
                    for t in 0..<count {
                        let px = ir.add(col, c(t))
                        let value = blockedEpilogue(
                            acc[j * count + t], epilogue, extras, at: [n, ir.add(ob, c(j)), y, px], b)
                        storeF(value, out, ir.add(ir.add(oBase, c(j * oBlock)), ir.mul(px, c(b))))
                    }
                }
            }

            columnTiles(ow, owLo, owHi, tile, pixels)
        }
    }

    /// The sums of output blocks `ob` ..< `ob` + `ob4` for pixels whose top-left input element
    /// (image, row and column folded in) is at `starts[t]`, over the input blocks they read
    /// (all, or their groups') and the taps in `rows` × `cols`: for each input channel and tap,
    /// one weight vector per block and one broadcast input value per pixel. Accumulator
    /// j · count + t is block j, pixel t.
    func blockedAccumulate(
        _ g: BlockedConvGeometry, _ x: IRValue, _ wt: IRValue, _ ob: IRValue, _ starts: [IRValue], _ ob4: Int,
        _ rows: (IRValue, IRValue), _ cols: (IRValue, IRValue)
    ) -> [IRValue] {
        let b = g.block, bi = g.inBlock, win = g.window
        let (h, w) = (g.input[0], g.input[1])
        let (kh, kw) = (win.kernel[0], win.kernel[1])
        let (dh, dw) = (win.dilations[0], win.dilations[1])
        let xBlock = h * w * bi, xRow = w * bi
        let wRow = kw * bi * b, wIn = kh * wRow, wOut = g.weightInBlocks * wIn
        let count = starts.count
        let zero = ir.constF32(0, width: b)
        // Weight block j of output block ob is input block lo + j.
        let (lo, hi) = g.inBlockRange(ir, ob)
        let wBase = ir.sub(ir.mul(ob, c(wOut)), ir.mul(lo, c(wIn)))
        return ir.forLoop(lo, hi, carrying: Array(repeating: zero, count: count * ob4), "ib") { ib, acc in
            // Taps stay loops: copied out (constant ranges when tiles span rows), ResNet-50's
            // compile took twice as long for no run-time gain.
            ir.forLoop(rows.0, rows.1, carrying: acc, "kh", unroll: false) { ky, acc in
                let xTapRow = ir.add(ir.mul(ib, c(xBlock)), ir.mul(ky, c(dh * xRow)))
                let wRowBase = ir.add(ir.add(wBase, ir.mul(ib, c(wIn))), ir.mul(ky, c(wRow)))
                return ir.forLoop(cols.0, cols.1, carrying: acc, "kw", unroll: false) { kx, acc in
                    let tap = ir.add(xTapRow, ir.mul(kx, c(dw * bi)))
                    let xs = starts.map { ir.add($0, tap) }
                    let wTap = ir.add(wRowBase, ir.mul(kx, c(bi * b)))
                    return ir.forLoop(c(0), c(bi), carrying: acc, "ci") { ci, acc in
                        let wv = (0..<ob4).map { j in loadF(wt, ir.add(ir.add(wTap, c(j * wOut)), ir.mul(ci, c(b))), b)
                        }
                        var next = acc
                        for t in 0..<count {
                            let xv = ir.splat(loadF(x, ir.add(xs[t], ci), 1), b)
                            for j in 0..<ob4 {
                                next[j * count + t] = ir.intrinsic("llvm.fma", [xv, wv[j], acc[j * count + t]])
                            }
                        }
                        return next
                    }
                }
            }
        }
    }

    /// Whether a blocked conv tiles pixels across rows: when it has no padding, so that every
    /// tap of every pixel is inside the image (`layout` pads blocked inputs explicitly). Row
    /// by row, a row is split into tiles of its own and padded borders run a pixel at a time
    /// (a 7 × 7 output with pad 1: tiles of 1, 5 and 1 pixels of the 12 the registers hold).
    static func tilesAcrossRows(_ g: BlockedConvGeometry) -> Bool {
        (g.window.padBegin + g.window.padEnd).allSatisfy { $0 == 0 }
    }

    /// A plane of `plane` pixels in `count` tiles of `size` (at most `tile`) pixels; the last
    /// tile may run past the plane's end (49 pixels in tiles of at most 12: 5 × 10, the last
    /// one's tenth pixel a repeat).
    static func planeTiles(_ plane: Int, tile: Int) -> (size: Int, count: Int) {
        let count = (plane + tile - 1) / max(tile, 1)
        let size = (plane + count - 1) / max(count, 1)
        return (size, (plane + size - 1) / max(size, 1))
    }

    /// `convBlocked` over flat pixel tiles (`tilesAcrossRows`), in `sweepTiles`' order.
    func convBlockedAcrossRows(
        _ g: BlockedConvGeometry, _ out: IRValue, _ x: IRValue, _ wt: IRValue, _ epilogue: Epilogue?,
        _ extras: [IRValue], ob4: Int, tile: Int, tailTile: Int, task: IRValue, tasks: IRValue
    ) {
        let kernel = g.window.kernel
        sweepTiles(g, ob4: ob4, tile: tile, tailTile: tailTile, task, tasks) { n, ob, blocks, starts, at in
            let acc = blockedAccumulate(g, x, wt, ob, starts, blocks, (c(0), c(kernel[0])), (c(0), c(kernel[1])))
            return (0..<blocks).map { j in
                starts.indices.map { t in
                    blockedEpilogue(
                        acc[j * starts.count + t], epilogue, extras, at: [n, ir.add(ob, c(j)), at[t].y, at[t].x],
                        g.block)
                }
            }
        } store: { value, index in
            storeF(value, out, index)
        }
    }

    /// The pixel tiles of a blocked conv without padding (`tilesAcrossRows`): parts take ranges
    /// of (image, group of `ob4` out blocks, tile of consecutive output pixels of the plane,
    /// `planeTiles`). Pixels past the plane's end repeat its last pixel (XNNPACK's clamp, as the
    /// GEMM's row tiles do), so one tile shape covers the plane; every value is computed before
    /// any is stored, so a repeat never reads its own store (a residual in place). An odd block
    /// count with 2-block tiles ends in one block of `tailTile` pixels, swept on its own (every
    /// part takes its share of both sweeps). `values(n, ob, blocks, starts, at)` gives a tile's
    /// outputs, [block j][pixel t], from each pixel's first input element (`starts`, image
    /// folded in) and its (row, column); `store(value, index)` writes one at an output element.
    func sweepTiles(
        _ g: BlockedConvGeometry, ob4: Int, tile: Int, tailTile: Int, _ task: IRValue, _ tasks: IRValue,
        values: (IRValue, IRValue, Int, [IRValue], [(y: IRValue, x: IRValue)]) -> [[IRValue]],
        store: (IRValue, IRValue) -> Void
    ) {
        let pairs = g.outBlocks / ob4
        sweepBlocks(g, from: 0, groups: pairs, ob4: ob4, tile: tile, task, tasks, values, store)
        if pairs * ob4 < g.outBlocks {
            sweepBlocks(
                g, from: pairs * ob4, groups: g.outBlocks - pairs * ob4, ob4: 1, tile: tailTile, task, tasks, values,
                store)
        }
    }

    /// Output blocks `from` ..< `from` + `groups` · `ob4` of `sweepTiles`, in tiles of `ob4`
    /// blocks × `tile` pixels.
    private func sweepBlocks(
        _ g: BlockedConvGeometry, from: Int, groups: Int, ob4: Int, tile: Int, _ task: IRValue, _ tasks: IRValue,
        _ values: (IRValue, IRValue, Int, [IRValue], [(y: IRValue, x: IRValue)]) -> [[IRValue]],
        _ store: (IRValue, IRValue) -> Void
    ) {
        let b = g.block, bi = g.inBlock, win = g.window
        let (oh, ow) = (win.output[0], win.output[1])
        let plane = oh * ow
        let xImage = g.inBlocks * g.input[0] * g.input[1] * bi, oBlock = plane * b
        let (count, tiles) = Self.planeTiles(plane, tile: tile)
        let (u0, u1) = partRange(g.batch * groups * tiles, task: task, tasks: tasks)
        ir.forLoop(u0, u1, "tile") { u in
            let n = ir.sdiv(u, c(groups * tiles))
            let ob = ir.add(ir.mul(ir.srem(ir.sdiv(u, c(tiles)), c(groups)), c(ob4)), c(from))
            let first = ir.mul(ir.srem(u, c(tiles)), c(count))
            let xImageBase = ir.mul(n, c(xImage))
            let oBase = ir.mul(ir.add(ir.mul(n, c(g.outBlocks)), ob), c(oBlock))
            let pixels = (0..<count).map { t in smin(ir.add(first, c(t)), c(plane - 1)) }
            let at = pixels.map { p in (y: ir.sdiv(p, c(ow)), x: ir.srem(p, c(ow))) }
            let starts = at.map { p in
                let row = ir.mul(ir.mul(p.y, c(win.strides[0])), c(g.input[1]))
                return ir.add(xImageBase, ir.mul(ir.add(row, ir.mul(p.x, c(win.strides[1]))), c(bi)))
            }
            let results = values(n, ob, ob4, starts, at)
            for j in 0..<ob4 {
                for t in 0..<count {
                    store(results[j][t], ir.add(oBase, ir.add(c(j * oBlock), ir.mul(pixels[t], c(b)))))
                }
            }
        }
    }

    /// Depthwise convolution on blocked tensors: lane l of block cb is channel cb·b + l, with its
    /// own [kh, kw] filter, so every output vector is a sum of tap vectors × weight vectors.
    /// Interior tiles of up to 14 pixels share each weight vector; borders clip their taps.
    func depthwiseBlocked(
        _ g: BlockedConvGeometry, _ out: IRValue, _ x: IRValue, _ wt: IRValue, _ epilogue: Epilogue?,
        _ extras: [IRValue], task: IRValue, tasks: IRValue
    ) {
        let b = g.block, win = g.window
        let (h, w) = (g.input[0], g.input[1])
        let (oh, ow) = (win.output[0], win.output[1])
        let (kh, kw) = (win.kernel[0], win.kernel[1])
        let (sh, sw) = (win.strides[0], win.strides[1])
        let (dh, dw) = (win.dilations[0], win.dilations[1])
        guard g.batch * g.outBlocks * oh * ow * b > 0 else { return }
        let (owLo, owHi) = Self.interiorColumns(win, width: w)
        let units = g.batch * g.outBlocks * oh
        let (u0, u1) = partRange(units, task: task, tasks: tasks)
        ir.forLoop(u0, u1, "row") { u in
            let nc = ir.sdiv(u, c(oh)), y = ir.srem(u, c(oh))
            let n = ir.sdiv(nc, c(g.outBlocks)), cb = ir.srem(nc, c(g.outBlocks))
            let ihBase = ir.sub(ir.mul(y, c(sh)), c(win.padBegin[0]))
            let (khBegin, khEnd) = taps(ihBase, kh, dh, lo: 0, hi: h)
            let xBase = ir.mul(nc, c(h * w * b)), wBase = ir.mul(cb, c(kh * kw * b))
            let oBase = ir.add(ir.mul(nc, c(oh * ow * b)), ir.mul(y, c(ow * b)))
            columnTiles(ow, owLo, owHi, 14) { col, count, checked in
                let iwBase = ir.sub(ir.mul(col, c(sw)), c(win.padBegin[1]))
                let (kwBegin, kwEnd) = checked ? taps(iwBase, kw, dw, lo: 0, hi: w) : (c(0), c(kw))
                let zero = ir.constF32(0, width: b)
                let acc = ir.forLoop(khBegin, khEnd, carrying: Array(repeating: zero, count: count), "kh") { ky, acc in
                    let row = ir.add(xBase, ir.mul(ir.add(ihBase, ir.mul(ky, c(dh))), c(w * b)))
                    let wRow = ir.add(wBase, ir.mul(ky, c(kw * b)))
                    return ir.forLoop(kwBegin, kwEnd, carrying: acc, "kw") { kx, acc in
                        let wv = loadF(wt, ir.add(wRow, ir.mul(kx, c(b))), b)
                        let iw = ir.add(iwBase, ir.mul(kx, c(dw)))
                        return (0..<count).map { t in
                            let xv = loadF(x, ir.add(row, ir.mul(ir.add(iw, c(t * sw)), c(b))), b)
                            return ir.intrinsic("llvm.fma", [xv, wv, acc[t]])
                        }
                    }
                }
                for t in 0..<count {
                    let px = ir.add(col, c(t))
                    storeF(
                        blockedEpilogue(acc[t], epilogue, extras, at: [n, cb, y, px], b), out,
                        ir.add(oBase, ir.mul(px, c(b))))
                }
            }
        }
    }

    /// Taps [begin, end) of a k-tap window starting at `start` (dilation d) that land inside
    /// [lo, hi). sdiv rounds toward zero; the clamps make that right for negative numerators,
    /// and an empty range has end = begin.
    func taps(_ start: IRValue, _ k: Int, _ d: Int, lo: Int, hi: Int) -> (IRValue, IRValue) {
        let begin = smax(c(0), ir.sdiv(ir.add(ir.sub(c(lo), start), c(d - 1)), c(d)))
        let end = smin(c(k), ir.sdiv(ir.add(ir.sub(c(hi - 1), start), c(d)), c(d)))
        return (begin, smax(begin, end))
    }

    /// Part `task` of `tasks` takes units [begin, end) of `units` (empty past the end).
    func partRange(_ units: Int, task: IRValue, tasks: IRValue) -> (IRValue, IRValue) {
        let per = ceilDiv(c(units), tasks)
        let begin = smin(ir.mul(task, per), c(units))
        return (begin, smin(ir.add(begin, per), c(units)))
    }

    /// Output columns [lo, hi) whose horizontal taps all fall inside the image.
    static func interiorColumns(_ win: ShapeRules.Window, width w: Int) -> (Int, Int) {
        let (ow, kw, sw, dw, pw) = (win.output[1], win.kernel[1], win.strides[1], win.dilations[1], win.padBegin[1])
        let lo = min(ow, (pw + sw - 1) / sw)
        let lastTap = w - 1 - (kw - 1) * dw + pw
        return (lo, max(lo, min(ow, lastTap >= 0 ? lastTap / sw + 1 : 0)))
    }

    /// Calls `pixels(column, count, checked)` for every output column of a row: border columns
    /// (left, then right) one at a time with clipped taps, interior columns in equal tiles of
    /// at most `tile`. The last tile is moved left to end at `hi`, so it may recompute a pixel
    /// or two (the output never aliases an operand of the kernel).
    func columnTiles(_ ow: Int, _ lo: Int, _ hi: Int, _ tile: Int, _ pixels: (IRValue, Int, Bool) -> Void) {
        let borders = lo + (ow - hi)
        if borders > 0 {
            ir.forLoop(c(0), c(borders), "owb") { j in
                pixels(ir.select(ir.icmp(.slt, j, c(lo)), j, ir.add(j, c(hi - lo))), 1, true)
            }
        }
        let interior = hi - lo
        guard interior > 0 else { return }
        let tiles = (interior + tile - 1) / tile
        let t = (interior + tiles - 1) / tiles
        ir.forLoop(c(0), c((interior + t - 1) / t), "owt") { j in
            pixels(smin(ir.add(ir.mul(j, c(t)), c(lo)), c(hi - t)), t, false)
        }
    }

    /// The epilogue on one output vector at (image, channel block, row, column), or with `lane`
    /// on that one lane's value (plain loops). `result` is the dtype the kernel stores (an int8
    /// kernel's fused quantization ends in u8 or i8; the value is then in that type's domain,
    /// for `storeResult`).
    func blockedEpilogue(
        _ acc: IRValue, _ epilogue: Epilogue?, _ extras: [IRValue], at coords: [IRValue], _ b: Int,
        result: DType = .f32, lane: IRValue? = nil
    ) -> IRValue {
        guard let e = epilogue else { return acc }
        let width = lane == nil ? b : 1
        var args = [Typed(value: acc, domain: .float32)]
        for (k, op) in e.operands.enumerated() {
            var at = zip(coords, op.batch).reduce(c(0)) { $0.add(ir, $1.0, $1.1) }
            if let lane { at = at.add(ir, lane, op.col) }
            if op.col == 0 && width > 1 {
                let s = ir.loadTyped(extras[k], at, op.dtype, width: 1)
                args.append(Typed(value: ir.splat(s.value, width), domain: s.domain))
            } else {
                args.append(ir.loadTyped(extras[k], at, op.dtype, width: width))
            }
        }
        return ir.lowerTyped(
            e.expr, args, [.f32] + e.operands.map(\.dtype), result: result, want: .float32, width: width
        ).value
    }

    func smax(_ a: IRValue, _ b: IRValue) -> IRValue { ir.select(ir.icmp(.sgt, a, b), a, b) }
    func smin(_ a: IRValue, _ b: IRValue) -> IRValue { ir.select(ir.icmp(.slt, a, b), a, b) }
}

private extension IRValue {
    /// self + index · stride (skipped when the stride is 0).
    func add(_ ir: IRBuilder, _ index: IRValue, _ stride: Int) -> IRValue {
        stride == 0 ? self : ir.add(self, ir.mul(index, ir.constI64(stride)))
    }
}
