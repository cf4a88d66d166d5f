import SinterIR

/// Data movement as a kernel unit: reshape and identity (a byte copy), transpose and slice
/// (one strided copy, read through a fused prologue's views when there is one), split (one
/// strided copy per result), concat (one per operand), tile, and gather. Any dtype: elements
/// are moved as bytes.
struct MovementUnit: KernelUnit {
    static let name = "movement"

    static func supports(operands: [DType], results: [DType]) -> Bool { true }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let bytes = c.resultTypes[0].dtype.byteSize
        let inShapes = c.inShapes, outShape = c.outShape
        switch c.node.op {
        case .identity, .reshape:
            return [Copy(bytes: outShape.reduce(1, *) * bytes)]
        case .transpose, .slice:
            // The same view definition the evaluator and prologue fusion use.
            guard let view = c.views[0].applying(c.node, result: outShape) else {
                throw c.fail("'\(c.node.op.rawValue)' has invalid attributes for its operand")
            }
            return [Strided(copy: strided(outShape, view.strides, view.offset, bytes))]
        case .split:
            let shape = inShapes[0]
            let axis = c.axis()
            let st = contiguousStrides(shape)
            var start = 0
            return c.resultTypes.map { t in
                let part = t.shape ?? []
                defer { start += part[axis] }
                return Strided(copy: strided(part, st, start * st[axis], bytes))
            }
        case .concat:
            let axis = ShapeRules.normalizedAxis(c.int("axis"), rank: outShape.count)
            let outStrides = contiguousStrides(outShape)
            var start = 0
            let parts = inShapes.map { s -> StridedCopy in
                defer { start += s[axis] }
                return StridedCopy(
                    shape: s, inStrides: contiguousStrides(s), inOffset: 0, outStrides: outStrides,
                    outOffset: start * outStrides[axis], elementBytes: bytes)
            }
            return [Concat(parts: parts)]
        case .tile:
            // out viewed as [r0, d0, r1, d1, ...] reads x at [0, s0, 0, s1, ...].
            let reps = c.node.attributes.ints("repeats") ?? []
            let st = contiguousStrides(inShapes[0])
            let shape = zip(reps, inShapes[0]).flatMap { [$0, $1] }
            return [Strided(copy: strided(shape, st.flatMap { [0, $0] }, 0, bytes))]
        case .gather:
            let shape = inShapes[0]
            let axis = c.axis()
            return [
                Gather(
                    outer: shape[..<axis].reduce(1, *), axis: shape[axis], indices: inShapes[1].reduce(1, *),
                    inner: shape[(axis + 1)...].reduce(1, *), elementBytes: bytes,
                    indexType: c.operandTypes[1].dtype)
            ]
        default:
            throw c.fail("internal: '\(c.node.op.rawValue)' is not a data-movement op")
        }
    }

    static func strided(_ shape: [Int], _ inStrides: [Int], _ inOffset: Int, _ bytes: Int) -> StridedCopy {
        StridedCopy(
            shape: shape, inStrides: inStrides, inOffset: inOffset, outStrides: contiguousStrides(shape), outOffset: 0,
            elementBytes: bytes)
    }

    /// Byte copy (reshape, or an output that is an input or a constant).
    struct Copy: KernelUnitBody, Hashable {
        var bytes: Int
        var description: String { "copy \(bytes) bytes" }
        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            if bytes > 0 { e.ir.memcpy(a.out, a.ins[0], bytes: bytes) }
        }
    }

    /// One strided copy from operand 0.
    struct Strided: KernelUnitBody, Hashable {
        var copy: StridedCopy
        var description: String { "strided copy \(copy.shape)" }
        func emit(_ e: KernelEmitter, _ a: KernelArguments) { e.stridedCopy(copy, a.out, a.ins[0]) }
        var hoistingOffsets: (body: any KernelUnitBody, operandBytes: [Int])? {
            guard copy.inOffset != 0 else { return nil }
            var moved = self
            moved.copy.inOffset = 0
            return (moved, [copy.inOffset * copy.elementBytes])
        }
    }

    /// One strided copy per operand into the same result.
    struct Concat: KernelUnitBody, Hashable {
        var parts: [StridedCopy]
        var description: String { "concat \(parts.map(\.shape))" }
        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            for (p, input) in zip(parts, a.ins) { e.stridedCopy(p, a.out, input) }
        }
    }

    /// out[o, j, i] = x[o, clamp(idx[j]), i] for a data tensor viewed as [outer, axis, inner].
    struct Gather: KernelUnitBody, Hashable {
        var outer: Int
        var axis: Int
        var indices: Int
        var inner: Int
        var elementBytes: Int
        var indexType: DType
        var description: String { "gather [\(outer), \(axis), \(inner)] by \(indices)" }
        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.gather(outer, axis, indices, inner, elementBytes, indexType, a.out, a.ins[0], a.ins[1])
        }
    }
}

