import SinterIR

/// `scatter-nd` as a kernel unit: the result starts as a copy of the data, then each entry
/// of the indices ([entries, k]) names a slice data[i0, ..., ik-1] of `inner` elements that
/// the entry's updates replace or combine with (`reduction`), entries in order (a repeated
/// index keeps the last write, as the ONNX reference does). A negative index counts from
/// the end; an index still out of range skips its entry, since a run cannot report it and
/// must not write outside the result. ONNX ScatterElements imports to this on flat data.
struct ScatterUnit: KernelUnit {
    static let name = "scatter-nd"

    static func supports(operands: [DType], results: [DType]) -> Bool { true }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let ds = c.inShapes[0], ishape = c.inShapes[1]
        let k = ishape.last ?? 0
        var reduction = "none"
        if case .string(let r)? = c.node.attribute("reduction") { reduction = r }
        let dtype = c.operandTypes[0].dtype
        if dtype == .bool && reduction != "none" { throw c.fail("reduction '\(reduction)' needs numeric data") }
        return [
            Body(
                dims: Array(ds[..<k]), inner: ds[k...].reduce(1, *), total: ds.reduce(1, *),
                entries: ishape.dropLast().reduce(1, *), dtype: dtype, indexType: c.operandTypes[1].dtype,
                reduction: reduction)
        ]
    }

    struct Body: KernelUnitBody, Hashable {
        /// The data's first k dimensions, which an index entry addresses.
        var dims: [Int]
        var inner: Int
        var total: Int
        var entries: Int
        var dtype: DType
        var indexType: DType
        var reduction: String

        var description: String {
            "scatter-nd \(entries) × [\(inner)] into \(dims) \(dtype.rawValue) reduction=\(reduction)"
        }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let ir = e.ir
            if total > 0 { ir.memcpy(a.out, a.ins[0], bytes: total * dtype.byteSize) }
            guard entries > 0, inner > 0 else { return }
            let strides = dims.indices.map { dims[($0 + 1)...].reduce(inner, *) }
            let indexIR = indexType == .i64 ? ir.i64 : ir.i32
            let combine: ScalarExpr.BinaryFn? =
                switch reduction {
                case "add": .add
                case "mul": .mul
                case "max": .max
                case "min": .min
                default: nil
                }
            ir.forLoop(e.c(0), e.c(entries), "entry") { n in
                var offset = e.c(0)
                var valid: IRValue?
                for j in dims.indices {
                    let at = ir.add(ir.mul(n, e.c(dims.count)), e.c(j))
                    var idx = ir.load(indexIR, ir.gep(indexIR, a.ins[1], at), align: indexType.byteSize)
                    if indexType != .i64 { idx = ir.sextI64(idx) }
                    idx = ir.select(ir.icmp(.slt, idx, e.c(0)), ir.add(idx, e.c(dims[j])), idx)
                    let ok = ir.and(ir.icmp(.sge, idx, e.c(0)), ir.icmp(.slt, idx, e.c(dims[j])))
                    valid = valid.map { ir.and($0, ok) } ?? ok
                    offset = ir.add(offset, ir.mul(idx, e.c(strides[j])))
                }
                ir.ifThen(valid) {
                    ir.forLoop(e.c(0), e.c(inner), "t") { t in
                        let dst = ir.add(offset, t)
                        let u = ir.loadTyped(a.ins[2], ir.add(ir.mul(n, e.c(inner)), t), dtype, width: 1)
                        let v = combine.map { ir.binary($0, ir.loadTyped(a.out, dst, dtype, width: 1), u) } ?? u
                        ir.storeTyped(v, a.out, dst, dtype)
                    }
                }
            }
        }
    }
}
