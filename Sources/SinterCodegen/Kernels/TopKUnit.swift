import SinterIR

/// `top-k` as a kernel unit: the k largest (or smallest) elements along one axis of
/// [outer, axis, inner], sorted, ties in index order, as values and i64 indices. Each line is
/// an insertion into the result itself: an element's place is the number of kept elements at
/// least as good as it (so an equal earlier element stays first), the worse ones move down
/// one, and the last falls off. O(axis · k) per line, for the small k models ask for. The two
/// results are two kernels running the same selection: the indices kernel compares through
/// the indices it has kept, so neither needs scratch.
struct TopKUnit: KernelUnit {
    static let name = "top-k"

    static func supports(operands: [DType], results: [DType]) -> Bool {
        operands.allSatisfy { $0 != .bool && $0 != .f16 && $0 != .bf16 }
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let (outer, axis, inner) = c.aroundAxis
        return [false, true].map { indices in
            Body(
                outer: outer, axis: axis, inner: inner, k: c.int("k"), largest: c.bool("largest"),
                dtype: c.operandTypes[0].dtype, indices: indices)
        }
    }

    struct Body: KernelUnitBody, Hashable {
        var outer: Int
        var axis: Int
        var inner: Int
        var k: Int
        var largest: Bool
        var dtype: DType
        /// This kernel writes the indices (else the values).
        var indices: Bool

        var description: String {
            let which = largest ? "largest" : "smallest"
            return "top-\(k) \(which) of [\(outer), \(axis), \(inner)] → \(indices ? "indices" : "values")"
        }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let ir = e.ir
            guard outer * inner > 0, k > 0 else { return }
            let (x, out) = (a.ins[0], a.out)
            ir.forLoop(e.c(0), e.c(outer * inner), "line") { line in
                let (o, i) = (ir.sdiv(line, e.c(inner)), ir.srem(line, e.c(inner)))
                let inBase = ir.add(ir.mul(o, e.c(axis * inner)), i)
                let outBase = ir.add(ir.mul(o, e.c(k * inner)), i)
                func input(_ position: IRValue) -> Typed {
                    ir.loadTyped(x, ir.add(inBase, ir.mul(position, e.c(inner))), dtype, width: 1)
                }
                func slot(_ j: IRValue) -> IRValue { ir.add(outBase, ir.mul(j, e.c(inner))) }
                /// The value kept in slot j (through its index, in the indices kernel).
                func kept(_ j: IRValue) -> Typed {
                    indices
                        ? input(ir.load(ir.i64, ir.gep(ir.i64, out, slot(j)), align: 8))
                        : ir.loadTyped(out, slot(j), dtype, width: 1)
                }
                func move(_ from: IRValue, _ to: IRValue) {
                    if indices {
                        let v = ir.load(ir.i64, ir.gep(ir.i64, out, slot(from)), align: 8)
                        ir.store(v, ir.gep(ir.i64, out, slot(to)), align: 8)
                    } else {
                        ir.storeTyped(ir.loadTyped(out, slot(from), dtype, width: 1), out, slot(to), dtype)
                    }
                }
                _ = ir.forLoop(e.c(0), e.c(axis), carrying: [e.c(0)], "el") { el, filled in
                    let v = input(el)
                    let place = ir.forLoop(e.c(0), filled[0], carrying: [e.c(0)], "rank") { j, count in
                        let atLeast = ir.compareValues(largest ? .ge : .le, kept(j), v)
                        return [ir.add(count[0], ir.zext(atLeast, ir.i64))]
                    }[0]
                    ir.ifThen(ir.icmp(.slt, place, e.c(k))) {
                        // Slots place..<last move down one; the one at k − 1 (if full) falls off.
                        let last = ir.select(ir.icmp(.slt, filled[0], e.c(k)), filled[0], e.c(k - 1))
                        ir.forLoop(e.c(0), ir.sub(last, place), "shift") { t in
                            let j = ir.sub(last, t)
                            move(ir.sub(j, e.c(1)), j)
                        }
                        if indices {
                            ir.store(el, ir.gep(ir.i64, out, slot(place)), align: 8)
                        } else {
                            ir.storeTyped(v, out, slot(place), dtype)
                        }
                    }
                    let more = ir.add(filled[0], e.c(1))
                    return [ir.select(ir.icmp(.slt, more, e.c(k)), more, e.c(k))]
                }
            }
        }
    }
}
