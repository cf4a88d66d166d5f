import SinterIR

/// `qconv` as a kernel unit: the int8 convolution, the int8 GEMM turned around. The weights
/// (i8, zero point 0, per tensor or per output channel) are the broadcast side, packed at
/// compile time; the input's im2col columns (output positions) are the vector side, packed at
/// run time, so a tile is `mr` output channels × `nr` neighbouring positions and every row
/// stores straight into NCHW. Each k quad is four consecutive (input channel, ky, kx) taps.
/// The sums become `f32(acc − zero_x · rowsum(w) + bias[m]) · (scale_x · scale_w[m])` (the i32
/// bias is optional) and take the fused f32 epilogue (bias, ReLU, residual), as the f32 conv's
/// do. A group's rows are its own output channels; a depthwise qconv runs the row-vector kernel
/// instead (ConvUnit.Depthwise), and a bf16 conv this body with two k per word (`bf16`).
///
/// The packed weights: per group, row tiles of mr channels, each k quad one row of mr words
/// (four i8 taps each, zero past k); after all groups' tiles, per group and padded channel
/// (slot g · paddedRows + r) the compensation `zero_x · rowsum(w)` (i32), then the scales (f32).
/// A bf16 body has the tiles alone (k pairs, two bf16 per word).
struct QConvUnit: KernelUnit {
    static let name = "qconv"

    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands.count == 2 || (operands.count == 3 && operands[2] == .i32)) && [.u8, .i8].contains(operands[0])
            && operands[1] == .i8 && results == [.f32]
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let x = c.operandTypes[0], w = c.operandTypes[1]
        guard let qx = x.quant, let qw = w.quant, qw.isSymmetric else {
            throw c.fail("qconv needs weights with zero point 0 (expand-quant runs other cases in f32)")
        }
        let xs = c.inShapes[0], ws = c.inShapes[1]
        let win = try c.window(Array(xs[2...]), Array(ws[2...]))
        let geometry = WindowGeometry(
            batch: xs[0], channels: xs[1], input: Array(xs[2...]), window: win, outChannels: ws[0],
            group: max(c.int("group"), 1), countIncludePad: false)
        let scales = QuantParams.bias(a: qx, b: qw, channels: ws[0]).scales
        let bias = c.operandTypes.count == 3
        if geometry.channels == geometry.group {
            // One input channel per group: the direct row-vector kernel, as for f32.
            let int8 = ConvUnit.Depthwise.Int8(
                zeroX: qx.zeroPoints[0], signedX: x.dtype == .i8, scales: scales, bias: bias)
            return [
                ConvUnit.Depthwise(
                    geometry: geometry, epilogue: c.epilogue, int8: int8, masked: c.schedules.maskedByteLoads)
            ]
        }
        let dot = c.schedules.int8Dot, shift = dot.zeroShift(signed: x.dtype == .i8)
        let k = ws[1] * ws[2] * ws[3], positions = win.output.reduce(1, *)
        var body = Body(
            geometry: geometry, flipX: shift != 0, zeroX: qx.zeroPoints[0] + shift, scales: scales,
            blocking: c.schedules.int8Gemm(m: ws[0] / geometry.group, n: positions, k: k), dot: dot,
            epilogue: c.epilogue, bias: bias)
        body.chunkBytes = c.schedules.packedConvChunk
        return [body]
    }

    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? {
        ConvUnit.epilogueOperand(strides, dtype)
    }

    struct Body: KernelUnitBody, Hashable {
        var geometry: WindowGeometry
        /// Packing flips each input byte's top bit into the dot step's domain; `zeroX` is the
        /// input's zero point there (it also fills the padding).
        var flipX: Bool
        var zeroX: Int
        /// scale_x · scale_w[m] per output channel.
        var scales: [Float]
        var blocking: GemmBlocking
        var dot: Int8Dot
        var epilogue: Epilogue?
        /// An i32 bias per output channel (operand 2), added to the sums with the compensation.
        var bias: Bool
        /// The weights are the packed constant; until then the plain loops read them as written.
        var packedW = false
        /// Set for a bf16 convolution (`conv {to = "f32"}` on bf16 operands, what `--precision
        /// bf16` makes): two k per word, the bf16 dot step, f32 sums that are the result (no
        /// compensation, scales or trailer; the int8 fields are unused).
        var bf16: Bf16Dot? = nil

        var accumulator: DType? { bf16 == nil ? .i32 : .f32 }
        /// k per 32-bit word of the dot step: four bytes, or two bf16.
        var tapsPerWord: Int { bf16 == nil ? 4 : 2 }
        /// Bytes of one input or weight element.
        var elementBytes: Int { bf16 == nil ? 1 : 2 }
        var multiplyAdds: Int? { ConvUnit.multiplyAdds(geometry) }
        var group: Int { geometry.group }
        /// Output channels per group: the rows of each group's product.
        var m: Int { geometry.outChannels / group }
        /// Input channels per group × the window: each group's reduction.
        var k: Int { geometry.channels / group * geometry.window.kernel.reduce(1, *) }
        /// k in words of `tapsPerWord`.
        var words: Int { (k + tapsPerWord - 1) / tapsPerWord }
        var positions: Int { geometry.window.output.reduce(1, *) }
        var panels: Int { (positions + blocking.nr - 1) / blocking.nr }
        var rowTiles: Int { (m + blocking.mr - 1) / blocking.mr }
        var paddedRows: Int { rowTiles * blocking.mr }
        var tileBytes: Int { words * blocking.mr * 4 }
        /// One group's packed weights: its row tiles.
        var groupBytes: Int { rowTiles * tileBytes }
        var compensationOffset: Int { (group * groupBytes + 63) / 64 * 64 }
        /// Compensation and scale of channel r of group g sit at slot g · paddedRows + r.
        var scalesOffset: Int { compensationOffset + group * paddedRows * 4 }
        /// 1×1, stride 1, no padding: the input rows are the im2col matrix, packed in place.
        var pointwise: Bool { KernelEmitter.isPointwise(geometry) }
        /// Bytes of packed columns per chunk: half the target's L2 (`Schedules.packedConvChunk`).
        var chunkBytes = 256 << 10
        /// Panels packed at a time: about `chunkBytes` of packed columns, which stay in L2 while
        /// every row tile of weights sweeps them (the larger the chunk, the longer the im2col
        /// runs and the fewer times the weights stream past).
        var chunkPanels: Int { max(1, min(panels, chunkBytes / max(words * 4 * blocking.nr, 1))) }
        var packedChunkBytes: Int { KernelProgram.aligned(chunkPanels * words * 4 * blocking.nr) }
        /// The im2col rows of one chunk (k rows × its columns), when the input is not read in place.
        var stagingBytes: Int { pointwise ? 0 : KernelProgram.aligned(k * chunkPanels * blocking.nr * elementBytes) }
        var partScratchBytes: Int { packedChunkBytes + stagingBytes }

        var description: String {
            let g = geometry
            let sums =
                bf16.map { "bf16·bf16 in f32, \($0.rawValue)" } ?? (dot.signedA ? "s8·s8" : "u8·s8")
                + " in i32, \(dot.rawValue)"
            return "\(g.batch)×\(g.channels)×\(g.input) → \(g.outChannels)×\(g.window.output), "
                + "kernel \(g.window.kernel), " + (group > 1 ? "group \(group), " : "") + sums + ", "
                + (pointwise ? "pointwise" : "im2col") + " chunks of \(chunkPanels) panels, \(blocking)"
                + (packedW ? ", weights packed" : ", weights unpacked") + (bias ? ", i32 bias" : "")
                + (epilogue.map { ", epilogue \($0.expr)" } ?? "")
        }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.int8Conv(
                self, a.out, a.ins[0], a.ins[1], bias ? a.ins[2] : nil, Array(a.ins.dropFirst(bias ? 3 : 2)),
                scratch: a.scratch, task: a.task,
                tasks: a.parts)
        }

        /// Parts take whole panels of output positions of every image; each packs its own.
        func schedule(_ kernel: inout Kernel, _ s: Schedules) {
            kernel.registerTile = [blocking.mr, blocking.nr]
            kernel.scratchBytes = KernelProgram.aligned(partScratchBytes)
            let work = checkedProduct([geometry.batch, group, m, positions, k]) ?? .max
            // An int8 multiply-add costs about a quarter of an f32 one, a bf16 one about half.
            let cost = work / (bf16 == nil ? 4 : 2)
            guard cost >= s.splitFlops else { return }
            kernel.tasks = s.parts(work: cost, grain: s.grainFlops, units: min(panels, s.maxScratchParts))
            kernel.scratchBytes = KernelProgram.aligned(kernel.tasks * partScratchBytes)
        }

        func prepacking(_ operand: Int, _ data: TensorData) -> (body: any KernelUnitBody, data: TensorData)? {
            guard operand == 1, !packedW, data.dtype == (bf16 == nil ? .i8 : .bf16),
                data.shape.reduce(1, *) == group * m * k
            else { return nil }
            let mr = blocking.mr
            var body = self
            body.packedW = true
            guard bf16 == nil else {
                // bf16: the row tiles alone, each k pair one word of two halves (low k first).
                var bytes = [UInt8](repeating: 0, count: group * groupBytes)
                data.bytes.withUnsafeBytes { raw in
                    let w = raw.bindMemory(to: UInt16.self)
                    for channel in 0..<(group * m) {
                        let (grp, row) = (channel / m, channel % m)
                        for kk in 0..<k {
                            let at =
                                grp * groupBytes + (row / mr) * tileBytes + ((kk / 2) * mr + row % mr) * 4 + kk % 2 * 2
                            bytes[at] = UInt8(truncatingIfNeeded: w[channel * k + kk])
                            bytes[at + 1] = UInt8(truncatingIfNeeded: w[channel * k + kk] >> 8)
                        }
                    }
                }
                return (body, TensorData(dtype: .u8, shape: [bytes.count], bytes: bytes))
            }
            // Channel grp · m + row has trailer slot grp · paddedRows + row.
            var slotScales = [Float](repeating: 0, count: group * paddedRows)
            for channel in 0..<(group * m) { slotScales[channel / m * paddedRows + channel % m] = scales[channel] }
            let packed = Int8Packing.pack(
                data, count: scalesOffset + group * paddedRows * 4, slots: group * paddedRows, zero: zeroX,
                scales: slotScales, compensationAt: compensationOffset, scalesAt: scalesOffset
            ) { i in
                // w[channel, kk]: the group's row tile row / mr, k quad kk / 4, row row % mr, byte kk % 4.
                let (channel, kk) = (i / k, i % k)
                let (grp, row) = (channel / m, channel % m)
                let at = grp * groupBytes + (row / mr) * tileBytes + ((kk / 4) * mr + row % mr) * 4 + kk % 4
                return (at, grp * paddedRows + row)
            }
            return (body, packed)
        }
    }
}
