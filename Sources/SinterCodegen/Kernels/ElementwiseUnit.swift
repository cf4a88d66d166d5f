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
            e.elementwise(expr, shape, strides, offsets, operandTypes, resultType, a.out, a.ins, a.vectorWidth)
        }
    }
}

extension KernelEmitter {
    /// Operands whose innermost stride is not 0 or 1 (views through a fused transpose or a
    /// strided slice) are read one element at a time, so such kernels run scalar.
    func elementwise(
        _ expr: ScalarExpr, _ shape: [Int], _ strides: [[Int]], _ offsets: [Int], _ types: [DType], _ result: DType,
        _ out: IRValue, _ ins: [IRValue], _ w: Int
    ) {
        let outer = Array(shape.dropLast())
        let outStrides = contiguousStrides(shape)
        let allStrides = [Array(outStrides.dropLast())] + strides.map { Array($0.dropLast()) }
        let inner = shape[shape.count - 1]
        let want = Domain(result)
        let innerStrides = strides.map { $0[shape.count - 1] }
        let w = innerStrides.allSatisfy { $0 == 0 || $0 == 1 } ? w : 1
        nest(outer, allStrides, [c(0)] + offsets.map(c)) { offs in
            strip(inner, w) { i, width in
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
        }
    }
}
