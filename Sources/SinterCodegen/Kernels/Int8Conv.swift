import SinterIR

/// The int8 convolution behind `qconv`, and the bf16 one behind `conv {to = "f32"}` (two k per
/// word instead of four, the bf16 dot step, no compensation or scales). Part `task` owns panels
/// [P0, P1) of every image's output positions and walks them a chunk at a time: it copies the
/// chunk's im2col rows as bytes into its scratch (a pointwise conv reads its input rows in place), packs them for the
/// dot step — per panel, each k quad one row of nr columns × 4 taps, the top bit flipped into
/// the dot step's domain — and runs every row tile of the packed weights over the chunk's
/// panels, the weights' tile staying in L1 while the chunk stays in L2. Rows of a tile are
/// output channels, so each accumulator vector is `lanes` neighbouring positions of one
/// channel: it loses the compensation, turns f32, takes its channel's scale and the epilogue,
/// and is stored in place (masked past the last position). k is never split, so results are
/// the same for every thread count.
extension KernelEmitter {
    func int8Conv(
        _ body: QConvUnit.Body, _ out: IRValue, _ x: IRValue, _ w: IRValue, _ bias: IRValue?, _ extras: [IRValue],
        scratch: IRValue, task: IRValue, tasks: IRValue
    ) {
        let g = body.geometry
        guard g.batch > 0, body.m > 0, body.positions > 0 else { return }
        guard body.packedW else { return int8ConvLoops(body, out, x, w, bias, extras) }
        let nr = body.blocking.nr, chunk = body.chunkPanels, width = chunk * nr
        let (p0, p1) = partRange(body.panels, task: task, tasks: tasks)
        let packed = ir.gep(ir.i8, scratch, ir.mul(task, c(body.partScratchBytes)))
        let staging = ir.gep(ir.i8, packed, c(body.packedChunkBytes))
        let spatialIn = g.input.reduce(1, *)
        let full = body.positions / nr
        // The padding is the input's zero point as stored (before packing flips its top bit), or
        // a bf16 zero.
        let element = body.bf16 == nil ? ir.i8 : ir.i16
        let fill =
            body.bf16 != nil
            ? ir.constInt(ir.i16, 0)
            : ir.constInt(ir.i8, Int(Int8(truncatingIfNeeded: body.flipX ? body.zeroX ^ 0x80 : body.zeroX)))
        let perGroupIn = g.channels / body.group
        ir.forLoop(c(0), c(g.batch * body.group), "ng") { ng in
            let n = ir.sdiv(ng, c(body.group)), grp = ir.srem(ng, c(body.group))
            // Group grp reads input channels grp·C/g …, writes output channels grp·m …, and uses
            // its own row tiles of weights and trailer slots.
            let inBase = ir.mul(ng, c(perGroupIn * spatialIn))
            let outBase = ir.mul(ng, c(body.m * body.positions))
            let weights = ir.gep(ir.i8, w, ir.mul(grp, c(body.groupBytes)))
            // The group's biases: channel r of the group is bias[grp · m + r].
            let biases = bias.map { ir.gep(ir.i32, $0, ir.mul(grp, c(body.m))) }
            let slots = ir.mul(grp, c(body.paddedRows))
            let args = convEpilogueArgs(body.epilogue, extras, n, grp, body.m)
            ir.forLoop(p0, p1, step: chunk, "chunk") { first in
                let end = smin(ir.add(first, c(chunk)), p1)
                let q0 = ir.mul(first, c(nr))
                // The chunk's im2col rows: the input itself (row stride = positions), or bytes
                // copied into staging (row stride = width, column 0 = position q0).
                let (source, base, ld): (IRValue, IRValue, Int)
                if body.pointwise {
                    (source, base, ld) = (x, ir.add(inBase, q0), body.positions)
                } else {
                    im2col(
                        g, ir.gep(element, x, inBase), staging, width, q0, smin(ir.mul(end, c(nr)), c(body.positions)),
                        element: element, fill: fill)
                    (source, base, ld) = (staging, c(0), width)
                }
                ir.forLoop(first, smin(end, c(full)), "pp") { p in
                    packColumns(
                        body, source, ir.add(base, ir.mul(ir.sub(p, first), c(nr))), ld, packed,
                        panel: ir.sub(p, first), valid: nr)
                }
                if body.positions % nr != 0 {
                    ir.forLoop(smax(first, c(full)), end, "ppt") { p in
                        packColumns(
                            body, source, ir.add(base, ir.mul(ir.sub(p, first), c(nr))), ld, packed,
                            panel: ir.sub(p, first), valid: body.positions % nr)
                    }
                }
                let mr = body.blocking.mr
                for (rows, tiles) in [(mr, (0, body.m / mr)), (body.m % mr, (body.m / mr, body.rowTiles))]
                where rows > 0 && tiles.1 > tiles.0 {
                    ir.forLoop(c(tiles.0), c(tiles.1), "qt") { t in
                        ir.forLoop(first, smin(end, c(full)), "qp") { p in
                            int8ConvTile(
                                body, (weights, w, slots, biases), packed, out, outBase, t, rows, p, first, args,
                                valid: nr)
                        }
                        if body.positions % nr != 0 {
                            ir.forLoop(smax(first, c(full)), end, "qpt") { p in
                                int8ConvTile(
                                    body, (weights, w, slots, biases), packed, out, outBase, t, rows, p, first, args,
                                    valid: body.positions % nr)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Packs one panel: columns [0, valid) of the im2col rows at `source` + `base` (row stride
    /// `ld` elements) into chunk panel `panel` of `packed`, each k word nr columns × its taps (4
    /// bytes, or 2 bf16); taps past k and columns past `valid` are zero.
    private func packColumns(
        _ body: QConvUnit.Body, _ source: IRValue, _ base: IRValue, _ ld: Int, _ packed: IRValue, panel: IRValue,
        valid: Int
    ) {
        let nr = body.blocking.nr, k = body.k, per = body.tapsPerWord
        let element = body.bf16 == nil ? ir.i8 : ir.i16
        let row = ir.vector(element, nr)
        let mask: IRValue? = valid < nr ? ir.laneMask(valid, width: nr) : nil
        let zero = ir.constInt(element, 0, width: nr)
        let flip = ir.constInt(ir.i8, -128, width: 4 * nr)
        let dst = ir.mul(panel, c(body.words * nr * 4))
        var pairs: [Int] = [], quads: [Int] = []
        for j in 0..<nr {
            pairs += [j, nr + j]
            quads += [2 * j, 2 * j + 1, 2 * nr + 2 * j, 2 * nr + 2 * j + 1]
        }
        func word(_ q: IRValue, taps: Int) {
            let rows = (0..<per).map { t -> IRValue in
                guard t < taps else { return zero }
                let at = ir.gep(element, source, ir.add(base, ir.mul(ir.add(ir.mul(q, c(per)), c(t)), c(ld))))
                let align = body.elementBytes
                return mask.map { ir.maskedLoad(row, at, mask: $0, align: align) } ?? ir.load(row, at, align: align)
            }
            var words = ir.shuffle(rows[0], rows[1], pairs)
            if per == 4 { words = ir.shuffle(words, ir.shuffle(rows[2], rows[3], pairs), quads) }
            if body.flipX && body.bf16 == nil { words = ir.xor(words, flip) }
            ir.store(words, ir.gep(ir.i8, packed, ir.add(dst, ir.mul(q, c(nr * 4)))), align: body.elementBytes)
        }
        if k / per > 0 { ir.forLoop(c(0), c(k / per), "pq") { q in word(q, taps: per) } }
        if k % per != 0 { word(c(k / per), taps: k % per) }
    }

    /// One register tile: output channels t·mr ..< t·mr + rows (of the group whose packed tiles
    /// start at `w.tiles` and whose trailer slots start at `w.slots`) of panel `p` over all of k.
    private func int8ConvTile(
        _ body: QConvUnit.Body, _ w: (tiles: IRValue, base: IRValue, slots: IRValue, bias: IRValue?),
        _ packed: IRValue,
        _ out: IRValue, _ outBase: IRValue, _ t: IRValue, _ rows: Int, _ p: IRValue, _ first: IRValue,
        _ epilogue: EpilogueArgs?, valid: Int
    ) {
        let bl = body.blocking
        let (lanes, mr, nr) = (bl.lanes, bl.mr, bl.nr)
        let vectors = (valid + lanes - 1) / lanes
        let lastMask: IRValue? = valid % lanes != 0 ? ir.laneMask(valid % lanes, width: lanes) : nil
        let aBase = ir.mul(t, c(body.tileBytes)), bBase = ir.mul(ir.sub(p, first), c(body.words * nr * 4))
        let acc: [IRValue]
        if let dot = body.bf16 {
            acc = dotSums(
                zero: ir.constReal(ir.f32, 0, width: lanes), a: w.tiles, aBase: aBase, aRows: mr, rows: rows, b: packed,
                bBase: bBase, bBytes: nr * 4, vectors: vectors, lanes: lanes, words: body.words
            ) { acc, av, bv in dotBf16(dot, acc, av, bv, lanes: lanes) }
        } else {
            acc = int8Sums(
                body.dot, a: w.tiles, aBase: aBase, aRows: mr, rows: rows, b: packed, bBase: bBase, bBytes: nr * 4,
                vectors: vectors, lanes: lanes, quads: body.words, unsignedA: false)
        }
        let col0 = ir.mul(p, c(nr))
        for r in 0..<rows {
            let channel = ir.add(ir.mul(t, c(mr)), c(r))
            // int8: f32(acc − comp) · scale, with the compensation less the channel's i32 bias
            // (acc − comp + bias in one subtraction); bf16: the f32 sums as they are.
            var dequantize: (IRValue) -> IRValue = { $0 }
            if body.bf16 == nil {
                let slot = ir.mul(ir.add(w.slots, channel), c(4))
                var rowComp = ir.load(ir.i32, ir.gep(ir.i8, w.base, ir.add(c(body.compensationOffset), slot)))
                if let b = w.bias { rowComp = ir.sub(rowComp, ir.load(ir.i32, ir.gep(ir.i32, b, channel))) }
                let comp = ir.splat(rowComp, lanes)
                let scale = ir.splat(
                    ir.load(ir.f32, ir.gep(ir.i8, w.base, ir.add(c(body.scalesOffset), slot))), lanes)
                dequantize = {
                    self.ir.fmul(self.ir.sitofp(self.ir.sub($0, comp), self.ir.vector(self.ir.f32, lanes)), scale)
                }
            }
            for u in 0..<vectors {
                let col = ir.add(col0, c(u * lanes))
                let mask = u == vectors - 1 ? lastMask : nil
                var value = dequantize(acc[r * vectors + u])
                if let e = epilogue {
                    value = applyEpilogue(e, value, row: channel, col: col, width: lanes, mask: mask, dtype: e.result)
                }
                let at = ir.add(outBase, ir.add(ir.mul(channel, c(body.positions)), col))
                storeResult(value, out, at, epilogue?.result, mask: mask)
            }
        }
    }

    /// Weights not packed (never made by the pipeline, which keeps them a constant): a direct
    /// convolution in plain loops over the i8 weights as written, with the scales embedded (or
    /// over bf16 values, widened to f32 and summed with FMAs).
    private func int8ConvLoops(
        _ body: QConvUnit.Body, _ out: IRValue, _ x: IRValue, _ w: IRValue, _ bias: IRValue?, _ extras: [IRValue]
    ) {
        let g = body.geometry, win = g.window
        let (h, wd, kh, kw) = (g.input[0], g.input[1], win.kernel[0], win.kernel[1])
        let scales = body.bf16 == nil ? ir.constantFloats("qconv.scales", body.scales) : nil
        let zero = ir.constInt(ir.i32, body.zeroX, width: 1)
        let channels = g.outChannels
        ir.forLoop(c(0), c(g.batch), "n") { n in
            let args = convEpilogueArgs(body.epilogue, extras, n, c(0), channels)
            ir.forLoop(c(0), c(channels), "m") { m in
                let firstIn = ir.mul(ir.sdiv(m, c(body.m)), c(g.channels / body.group))
                ir.forLoop(c(0), c(body.positions), "p") { p in
                    let oy = ir.sdiv(p, c(win.output[1])), ox = ir.srem(p, c(win.output[1]))
                    let initial = body.bf16 == nil ? ir.constInt(ir.i32, 0, width: 1) : ir.constReal(ir.f32, 0)
                    let sum = ir.forLoop(c(0), c(body.k), carrying: [initial], "tk") { kk, s in
                        let ic = ir.add(firstIn, ir.sdiv(kk, c(kh * kw))), ky = ir.srem(ir.sdiv(kk, c(kw)), c(kh)),
                            kx = ir.srem(kk, c(kw))
                        let iy = ir.add(
                            ir.sub(ir.mul(oy, c(win.strides[0])), c(win.padBegin[0])), ir.mul(ky, c(win.dilations[0])))
                        let ix = ir.add(
                            ir.sub(ir.mul(ox, c(win.strides[1])), c(win.padBegin[1])), ir.mul(kx, c(win.dilations[1])))
                        let inside = ir.and(ir.icmp(.ult, iy, c(h)), ir.icmp(.ult, ix, c(wd)))
                        // Padding reads as the zero point; the address is clamped inside.
                        let at = ir.add(
                            ir.mul(ir.add(ir.mul(n, c(g.channels)), ic), c(h * wd)),
                            ir.select(inside, ir.add(ir.mul(iy, c(wd)), ix), c(0)))
                        let weightAt = ir.add(ir.mul(m, c(body.k)), kk)
                        if body.bf16 != nil {
                            let v = ir.select(
                                inside, ir.loadTyped(x, at, .bf16, width: 1).value, ir.constReal(ir.f32, 0)
                            )
                            let weight = ir.loadTyped(w, weightAt, .bf16, width: 1).value
                            return [ir.intrinsic("llvm.fma", [v, weight, s[0]])]
                        }
                        let byte = ir.load(ir.i8, ir.gep(ir.i8, x, at), align: 1)
                        let value = ir.select(inside, dotDomain(byte, flip: body.flipX, body.dot), zero)
                        let weight = ir.sext(
                            ir.load(ir.i8, ir.gep(ir.i8, w, weightAt), align: 1), ir.i32)
                        return [ir.add(s[0], ir.mul(ir.sub(value, zero), weight))]
                    }[0]
                    var value = sum
                    if let scales {
                        let biased = bias.map { ir.add(sum, ir.load(ir.i32, ir.gep(ir.i32, $0, m))) } ?? sum
                        value = ir.fmul(ir.sitofp(biased, ir.f32), ir.load(ir.f32, ir.gep(ir.f32, scales, m)))
                    }
                    if let e = args {
                        value = applyEpilogue(e, value, row: m, col: p, width: 1, mask: nil, dtype: e.result)
                    }
                    let at = ir.add(ir.mul(ir.add(ir.mul(n, c(channels)), m), c(body.positions)), p)
                    storeResult(value, out, at, args?.result, mask: nil)
                }
            }
        }
    }
}
