import SinterIR

/// `cumsum` as a kernel unit: the running sum along one axis of [outer, axis, inner], any
/// numeric dtype (f16/bf16 accumulate in f32, integers wrap). The inner dimension is
/// contiguous, so each step adds one vector of inner positions to the running vector; the
/// axis is walked forwards or backwards (`reverse`), storing before the add when `exclusive`.
struct CumSumUnit: KernelUnit {
    static let name = "cumsum"

    static func supports(operands: [DType], results: [DType]) -> Bool { operands.allSatisfy { $0 != .bool } }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let (outer, axis, inner) = c.aroundAxis
        return [
            Body(
                outer: outer, axis: axis, inner: inner, dtype: c.resultTypes[0].dtype, exclusive: c.bool("exclusive"),
                reverse: c.bool("reverse"))
        ]
    }

    struct Body: KernelUnitBody, Hashable {
        var outer: Int
        var axis: Int
        var inner: Int
        var dtype: DType
        var exclusive: Bool
        var reverse: Bool

        var description: String {
            "cumsum [\(outer), \(axis), \(inner)] \(dtype.rawValue)\(exclusive ? " exclusive" : "")"
                + (reverse ? " reverse" : "")
        }

        var accumulator: DType? { Domain(dtype) == .float32 ? .f32 : dtype }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let ir = e.ir
            guard outer * axis * inner > 0 else { return }
            let domain = Domain(dtype)
            ir.forLoop(e.c(0), e.c(outer), "o") { o in
                let row = ir.mul(o, e.c(axis * inner))
                e.strip(inner, a.vectorWidth, "j") { j, w in
                    let start = ir.add(row, j)
                    _ = ir.forLoop(e.c(0), e.c(axis), carrying: [ir.constant(0, domain, width: w)], "l") { l, acc in
                        let step = reverse ? ir.sub(e.c(axis - 1), l) : l
                        let at = ir.add(start, ir.mul(step, e.c(inner)))
                        let v = ir.loadTyped(a.ins[0], at, dtype, width: w)
                        let sum = ir.binary(.add, Typed(value: acc[0], domain: domain), v)
                        ir.storeTyped(exclusive ? Typed(value: acc[0], domain: domain) : sum, a.out, at, dtype)
                        return [sum.value]
                    }
                }
            }
        }
    }
}
