import SinterIR

/// Elementwise ops (the schema's scalar expression, with numpy broadcasting) and fused
/// elementwise chains (one composed expression) as a kernel unit. Any dtype: the expression
/// is lowered per element type (`TypedLowering`).
struct ElementwiseUnit: KernelUnit {
    static let name = "elementwise"

    static func supports(operands: [DType], results: [DType]) -> Bool { true }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        guard let expr = c.node.op.schema.scalar else {
            throw c.fail("internal: no scalar expression for '\(c.node.op.rawValue)'")
        }
        let resolved = expr.substituting { name in
            switch c.node.attribute(name) {
            case .float(let v)?: v
            case .int(let v)?: Double(v)
            default: .nan
            }
        }
        return [
            Body(expr: resolved, views: c.views, operandTypes: c.operandTypes.map(\.dtype), result: c.resultTypes[0])
        ]
    }

    /// out[i] = expr(in0[o0 + i·s0], in1[o1 + i·s1], ...) over `shape`; `strides[k]` are operand
    /// k's element strides per dimension (0 where it broadcasts, anything for a transposed or
    /// sliced view) and `offsets[k]` its first element. Attributes are already in `expr`.
    struct Body: KernelUnitBody, Hashable {
        var expr: ScalarExpr
        var shape: [Int]
        var strides: [[Int]]
        var offsets: [Int]
        var operandTypes: [DType]
        var resultType: DType

        /// Operands read through `views` (each broadcast to the result), dims merged.
        init(expr: ScalarExpr, views: [StridedView], operandTypes: [DType], result: TensorType) {
            let outShape = result.shape ?? []
            (shape, strides) = Lowering.collapse(outShape, views.map { $0.broadcast(to: outShape).strides })
            self.expr = expr
            offsets = views.map(\.offset)
            self.operandTypes = operandTypes
            resultType = result.dtype
        }

        var description: String { "\(expr) over \(shape), strides \(strides)" }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.elementwise(
                expr, shape, strides, offsets, operandTypes, resultType, a.out, a.ins, a.vectorWidth, task: a.task,
                tasks: a.parts)
        }

        /// Large kernels split by the outermost dimension (or by vectors of a single one),
        /// weighed by what one element costs: a transcendental about as much as 8 adds.
        func schedule(_ k: inout Kernel, _ s: Schedules) {
            let count = checkedProduct(shape) ?? .max
            let work = count.multipliedReportingOverflow(by: expr.cost).overflow ? Int.max : count * expr.cost
            guard work >= s.splitFlops else { return }
            let units = shape.count > 1 ? shape[0] : (count + k.vectorWidth - 1) / k.vectorWidth
            k.tasks = s.parts(work: work, grain: s.grainReads, units: units)
        }
    }
}

extension KernelEmitter {
    /// Operands whose innermost stride is not 0 or 1 (views through a fused transpose or a
    /// strided slice) are read one element at a time, so such kernels run scalar. Part `task`
    /// of `tasks` takes a range of the outermost dimension, or of vectors when there is one.
    func elementwise(
        _ expr: ScalarExpr, _ shape: [Int], _ strides: [[Int]], _ offsets: [Int], _ types: [DType], _ result: DType,
        _ out: IRValue, _ ins: [IRValue], _ w: Int, task: IRValue, tasks: IRValue
    ) {
        let outStrides = contiguousStrides(shape)
        let inner = shape[shape.count - 1]
        let want = Domain(result)
        let innerStrides = strides.map { $0[shape.count - 1] }
        let w = innerStrides.allSatisfy { $0 == 0 || $0 == 1 } ? w : 1
        /// The nest from dimension `first` on, from offsets `base`; the innermost row spans
        /// [lo, hi) (all of it unless the single dimension is split).
        func run(_ first: Int, _ base: [IRValue], _ lo: IRValue, _ hi: IRValue, whole: Bool) {
            let outer = Array(shape[first..<(shape.count - 1)])
            let allStrides = ([outStrides] + strides).map { Array($0[first..<($0.count - 1)]) }
            nest(outer, allStrides, base) { offs in
                let body = { (i: IRValue, width: Int) in
                    let args = ins.indices.map { k -> Typed in
                        if innerStrides[k] == 0 {
                            let s = ir.loadTyped(ins[k], offs[k + 1], types[k], width: 1)
                            return Typed(value: ir.splat(s.value, width), domain: s.domain)
                        }
                        let at = innerStrides[k] == 1 ? i : ir.mul(i, c(innerStrides[k]))
                        return ir.loadTyped(ins[k], ir.add(offs[k + 1], at), types[k], width: width)
                    }
                    let v = ir.lowerTyped(
                        expr, args, types, result: result, want: ir.domain(of: expr, types, result: result) ?? want,
                        width: width)
                    ir.storeTyped(v, out, ir.add(offs[0], i), result)
                }
                if whole {
                    strip(inner, w, "j", body)
                } else {
                    // [lo, hi) starts on a vector boundary; only the last part has a scalar tail,
                    // and none has one when the row is whole vectors (no dead loop to compile).
                    let vectorEnd = ir.add(lo, ir.mul(ir.sdiv(ir.sub(hi, lo), c(w)), c(w)))
                    if w > 1 && inner >= w { ir.forLoop(lo, vectorEnd, step: w, "jv") { body($0, w) } }
                    if w == 1 || inner % w != 0 { ir.forLoop(vectorEnd, hi, "js") { body($0, 1) } }
                }
            }
        }
        let base = [c(0)] + offsets.map(c)
        if shape.count > 1 {
            let (d0, d1) = partRange(shape[0], task: task, tasks: tasks)
            ir.forLoop(d0, d1, "d0") { i in
                let next = zip(base, [outStrides] + strides).map { off, st in
                    st[0] == 0 ? off : ir.add(off, ir.mul(i, c(st[0])))
                }
                run(1, next, c(0), c(inner), whole: true)
            }
        } else {
            let (v0, v1) = partRange((inner + w - 1) / w, task: task, tasks: tasks)
            run(0, base, ir.mul(v0, c(w)), smin(ir.mul(v1, c(w)), c(inner)), whole: false)
        }
    }
}
