import SinterIR

/// Softmax, reductions and arg-max/min (f32).
extension KernelEmitter {
    func softmax(_ outer: Int, _ axis: Int, _ inner: Int, _ log: Bool, _ out: IRValue, _ x: IRValue, _ w: Int) {
        let maximum: (IRValue, IRValue) -> IRValue = { ir.intrinsic("llvm.maximum", [$0, $1]) }
        let plus: (IRValue, IRValue) -> IRValue = { ir.fadd($0, $1) }
        // Final pass: softmax scales e^(x-max) by 1/sum; log-softmax writes x - max - log(sum).
        func finish(_ p: IRValue, _ width: Int, _ mx: IRValue, _ sum: IRValue) {
            if log {
                let shift = ir.fadd(mx, ir.vlog(sum))
                storeF(ir.fsub(loadF(x, p, width), shift), out, p)
            } else {
                storeF(ir.fmul(loadF(out, p, width), ir.fdiv(ir.constF32(1, width: width), sum)), out, p)
            }
        }
        if inner == 1 {
            ir.forLoop(c(0), c(outer), "o") { o in
                let row = ir.mul(o, c(axis))
                let mx = stripReduce(axis, w, identity: -.infinity, maximum) { i, width in
                    loadF(x, ir.add(row, i), width)
                }
                let sum = stripReduce(axis, w, identity: 0, plus) { i, width in
                    let e = ir.vexp(ir.fsub(loadF(x, ir.add(row, i), width), ir.splat(mx, width)))
                    if !log { storeF(e, out, ir.add(row, i)) }
                    return e
                }
                strip(axis, w) { i, width in finish(ir.add(row, i), width, ir.splat(mx, width), ir.splat(sum, width)) }
            }
            return
        }
        // Over a middle axis: vectorise across the contiguous inner dimension.
        ir.forLoop(c(0), c(outer), "o") { o in
            let base = ir.mul(o, c(axis * inner))
            strip(inner, w) { j, width in
                let col = ir.add(base, j)
                let at = { (l: IRValue) in ir.add(col, ir.mul(l, c(inner))) }
                let mx = ir.forLoop(c(0), c(axis), carrying: [ir.constF32(-.infinity, width: width)], "l") { l, a in
                    [maximum(a[0], loadF(x, at(l), width))]
                }[0]
                let sum = ir.forLoop(c(0), c(axis), carrying: [ir.constF32(0, width: width)], "l") { l, a in
                    let e = ir.vexp(ir.fsub(loadF(x, at(l), width), mx))
                    if !log { storeF(e, out, at(l)) }
                    return [ir.fadd(a[0], e)]
                }[0]
                ir.forLoop(c(0), c(axis), "l") { l in finish(at(l), width, mx, sum) }
            }
        }
    }

    /// One kernel: per row, the mean and variance (two vector passes), then
    /// (x − mean) · 1/sqrt(var + eps) · scale + bias.
    func layerNorm(
        _ outer: Int, _ inner: Int, _ eps: Double, _ out: IRValue, _ x: IRValue, _ scale: IRValue, _ bias: IRValue,
        _ w: Int
    ) {
        guard outer * inner > 0 else { return }
        let plus: (IRValue, IRValue) -> IRValue = { ir.fadd($0, $1) }
        let invN = ir.constF32(1 / Float(inner))
        ir.forLoop(c(0), c(outer), "o") { o in
            let row = ir.mul(o, c(inner))
            let mean = ir.fmul(
                stripReduce(inner, w, identity: 0, plus) { i, width in loadF(x, ir.add(row, i), width) }, invN)
            let variance = ir.fmul(
                stripReduce(inner, w, identity: 0, plus) { i, width in
                    let d = ir.fsub(loadF(x, ir.add(row, i), width), ir.splat(mean, width))
                    return ir.fmul(d, d)
                }, invN)
            let inv = ir.fdiv(ir.constF32(1), ir.intrinsic("llvm.sqrt", [ir.fadd(variance, ir.constF32(Float(eps)))]))
            strip(inner, w) { i, width in
                let d = ir.fsub(loadF(x, ir.add(row, i), width), ir.splat(mean, width))
                let y = ir.intrinsic(
                    "llvm.fma", [ir.fmul(d, ir.splat(inv, width)), loadF(scale, i, width), loadF(bias, i, width)])
                storeF(y, out, ir.add(row, i))
            }
        }
    }

