import SinterIR

/// N-D convolution over NC[spatial] f32 tensors (groups, strides, dilations, padding) as a
/// kernel unit: im2col of whole output rows into scratch, then the shared GEMM per group with
/// the weights as A. A pointwise convolution (1×1, stride 1, no padding) is a plain product
/// per image and group — weights [M/g × C/g] · input [C/g × positions] — and runs the
/// register-tiled GEMM (`gemmBlocks`), reading its input rows in place. Anchors fused groups
/// (epilogue per output channel and position). 2-D depthwise convolutions run direct instead
/// (`Depthwise`), a row vector at a time.
struct ConvUnit: KernelUnit {
    static let name = "conv"

    /// f32, or bf16 operands summed into an f32 result (`to = "f32"`).
    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands + results).allSatisfy { $0 == .f32 }
            || (operands.count == 2 && operands.allSatisfy { $0 == .bf16 } && results == [.f32])
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let x = c.inShapes[0], w = c.inShapes[1]
        let win = try c.window(Array(x[2...]), Array(w[2...]))
        let geometry = WindowGeometry(
            batch: x[0], channels: x[1], input: Array(x[2...]), window: win, outChannels: w[0],
            group: max(c.int("group"), 1), countIncludePad: false)
        if c.operandTypes[0].dtype == .bf16 {
            // The packed convolution with two k per word: the bf16 dot step.
            guard geometry.input.count == 2 else {
                throw c.fail("a bf16 conv must be 2-D (precision-bf16 keeps the others in f32)")
            }
            let k = (x[1] / geometry.group) * win.kernel.reduce(1, *), positions = win.output.reduce(1, *)
            var body = QConvUnit.Body(
                geometry: geometry, flipX: false, zeroX: 0, scales: [],
                blocking: c.schedules.dotGemm(m: w[0] / geometry.group, n: positions, k: k, perWord: 2),
                dot: c.schedules.int8Dot, epilogue: c.epilogue, bias: false)
            body.bf16 = c.schedules.bf16Dot
            body.chunkBytes = c.schedules.packedConvChunk
            return [body]
        }
        if geometry.input.count == 2, geometry.channels == geometry.group {
            return [Depthwise(geometry: geometry, epilogue: c.epilogue, masked: c.schedules.maskedLoads)]
        }
        let positions = win.output.reduce(1, *)
        let kDim = (x[1] / geometry.group) * win.kernel.reduce(1, *)
        // Weights are read in place (rows of a small matrix): no A packing.
        var gemm = c.schedules.gemm(m: w[0] / geometry.group, n: positions, k: kDim)
        gemm.packA = false
        return [
            Body(
                geometry: geometry, accumulating: Schedules.accumulator(for: c.operandTypes[0].dtype),
                epilogue: c.epilogue, gemm: gemm, pointwise: KernelEmitter.isPointwise(geometry))
        ]
    }

    /// batch × M × output positions × (C / group) × window.
    static func multiplyAdds(_ g: WindowGeometry) -> Int? {
        checkedProduct([g.batch, g.outChannels, g.channels / max(g.group, 1)] + g.window.output + g.window.kernel)
    }

    /// Epilogue operands at (image, output channel, any spatial position): a per-image stride,
    /// a per-channel stride, and lanes that are contiguous positions or one broadcast value.
    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? {
        Epilogue.Operand(
            dtype: dtype, batch: [strides[0]], row: strides[1], col: strides.dropFirst(2).allSatisfy { $0 == 0 } ? 0 : 1
        )
    }

    /// A 2-D depthwise convolution (one input channel per group): direct, a vector of
    /// neighbouring output pixels at a time (WindowRows.swift), for any channel count. The
    /// int8 one (`qconv`) runs the same loops on bytes.
    struct Depthwise: KernelUnitBody, Hashable {
        var geometry: WindowGeometry
        var epilogue: Epilogue?
        /// Set for `qconv`: u8/i8 input bytes and i8 weights summed exactly in i32 as
        /// Σ (x − zeroX) · w (the padding, skipped, is the real 0), then scaled per channel.
        var int8: Int8?
        /// Short rows run as whole masked vectors (`maskedDepthwiseRow`): the target has cheap
        /// masked loads (of bytes, for int8).
        var masked = false

        struct Int8: Hashable {
            var zeroX: Int
            var signedX: Bool
            /// scale_x · scale_w[m] per output channel.
            var scales: [Float]
            /// An i32 bias per output channel (operand 2), added to the sum before it is scaled.
            var bias: Bool
        }

        var accumulator: DType? { int8 == nil ? .f32 : .i32 }
        var multiplyAdds: Int? { ConvUnit.multiplyAdds(geometry) }
        var description: String {
            let g = geometry
            return "depthwise \(g.batch)×\(g.channels)×\(g.input) → \(g.outChannels)×\(g.window.output), "
                + "kernel \(g.window.kernel), row vectors" + (masked ? " (short rows masked)" : "")
                + (int8.map { ($0.signedX ? ", s8" : ", u8") + "·s8 in i32" + ($0.bias ? ", i32 bias" : "") } ?? "")
                + (int8 != nil ? (epilogue.map { ", epilogue \($0.expr)" } ?? "") : "")
        }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let operands = int8?.bias == true ? 3 : 2
            var quantized: (ConvUnit.Depthwise.Int8, bias: IRValue?)? = nil
            if let int8 { quantized = (int8, bias: operands == 3 ? a.ins[2] : nil) }
            e.depthwiseRows(
                geometry, a.out, a.ins[0], a.ins[1], epilogue, Array(a.ins.dropFirst(operands)),
                maxLanes: a.vectorWidth, task: a.task, tasks: a.parts, int8: quantized, masked: masked)
        }

        /// Parts are ranges of output rows.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let g = geometry
            let rows = g.batch * g.outChannels * g.window.output[0]
            let flops = (checkedProduct([rows, g.window.output[1]] + g.window.kernel) ?? .max)
            if flops >= s.splitDepthwiseFlops {
                k.tasks = s.parts(work: flops, grain: s.grainDepthwiseFlops, units: rows)
            }
        }
    }

    struct Body: KernelUnitBody, Hashable {
        var geometry: WindowGeometry
        var accumulating: DType
        var accumulator: DType? { accumulating }
        var multiplyAdds: Int? { ConvUnit.multiplyAdds(geometry) }
        var epilogue: Epilogue?
        /// The register-tiled GEMM's blocking for each image's and group's product.
        var gemm: GemmBlocking
        /// 1×1, stride 1, no padding: the input is the GEMM's B, read in place.
        var pointwise: Bool

        var description: String {
            let g = geometry
            return "\(g.batch)×\(g.channels)×\(g.input) → \(g.outChannels)×\(g.window.output), "
                + "kernel \(g.window.kernel), group \(g.group), in \(accumulating), "
                + (pointwise ? "pointwise GEMM \(gemm)" : "im2col panels of \(chunkPanels), GEMM \(gemm)")
        }

        /// The per-image, per-group product: weights [M/g × K] · columns [K × positions].
        var problem: KernelEmitter.GemmProblem {
            let g = geometry
            let positions = g.window.output.reduce(1, *)
            let k = (g.channels / g.group) * g.window.kernel.reduce(1, *)
            return KernelEmitter.GemmProblem(
                m: g.outChannels / g.group, n: positions, k: k, blocking: gemm, lda: k, aStep: 1, ldc: positions)
        }

        /// Panels the im2col packs at a time: about 128 KB, so they stay in L2 while the GEMM
        /// runs over them.
        var chunkPanels: Int { max(1, min(problem.panels, (128 << 10) / 4 / max(problem.k * gemm.nr, 1))) }
        var chunkFloats: Int { KernelProgram.aligned(chunkPanels * problem.k * gemm.nr * 4) / 4 }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let extras = Array(a.ins.dropFirst(2))
            if pointwise {
                e.pointwiseConv(geometry, problem, a.out, a.ins[0], a.ins[1], epilogue, extras, a.task, a.parts)
            } else {
                e.im2colConv(
                    geometry, problem, chunkPanels: chunkPanels, chunkFloats: chunkFloats, a.out, a.ins[0], a.ins[1],
                    a.scratch, epilogue, extras, task: a.task, tasks: a.parts)
            }
        }

        /// A pointwise conv splits like a matmul (whole panels or row tiles of each product).
        /// An im2col conv splits by whole panels of output positions; each part packs its
        /// panels a chunk at a time into its own scratch.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let g = geometry
            let p = problem
            k.registerTile = [p.blocking.mr, p.blocking.nr]
            let flops = checkedProduct([g.batch, g.group, p.m, p.n, p.k]) ?? .max
            if pointwise {
                if flops >= s.splitFlops { k.tasks = s.parts(work: flops, grain: s.grainFlops, units: p.units) }
                return
            }
            if flops >= s.splitFlops {
                k.tasks = s.parts(work: flops, grain: s.grainFlops, units: min(p.panels, s.maxScratchParts))
            }
            k.scratchBytes = k.tasks * chunkFloats * 4
        }
    }
}

