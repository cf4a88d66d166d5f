import SinterIR

/// Matmul for f64, f16 and bf16: per batch entry and output element, a dot product over k in
/// the dtype's compute domain (f64; f32 for the 16-bit floats), then the epilogue, then one
/// store (narrowing, unless the result is f32: `to = "f32"`). Plain loops, in k order: these
/// dtypes are here for coverage (Einsum, double-precision models, a bf16 matmul whose b is not
/// a constant); the packed GEMMs are f32 and bf16 with constant weights.
extension KernelEmitter {
    func typedGemm(_ body: MatmulUnit.Body, _ out: IRValue, _ a: IRValue, _ b: IRValue, _ extras: [IRValue]) {
        let (m, n, k, dtype, operands) = (body.m, body.n, body.k, body.dtype, body.operands)
        guard m > 0, n > 0, body.batch.allSatisfy({ $0 > 0 }) else { return }
        let domain = Domain(operands)
        forEachBatchEntry(body, extras) { offs, args in
            ir.forLoop(c(0), c(m), "ti") { i in
                let aRow = ir.add(offs[0], ir.mul(i, c(body.a.rowStride)))
                ir.forLoop(c(0), c(n), "tj") { j in
                    let bCol = ir.add(offs[1], ir.mul(j, c(body.b.colStride)))
                    let sum = ir.forLoop(c(0), c(k), carrying: [ir.constant(0, domain, width: 1)], "tk") { kk, acc in
                        let x = ir.loadTyped(a, ir.add(aRow, ir.mul(kk, c(body.a.colStride))), operands, width: 1)
                        let y = ir.loadTyped(b, ir.add(bCol, ir.mul(kk, c(body.b.rowStride))), operands, width: 1)
                        let product = ir.binary(.mul, x, y)
                        return [ir.binary(.add, Typed(value: acc[0], domain: domain), product).value]
                    }[0]
                    // The epilogue may end in a cast (`Epilogue.result`): the value is in its domain.
                    let stored = args?.result ?? dtype
                    let value =
                        args.map { applyEpilogue($0, sum, row: i, col: j, width: 1, mask: nil, dtype: stored) } ?? sum
                    ir.storeTyped(
                        Typed(value: value, domain: Domain(stored)), out, ir.add(offs[2], ir.add(ir.mul(i, c(n)), j)),
                        stored)
                }
            }
        }
    }
}
