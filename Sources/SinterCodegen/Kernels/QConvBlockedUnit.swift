import SinterIR

/// `qconv-nchwc` as a kernel unit: the int8 convolution on channel-blocked bytes, the f32
/// NCHWc kernel's tiles (`sweepTiles`: `ob4` output blocks × a run of pixels in registers)
/// with the dot step in place of the FMA. An accumulator holds the b output channels of one
/// pixel as i32 lanes; for each input block, tap and k quad (four neighbouring input channels,
/// four bytes of one pixel) the pixel's quad is broadcast and `vpdpbusd` / SDOT adds its four
/// products into every lane, against one weight vector per output block (b lanes × four s8).
/// The input is padded by `layout` with its zero point, so every tap is inside the image and
/// the compensation `zero_x · rowsum(w)` is one constant per channel. The sums become
/// `f32(acc − comp + bias) · (scale_x · scale_w[m])` per lane, take the fused epilogue and are
/// stored as f32 or, with the next layer's quantization fused, as bytes: a chain of convs
/// moves bytes in NCHWc from one to the next.
///
/// `conv-nchwc {to = "f32"}` on bf16 operands (what `--precision bf16` makes of a dense conv in
/// a blocked chain) is this kernel with two channels per word and the bf16 dot step: f32 sums,
/// no compensation or scales; its weights come blocked by `layout` and are regrouped in pairs.
///
/// The input's blocks hold bi channels (b, or, when the channels fill no block, all C of them
/// padded to a multiple of 4 — a first layer's 3 become 4 — read as one block). The packed
/// weights: [M/b, C/bi, kh, kw, bi/4 quads, b lanes, 4 input channels] i8, then (64-byte
/// aligned) the compensation per channel (i32), then the scales (f32), as QConvUnit's trailer.
struct QConvBlockedUnit: KernelUnit {
    static let name = "qconv-nchwc"

    static func supports(operands: [DType], results: [DType]) -> Bool {
        QConvUnit.supports(operands: operands, results: results)
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let x = c.operandTypes[0], w = c.operandTypes[1]
        guard let qx = x.quant, let qw = w.quant, qw.isSymmetric else {
            throw c.fail("qconv-nchwc needs weights with zero point 0")
        }
        let xs = c.inShapes[0], ws = c.inShapes[1]
        let b = c.outShape[4]
        let win = try c.window([xs[2], xs[3]], [ws[2], ws[3]])
        let geometry = BlockedConvGeometry(
            batch: xs[0], inBlocks: xs[1], outBlocks: ws[0] / b, block: b, inBlock: xs[4], input: [xs[2], xs[3]],
            window: win)
        // The target's dot step where its lanes are the block's; the portable one otherwise.
        let native = c.schedules.int8Dot
        let dot = native.lanes == b ? native : .generic
        let shift = dot.zeroShift(signed: x.dtype == .i8)
        return [
            Body(
                geometry: geometry, flipX: shift != 0, zeroX: qx.zeroPoints[0] + shift,
                scales: QuantParams.bias(a: qx, b: qw, channels: ws[0]).scales, dot: dot, epilogue: c.epilogue,
                bias: c.operandTypes.count == 3)
        ]
    }

    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? {
        BlockedConvUnit.epilogueOperand(strides, dtype)
    }

    struct Body: KernelUnitBody, Hashable {
        var geometry: BlockedConvGeometry
        /// The input bytes' top bit is flipped into the dot step's domain as they are broadcast;
        /// `zeroX` is the input's zero point there.
        var flipX: Bool
        var zeroX: Int
        /// scale_x · scale_w[m] per output channel.
        var scales: [Float]
        var dot: Int8Dot
        var epilogue: Epilogue?
        /// An i32 bias per output channel (operand 2).
        var bias: Bool
        /// The weights are the packed constant; until then plain loops read them as written.
        var packedW = false
        /// Set for a bf16 convolution: two channels per word, `vdpbf16ps` / BFDOT, f32 sums that
        /// are the result (the int8 fields are unused).
        var bf16: Bf16Dot? = nil

        var accumulator: DType? { bf16 == nil ? .i32 : .f32 }
        /// Input channels per 32-bit word of the dot step, and bytes per element.
        var perWord: Int { bf16 == nil ? 4 : 2 }
        var elementBytes: Int { bf16 == nil ? 1 : 2 }
        var block: Int { geometry.block }
        var outChannels: Int { geometry.outBlocks * block }
        var inChannels: Int { geometry.inBlocks * geometry.inBlock }
        var taps: Int { geometry.window.kernel.reduce(1, *) }
        var multiplyAdds: Int? {
            checkedProduct([geometry.batch, outChannels, inChannels, taps] + geometry.window.output)
        }
        var weightBytes: Int { outChannels * inChannels * taps * elementBytes }
        var compensationOffset: Int { (weightBytes + 63) / 64 * 64 }
        var scalesOffset: Int { compensationOffset + outChannels * 4 }