    func reduce(_ kind: ReduceKind, _ shape: [Int], _ reduced: [Bool], _ out: IRValue, _ x: IRValue, _ w: Int) {
        let identity: Float =
            switch kind {
            case .max: -.infinity
            case .min: .infinity
            case .prod: 1
            case .sum, .mean, .l2: 0
            }
        let combine: (IRValue, IRValue) -> IRValue =
            switch kind {
            case .max: { ir.intrinsic("llvm.maximum", [$0, $1]) }
            case .min: { ir.intrinsic("llvm.minimum", [$0, $1]) }
            case .prod: { ir.fmul($0, $1) }
            case .sum, .mean, .l2: { ir.fadd($0, $1) }
            }
        let load: (IRValue, Int) -> IRValue =
            kind == .l2
            ? { p, width in
                let v = loadF(x, p, width); return ir.fmul(v, v)
            } : { p, width in loadF(x, p, width) }
        let outCount = zip(shape, reduced).filter { !$0.1 }.map(\.0).reduce(1, *)
        strip(outCount, w, "init") { i, width in storeF(ir.constF32(identity, width: width), out, i) }

        let inStrides = contiguousStrides(shape)
        let keptStrides = contiguousStrides(zip(shape, reduced).map { $0.1 ? 1 : $0.0 })
        let outStrides = zip(keptStrides, reduced).map { $0.1 ? 0 : $0.0 }
        let last = shape.count - 1
        nest(Array(shape.dropLast()), [Array(inStrides.dropLast()), Array(outStrides.dropLast())], [c(0), c(0)]) {
            offs in
            if reduced[last] {
                let part = stripReduce(shape[last], w, identity: identity, combine) { i, width in
                    load(ir.add(offs[0], i), width)
                }
                let dst = ir.gep(ir.f32, out, offs[1])
                ir.store(combine(ir.load(ir.f32, dst), part), dst)
            } else {
                strip(shape[last], w) { i, width in
                    let o = ir.add(offs[1], i)
                    storeF(combine(loadF(out, o, width), load(ir.add(offs[0], i), width)), out, o)
                }
            }
        }
        switch kind {
        case .mean:
            let count = zip(shape, reduced).filter(\.1).map(\.0).reduce(1, *)
            let scale = ir.constF32(1 / Float(count))
            strip(outCount, w, "mean") { i, width in
                storeF(ir.fmul(loadF(out, i, width), ir.splat(scale, width)), out, i)
            }
        case .l2:
            strip(outCount, w, "sqrt") { i, width in storeF(ir.intrinsic("llvm.sqrt", [loadF(out, i, width)]), out, i) }
        case .sum, .max, .min, .prod:
            break
        }
    }

    /// Index of the first (or last) max/min along the middle axis; NaN counts as the extreme,
    /// like numpy.
    func argReduce(_ outer: Int, _ axis: Int, _ inner: Int, _ isMax: Bool, _ last: Bool, _ out: IRValue, _ x: IRValue) {
        guard outer * inner > 0 else { return }
        ir.forLoop(c(0), c(outer), "o") { o in
            ir.forLoop(c(0), c(inner), "j") { j in
                let base = ir.add(ir.mul(o, c(axis * inner)), j)
                let start = [ir.constF32(isMax ? -.infinity : .infinity), c(0), ir.constInt(ir.i1, 0)]
                let best = ir.forLoop(c(0), c(axis), carrying: start, "l") { l, acc in
                    let v = ir.load(ir.f32, ir.gep(ir.f32, x, ir.add(base, ir.mul(l, c(inner)))))
                    let isNaN = ir.fcmp(.uno, v, v)
                    let better: IRValue =
                        last ? ir.fcmp(isMax ? .oge : .ole, v, acc[0]) : ir.fcmp(isMax ? .ogt : .olt, v, acc[0])
                    // The first NaN wins and stays (later elements never beat it).
                    let take = ir.and(ir.not(acc[2]), ir.or(isNaN, ir.or(better, ir.icmp(.eq, l, c(0)))))
                    return [ir.select(take, v, acc[0]), ir.select(take, l, acc[1]), ir.or(acc[2], ir.and(take, isNaN))]
                }
                ir.store(best[1], ir.gep(ir.i64, out, ir.add(ir.mul(o, c(inner)), j)), align: 8)
            }
        }
    }
}
