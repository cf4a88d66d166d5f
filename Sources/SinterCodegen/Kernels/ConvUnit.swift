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

    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands + results).allSatisfy { $0 == .f32 }
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let x = c.inShapes[0], w = c.inShapes[1]
        let win = try c.window(Array(x[2...]), Array(w[2...]))
        let geometry = WindowGeometry(
            batch: x[0], channels: x[1], input: Array(x[2...]), window: win, outChannels: w[0],
            group: max(c.int("group"), 1), countIncludePad: false)
        if geometry.input.count == 2, geometry.channels == geometry.group {
            return [Depthwise(geometry: geometry, epilogue: c.epilogue)]
        }
        let positions = win.output.reduce(1, *)
        // Weights are read in place (rows of a small matrix): no A packing.
        var pointwise =
            KernelEmitter.isPointwise(geometry)
            ? c.schedules.gemm(m: w[0] / geometry.group, n: positions, k: x[1] / geometry.group) : nil
        pointwise?.packA = false
        return [
            Body(
                geometry: geometry, accumulating: Schedules.accumulator(for: c.operandTypes[0].dtype),
                epilogue: c.epilogue, gemm: pointwise)
        ]
    }

    /// Epilogue operands at (image, output channel, any spatial position): a per-image stride,
    /// a per-channel stride, and lanes that are contiguous positions or one broadcast value.
    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? {
        Epilogue.Operand(
            dtype: dtype, batch: [strides[0]], row: strides[1], col: strides.dropFirst(2).allSatisfy { $0 == 0 } ? 0 : 1
        )
    }

    /// A 2-D depthwise convolution (one input channel per group): direct, a vector of
    /// neighbouring output pixels at a time (WindowRows.swift), for any channel count.
    struct Depthwise: KernelUnitBody, Hashable {
        var geometry: WindowGeometry
        var epilogue: Epilogue?
        var accumulator: DType? { .f32 }
        var description: String {
            let g = geometry
            return "depthwise \(g.batch)×\(g.channels)×\(g.input) → \(g.outChannels)×\(g.window.output), "
                + "kernel \(g.window.kernel), row vectors"
        }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.depthwiseRows(
                geometry, a.out, a.ins[0], a.ins[1], epilogue, Array(a.ins.dropFirst(2)), maxLanes: a.vectorWidth,
                task: a.task, tasks: a.parts)
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
        var epilogue: Epilogue?
        /// The register-tiled GEMM's blocking, for a pointwise convolution.
        var gemm: GemmBlocking?

        var description: String {
            let g = geometry
            return "\(g.batch)×\(g.channels)×\(g.input) → \(g.outChannels)×\(g.window.output), "
                + "kernel \(g.window.kernel), group \(g.group), in \(accumulating)"
                + (gemm.map { ", pointwise GEMM \($0)" } ?? "")
        }

        /// The per-image, per-group product of a pointwise convolution.
        var problem: KernelEmitter.GemmProblem? {
            gemm.map { bl in
                let g = geometry
                let positions = g.window.output.reduce(1, *)
                return KernelEmitter.GemmProblem(
                    m: g.outChannels / g.group, n: positions, k: g.channels / g.group, blocking: bl,
                    lda: g.channels / g.group, aStep: 1, ldc: positions)
            }
        }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            if let p = problem {
                e.pointwiseConv(
                    geometry, p, a.out, a.ins[0], a.ins[1], epilogue, Array(a.ins.dropFirst(2)), a.task, a.parts)
                return
            }
            e.conv(
                geometry, a.out, a.ins[0], a.ins[1], a.scratch, a.vectorWidth, epilogue, Array(a.ins.dropFirst(2)),
                task: a.task, tasks: a.parts)
        }

        /// A pointwise conv splits like a matmul (whole panels or row tiles of each product).
        /// Otherwise the im2col buffer holds one group, (C/group · Πk) rows × Πout columns, and
        /// large convs split by whole rows of the innermost output axis, each part with its own
        /// im2col columns.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let g = geometry
            if let p = problem {
                // Parts take whole panels or row tiles of every image's and group's product.
                k.registerTile = [p.blocking.mr, p.blocking.nr]
                let flops = checkedProduct([g.batch, g.group, p.m, p.n, p.k]) ?? .max
                if flops >= s.splitFlops { k.tasks = s.parts(work: flops, grain: s.grainFlops, units: p.units) }
                return
            }
            let positions = g.window.output.reduce(1, *)
            let kDim = (g.channels / g.group) * g.window.kernel.reduce(1, *)
            k.scratchBytes = kDim * positions * 4
            let flops = (checkedProduct([g.batch, g.outChannels, positions, kDim]) ?? .max)
            guard flops >= s.splitFlops else { return }
            let rowLength = g.window.output.last ?? 1
            let rows = positions / max(rowLength, 1)
            let units = min(rows, positions / (4 * k.vectorWidth), s.maxScratchParts)
            let tasks = s.parts(work: flops, grain: s.grainFlops, units: units)
            guard tasks > 1 else { return }
            let width = (rows + tasks - 1) / tasks * rowLength
            k.tasks = (positions + width - 1) / width
            // Part j's im2col block starts at column p0(j) · K, whatever the part count, so
            // the scratch holds K × (positions + one row per part) floats.
            k.scratchBytes = KernelProgram.aligned(kDim * (positions + k.tasks * rowLength) * 4)
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
                gemmBlocks(
                    p, weights, ir.mul(grp, c(p.m * p.k)),
                    GemmB(pointer: x, offset: inBase, packed: false, rowStride: spatial),
                    out, outBase, part, args)
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
                rows: e.operands.map(\.row), cols: e.operands.map(\.col))
        }
    }

    func conv(
        _ g: WindowGeometry, _ out: IRValue, _ x: IRValue, _ weights: IRValue, _ scratch: IRValue, _ w: Int,
        _ epilogue: Epilogue? = nil, _ extras: [IRValue] = [], task: IRValue, tasks: IRValue
    ) {
        let win = g.window
        let spatialIn = g.input.reduce(1, *), spatialOut = win.output.reduce(1, *)
        let kernelSize = win.kernel.reduce(1, *)
        let icg = g.channels / g.group, ocg = g.outChannels / g.group
        let kDim = icg * kernelSize
        guard g.batch * g.outChannels * spatialOut > 0 else { return }
        // Part `task` of `tasks` computes output positions [p0, p1) — whole rows of the
        // innermost output axis (see ConvUnit.Body.schedule) — with its own scratch.
        let rowLength = win.output.last ?? 1
        let per = ir.mul(ceilDiv(c(spatialOut / rowLength), tasks), c(rowLength))
        let p0raw = ir.mul(task, per)
        let p0 = ir.select(ir.icmp(.slt, p0raw, c(spatialOut)), p0raw, c(spatialOut))
        let p1 = ir.select(ir.icmp(.slt, ir.add(p0, per), c(spatialOut)), ir.add(p0, per), c(spatialOut))
        // Each part's im2col columns sit side by side in the scratch (see ConvUnit.Body.schedule).
        let col = ir.gep(ir.f32, scratch, ir.mul(p0, c(kDim)))
        ir.forLoop(c(0), c(g.batch), "n") { n in
            ir.forLoop(c(0), c(g.group), "g") { grp in
                let inBase = ir.mul(ir.add(ir.mul(n, c(g.channels)), ir.mul(grp, c(icg))), c(spatialIn))
                let outBase = ir.mul(ir.add(ir.mul(n, c(g.outChannels)), ir.mul(grp, c(ocg))), c(spatialOut))
                let wBase = ir.mul(grp, c(ocg * kDim))
                let args = convEpilogueArgs(epilogue, extras, n, grp, ocg)
                im2col(g, x, inBase, col, p0, p1)
                gemm(
                    weights, wBase, col, c(0), out, outBase,
                    GemmRange(
                        rowBegin: c(0), rowEnd: c(ocg), colBegin: p0, colEnd: p1, ldb: ir.sub(p1, p0),
                        ldc: c(spatialOut), bRelative: true),
                    kDim, w, args)
            }
        }
    }

    /// col[(ic, kernel position), p − p0] = x[ic, input position of output p] or 0 in padding,
    /// for output positions p in [p0, p1), which are whole rows of the innermost output axis:
    /// outer coordinates are computed once per row, the innermost one walks the row.
    private func im2col(
        _ g: WindowGeometry, _ x: IRValue, _ inBase: IRValue, _ col: IRValue, _ p0: IRValue, _ p1: IRValue
    ) {
        let win = g.window
        let icg = g.channels / g.group
        let inStrides = contiguousStrides(g.input)
        let spatialIn = g.input.reduce(1, *)
        let dims = g.input.count, last = dims - 1
        let rowLength = win.output[last]
        let rowStrides = contiguousStrides(Array(win.output.dropLast()))
        let width = ir.sub(p1, p0)
        let kernelStrides = contiguousStrides(win.kernel)
        let kernelCount = win.kernel.reduce(1, *)
        ir.forLoop(c(0), c(icg * kernelCount), "row") { row in
            let ic = ir.sdiv(row, c(kernelCount))
            let kflat = ir.srem(row, c(kernelCount))
            let kpos = (0..<dims).map { d in ir.srem(ir.sdiv(kflat, c(kernelStrides[d])), c(win.kernel[d])) }
            let chan = ir.add(inBase, ir.mul(ic, c(spatialIn)))
            let dst = ir.sub(ir.mul(row, width), p0)
            ir.forLoop(ir.sdiv(p0, c(rowLength)), ir.sdiv(p1, c(rowLength)), "q") { q in
                var outerOff = c(0)
                var outerValid = ir.constInt(ir.i1, 1)
                for d in 0..<last {
                    let o = ir.srem(ir.sdiv(q, c(rowStrides[d])), c(win.output[d]))
                    let i = ir.add(
                        ir.sub(ir.mul(o, c(win.strides[d])), c(win.padBegin[d])), ir.mul(kpos[d], c(win.dilations[d])))
                    outerValid = ir.and(outerValid, ir.and(ir.icmp(.sge, i, c(0)), ir.icmp(.slt, i, c(g.input[d]))))
                    outerOff = ir.add(outerOff, ir.mul(i, c(inStrides[d])))
                }
                let rowStart = ir.add(dst, ir.mul(q, c(rowLength)))
                let shift = ir.sub(ir.mul(kpos[last], c(win.dilations[last])), c(win.padBegin[last]))
                ir.forLoop(c(0), c(rowLength), "ow") { ow in
                    let i = ir.add(ir.mul(ow, c(win.strides[last])), shift)
                    let valid = ir.and(outerValid, ir.and(ir.icmp(.sge, i, c(0)), ir.icmp(.slt, i, c(g.input[last]))))
                    // Out-of-range taps read the channel's first element (never outside x) and become 0.
                    let v = ir.load(
                        ir.f32, ir.gep(ir.f32, x, ir.add(chan, ir.select(valid, ir.add(outerOff, i), c(0)))))
                    ir.store(ir.select(valid, v, ir.constF32(0)), ir.gep(ir.f32, col, ir.add(rowStart, ow)))
                }
            }
        }
    }
}