        var description: String {
            geometry.summary + ", "
                + (bf16.map { "bf16·bf16 in f32, \($0.rawValue)" }
                    ?? (dot.signedA ? "s8·s8" : "u8·s8") + " in i32, \(dot.rawValue)")
                + (packedW ? ", weights packed" : ", weights unpacked") + (bias ? ", i32 bias" : "")
                + (epilogue.map { ", epilogue \($0.expr)" } ?? "")
        }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let extras = Array(a.ins.dropFirst(bias ? 3 : 2))
            e.int8ConvBlocked(
                self, a.out, a.ins[0], a.ins[1], bias ? a.ins[2] : nil, extras, tile: a.registerTile, task: a.task,
                tasks: a.parts)
        }

        /// The f32 blocked conv's register tile and parts, an int8 multiply-add costing a quarter
        /// (a bf16 one half). Unpacked weights (the plain loops) run whole, in one part.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            guard packedW else { return }
            let g = geometry
            let tile = s.blockedConvTile(outBlocks: g.outBlocks > 1 ? g.outBlocks / 2 * 2 : g.outBlocks)
            k.registerTile = [tile.blocks, tile.pixels]
            if tile.blocks > 1 && g.outBlocks % tile.blocks != 0 {
                k.registerTile.append(s.blockedConvTile(outBlocks: 1).pixels)
            }
            let plane = g.window.output[0] * g.window.output[1]
            let units =
                g.batch * ((g.outBlocks + tile.blocks - 1) / tile.blocks)
                * KernelEmitter.planeTiles(plane, tile: tile.pixels).count
            let cost = (multiplyAdds ?? .max) / (bf16 == nil ? 4 : 2)
            if cost >= s.splitFlops { k.tasks = s.parts(work: cost, grain: s.grainFlops, units: units) }
        }

        func prepacking(_ operand: Int, _ data: TensorData) -> (body: any KernelUnitBody, data: TensorData)? {
            guard bf16 == nil else { return bf16Prepacking(operand, data) }
            guard operand == 1, !packedW, data.dtype == .i8, data.shape.reduce(1, *) == weightBytes else { return nil }
            let (b, bi, c, t) = (block, geometry.inBlock, inChannels, taps)
            let packed = Int8Packing.pack(
                data, count: scalesOffset + outChannels * 4, slots: outChannels, zero: zeroX, scales: scales,
                compensationAt: compensationOffset, scalesAt: scalesOffset
            ) { i in
                // w[m, ci, tap] → [M/b, C/bi, taps, bi/4, b, 4]
                let (m, ci, tap) = (i / (c * t), i / t % c, i % t)
                let quad = ((m / b * (c / bi) + ci / bi) * t + tap) * (bi / 4) + ci % bi / 4
                return ((quad * b + m % b) * 4 + ci % 4, m)
            }
            var body = self
            body.packedW = true
            return (body, packed)
        }

        /// bf16 weights blocked by `layout` ([M/b, C/bi, kh, kw, bi, b]) regrouped in pairs of
        /// input channels: [M/b, C/bi, kh, kw, bi/2, b, 2], one word per output lane and pair.
        private func bf16Prepacking(_ operand: Int, _ data: TensorData) -> (
            body: any KernelUnitBody, data: TensorData
        )? {
            guard operand == 1, !packedW, data.dtype == .bf16, data.bytes.count == weightBytes else { return nil }
            let (b, bi) = (block, geometry.inBlock)
            var bytes = [UInt8](repeating: 0, count: weightBytes)
            for tap in 0..<(weightBytes / 2 / (bi * b)) {
                for il in 0..<bi {
                    for ol in 0..<b {
                        let from = (tap * bi * b + il * b + ol) * 2
                        let to = (tap * bi * b + (il / 2 * b + ol) * 2 + il % 2) * 2
                        bytes[to] = data.bytes[from]
                        bytes[to + 1] = data.bytes[from + 1]
                    }
                }
            }
            var body = self
            body.packedW = true
            return (body, TensorData(dtype: .u8, shape: [bytes.count], bytes: bytes))
        }
    }
}