extension KernelEmitter {
    /// A pointwise convolution: per image and group, C[oc, pos] = W[oc, :] · x[:, pos] with the
    /// register-tiled GEMM; part `task` takes the same rows or panels of every product.
    func pointwiseConv(
        _ g: WindowGeometry, _ p: GemmProblem, _ out: IRValue, _ x: IRValue, _ weights: IRValue, _ epilogue: Epilogue?,
        _ extras: [IRValue], _ task: IRValue, _ tasks: IRValue
    ) {
        guard g.batch * g.outChannels * p.n > 0 else { return }
        let part = gemmPart(p, task: task, tasks: tasks)
        let spatial = p.n
        ir.forLoop(c(0), c(g.batch), "n") { n in
            ir.forLoop(c(0), c(g.group), "g") { grp in
                let inBase = ir.mul(ir.add(ir.mul(n, c(g.channels)), ir.mul(grp, c(p.k))), c(spatial))
                let outBase = ir.mul(ir.add(ir.mul(n, c(g.outChannels)), ir.mul(grp, c(p.m))), c(spatial))
                let args = convEpilogueArgs(epilogue, extras, n, grp, p.m)
                forEachRect(part) { rect in
                    gemmBlocks(
                        p, weights, ir.mul(grp, c(p.m * p.k)),
                        GemmB(pointer: x, offset: inBase, packed: false, rowStride: spatial),
                        out, outBase, rect, args)
                }
            }
        }
    }

