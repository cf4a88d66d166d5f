import SinterIR

/// `matmul` (numpy semantics, batched with broadcast batch dims, `trans_a`/`trans_b`) as a
/// kernel unit. Operands are read through their layouts, so transposes folded into the op or
/// fused in front of it only change strides; B with strided columns is packed first. Anchors
/// fused groups: the epilogue runs on each result vector before it is stored.
struct MatmulUnit: KernelUnit {
    static let name = "matmul"

    /// f32 runs the packed GEMM; bf16 operands with an f32 result (`to = "f32"`) the bf16 GEMM
    /// (`Bf16GemmBody`); f64, f16 and bf16 (all operands one dtype) the plain typed loops
    /// (`typedGemm`), which exist for coverage, not speed.
    static func supports(operands: [DType], results: [DType]) -> Bool {
        guard let d = results.first, [.f32, .f64, .f16, .bf16].contains(d), let o = operands.first else { return false }
        return operands.allSatisfy { $0 == o } && (o == d || (d == .f32 && [.bf16, .f16].contains(o)))
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        func matrix(_ v: StridedView, _ flip: Bool) -> (rows: Int, cols: Int, layout: MatrixLayout) {
            let r = v.shape.count
            let batchStrides = Self.batchStrides(v.shape, v.strides, along: Array(c.outShape.dropLast(2)))
            var (rows, cols) = (v.shape[r - 2], v.shape[r - 1])
            var (rs, cs) = (v.strides[r - 2], v.strides[r - 1])
            if flip { (rows, cols, rs, cs) = (cols, rows, cs, rs) }
            return (rows, cols, MatrixLayout(offset: v.offset, batch: batchStrides, rowStride: rs, colStride: cs))
        }
        let ma = matrix(c.views[0], c.bool("trans_a")), mb = matrix(c.views[1], c.bool("trans_b"))
        let operands = c.operandTypes[0].dtype
        var body = Body(
            batch: Array(c.outShape.dropLast(2)), a: ma.layout, b: mb.layout, m: ma.rows, n: mb.cols, k: ma.cols,
            accumulating: Schedules.accumulator(for: operands), epilogue: c.epilogue,
            blocking: c.schedules.gemm(m: ma.rows, n: mb.cols, k: ma.cols), dtype: c.resultTypes[0].dtype)
        body.operands = operands
        guard operands == .bf16, body.dtype == .f32 else { return [body] }
        body.accumulating = .f32
        body.blocking = c.schedules.dotGemm(m: body.m, n: body.n, k: body.k, perWord: 2)
        return [Bf16GemmBody(shape: body, dot: c.schedules.bf16Dot)]
    }

    /// An operand's element strides along the result's `batch` dims (aligned from the right):
    /// its own stride where it has the dim, 0 where it lacks or broadcasts it. Shared by
    /// `matmul` (strides of its view) and `qmatmul` (contiguous strides).
    static func batchStrides(_ shape: [Int], _ strides: [Int], along batch: [Int]) -> [Int] {
        let lead = batch.count - (shape.count - 2)
        return batch.indices.map { i in i < lead || shape[i - lead] == 1 ? 0 : strides[i - lead] }
    }

    /// Epilogue operands are indexed like the result: batch dims, then row (M) and column (N).
    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? {
        Epilogue.Operand(
            dtype: dtype, batch: Array(strides.dropLast(2)), row: strides[strides.count - 2],
            col: strides[strides.count - 1])
    }

    /// Batched C[b] = A[b] · B[b] over the output's `batch` dims, reading A and B through their
    /// layouts with the register-tiled GEMM (`packedGemm`). B, by where it comes from:
    /// - a constant: packed at compile time into panels of `nr` columns (`prepacking`);
    /// - a run-time tensor with contiguous rows: read in place;
    /// - a run-time tensor with strided columns (a transposed operand): packed into panels in
    ///   the part's scratch first.
    struct Body: KernelUnitBody, Hashable {
        var batch: [Int]
        var a: MatrixLayout
        var b: MatrixLayout
        var m: Int
        var n: Int
        var k: Int
        var accumulating: DType
        var accumulator: DType? { accumulating }
        var multiplyAdds: Int? { checkedProduct(batch + [m, n, k]) }
        var epilogue: Epilogue?
        var blocking: GemmBlocking
        /// B is the packed constant: per batch entry, `panels` panels of k × nr floats.
        var packedB = false
        /// The result's dtype: f32 takes the packed GEMM, others `typedGemm`.
        var dtype: DType = .f32
        /// The operands' dtype: the result's, or bf16/f16 summed into an f32 result.
        var operands: DType = .f32

