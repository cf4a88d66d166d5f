import SinterIR

/// Row-vectorised 2-D windows over plain NCHW tensors, for the window ops that work on each
/// channel alone: depthwise convolution (one filter per channel, any channel count) and
/// pooling. One vector holds `lanes` neighbouring output pixels of one row of one channel, so
/// no channel blocking (and no layout conversion) is needed, whatever the channel count.
///
/// A tap for a vector of output columns is one contiguous load of the input row — for a
/// stride s, s·lanes elements deinterleaved with a shuffle (every s-th lane). Columns whose
/// taps and loads all stay inside the row are interior and run as whole vectors, the last one
/// moved left to end at the interior's end (it recomputes a few pixels); the border columns run
/// one at a time with clipped taps. Rows clip their vertical taps, so no tap is ever tested.
extension KernelEmitter {
    /// Output columns [lo, hi) whose s·lanes-wide tap loads stay inside a row of `width`
    /// elements, and the vector width for them: the target's, or the largest power of two that
    /// fits a narrower interior (1 when there is none).
    static func rowVectors(_ win: ShapeRules.Window, width w: Int, maxLanes: Int) -> (lo: Int, hi: Int, lanes: Int) {
        // The interior of a row s − 1 elements shorter: the last lane's widest load ends at
        // col·s − pad + (kw−1)·d + s − 1, which must be < w.
        let (lo, hi) = interiorColumns(win, width: w - (win.strides[1] - 1))
        var lanes = 1
        while lanes * 2 <= min(hi - lo, maxLanes) { lanes *= 2 }
        return (lo, hi, lanes)
    }

    /// Calls `body(column, lanes, checked)` for every output column of a row: the border
    /// columns one at a time with `checked` (their taps must be clipped), the interior [lo, hi)
    /// as vectors of `lanes` columns, the last one ending at `hi`.
    func rowChunks(_ ow: Int, _ lo: Int, _ hi: Int, _ lanes: Int, _ body: (IRValue, Int, Bool) -> Void) {
        let vectors = lanes > 1 ? (hi - lo) / lanes : 0
        let covered = vectors > 0 ? hi : lo
        let borders = lo + (ow - covered)
        if borders > 0 {
            _ = ir.forLoop(c(0), c(borders), carrying: [], "owb", vectorize: false) { j, _ in
                body(ir.select(ir.icmp(.slt, j, c(lo)), j, ir.add(j, c(covered - lo))), 1, true)
                return []
            }
        }
        guard vectors > 0 else { return }
        let count = (hi - lo + lanes - 1) / lanes
        ir.forLoop(c(0), c(count), "owv") { j in
            body(smin(ir.add(ir.mul(j, c(lanes)), c(lo)), c(hi - lanes)), lanes, false)
        }
    }

    /// The input values of one tap for `lanes` output columns: elements at `offset` + l·stride
    /// (f32, or `elem`).
    func rowTap(_ x: IRValue, _ offset: IRValue, lanes: Int, stride: Int, elem: IRType? = nil) -> IRValue {
        guard lanes > 1, stride > 1 else { return loadF(x, offset, lanes, elem: elem) }
        return ir.lanes(loadF(x, offset, lanes * stride, elem: elem), (0..<lanes).map { $0 * stride })
    }

