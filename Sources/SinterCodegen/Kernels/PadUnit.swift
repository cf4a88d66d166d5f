import SinterIR

/// `pad` as a kernel unit: every output element is the input element its index maps to
/// (constant, reflect, edge or wrap mode, `PadMode` from the schema) or the pad value.
/// Any dtype: elements are moved, never computed.
struct PadUnit: KernelUnit {
    static let name = "pad"

    static func supports(operands: [DType], results: [DType]) -> Bool { true }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let attributes = c.node.attributes
        guard let mode = PadMode(attributes) else {
            throw SinterError(
                "pad mode \(attributes["mode"].map { "\($0)" } ?? "") is not one of "
                    + PadMode.allCases.map(\.rawValue).joined(separator: ", "), at: c.node.location)
        }
        let rank = c.inShapes[0].count
        let value: Double = if case .float(let v)? = c.node.attribute("value") { v } else { 0 }
        return [
            Body(
                inShape: c.inShapes[0], outShape: c.outShape,
                padBegin: Array((attributes.ints("pads") ?? []).prefix(rank)),
                mode: mode, value: value, dtype: c.resultTypes[0].dtype)
        ]
    }

    struct Body: KernelUnitBody, Hashable {
        var inShape: [Int]
        var outShape: [Int]
        var padBegin: [Int]
        var mode: PadMode
        var value: Double
        var dtype: DType

        var description: String { "\(inShape) → \(outShape), begin \(padBegin), \(mode.rawValue) \(value)" }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.pad(inShape, outShape, padBegin, mode, value, dtype, a.out, a.ins[0])
        }
    }
}

extension KernelEmitter {
    func pad(
        _ inShape: [Int], _ outShape: [Int], _ begin: [Int], _ mode: PadMode, _ value: Double, _ dtype: DType,
        _ out: IRValue, _ x: IRValue
    ) {
        guard outShape.reduce(1, *) > 0 else { return }
        let empty = inShape.reduce(1, *) == 0
        let inStrides = contiguousStrides(inShape), outStrides = contiguousStrides(outShape)
        let domain = Domain(dtype)
        func level(_ d: Int, _ inOff: IRValue, _ outOff: IRValue, _ valid: IRValue) {
            if d == outShape.count {
                let fill = Typed(value: ir.constant(value, domain, width: 1), domain: domain)
                if empty {
                    ir.storeTyped(fill, out, outOff, dtype)
                    return
                }
                let v = ir.loadTyped(x, ir.select(valid, inOff, c(0)), dtype, width: 1)
                ir.storeTyped(Typed(value: ir.select(valid, v.value, fill.value), domain: domain), out, outOff, dtype)
                return
            }
            let n = inShape[d]
            ir.forLoop(c(0), c(outShape[d]), "p\(d)") { o in
                var i = ir.sub(o, c(begin[d]))
                var ok = valid
                switch mode {
                case .reflect where n > 1:
                    let period = c(2 * (n - 1))
                    var r = ir.srem(i, period)
                    r = ir.select(ir.icmp(.slt, r, c(0)), ir.add(r, period), r)
                    i = ir.select(ir.icmp(.sge, r, c(n)), ir.sub(period, r), r)
                case .wrap where n > 0:
                    let r = ir.srem(i, c(n))
                    i = ir.select(ir.icmp(.slt, r, c(0)), ir.add(r, c(n)), r)
                case .edge, .reflect, .wrap:
                    i = ir.select(ir.icmp(.slt, i, c(0)), c(0), i)
                    i = ir.select(ir.icmp(.sge, i, c(n)), c(max(n - 1, 0)), i)
                case .constant:
                    ok = ir.and(ok, ir.and(ir.icmp(.sge, i, c(0)), ir.icmp(.slt, i, c(n))))
                }
                level(d + 1, ir.add(inOff, ir.mul(i, c(inStrides[d]))), ir.add(outOff, ir.mul(o, c(outStrides[d]))), ok)
            }
        }
        level(0, c(0), c(0), ir.constInt(ir.i1, 1))
    }
}
