import SinterIR

/// Max and average pooling as a kernel unit: N-D windows over NC[spatial] tensors (`max-pool`,
/// `avg-pool`; 2-D ones a row vector at a time), and 2-D windows over channel-blocked tensors (`max-pool-nchwc`,
/// `avg-pool-nchwc`), where each output pixel's block of channels is one vector.
struct PoolUnit: KernelUnit {
    static let name = "pool"

    enum Kind: String, Hashable, Sendable { case max, average }

    /// f32, and 8-bit tensors for 2-D max pooling, NCHW or blocked (checked in `lower`).
    static func supports(operands: [DType], results: [DType]) -> Bool {
        operands.count == 1 && results == operands && [.f32, .u8, .i8].contains(operands[0])
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let op = c.node.op
        let kind: Kind = op == .maxPool || op == .maxPoolNCHWc ? .max : .average
        let blocked = op == .maxPoolNCHWc || op == .avgPoolNCHWc
        let x = c.inShapes[0]
        let spatial = blocked ? [x[2], x[3]] : Array(x[2...])
        let win = try c.window(spatial, c.node.attributes.ints("kernel") ?? [], ceilMode: c.bool("ceil_mode"))
        let geometry = WindowGeometry(
            batch: x[0], channels: x[1], input: spatial, window: win, outChannels: x[1], group: 1,
            countIncludePad: c.bool("count_include_pad"))
        let dtype = c.operandTypes[0].dtype
        guard dtype == .f32 || (kind == .max && spatial.count == 2) else {
            throw c.fail("\(op.rawValue) on \(dtype.rawValue) runs only as a 2-D max pool (other pools take f32)")
        }
        if blocked { return [Blocked(kind: kind, geometry: geometry, block: x[4], dtype: dtype)] }
        return [
            spatial.count == 2
                ? Rows(kind: kind, geometry: geometry, dtype: dtype) : Plain(kind: kind, geometry: geometry)
        ]
    }

    /// 2-D windows on NCHW tensors, a vector of neighbouring output pixels at a time
    /// (WindowRows.swift): any channel count, no layout conversion.
    struct Rows: KernelUnitBody, Hashable {
        var kind: Kind
        var geometry: WindowGeometry
        /// f32, or u8/i8 for a max pool (four times the lanes).
        var dtype: DType = .f32
        var description: String {
            "\(kind.rawValue) over \(geometry.window.kernel), out \(geometry.window.output), row vectors"
                + (dtype == .f32 ? "" : " of \(dtype.rawValue)")
        }
        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.poolRows(
                kind, geometry, a.out, a.ins[0], maxLanes: a.vectorWidth * 4 / dtype.byteSize, task: a.task,
                tasks: a.parts, dtype: dtype)
        }

        /// Split by output rows when it touches more than about a megabyte.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let g = geometry
            let rows = g.batch * g.channels * g.window.output[0]
            let reads = (checkedProduct([rows, g.window.output[1]] + g.window.kernel) ?? .max)
            if reads >= s.splitReads { k.tasks = s.parts(work: reads, grain: s.grainReads, units: rows) }
        }
    }

    struct Plain: KernelUnitBody, Hashable {
        var kind: Kind
        var geometry: WindowGeometry
        var description: String { "\(kind.rawValue) over \(geometry.window.kernel), out \(geometry.window.output)" }
        func emit(_ e: KernelEmitter, _ a: KernelArguments) { e.pool(kind, geometry, a.out, a.ins[0]) }
    }

    /// `geometry.channels` counts blocks of `block` lanes.
    struct Blocked: KernelUnitBody, Hashable {
        var kind: Kind
        var geometry: WindowGeometry
        var block: Int
        /// f32, or u8/i8 for a max pool (quantized bytes keep their parameters).
        var dtype: DType = .f32
        var description: String {
            "\(kind.rawValue) over \(geometry.window.kernel), out \(geometry.window.output), block \(block)"
                + (dtype == .f32 ? "" : " of \(dtype.rawValue)")
        }
        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.poolBlocked(kind, geometry, block, a.out, a.ins[0], task: a.task, tasks: a.parts, dtype: dtype)
        }

        /// Pooling is memory-bound: split by output rows when it touches more than about a megabyte.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let g = geometry
            let rows = g.batch * g.channels * g.window.output[0]
            let reads = (checkedProduct([rows, g.window.output[1], block] + g.window.kernel) ?? .max)
            if reads >= s.splitReads { k.tasks = s.parts(work: reads, grain: s.grainReads, units: rows) }
        }
    }
}