    /// Depthwise convolution (group = input channels, `outChannels / group` filters per
    /// channel) on NCHW tensors, with the fused epilogue per output vector. With `int8`, the
    /// input is bytes and the weights i8: each tap adds (x − zero) · w in i32 lanes (exact, and
    /// a clipped tap is the real 0), the channel's i32 bias (if any) is added, and the sum is
    /// scaled by its channel's scale before the epilogue, whose final cast (if any) decides the
    /// stored type.
    func depthwiseRows(
        _ g: WindowGeometry, _ out: IRValue, _ x: IRValue, _ wt: IRValue, _ epilogue: Epilogue?,
        _ extras: [IRValue], maxLanes: Int, task: IRValue, tasks: IRValue,
        int8 quantized: (ConvUnit.Depthwise.Int8, bias: IRValue?)? = nil, masked: Bool = false
    ) {
        let int8 = quantized?.0
        let win = g.window
        let (h, w) = (g.input[0], g.input[1])
        let (oh, ow) = (win.output[0], win.output[1])
        let (kh, kw) = (win.kernel[0], win.kernel[1])
        let (sh, sw) = (win.strides[0], win.strides[1])
        let (dh, dw) = (win.dilations[0], win.dilations[1])
        let perGroup = g.outChannels / g.group
        guard g.batch * g.outChannels * oh * ow > 0 else { return }
        let (lo, hi, lanes) = Self.rowVectors(win, width: w, maxLanes: maxLanes)
        let maskedLanes = masked ? Self.maskedRowLanes(win, width: w, maxLanes: maxLanes) : nil
        let (u0, u1) = partRange(g.batch * g.outChannels * oh, task: task, tasks: tasks)
        let scales = int8.map { ir.constantFloats("qconv.dw.scales", $0.scales) }
        ir.forLoop(u0, u1, "row") { u in
            let nc = ir.sdiv(u, c(oh)), y = ir.srem(u, c(oh))
            let n = ir.sdiv(nc, c(g.outChannels)), oc = ir.srem(nc, c(g.outChannels))
            let grp = ir.sdiv(oc, c(perGroup))
            let xBase = ir.mul(ir.add(ir.mul(n, c(g.channels)), grp), c(h * w))
            let iy = ir.sub(ir.mul(y, c(sh)), c(win.padBegin[0]))
            let (khB, khE) = taps(iy, kh, dh, lo: 0, hi: h)
            let wBase = ir.mul(oc, c(kh * kw))
            let oBase = ir.add(ir.mul(nc, c(oh * ow)), ir.mul(y, c(ow)))
            let args = convEpilogueArgs(epilogue, extras, n, grp, perGroup)
            /// An int8 sum in f32: plus the channel's i32 bias, times its scale (f32 passes).
            func scaled(_ acc: IRValue, _ lanes: Int) -> IRValue {
                guard let table = scales else { return acc }
                let scale = ir.load(ir.f32, ir.gep(ir.f32, table, oc))
                let bias = quantized?.bias.map { ir.splat(ir.load(ir.i32, ir.gep(ir.i32, $0, oc)), lanes) }
                let sum = bias.map { ir.add(acc, $0) } ?? acc
                return ir.fmul(ir.sitofp(sum, ir.vector(ir.f32, lanes)), ir.splat(scale, lanes))
            }
            let bytes = int8.map { (zero: $0.zeroX, signed: $0.signedX) }
            if let maskedLanes {
                return maskedDepthwiseRow(
                    win, x, width: w, lanes: maskedLanes, rows: (khB, khE),
                    rowStart: { ky in ir.add(xBase, ir.mul(ir.add(iy, ir.mul(ky, c(dh))), c(w))) },
                    weights: wt, weightRow: { ky in ir.add(wBase, ir.mul(ky, c(kw))) }, out: out, outRow: oBase,
                    position: ir.mul(y, c(ow)), epilogue: args, channel: ir.srem(oc, c(perGroup)),
                    int8: bytes, finish: scaled)
            }
            rowChunks(ow, lo, hi, lanes) { col, lanes, checked in
                let ix = ir.sub(ir.mul(col, c(sw)), c(win.padBegin[1]))
                let (kwB, kwE) = checked ? taps(ix, kw, dw, lo: 0, hi: w) : (c(0), c(kw))
                let acc = ir.forLoop(khB, khE, carrying: [depthwiseZero(lanes, bytes)], "kh") { ky, acc in
                    let row = ir.add(xBase, ir.mul(ir.add(iy, ir.mul(ky, c(dh))), c(w)))
                    let wRow = ir.add(wBase, ir.mul(ky, c(kw)))
                    return ir.forLoop(kwB, kwE, carrying: acc, "kw") { kx, acc in
                        let tap = ir.add(row, ir.add(ix, ir.mul(kx, c(dw))))
                        let xv = rowTap(x, tap, lanes: lanes, stride: sw, elem: bytes == nil ? nil : ir.i8)
                        let wv = depthwiseWeight(wt, ir.add(wRow, kx), lanes, bytes)
                        return [depthwiseMultiplyAdd(xv, wv, acc[0], bytes)]
                    }
                }[0]
                depthwiseStore(
                    scaled(acc, lanes), out, ir.add(oBase, col), args, channel: ir.srem(oc, c(perGroup)),
                    position: ir.add(ir.mul(y, c(ow)), col), lanes: lanes, valid: lanes)
            }
        }
    }