extension KernelEmitter {
    func int8ConvBlocked(
        _ body: QConvBlockedUnit.Body, _ out: IRValue, _ x: IRValue, _ w: IRValue, _ bias: IRValue?,
        _ extras: [IRValue], tile registerTile: [Int], task: IRValue, tasks: IRValue
    ) {
        let g = body.geometry, b = g.block
        guard g.batch * g.outBlocks * g.window.output.reduce(1, *) * g.inBlocks > 0 else { return }
        guard body.packedW else { return int8ConvBlockedLoops(body, out, x, w, bias, extras) }
        let (ob4, tile) = (registerTile.first ?? 1, registerTile.count > 1 ? registerTile[1] : 1)
        let result = body.epilogue?.result ?? .f32
        let lanes = ir.vector(ir.i32, b), floats = ir.vector(ir.f32, b)
        sweepTiles(g, ob4: ob4, tile: tile, tailTile: registerTile.last ?? 1, task, tasks) {
            n, ob, blocks, starts, at in
            let acc = int8BlockedSums(body, x, w, ob, starts, blocks)
            if body.bf16 != nil {
                return (0..<blocks).map { j in
                    starts.indices.map { t in
                        blockedEpilogue(
                            acc[j * starts.count + t], body.epilogue, extras,
                            at: [n, ir.add(ob, c(j)), at[t].y, at[t].x],
                            b, result: result)
                    }
                }
            }
            return (0..<blocks).map { j in
                // f32(acc − (comp − bias)) · scale, lane by lane.
                let channel = ir.mul(ir.add(ob, c(j)), c(b))
                let slot = ir.mul(channel, c(4))
                var comp = ir.load(lanes, ir.gep(ir.i8, w, ir.add(c(body.compensationOffset), slot)), align: 4)
                if let bias { comp = ir.sub(comp, ir.load(lanes, ir.gep(ir.i32, bias, channel), align: 4)) }
                let scale = ir.load(floats, ir.gep(ir.i8, w, ir.add(c(body.scalesOffset), slot)), align: 4)
                return starts.indices.map { t in
                    let value = ir.fmul(ir.sitofp(ir.sub(acc[j * starts.count + t], comp), floats), scale)
                    return blockedEpilogue(
                        value, body.epilogue, extras, at: [n, ir.add(ob, c(j)), at[t].y, at[t].x], b, result: result)
                }
            }
        } store: { value, index in
            storeResult(value, out, index, result, mask: nil)
        }
    }

    /// The i32 (bf16: f32) sums of output blocks `ob` ..< `ob` + `blocks` for pixels whose first
    /// input element is at `starts[t]`: accumulator j · count + t is block j, pixel t.
    private func int8BlockedSums(
        _ body: QConvBlockedUnit.Body, _ x: IRValue, _ wt: IRValue, _ ob: IRValue, _ starts: [IRValue], _ blocks: Int
    ) -> [IRValue] {
        let g = body.geometry, b = g.block, bi = g.inBlock, win = g.window
        let (h, w) = (g.input[0], g.input[1])
        let (kh, kw) = (win.kernel[0], win.kernel[1])
        let (dh, dw) = (win.dilations[0], win.dilations[1])
        let xBlock = h * w * bi, xRow = w * bi
        // Weights in bytes: a tap holds bi/perWord words of b lanes (4 bytes each).
        let (e, per) = (body.elementBytes, body.perWord)
        let wTap = bi * b * e, wRow = kw * wTap, wIn = kh * wRow, wOut = g.inBlocks * wIn
        let count = starts.count
        let words = ir.vector(ir.i32, b)
        let zero = body.bf16 == nil ? ir.constInt(ir.i32, 0, width: b) : ir.constReal(ir.f32, 0, width: b)
        let flip = ir.constInt(ir.i32, Int(Int32(bitPattern: 0x8080_8080)), width: 1)
        let wBase = ir.mul(ob, c(wOut))
        return ir.forLoop(c(0), c(g.inBlocks), carrying: Array(repeating: zero, count: count * blocks), "ib") {
            ib, acc in
            ir.forLoop(c(0), c(kh), carrying: acc, "kh", unroll: false) { ky, acc in
                let xTapRow = ir.add(ir.mul(ib, c(xBlock)), ir.mul(ky, c(dh * xRow)))
                let wRowBase = ir.add(ir.add(wBase, ir.mul(ib, c(wIn))), ir.mul(ky, c(wRow)))
                return ir.forLoop(c(0), c(kw), carrying: acc, "kw", unroll: false) { kx, acc in
                    let tap = ir.add(xTapRow, ir.mul(kx, c(dw * bi)))
                    let xs = starts.map { ir.add($0, tap) }
                    let wTapBase = ir.add(wRowBase, ir.mul(kx, c(wTap)))
                    return ir.forLoop(c(0), c(bi / per), carrying: acc, "word") { q, acc in
                        let wq = ir.add(wTapBase, ir.mul(q, c(b * 4)))
                        let wv = (0..<blocks).map { j in
                            ir.load(words, ir.gep(ir.i8, wt, ir.add(wq, c(j * wOut))), align: 4)
                        }
                        var next = acc
                        for t in 0..<count {
                            let at = ir.mul(ir.add(xs[t], ir.mul(q, c(per))), c(e))
                            var word = ir.load(ir.i32, ir.gep(ir.i8, x, at), align: e)
                            if body.flipX { word = ir.xor(word, flip) }
                            let xv = ir.splat(word, b)
                            for j in 0..<blocks {
                                next[j * count + t] =
                                    body.bf16.map { dotBf16($0, acc[j * count + t], xv, wv[j], lanes: b) }
                                    ?? dot8(body.dot, acc[j * count + t], xv, wv[j], lanes: b)
                            }
                        }
                        return next
                    }
                }
            }
        }
    }

