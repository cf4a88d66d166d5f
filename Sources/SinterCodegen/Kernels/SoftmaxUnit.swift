import SinterIR

/// `softmax` / `log-softmax` as a kernel unit: over one axis of [outer, axis, inner], the max,
/// then e^(x − max) and its sum, then a scale (softmax) or a shift by log(sum) (log-softmax).
/// Rows along a contiguous axis are vector strips; a middle axis vectorises across `inner`.
struct SoftmaxUnit: KernelUnit {
    static let name = "softmax"

    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands + results).allSatisfy { $0 == .f32 }
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let (outer, axis, inner) = c.aroundAxis
        return [Body(outer: outer, axis: axis, inner: inner, log: c.node.op == .logSoftmax)]
    }

    struct Body: KernelUnitBody, Hashable {
        var outer: Int
        var axis: Int
        var inner: Int
        var log: Bool

        var description: String { "outer: \(outer), axis: \(axis), inner: \(inner), log: \(log)" }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.softmax(outer, axis, inner, log, a.out, a.ins[0], a.vectorWidth, task: a.task, tasks: a.parts)
        }

        /// Split by outer rows once large: each element is read three times and takes an exp
        /// (attention's 4 heads × 128 × 128 scores split). Rows are independent, so every
        /// thread count gives the same bytes.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let reads = (checkedProduct([outer, axis, inner, 4]) ?? .max)
            if reads >= s.splitReads, outer > 1 { k.tasks = s.parts(work: reads, grain: s.grainReads, units: outer) }
        }
    }
}

extension KernelEmitter {
    func softmax(
        _ outer: Int, _ axis: Int, _ inner: Int, _ log: Bool, _ out: IRValue, _ x: IRValue, _ w: Int, task: IRValue,
        tasks: IRValue
    ) {
        let (first, last) = partRange(outer, task: task, tasks: tasks)
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
            ir.forLoop(first, last, "o") { o in
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
        ir.forLoop(first, last, "o") { o in
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
}