    /// Max or average pooling over 2-D windows of an NCHW tensor; max pooling also on u8 and
    /// i8 tensors (quantized activations: the max of quantized values is the quantized max).
    func poolRows(
        _ kind: PoolUnit.Kind, _ g: WindowGeometry, _ out: IRValue, _ x: IRValue, maxLanes: Int, task: IRValue,
        tasks: IRValue, dtype: DType = .f32
    ) {
        let bytes = dtype == .u8 || dtype == .i8
        let elem: IRType? = bytes ? ir.i8 : nil
        let win = g.window
        let (h, w) = (g.input[0], g.input[1])
        let (oh, ow) = (win.output[0], win.output[1])
        let (kh, kw) = (win.kernel[0], win.kernel[1])
        let (dh, dw) = (win.dilations[0], win.dilations[1])
        guard g.batch * g.channels * oh * ow > 0 else { return }
        let (lo, hi, lanes) = Self.rowVectors(win, width: w, maxLanes: maxLanes)
        let (u0, u1) = partRange(g.batch * g.channels * oh, task: task, tasks: tasks)
        ir.forLoop(u0, u1, "prow") { u in
            let nc = ir.sdiv(u, c(oh)), y = ir.srem(u, c(oh))
            let xBase = ir.mul(nc, c(h * w))
            let iy = ir.sub(ir.mul(y, c(win.strides[0])), c(win.padBegin[0]))
            let (khB, khE) = taps(iy, kh, dh, lo: 0, hi: h)
            let oBase = ir.add(ir.mul(nc, c(oh * ow)), ir.mul(y, c(ow)))
            rowChunks(ow, lo, hi, lanes) { col, lanes, checked in
                let ix = ir.sub(ir.mul(col, c(win.strides[1])), c(win.padBegin[1]))
                let (kwB, kwE) = checked ? taps(ix, kw, dw, lo: 0, hi: w) : (c(0), c(kw))
                let initial =
                    bytes
                    ? ir.constInt(ir.i8, dtype == .u8 ? 0 : -128, width: lanes)
                    : ir.constF32(kind == .max ? -.infinity : 0, width: lanes)
                let maximum = bytes ? (dtype == .u8 ? "llvm.umax" : "llvm.smax") : "llvm.maximum"
                let acc = ir.forLoop(khB, khE, carrying: [initial], "pkh") { ky, a in
                    let row = ir.add(xBase, ir.mul(ir.add(iy, ir.mul(ky, c(dh))), c(w)))
                    return ir.forLoop(kwB, kwE, carrying: a, "pkw") { kx, a in
                        let v = rowTap(
                            x, ir.add(row, ir.add(ix, ir.mul(kx, c(dw)))), lanes: lanes, stride: win.strides[1],
                            elem: elem)
                        return [kind == .max ? ir.intrinsic(maximum, [a[0], v]) : ir.fadd(a[0], v)]
                    }
                }[0]
                // Every lane of a vector has the same divisor: its taps are all inside the row.
                let result =
                    kind == .average
                    ? ir.fdiv(
                        acc, ir.splat(averageCount(g, iy: iy, ix: ix, rows: (khB, khE), columns: (kwB, kwE)), lanes))
                    : acc
                storeF(result, out, ir.add(oBase, col), elem: elem)
            }
        }
    }
}

/// Short rows (a 14- or 7-pixel feature map) as whole masked vectors: the interior/border
/// split of `rowChunks` leaves such a row with two single-pixel border columns, each a scalar
/// pass over every tap, and narrow interior vectors. Here one vector covers up to `lanes`
/// output columns, every horizontal tap is one load whose lanes outside the input row are
/// masked off (read as 0, the padding; int8 bytes as the zero point), and the store is masked
/// past the row's end. The taps and their masks are compile-time constants per chunk. Only
/// for targets with cheap masked loads (x86: AVX-512 k-masks, AVX2 `vmaskmov`, bytes on
/// AVX-512 only; NEON would split them into scalar loads).
extension KernelEmitter {
    /// Vector width for masked rows: the target's, or the smallest power of two covering a
    /// narrower row; nil when a row would take more than 4 vectors (its borders are then a
    /// small share) or needs no border columns.
    static func maskedRowLanes(_ win: ShapeRules.Window, width w: Int, maxLanes: Int) -> Int? {
        let ow = win.output[1]
        let (lo, hi, _) = rowVectors(win, width: w, maxLanes: maxLanes)
        guard maxLanes > 1, ow > 0, lo > 0 || hi < ow else { return nil }
        var lanes = 1
        while lanes < min(ow, maxLanes) { lanes *= 2 }
        return (ow + lanes - 1) / lanes <= 4 ? lanes : nil
    }

