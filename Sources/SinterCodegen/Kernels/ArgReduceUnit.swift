import SinterIR

/// `arg-max` / `arg-min` as a kernel unit: lowering, emission and schedule in one file.
/// The i64 position of the max (or min) over the middle dimension of [outer, axis, inner];
/// NaN counts as the extreme, like numpy; ties go to the first index unless
/// `select_last_index`.
struct ArgReduceUnit: KernelUnit {
    static let name = "arg-reduce"

    static func supports(operands: [DType], results: [DType]) -> Bool { operands.allSatisfy { $0 == .f32 } }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let (outer, axis, inner) = c.aroundAxis
        return [
            Body(outer: outer, axis: axis, inner: inner, max: c.node.op == .argMax, last: c.bool("select_last_index"))
        ]
    }

    struct Body: KernelUnitBody, Hashable {
        var outer: Int
        var axis: Int
        var inner: Int
        var max: Bool
        var last: Bool

        var description: String { "outer: \(outer), axis: \(axis), inner: \(inner), max: \(max), last: \(last)" }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let ir = e.ir
            let (out, x) = (a.out, a.ins[0])
            guard outer * inner > 0 else { return }
            ir.forLoop(e.c(0), e.c(outer), "o") { o in
                ir.forLoop(e.c(0), e.c(inner), "j") { j in
                    let base = ir.add(ir.mul(o, e.c(axis * inner)), j)
                    let start = [ir.constF32(max ? -.infinity : .infinity), e.c(0), ir.constInt(ir.i1, 0)]
                    let best = ir.forLoop(e.c(0), e.c(axis), carrying: start, "l") { l, acc in
                        let v = ir.load(ir.f32, ir.gep(ir.f32, x, ir.add(base, ir.mul(l, e.c(inner)))))
                        let isNaN = ir.fcmp(.uno, v, v)
                        let better: IRValue =
                            last ? ir.fcmp(max ? .oge : .ole, v, acc[0]) : ir.fcmp(max ? .ogt : .olt, v, acc[0])
                        // The first NaN wins and stays (later elements never beat it).
                        let take = ir.and(ir.not(acc[2]), ir.or(isNaN, ir.or(better, ir.icmp(.eq, l, e.c(0)))))
                        return [
                            ir.select(take, v, acc[0]), ir.select(take, l, acc[1]), ir.or(acc[2], ir.and(take, isNaN)),
                        ]
                    }
                    ir.store(best[1], ir.gep(ir.i64, out, ir.add(ir.mul(o, e.c(inner)), j)), align: 8)
                }
            }
        }
    }
}