        /// The product as the GEMM core sees it (panels, how parts split): one definition.
        var problem: KernelEmitter.GemmProblem {
            KernelEmitter.GemmProblem(
                m: m, n: n, k: k, blocking: blocking, lda: a.rowStride, aStep: a.colStride, ldc: n)
        }
        var panels: Int { problem.panels }
        /// A run-time B is packed by each part, a k block of its panels at a time, when its
        /// columns are strided (a transposed operand) or when enough row tiles reuse each
        /// block (read in place, a block's rows are a row stride apart: with n a multiple of
        /// 1024 they all fall in one L1 set, and the 1024³ product ran at 0.65× numpy).
        var packsBAtRunTime: Bool { !packedB && (b.colStride != 1 || m >= 4 * blocking.mr) }
        /// Floats of scratch one part packs a B block into (a multiple of 16: parts stay
        /// 64-byte aligned).
        var runTimeBlockFloats: Int {
            (min(blocking.kc, k) * min(blocking.ncPanels, panels) * blocking.nr + 15) / 16 * 16
        }

        var description: String {
            "\(batch)×[\(m)×\(k)]·[\(k)×\(n)] in \(accumulating)"
                + ", \(blocking)\(packedB ? ", B packed" : packsBAtRunTime ? ", B packed at run time" : "")"
                + (epilogue.map { ", epilogue \($0.expr)" } ?? "")
        }

        func emit(_ e: KernelEmitter, _ x: KernelArguments) {
            guard dtype == .f32, operands == .f32 else {
                return e.typedGemm(self, x.out, x.ins[0], x.ins[1], Array(x.ins.dropFirst(2)))
            }
            e.packedGemm(
                self, x.out, x.ins[0], x.ins[1], Array(x.ins.dropFirst(2)), scratch: x.scratch, task: x.task,
                tasks: x.parts)
        }

        /// Split once the work pays for waking threads: into rectangles of whole row tiles and
        /// panels (`gemmPart`; never along k, so every thread count sums in the same order).
        /// When B or A is packed at run time each part packs it into its own scratch region,
        /// so those parts are capped.
        func schedule(_ kernel: inout Kernel, _ s: Schedules) {
            guard dtype == .f32, operands == .f32 else { return }
            let flops = (checkedProduct(batch + [m, n, k]) ?? .max)
            kernel.registerTile = [blocking.mr, blocking.nr]
            let partBytes = partScratchFloats * 4
            kernel.scratchBytes = KernelProgram.aligned(partBytes)
            guard flops >= s.splitFlops else { return }
            let units = problem.units
            kernel.tasks = s.parts(
                work: flops, grain: s.grainFlops, units: partBytes > 0 ? min(units, s.maxScratchParts) : units)
            if partBytes > 0 { kernel.scratchBytes = KernelProgram.aligned(kernel.tasks * partBytes) }
        }

        /// One part's scratch: a B block packed at run time, then A packed per block.
        var partScratchFloats: Int { (packsBAtRunTime ? runTimeBlockFloats : 0) + blocking.packedAFloats }

        /// B (operand 1) as panels of `nr` columns, zero-padded past n, each k rows of nr
        /// floats: the micro-kernel loads whole vectors of a panel row with no edge case.
        func prepacking(_ operand: Int, _ data: TensorData) -> (body: any KernelUnitBody, data: TensorData)? {
            guard operand == 1, !packedB, operands == .f32, data.dtype == .f32, let values = data.floats else {
                return nil
            }
            let nr = blocking.nr
            let broadcast = b.batch.allSatisfy { $0 == 0 }
            let entries = broadcast ? 1 : batch.reduce(1, *)
            let entrySize = panels * k * nr
            var packed = [Float](repeating: 0, count: entries * entrySize)
            let batchStrides = contiguousStrides(batch)
            for e in 0..<entries {
                var base = b.offset
                if !broadcast {
                    for d in batch.indices { base += (e / batchStrides[d]) % batch[d] * b.batch[d] }
                }
                for p in 0..<panels {
                    for kk in 0..<k {
                        let row = base + kk * b.rowStride
                        let dst = e * entrySize + (p * k + kk) * nr
                        for c in 0..<min(nr, n - p * nr) {
                            let at = row + (p * nr + c) * b.colStride
                            guard values.indices.contains(at) else { return nil }
                            packed[dst + c] = values[at]
                        }
                    }
                }
            }
            var body = self
            body.packedB = true
            body.b = MatrixLayout(
                offset: 0, batch: broadcast ? batch.map { _ in 0 } : batchStrides.map { $0 * entrySize },
                rowStride: nr, colStride: 1)
            return (body, TensorData(packed, shape: [packed.count]))
        }
    }
}