    /// One output row of a depthwise convolution as masked vectors: vertical taps
    /// [rows.0, rows.1) (clipped by the caller) in a loop, horizontal taps unrolled. Every chunk
    /// and horizontal tap sums into its own accumulator, added up at the end: the chains are
    /// then as long as the vertical taps, not all taps (a 3 × 3 row was FMA-latency bound).
    func maskedDepthwiseRow(
        _ win: ShapeRules.Window, _ x: IRValue, width w: Int, lanes: Int, rows: (IRValue, IRValue),
        rowStart: (IRValue) -> IRValue, weights: IRValue, weightRow: (IRValue) -> IRValue, out: IRValue,
        outRow: IRValue, position: IRValue, epilogue args: EpilogueArgs?, channel: IRValue,
        int8: (zero: Int, signed: Bool)? = nil, finish: (IRValue, Int) -> IRValue
    ) {
        let (ow, kw, sw, dw, pw) = (win.output[1], win.kernel[1], win.strides[1], win.dilations[1], win.padBegin[1])
        let starts = Array(stride(from: 0, to: ow, by: lanes))
        let zero = depthwiseZero(lanes, int8)
        // int8: bytes; a masked-off lane reads the zero point, so (x − zero) · w adds 0.
        let elem = int8 == nil ? ir.f32 : ir.i8
        let wide = ir.vector(elem, lanes * sw)
        let passthru = int8.map { ir.constInt(ir.i8, $0.zero, width: lanes * sw) }
        let sums = ir.forLoop(rows.0, rows.1, carrying: Array(repeating: zero, count: starts.count * kw), "mkh") {
            ky, acc in
            let row = rowStart(ky), wRow = weightRow(ky)
            let wv = (0..<kw).map { kx in depthwiseWeight(weights, ir.add(wRow, c(kx)), lanes, int8) }
            var next = acc
            for (chunk, col0) in starts.enumerated() {
                let valid = min(lanes, ow - col0)
                for kx in 0..<kw {
                    // Input columns ix0 + e for the lanes' taps: lane l reads element l·sw.
                    let ix0 = col0 * sw - pw + kx * dw
                    let inside = (0..<(lanes * sw)).map { e in e / sw < valid && ix0 + e >= 0 && ix0 + e < w }
                    guard inside.contains(true) else { continue }
                    let at = ir.gepAnywhere(elem, x, ir.add(row, c(ix0)))
                    let align = int8 == nil ? 4 : 1
                    var xv =
                        inside.allSatisfy { $0 }
                        ? ir.load(wide, at, align: align)
                        : ir.maskedLoad(wide, at, mask: ir.laneMask(inside), align: align, passthru: passthru)
                    if sw > 1 { xv = ir.lanes(xv, (0..<lanes).map { $0 * sw }) }
                    let i = chunk * kw + kx
                    next[i] = depthwiseMultiplyAdd(xv, wv[kx], acc[i], int8)
                }
            }
            return next
        }
        for (chunk, col0) in starts.enumerated() {
            let valid = min(lanes, ow - col0)
            let chains = sums[(chunk * kw)..<((chunk + 1) * kw)]
            let acc = finish(
                chains.dropFirst().reduce(chains[chunk * kw]) { int8 == nil ? ir.fadd($0, $1) : ir.add($0, $1) }, lanes)
            depthwiseStore(
                acc, out, ir.add(outRow, c(col0)), args, channel: channel, position: ir.add(position, c(col0)),
                lanes: lanes, valid: valid)
        }
    }

    // The depthwise step both row kernels share; `int8` is the input bytes' zero point and
    // signedness (nil: f32).

    func depthwiseZero(_ lanes: Int, _ int8: (zero: Int, signed: Bool)?) -> IRValue {
        int8 == nil ? ir.constF32(0, width: lanes) : ir.constInt(ir.i32, 0, width: lanes)
    }

    /// The weight at element `at`, splat over `lanes`: f32, or an i8 widened to i32.
    func depthwiseWeight(_ weights: IRValue, _ at: IRValue, _ lanes: Int, _ int8: (zero: Int, signed: Bool)?)
        -> IRValue
    {
        guard int8 != nil else { return ir.splat(ir.load(ir.f32, ir.gep(ir.f32, weights, at)), lanes) }
        return ir.splat(ir.sext(ir.load(ir.i8, ir.gep(ir.i8, weights, at), align: 1), ir.i32), lanes)
    }

    /// acc + x · w: an FMA, or exactly in i32 as acc + (x − zero) · w for input bytes.
    func depthwiseMultiplyAdd(_ x: IRValue, _ w: IRValue, _ acc: IRValue, _ int8: (zero: Int, signed: Bool)?)
        -> IRValue
    {
        guard let q = int8 else { return ir.intrinsic("llvm.fma", [x, w, acc]) }
        let words = ir.vector(ir.i32, x.type.vectorWidth)
        let centred = ir.sub(
            q.signed ? ir.sext(x, words) : ir.zext(x, words), ir.constInt(ir.i32, q.zero, width: x.type.vectorWidth))
        return ir.add(acc, ir.mul(centred, w))
    }

    /// Stores an output vector (its first `valid` lanes) at element `at` after the fused
    /// epilogue, which reads its operands at (channel, position).
    func depthwiseStore(
        _ value: IRValue, _ out: IRValue, _ at: IRValue, _ args: EpilogueArgs?, channel: IRValue, position: IRValue,
        lanes: Int, valid: Int
    ) {
        let mask = valid < lanes ? ir.laneMask(valid, width: lanes) : nil
        let result =
            args.map {
                applyEpilogue($0, value, row: channel, col: position, width: lanes, mask: mask, dtype: $0.result)
            } ?? value
        storeResult(result, out, at, args?.result, mask: mask)
    }
}