    /// True when the convolution reads its input directly as the GEMM's right-hand side.
    static func isPointwise(_ g: WindowGeometry) -> Bool {
        let w = g.window
        return w.kernel.allSatisfy { $0 == 1 } && w.strides.allSatisfy { $0 == 1 }
            && (w.padBegin + w.padEnd).allSatisfy { $0 == 0 }
    }

    /// The epilogue's operands for image `n` and group `grp` (`ocg` output channels each),
    /// addressed at (channel within the group, position).
    func convEpilogueArgs(_ epilogue: Epilogue?, _ extras: [IRValue], _ n: IRValue, _ grp: IRValue, _ ocg: Int)
        -> EpilogueArgs?
    {
        epilogue.map { e in
            EpilogueArgs(
                expr: e.expr, types: [.f32] + e.operands.map(\.dtype), pointers: extras,
                bases: e.operands.map { op in
                    ir.add(ir.mul(n, c(op.batch.first ?? 0)), ir.mul(ir.mul(grp, c(ocg)), c(op.row)))
                },
                rows: e.operands.map(\.row), cols: e.operands.map(\.col), result: e.result)
        }
    }

    /// An im2col convolution on the register-tiled GEMM: part `task` takes panels
    /// [P0, P1) of output positions; per image and group it copies them, `chunkPanels` at a
    /// time, into an im2col block of its scratch (K rows of the chunk's columns) and runs the
    /// GEMM with that block as B, read in place.
    func im2colConv(
        _ g: WindowGeometry, _ p: GemmProblem, chunkPanels: Int, chunkFloats: Int, _ out: IRValue, _ x: IRValue,
        _ weights: IRValue, _ scratch: IRValue, _ epilogue: Epilogue?, _ extras: [IRValue], task: IRValue,
        tasks: IRValue
    ) {
        guard g.batch * g.outChannels * p.n > 0 else { return }
        let nr = p.blocking.nr, width = chunkPanels * nr
        let (p0, p1) = partRange(p.panels, task: task, tasks: tasks)
        let region = ir.gep(ir.f32, scratch, ir.mul(task, c(chunkFloats)))
        let spatialIn = g.input.reduce(1, *)
        ir.forLoop(c(0), c(g.batch), "n") { n in
            ir.forLoop(c(0), c(g.group), "g") { grp in
                let inBase = ir.mul(
                    ir.add(ir.mul(n, c(g.channels)), ir.mul(grp, c(g.channels / g.group))), c(spatialIn))
                let outBase = ir.mul(ir.add(ir.mul(n, c(g.outChannels)), ir.mul(grp, c(p.m))), c(p.n))
                let args = convEpilogueArgs(epilogue, extras, n, grp, p.m)
                ir.forLoop(p0, p1, step: chunkPanels, "chunk") { first in
                    let end = smin(ir.add(first, c(chunkPanels)), p1)
                    let q0 = ir.mul(first, c(nr))
                    im2col(g, ir.gep(ir.f32, x, inBase), region, width, q0, smin(ir.mul(end, c(nr)), c(p.n)))
                    // B's column index is global: the chunk's first column is the block's column 0.
                    gemmBlocks(
                        p, weights, ir.mul(grp, c(p.m * p.k)),
                        GemmB(pointer: region, offset: ir.sub(c(0), q0), packed: false, rowStride: width), out,
                        outBase, GemmRect(rows: (c(0), c(p.m)), panels: (first, end)), args)
                }
            }
        }
    }