extension KernelEmitter {
    func pool(_ kind: PoolUnit.Kind, _ g: WindowGeometry, _ out: IRValue, _ x: IRValue) {
        let win = g.window
        let dims = g.input.count
        let spatialIn = g.input.reduce(1, *), spatialOut = win.output.reduce(1, *)
        let inStrides = contiguousStrides(g.input), outStrides = contiguousStrides(win.output)
        guard g.batch * g.channels * spatialOut > 0 else { return }
        ir.forLoop(c(0), c(g.batch * g.channels), "nc") { nc in
            let inBase = ir.mul(nc, c(spatialIn)), outBase = ir.mul(nc, c(spatialOut))
            func outputLevel(_ d: Int, _ starts: [IRValue], _ outOff: IRValue) {
                if d == dims {
                    let initial = [ir.constF32(kind == .max ? -.infinity : 0), ir.constF32(0), ir.constF32(0)]
                    let acc = windowLevel(0, starts, inBase, ir.constInt(ir.i1, 1), ir.constInt(ir.i1, 1), initial)
                    let result: IRValue
                    if kind == .max {
                        result = acc[0]
                    } else {
                        result = ir.fdiv(acc[0], g.countIncludePad ? acc[2] : acc[1])
                    }
                    ir.store(result, ir.gep(ir.f32, out, ir.add(outBase, outOff)))
                    return
                }
                ir.forLoop(c(0), c(win.output[d]), "po\(d)") { o in
                    outputLevel(
                        d + 1, starts + [ir.sub(ir.mul(o, c(win.strides[d])), c(win.padBegin[d]))],
                        ir.add(outOff, ir.mul(o, c(outStrides[d]))))
                }
            }
            // Accumulators: [max or sum, count of real elements, count inside the padded bounds].
            func windowLevel(
                _ d: Int, _ starts: [IRValue], _ inOff: IRValue, _ valid: IRValue, _ inPadded: IRValue,
                _ acc: [IRValue]
            ) -> [IRValue] {
                if d == dims {
                    let v = ir.load(ir.f32, ir.gep(ir.f32, x, ir.select(valid, inOff, c(0))))
                    let combined = kind == .max ? ir.intrinsic("llvm.maximum", [acc[0], v]) : ir.fadd(acc[0], v)
                    let one = ir.constF32(1)
                    return [
                        ir.select(valid, combined, acc[0]), ir.select(valid, ir.fadd(acc[1], one), acc[1]),
                        ir.select(inPadded, ir.fadd(acc[2], one), acc[2]),
                    ]
                }
                return ir.forLoop(c(0), c(win.kernel[d]), carrying: acc, "pk\(d)") { k, a in
                    let i = ir.add(starts[d], ir.mul(k, c(win.dilations[d])))
                    let ok = ir.and(valid, ir.and(ir.icmp(.sge, i, c(0)), ir.icmp(.slt, i, c(g.input[d]))))
                    let padded = ir.and(inPadded, ir.icmp(.slt, i, c(g.input[d] + win.padEnd[d])))
                    return windowLevel(d + 1, starts, ir.add(inOff, ir.mul(i, c(inStrides[d]))), ok, padded, a)
                }
            }
            outputLevel(0, [], c(0))
        }
    }

