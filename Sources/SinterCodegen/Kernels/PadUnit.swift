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
            if let runs {
                return e.padRuns(self, runs, a.out, a.ins[0], width: a.vectorWidth, task: a.task, tasks: a.parts)
            }
            e.pad(inShape, outShape, padBegin, mode, value, dtype, a.out, a.ins[0])
        }

        /// An f32 constant pad (zero or not) as rows of runs: the dims after the last padded
        /// one are contiguous in both tensors, so each output row along that dim is a fill,
        /// one contiguous copy of the input row, and a fill, all in vectors (a blocked conv's
        /// explicit pad: [N, C/b, H, W, b] padded on H and W). Nil for other pads.
        var runs: (rows: [Int], dim: Int, inner: Int)? {
            // Every input element lands in the output: no negative pad at either end.
            guard mode == .constant, dtype == .f32, inShape.allSatisfy({ $0 > 0 }),
                inShape.indices.allSatisfy({ padBegin[$0] >= 0 && padBegin[$0] + inShape[$0] <= outShape[$0] }),
                let dim = inShape.indices.last(where: { inShape[$0] != outShape[$0] || padBegin[$0] != 0 })
            else { return nil }
            return (Array(outShape[..<dim]), dim, inShape[(dim + 1)...].reduce(1, *))
        }

        /// Split by output rows once the copy is large.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            guard let runs else { return }
            let rows = runs.rows.reduce(1, *)
            let bytes = checkedProduct(outShape) ?? .max
            if bytes >= s.splitReads { k.tasks = s.parts(work: bytes, grain: s.grainReads, units: rows) }
        }
    }
}

extension KernelEmitter {
    /// `PadUnit.Body.runs`: part `task` takes a range of output rows (every dim before the
    /// last padded one); a row whose index falls in the padding is all fill.
    func padRuns(
        _ body: PadUnit.Body, _ runs: (rows: [Int], dim: Int, inner: Int), _ out: IRValue, _ x: IRValue, width: Int,
        task: IRValue, tasks: IRValue
    ) {
        let (n, total) = (body.inShape[runs.dim], body.outShape[runs.dim])
        let begin = body.padBegin[runs.dim]
        let rowOut = total * runs.inner, rowIn = n * runs.inner
        let rows = runs.rows.reduce(1, *)
        let fill = Float(body.value)
        func fillRange(_ at: IRValue, _ count: Int) {
            strip(count, width, "pf") { i, w in storeF(ir.constF32(fill, width: w), out, ir.add(at, i)) }
        }
        let (r0, r1) = partRange(rows, task: task, tasks: tasks)
        ir.forLoop(r0, r1, "row") { r in
            // The row's input offset, and whether every outer index lies inside the input.
            var rest = r, inOff = c(0), inside = ir.constInt(ir.i1, 1), span = rowIn
            for d in stride(from: runs.dim - 1, through: 0, by: -1) {
                let o = ir.srem(rest, c(body.outShape[d]))
                rest = ir.sdiv(rest, c(body.outShape[d]))
                let i = ir.sub(o, c(body.padBegin[d]))
                inside = ir.and(inside, ir.and(ir.icmp(.sge, i, c(0)), ir.icmp(.slt, i, c(body.inShape[d]))))
                inOff = ir.add(inOff, ir.mul(i, c(span)))
                span *= body.inShape[d]
            }
            let outRow = ir.mul(r, c(rowOut))
            let copy = ir.appendBlock("pad.copy"), blank = ir.appendBlock("pad.blank"),
                after = ir.appendBlock("pad.end")
            ir.condBr(inside, copy, blank)
            ir.position(at: copy)
            fillRange(outRow, begin * runs.inner)
            let to = ir.add(outRow, c(begin * runs.inner))
            strip(rowIn, width, "pc") { i, w in storeF(loadF(x, ir.add(inOff, i), w), out, ir.add(to, i)) }
            fillRange(ir.add(to, c(rowIn)), (total - begin - n) * runs.inner)
            ir.br(after)
            ir.position(at: blank)
            fillRange(outRow, rowOut)
            ir.br(after)
            ir.position(at: after)
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