extension KernelEmitter {
    func stridedCopy(_ copy: StridedCopy, _ out: IRValue, _ input: IRValue) {
        guard copy.shape.reduce(1, *) > 0 else { return }
        var (shape, strides) = Lowering.collapse(copy.shape, [copy.inStrides, copy.outStrides])
        // When the output row is strided but a short axis reads contiguously (unblocking a
        // channel block), walk that axis innermost instead.
        if let last = shape.indices.last, strides[0][last] != 1,
            let d = shape.indices.last(where: { strides[0][$0] == 1 && shape[$0] <= 16 })
        {
            for k in 0..<2 { strides[k].append(strides[k].remove(at: d)) }
            shape.append(shape.remove(at: d))
        }
        let bytes = copy.elementBytes
        let elem = ir.integer(bits: bytes * 8)
        let inner = shape.count - 1
        let contiguous = strides[0][inner] == 1 && strides[1][inner] == 1
        // A short strided innermost row (a channel block, a small axis) is written out as
        // straight-line loads and stores: left as a loop, LLVM's vectorizer turns it into
        // large gather code that costs seconds of compile time per kernel.
        let unrolled = !contiguous && shape[inner] <= 16
        let loopShape = contiguous || unrolled ? Array(shape.dropLast()) : shape
        let loopStrides = strides.map { contiguous || unrolled ? Array($0.dropLast()) : $0 }
        nest(loopShape, loopStrides, [c(copy.inOffset), c(copy.outOffset)]) { offs in
            if contiguous {
                ir.memcpy(ir.gep(elem, out, offs[1]), ir.gep(elem, input, offs[0]), bytes: shape[inner] * bytes)
            } else if unrolled {
                for k in 0..<shape[inner] {
                    let src = ir.gep(elem, input, ir.add(offs[0], c(k * strides[0][inner])))
                    ir.store(
                        ir.load(elem, src, align: bytes), ir.gep(elem, out, ir.add(offs[1], c(k * strides[1][inner]))),
                        align: bytes)
                }
            } else {
                ir.store(
                    ir.load(elem, ir.gep(elem, input, offs[0]), align: bytes), ir.gep(elem, out, offs[1]), align: bytes)
            }
        }
    }

    func gather(
        _ outer: Int, _ axis: Int, _ indices: Int, _ inner: Int, _ bytes: Int, _ indexType: DType,
        _ out: IRValue, _ x: IRValue, _ idx: IRValue
    ) {
        let rowBytes = inner * bytes
        guard outer * indices * rowBytes > 0 else { return }
        guard axis > 0 else { return }  // no valid index exists; the output is empty or left as is
        let it = indexType == .i64 ? ir.i64 : ir.i32
        ir.forLoop(c(0), c(outer), "o") { o in
            ir.forLoop(c(0), c(indices), "j") { j in
                var i = ir.load(it, ir.gep(it, idx, j), align: indexType.byteSize)
                if indexType != .i64 { i = ir.sext(i, ir.i64) }
                // Negative indices count from the end; anything still out of range is clamped.
                i = ir.select(ir.icmp(.slt, i, c(0)), ir.add(i, c(axis)), i)
                i = ir.select(ir.icmp(.slt, i, c(0)), c(0), i)
                i = ir.select(ir.icmp(.sge, i, c(axis)), c(axis - 1), i)
                let src = ir.mul(ir.add(ir.mul(o, c(axis)), i), c(rowBytes))
                let dst = ir.mul(ir.add(ir.mul(o, c(indices)), j), c(rowBytes))
                ir.memcpy(ir.gep(ir.i8, out, dst), ir.gep(ir.i8, x, src), bytes: rowBytes)
            }
        }
    }
}
