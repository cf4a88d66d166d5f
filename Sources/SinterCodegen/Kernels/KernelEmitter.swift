import SinterIR

/// Emits one kernel of the kernel IR as an internal LLVM function `void k(ptr out, ptr in...)`.
/// The switch over `KernelBody` is exhaustive: a new kernel kind does not compile until it
/// has an emitter.
struct KernelEmitter {
    let ir: IRBuilder

    /// Kernels stay separate functions (`noinline`): one function per group, as reports,
    /// profiles and tests count them. Signature: `void k(out, in0, ..., [scratch])`.
    /// Split kernels take two more arguments, `(i64 task, i64 tasks)`, and compute their part.
    func emit(_ k: Kernel) -> IRFunction {
        let pointers = 1 + k.operands.count + (k.scratchBytes > 0 ? 1 : 0)
        let types = Array(repeating: ir.ptr, count: pointers) + (k.tasks > 1 ? [ir.i64, ir.i64] : [])
        let f = ir.function(k.name, ir.functionType(ir.void, types), exported: false, noinline: true)
        ir.begin(f)
        let out = f.param(0)
        let ins = (0..<k.operands.count).map { f.param($0 + 1) }
        let scratch = k.scratchBytes > 0 ? f.param(pointers - 1) : ir.nullPointer
        let task = k.tasks > 1 ? f.param(pointers) : c(0)
        // The number of parts is chosen at run time: k.tasks with a thread pool, 1 without.
        let parts = k.tasks > 1 ? f.param(pointers + 1) : c(1)
        let w = k.vectorWidth
        switch k.body {
        case .elementwise(let expr, let shape, let strides, let offsets, let types, let result):
            elementwise(expr, shape, strides, offsets, types, result, out, ins, w)
        case .matmul(let batch, let la, let lb, let m, let n, let kk, let epilogue):
            matmul(
                batch, la, lb, m, n, kk, out, ins[0], ins[1], w, epilogue, Array(ins.dropFirst(2)), scratch: scratch,
                task: task, tasks: parts)
        case .copy(let bytes):
            if bytes > 0 { ir.memcpy(out, ins[0], bytes: bytes) }
        case .stridedCopy(let c):
            stridedCopy(c, out, ins[0])
        case .concat(let parts):
            for (p, input) in zip(parts, ins) { stridedCopy(p, out, input) }
        case .gather(let outer, let axis, let indices, let inner, let bytes, let indexType):
            gather(outer, axis, indices, inner, bytes, indexType, out, ins[0], ins[1])
        case .unit(let u):
            u.body.emit(
                self,
                KernelArguments(out: out, ins: ins, scratch: scratch, task: task, parts: parts, vectorWidth: w))
        case .conv(let geo, let epilogue):
            conv(geo, out, ins[0], ins[1], scratch, w, epilogue, Array(ins.dropFirst(2)), task: task, tasks: parts)
        case .convBlocked(let geo, let epilogue):
            convBlocked(
                geo, out, ins[0], ins[1], epilogue, Array(ins.dropFirst(2)), tile: k.registerTile, task: task,
                tasks: parts)
        case .depthwiseBlocked(let geo, let epilogue):
            depthwiseBlocked(geo, out, ins[0], ins[1], epilogue, Array(ins.dropFirst(2)), task: task, tasks: parts)
        case .poolBlocked(let kind, let geo, let block):
            poolBlocked(kind, geo, block, out, ins[0], task: task, tasks: parts)
        case .pool(let kind, let geo):
            pool(kind, geo, out, ins[0])
        }
        ir.ret()
        return f
    }

    // MARK: helpers

    func c(_ v: Int) -> IRValue { ir.constI64(v) }
    func ceilDiv(_ a: IRValue, _ b: IRValue) -> IRValue { ir.sdiv(ir.sub(ir.add(a, b), c(1)), b) }
    func roundUp(_ a: IRValue, _ m: Int) -> IRValue { ir.mul(ceilDiv(a, c(m)), c(m)) }

    func loadF(_ base: IRValue, _ off: IRValue, _ w: Int) -> IRValue {
        ir.load(ir.vector(ir.f32, w), ir.gep(ir.f32, base, off))
    }

    func storeF(_ v: IRValue, _ base: IRValue, _ off: IRValue) {
        ir.store(v, ir.gep(ir.f32, base, off))
    }

    /// Nested loops over `shape` (all dims), carrying one linear offset per stride list.
    func nest(_ shape: [Int], _ strides: [[Int]], _ offsets: [IRValue], _ body: ([IRValue]) -> Void) {
        guard let n = shape.first else { return body(offsets) }
        ir.forLoop(c(0), c(n), "d\(shape.count)") { i in
            let next = zip(offsets, strides).map { off, s in s[0] == 0 ? off : ir.add(off, ir.mul(i, c(s[0]))) }
            nest(Array(shape.dropFirst()), strides.map { Array($0.dropFirst()) }, next, body)
        }
    }

    /// Runs `body(i, width)` over [0, n): vector steps of `w`, then a scalar tail.
    func strip(_ n: Int, _ w: Int, _ name: String = "j", _ body: (IRValue, Int) -> Void) {
        let main = w > 1 ? n - n % w : 0
        if main > 0 { ir.forLoop(c(0), c(main), step: w, name + "v") { body($0, w) } }
        if main < n { ir.forLoop(c(main), c(n), name + "s") { body($0, 1) } }
    }