    /// Max or average pooling over 2-D windows of a blocked tensor: each output pixel's
    /// `block` channels are one vector; taps outside the image are clipped from the loop
    /// ranges, so no tap is tested. A max pool of bytes compares them as integers.
    func poolBlocked(
        _ kind: PoolUnit.Kind, _ g: WindowGeometry, _ b: Int, _ out: IRValue, _ x: IRValue, task: IRValue,
        tasks: IRValue, dtype: DType = .f32
    ) {
        let bytes = dtype != .f32
        let elem = bytes ? ir.i8 : ir.f32
        let win = g.window
        let (h, w) = (g.input[0], g.input[1])
        let (oh, ow) = (win.output[0], win.output[1])
        let (kh, kw) = (win.kernel[0], win.kernel[1])
        guard g.batch * g.channels * oh * ow * b > 0 else { return }
        // Parts take contiguous ranges of output rows (image and block, row).
        let units = g.batch * g.channels * oh
        let (u0, u1) = partRange(units, task: task, tasks: tasks)
        ir.forLoop(u0, u1, "prow") { u in
            let nc = ir.sdiv(u, c(oh)), y = ir.srem(u, c(oh))
            let inBase = ir.mul(nc, c(h * w * b))
            let outBase = ir.mul(nc, c(oh * ow * b))
            let iy = ir.sub(ir.mul(y, c(win.strides[0])), c(win.padBegin[0]))
            let (khB, khE) = taps(iy, kh, win.dilations[0], lo: 0, hi: h)
            ir.forLoop(c(0), c(ow), "px") { px in
                let ix = ir.sub(ir.mul(px, c(win.strides[1])), c(win.padBegin[1]))
                let (kwB, kwE) = taps(ix, kw, win.dilations[1], lo: 0, hi: w)
                let initial =
                    bytes
                    ? ir.constInt(ir.i8, dtype == .u8 ? 0 : -128, width: b)
                    : ir.constF32(kind == .max ? -.infinity : 0, width: b)
                let maximum = bytes ? (dtype == .u8 ? "llvm.umax" : "llvm.smax") : "llvm.maximum"
                let acc = ir.forLoop(khB, khE, carrying: [initial], "pkh") { ky, a in
                    let row = ir.add(inBase, ir.mul(ir.add(iy, ir.mul(ky, c(win.dilations[0]))), c(w * b)))
                    return ir.forLoop(kwB, kwE, carrying: a, "pkw") { kx, a in
                        let at = ir.add(row, ir.mul(ir.add(ix, ir.mul(kx, c(win.dilations[1]))), c(b)))
                        let v = loadF(x, at, b, elem: elem)
                        return [kind == .max ? ir.intrinsic(maximum, [a[0], v]) : ir.fadd(a[0], v)]
                    }
                }[0]
                let result =
                    kind == .average
                    ? ir.fdiv(acc, ir.splat(averageCount(g, iy: iy, ix: ix, rows: (khB, khE), columns: (kwB, kwE)), b))
                    : acc
                storeF(result, out, ir.add(outBase, ir.mul(ir.add(ir.mul(y, c(ow)), px), c(b))), elem: elem)
            }
        }
    }

    /// The divisor of an average over the window at input (iy, ix) with taps `rows` × `columns`
    /// inside the image: their count, or with count_include_pad the taps inside the padded bounds.
    func averageCount(
        _ g: WindowGeometry, iy: IRValue, ix: IRValue, rows: (IRValue, IRValue), columns: (IRValue, IRValue)
    ) -> IRValue {
        let win = g.window
        var (cy, cx) = (ir.sub(rows.1, rows.0), ir.sub(columns.1, columns.0))
        if g.countIncludePad {
            let (a0, a1) = taps(
                iy, win.kernel[0], win.dilations[0], lo: -win.padBegin[0], hi: g.input[0] + win.padEnd[0])
            let (b0, b1) = taps(
                ix, win.kernel[1], win.dilations[1], lo: -win.padBegin[1], hi: g.input[1] + win.padEnd[1])
            (cy, cx) = (ir.sub(a1, a0), ir.sub(b1, b0))
        }
        return ir.sitofp(ir.mul(cy, cx), ir.f32)
    }
}