    /// Copies `count` consecutive elements of type `element` between two buffers that do not
    /// overlap, with whole vectors: 16 at a time and one more ending at the end, or two
    /// overlapping halves of 8 or 4 (they write the same values twice), scalars below 4. An
    /// im2col row's runs are a few dozen elements, too short for LLVM's vectorised loop.
    func copyRun(
        from src: IRValue, _ srcOff: IRValue, to dst: IRValue, _ dstOff: IRValue, count n: IRValue,
        element t: IRType
    ) {
        let bytes = t.scalarBytes
        func move(_ at: IRValue, _ w: Int) {
            let v = ir.load(ir.vector(t, w), ir.gep(t, src, ir.add(srcOff, at)), align: bytes)
            ir.store(v, ir.gep(t, dst, ir.add(dstOff, at)), align: bytes)
        }
        ir.ifThen(ir.icmp(.sge, n, c(16))) {
            ir.forLoop(c(0), ir.sub(n, c(16)), step: 16, "cv") { j in move(j, 16) }
            move(ir.sub(n, c(16)), 16)
        }
        for w in [8, 4] {
            ir.ifThen(ir.and(ir.icmp(.slt, n, c(2 * w)), ir.icmp(.sge, n, c(w)))) {
                move(c(0), w)
                move(ir.sub(n, c(w)), w)
            }
        }
        ir.ifThen(ir.icmp(.slt, n, c(4))) {
            ir.forLoop(c(0), n, "cs") { j in move(j, 1) }
        }
    }