    /// Same as `strip`, carrying accumulators of the matching width through each loop.
    func stripReduce(
        _ n: Int, _ w: Int, identity: Float, _ combine: (IRValue, IRValue) -> IRValue,
        _ load: (IRValue, Int) -> IRValue
    ) -> IRValue {
        let main = w > 1 ? n - n % w : 0
        var total = ir.constF32(identity)
        if main > 0 {
            let acc = ir.forLoop(c(0), c(main), step: w, carrying: [ir.constF32(identity, width: w)], "rv") { i, a in
                [combine(a[0], load(i, w))]
            }
            total = ir.horizontal(acc[0], combine)
        }
        if main < n {
            total = ir.forLoop(c(main), c(n), carrying: [total], "rs") { i, a in [combine(a[0], load(i, 1))] }[0]
        }
        return total
    }

    // MARK: elementwise

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

    // MARK: matmul

    /// C[i, j..j+4w) accumulates in four vector registers over k, so each A element is
    /// broadcast once per 4w columns; narrower column blocks and a scalar tail follow.
    /// The epilogue's operands for one gemm call: pointers, base offsets and strides.
    struct EpilogueArgs {
        var expr: ScalarExpr
        var types: [DType]
        var pointers: [IRValue]
        var bases: [IRValue]
        var rows: [Int]
        var cols: [Int]
    }

    func matmul(
        _ batch: [Int], _ la: MatrixLayout, _ lb: MatrixLayout, _ m: Int, _ n: Int, _ k: Int,
        _ out: IRValue, _ a: IRValue, _ b: IRValue, _ w: Int, _ epilogue: Epilogue?, _ extras: [IRValue],
        scratch: IRValue, task: IRValue, tasks: IRValue
    ) {
        // Part `task` of `tasks` computes a block of rows (a multiple of 4) in every batch.
        let rowsPer = roundUp(ceilDiv(c(m), tasks), 4)
        let rowBegin = ir.mul(task, rowsPer)
        let rowEnd = ir.select(ir.icmp(.slt, ir.add(rowBegin, rowsPer), c(m)), ir.add(rowBegin, rowsPer), c(m))
        let begin = ir.select(ir.icmp(.slt, rowBegin, c(m)), rowBegin, c(m))
        let cStr = contiguousStrides(batch).map { $0 * m * n }
        let extraStrides = epilogue?.operands.map(\.batch) ?? []
        // B with strided columns (trans_b, or a fused transpose) is packed row-major into this
        // part's own k × n region of the scratch, so the GEMM's vector loads stay contiguous.
        let packB = lb.colStride != 1
        let packed = packB ? ir.gep(ir.f32, scratch, ir.mul(task, c(Self.packedBFloats(n: n, k: k)))) : b
        nest(
            batch, [la.batch, lb.batch, cStr] + extraStrides,
            [c(la.offset), c(lb.offset), c(0)] + extraStrides.map { _ in c(0) }
        ) { offs in
            let args = epilogue.map { e in
                EpilogueArgs(
                    expr: e.expr, types: [.f32] + e.operands.map(\.dtype), pointers: extras,
                    bases: Array(offs.dropFirst(3)),
                    rows: e.operands.map(\.row), cols: e.operands.map(\.col))
            }
            if packB {
                ir.forLoop(c(0), c(n), "pj") { j in
                    let src = ir.add(offs[1], ir.mul(j, c(lb.colStride)))
                    ir.forLoop(c(0), c(k), "pk") { kk in
                        storeF(
                            loadF(b, ir.add(src, ir.mul(kk, c(lb.rowStride))), 1), packed, ir.add(ir.mul(kk, c(n)), j))
                    }
                }
            }
            var range = GemmRange(
                rowBegin: begin, rowEnd: rowEnd, colBegin: c(0), colEnd: c(n), ldb: c(packB ? n : lb.rowStride),
                ldc: c(n))
            range.lda = la.rowStride
            range.aStep = la.colStride
            gemm(a, offs[0], packed, packB ? c(0) : offs[1], out, offs[2], range, k, w, args)
        }
    }

    /// Floats of scratch one part of a matmul with strided B columns packs B into (a multiple
    /// of 16, so every part's region stays 64-byte aligned).
    static func packedBFloats(n: Int, k: Int) -> Int { (n * k + 15) / 16 * 16 }

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
                            var args = [Typed(value: value, domain: .float32)]
                            for x in e.pointers.indices {
                                let at = ir.add(
                                    ir.add(e.bases[x], ir.mul(rowIndex[r], c(e.rows[x]))), ir.mul(col, c(e.cols[x])))
                                if e.cols[x] == 0 {
                                    let s = ir.loadTyped(e.pointers[x], at, e.types[x + 1], width: 1)
                                    args.append(Typed(value: ir.splat(s.value, lanes), domain: s.domain))
                                } else {
                                    args.append(ir.loadTyped(e.pointers[x], at, e.types[x + 1], width: lanes))
                                }
                            }
                            value =
                                ir.lowerTyped(e.expr, args, e.types, result: .f32, want: .float32, width: lanes).value
                        }
                        storeF(value, out, ir.add(cRows[r], col))
                    }
                }
            }
            j0 = end
        }
    }
}