    /// Weights not packed (never made by the pipeline, which keeps them a constant): plain
    /// loops over the weights as written, one output element at a time — int8 [M, C, kh, kw]
    /// with the scales embedded, or bf16 blocked [M/b, C/bi, kh, kw, bi, b] widened to f32.
    private func int8ConvBlockedLoops(
        _ body: QConvBlockedUnit.Body, _ out: IRValue, _ x: IRValue, _ w: IRValue, _ bias: IRValue?,
        _ extras: [IRValue]
    ) {
        let g = body.geometry, win = g.window, b = g.block, bi = g.inBlock
        let (h, wd, kh, kw) = (g.input[0], g.input[1], win.kernel[0], win.kernel[1])
        let (oh, ow) = (win.output[0], win.output[1])
        let scales = body.bf16 == nil ? ir.constantFloats("qconv.scales", body.scales) : nil
        let zero = ir.constInt(ir.i32, body.zeroX, width: 1)
        let result = body.epilogue?.result ?? .f32
        let elements = g.batch * g.outBlocks * oh * ow * b
        ir.forLoop(c(0), c(elements), "e") { e in
            let lane = ir.srem(e, c(b)), pixel = ir.srem(ir.sdiv(e, c(b)), c(oh * ow))
            let ob = ir.srem(ir.sdiv(e, c(b * oh * ow)), c(g.outBlocks)), n = ir.sdiv(e, c(b * oh * ow * g.outBlocks))
            let (oy, ox) = (ir.sdiv(pixel, c(ow)), ir.srem(pixel, c(ow)))
            let m = ir.add(ir.mul(ob, c(b)), lane)
            let k = body.inChannels * kh * kw
            let initial = body.bf16 == nil ? ir.constInt(ir.i32, 0, width: 1) : ir.constReal(ir.f32, 0)
            let sum = ir.forLoop(c(0), c(k), carrying: [initial], "tk") { kk, s in
                let ci = ir.sdiv(kk, c(kh * kw)), ky = ir.srem(ir.sdiv(kk, c(kw)), c(kh)), kx = ir.srem(kk, c(kw))
                let iy = ir.add(ir.mul(oy, c(win.strides[0])), ir.mul(ky, c(win.dilations[0])))
                let ix = ir.add(ir.mul(ox, c(win.strides[1])), ir.mul(kx, c(win.dilations[1])))
                let block = ir.add(ir.mul(n, c(g.inBlocks)), ir.sdiv(ci, c(bi)))
                let at = ir.add(
                    ir.mul(ir.add(ir.mul(ir.add(ir.mul(block, c(h)), iy), c(wd)), ix), c(bi)), ir.srem(ci, c(bi)))
                if body.bf16 != nil {
                    func widen(_ p: IRValue, _ i: IRValue) -> IRValue { ir.loadTyped(p, i, .bf16, width: 1).value }
                    let tap = ir.add(ir.mul(ir.add(ir.mul(ir.sdiv(ci, c(bi)), c(kh)), ky), c(kw)), kx)
                    let wAt = ir.add(
                        ir.mul(
                            ir.add(ir.mul(ir.add(ir.mul(ob, c(g.inBlocks * kh * kw)), tap), c(bi)), ir.srem(ci, c(bi))),
                            c(b)),
                        lane)
                    return [ir.intrinsic("llvm.fma", [widen(x, at), widen(w, wAt), s[0]])]
                }
                let value = dotDomain(ir.load(ir.i8, ir.gep(ir.i8, x, at), align: 1), flip: body.flipX, body.dot)
                let weight = ir.sext(ir.load(ir.i8, ir.gep(ir.i8, w, ir.add(ir.mul(m, c(k)), kk)), align: 1), ir.i32)
                return [ir.add(s[0], ir.mul(ir.sub(value, zero), weight))]
            }[0]
            var scaled = sum
            if let scales {
                let biased = bias.map { ir.add(sum, ir.load(ir.i32, ir.gep(ir.i32, $0, m))) } ?? sum
                scaled = ir.fmul(ir.sitofp(biased, ir.f32), ir.load(ir.f32, ir.gep(ir.f32, scales, m)))
            }
            // The epilogue's operands are addressed per pixel block; one lane of it here.
            let value = blockedEpilogue(
                scaled, body.epilogue, extras, at: [n, ob, oy, ox], b, result: result, lane: lane)
            storeResult(value, out, e, result, mask: nil)
        }
    }
}