    /// col[kk, q − q0] = x[input channel and position under tap kk of output position q], or 0
    /// in the padding, for output positions q in [q0, q1): row kk (input channel, kernel
    /// position) of one group's im2col matrix, `width` columns per row. Each output row splits
    /// into the columns whose tap falls left of the image, inside it (a strided copy LLVM
    /// vectorises) and right of it; a row whose outer coordinates fall outside is all zeros.
    /// `element` and `fill` default to f32 and 0; the int8 conv copies bytes and fills with its
    /// input's zero point.
    func im2col(
        _ g: WindowGeometry, _ x: IRValue, _ col: IRValue, _ width: Int, _ q0: IRValue, _ q1: IRValue,
        element: IRType? = nil, fill: IRValue? = nil
    ) {
        let t = element ?? ir.f32
        let win = g.window
        let dims = g.input.count, last = dims - 1
        let inStrides = contiguousStrides(g.input)
        let rowLength = win.output[last]
        let rowStrides = contiguousStrides(Array(win.output.dropLast()))
        let kernelStrides = contiguousStrides(win.kernel), kernelCount = win.kernel.reduce(1, *)
        let (s, inWidth) = (win.strides[last], g.input[last])
        let zero = fill ?? ir.constF32(0)
        ir.forLoop(c(0), c((g.channels / g.group) * kernelCount), "row") { row in
            let ic = ir.sdiv(row, c(kernelCount)), kflat = ir.srem(row, c(kernelCount))
            let kpos = (0..<dims).map { d in ir.srem(ir.sdiv(kflat, c(kernelStrides[d])), c(win.kernel[d])) }
            let chan = ir.mul(ic, c(g.input.reduce(1, *)))
            let dst = ir.sub(ir.mul(row, c(width)), q0)
            // Columns ox of a row with 0 ≤ ox·s + shift < inWidth: [lo, hi), as taps of a window.
            let shift = ir.sub(ir.mul(kpos[last], c(win.dilations[last])), c(win.padBegin[last]))
            let (lo, hi) = taps(shift, rowLength, s, lo: 0, hi: inWidth)
            ir.forLoop(ir.sdiv(q0, c(rowLength)), ir.add(ir.sdiv(ir.sub(q1, c(1)), c(rowLength)), c(1)), "q") { q in
                var outerOff = c(0)
                var valid = ir.constInt(ir.i1, 1)
                for d in 0..<last {
                    let o = ir.srem(ir.sdiv(q, c(rowStrides[d])), c(win.output[d]))
                    let i = ir.add(
                        ir.sub(ir.mul(o, c(win.strides[d])), c(win.padBegin[d])), ir.mul(kpos[d], c(win.dilations[d])))
                    valid = ir.and(valid, ir.icmp(.ult, i, c(g.input[d])))
                    outerOff = ir.add(outerOff, ir.mul(i, c(inStrides[d])))
                }
                let rowStart = ir.mul(q, c(rowLength))
                let a = smax(ir.sub(q0, rowStart), c(0)), b = smin(ir.sub(q1, rowStart), c(rowLength))
                let copyBegin = ir.select(valid, smin(smax(lo, a), b), b)
                let copyEnd = ir.select(valid, smin(smax(hi, copyBegin), b), b)
                let out = ir.add(dst, rowStart)
                let source = ir.add(ir.add(chan, outerOff), shift)
                ir.forLoop(a, copyBegin, "zl") { ox in storeF(zero, col, ir.add(out, ox), elem: t) }
                if s == 1 {
                    copyRun(
                        from: x, ir.add(source, copyBegin), to: col, ir.add(out, copyBegin),
                        count: ir.sub(copyEnd, copyBegin), element: t)
                } else {
                    ir.forLoop(copyBegin, copyEnd, "cp") { ox in
                        storeF(loadF(x, ir.add(source, ir.mul(ox, c(s))), 1, elem: t), col, ir.add(out, ox), elem: t)
                    }
                }
                ir.forLoop(copyEnd, b, "zr") { ox in storeF(zero, col, ir.add(out, ox), elem: t) }
            }
        }
    }
}
