import SinterIR

/// The older 4-row GEMM, used by the im2col convolution only: C = A · B over a block of rows
/// and columns, with the fused epilogue applied before each store. Matmul and pointwise
/// convolutions use the register-tiled GEMM in PackedGemm.swift.
extension KernelEmitter {
    /// The epilogue's operands for one gemm call: pointers, base offsets and strides.
    struct EpilogueArgs {
        var expr: ScalarExpr
        var types: [DType]
        var pointers: [IRValue]
        var bases: [IRValue]
        var rows: [Int]
        var cols: [Int]
    }

    /// Which part of a GEMM one call computes: rows [rowBegin, rowEnd) and columns
    /// [colBegin, colEnd) of C, with B and C row strides `ldb` and `ldc` (elements). B's
    /// column index is relative to `colBegin` when `bRelative` (a per-task im2col buffer).
    struct GemmRange {
        var rowBegin: IRValue, rowEnd: IRValue, colBegin: IRValue, colEnd: IRValue
        var ldb: IRValue, ldc: IRValue
        var bRelative = false
        /// A's row stride and its stride along k, in elements (0: k, the contiguous row length).
        var lda = 0
        var aStep = 1
    }

    func gemm(
        _ a: IRValue, _ aOff: IRValue, _ b: IRValue, _ bOff: IRValue, _ out: IRValue, _ cOff: IRValue,
        _ m: Int, _ n: Int, _ k: Int, _ w: Int, _ epilogue: EpilogueArgs? = nil
    ) {
        gemm(
            a, aOff, b, bOff, out, cOff,
            GemmRange(rowBegin: c(0), rowEnd: c(m), colBegin: c(0), colEnd: c(n), ldb: c(n), ldc: c(n)),
            k, w, epilogue)
    }

    /// C = A · B over `range`, then the epilogue (if any) on each result before it is stored.
    /// Rows go in blocks of four, each accumulating a 4 × (4·w) tile in 16 vector registers
    /// over k: every B vector loaded is used by four broadcast A values. Narrower column
    /// blocks, leftover rows and a scalar tail follow.
    func gemm(
        _ a: IRValue, _ aOff: IRValue, _ b: IRValue, _ bOff: IRValue, _ out: IRValue, _ cOff: IRValue,
        _ range: GemmRange, _ k: Int, _ w: Int, _ epilogue: EpilogueArgs?
    ) {
        let mr = 4
        let count = ir.sub(range.rowEnd, range.rowBegin)
        let blockedEnd = ir.add(range.rowBegin, ir.mul(ir.sdiv(count, c(mr)), c(mr)))
        ir.forLoop(range.rowBegin, blockedEnd, step: mr, "ib") { i in
            gemmRows(a, aOff, b, bOff, out, cOff, i, rows: mr, range, k, w, epilogue)
        }
        ir.forLoop(blockedEnd, range.rowEnd, "i") { i in
            gemmRows(a, aOff, b, bOff, out, cOff, i, rows: 1, range, k, w, epilogue)
        }
    }

    /// `rows` consecutive rows of C starting at row `i`.
    private func gemmRows(
        _ a: IRValue, _ aOff: IRValue, _ b: IRValue, _ bOff: IRValue, _ out: IRValue, _ cOff: IRValue,
        _ i: IRValue, rows: Int, _ range: GemmRange, _ k: Int, _ w: Int, _ epilogue: EpilogueArgs?
    ) {
        let rowIndex = (0..<rows).map { ir.add(i, c($0)) }
        let aRows = rowIndex.map { ir.add(aOff, ir.mul($0, c(range.lda == 0 ? k : range.lda))) }
        let cRows = rowIndex.map { ir.add(cOff, ir.mul($0, range.ldc)) }
        var j0 = range.colBegin
        for (cols, lanes) in [(4 * w, w), (w, w), (1, 1)] {
            let end = cols == 1 ? range.colEnd : ir.add(j0, ir.mul(ir.sdiv(ir.sub(range.colEnd, j0), c(cols)), c(cols)))
            let blocks = cols / lanes
            ir.forLoop(j0, end, step: cols, "j\(cols)") { j in
                let zero = ir.constF32(0, width: lanes)
                let bj = range.bRelative ? ir.sub(j, range.colBegin) : j
                let acc = ir.forLoop(c(0), c(k), carrying: Array(repeating: zero, count: rows * blocks), "k") {
                    kk, acc in
                    let bRow = ir.add(bOff, ir.mul(kk, range.ldb))
                    let bv = (0..<blocks).map { u in loadF(b, ir.add(bRow, ir.add(bj, c(u * lanes))), lanes) }
                    var next = acc
                    for r in 0..<rows {
                        let av = ir.splat(
                            loadF(a, ir.add(aRows[r], range.aStep == 1 ? kk : ir.mul(kk, c(range.aStep))), 1), lanes)
                        for u in 0..<blocks {
                            next[r * blocks + u] = ir.intrinsic("llvm.fma", [av, bv[u], acc[r * blocks + u]])
                        }
                    }
                    return next
                }
                for r in 0..<rows {
                    for u in 0..<blocks {
                        let col = ir.add(j, c(u * lanes))
                        var value = acc[r * blocks + u]
                        if let e = epilogue {
                            value = applyEpilogue(e, value, row: rowIndex[r], col: col, width: lanes, mask: nil)
                        }
                        storeF(value, out, ir.add(cRows[r], col))
                    }
                }
            }
            j0 = end
        }
    }
}
