import SinterIR

/// Data movement: strided copies (transpose, slice, tile, split, concat), gather and pad.
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
