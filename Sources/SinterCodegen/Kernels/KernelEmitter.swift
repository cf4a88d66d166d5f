import SinterIR

/// Emits one kernel of the kernel IR as an internal LLVM function `void k(ptr out, ptr in...)`.
/// The switch over `KernelBody` is exhaustive: a new kernel kind does not compile until it
/// has an emitter.
struct KernelEmitter {
    let ir: IRBuilder

    /// Kernels stay separate functions (`noinline`): one function per group, as reports,
    /// profiles and tests count them.
    func emit(_ k: Kernel) -> IRFunction {
        let f = ir.function(k.name, ir.functionType(ir.void, Array(repeating: ir.ptr, count: 1 + k.operands.count)),
                            exported: false, noinline: true)
        ir.begin(f)
        let out = f.param(0)
        let ins = (0..<k.operands.count).map { f.param($0 + 1) }
        let w = k.vectorWidth
        switch k.body {
        case .elementwise(let expr, let shape, let strides):
            elementwise(expr, shape, strides, out, ins, w)
        case .matmul(let batch, let aStr, let bStr, let m, let n, let kk):
            matmul(batch, aStr, bStr, m, n, kk, out, ins[0], ins[1], w)
        case .copy(let bytes):
            if bytes > 0 { ir.memcpy(out, ins[0], bytes: bytes) }
        case .transpose(let shape, let inStrides, let elementBytes):
            transpose(shape, inStrides, elementBytes, out, ins[0])
        case .softmax(let outer, let axis, let inner):
            softmax(outer, axis, inner, out, ins[0], w)
        case .reduce(let kind, let shape, let reduced):
            reduce(kind, shape, reduced, out, ins[0], w)
        }
        ir.ret()
        return f
    }

    // MARK: helpers

    func c(_ v: Int) -> IRValue { ir.constI64(v) }

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
    func stripReduce(_ n: Int, _ w: Int, identity: Float, _ combine: (IRValue, IRValue) -> IRValue,
                     _ load: (IRValue, Int) -> IRValue) -> IRValue {
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

    func elementwise(_ expr: ScalarExpr, _ shape: [Int], _ strides: [[Int]], _ out: IRValue, _ ins: [IRValue], _ w: Int) {
        let outer = Array(shape.dropLast())
        let outStrides = contiguousStrides(shape)
        let allStrides = [Array(outStrides.dropLast())] + strides.map { Array($0.dropLast()) }
        let inner = shape[shape.count - 1]
        nest(outer, allStrides, Array(repeating: c(0), count: ins.count + 1)) { offs in
            strip(inner, w) { i, width in
                let args = ins.indices.map { k -> IRValue in
                    if strides[k][shape.count - 1] == 0 { return ir.splat(loadF(ins[k], offs[k + 1], 1), width) }
                    return loadF(ins[k], ir.add(offs[k + 1], i), width)
                }
                storeF(ir.lower(expr, args, width: width), out, ir.add(offs[0], i))
            }
        }
    }

    // MARK: matmul

    /// C[i, j..j+4w) accumulates in four vector registers over k, so each A element is
    /// broadcast once per 4w columns; narrower column blocks and a scalar tail follow.
    func matmul(_ batch: [Int], _ aStr: [Int], _ bStr: [Int], _ m: Int, _ n: Int, _ k: Int,
                _ out: IRValue, _ a: IRValue, _ b: IRValue, _ w: Int) {
        let cStr = contiguousStrides(batch).map { $0 * m * n }
        nest(batch, [aStr, bStr, cStr], [c(0), c(0), c(0)]) { offs in
            ir.forLoop(c(0), c(m), "i") { i in
                let aRow = ir.add(offs[0], ir.mul(i, c(k)))
                let cRow = ir.add(offs[2], ir.mul(i, c(n)))
                var j0 = 0
                for (cols, lanes) in [(4 * w, w), (w, w), (1, 1)] where cols <= n - j0 || cols == 1 {
                    let end = cols == 1 ? n : j0 + (n - j0) / cols * cols
                    if end <= j0 { continue }
                    let blocks = cols / lanes
                    ir.forLoop(c(j0), c(end), step: cols, "j\(cols)") { j in
                        let zero = ir.constF32(0, width: lanes)
                        let acc = ir.forLoop(c(0), c(k), carrying: Array(repeating: zero, count: blocks), "k") { kk, acc in
                            let av = ir.splat(loadF(a, ir.add(aRow, kk), 1), lanes)
                            let bRow = ir.add(offs[1], ir.mul(kk, c(n)))
                            return (0..<blocks).map { u in
                                let bv = loadF(b, ir.add(bRow, ir.add(j, c(u * lanes))), lanes)
                                return ir.intrinsic("llvm.fma", [av, bv, acc[u]])
                            }
                        }
                        for u in 0..<blocks { storeF(acc[u], out, ir.add(cRow, ir.add(j, c(u * lanes)))) }
                    }
                    j0 = end
                }
            }
        }
    }

    // MARK: data movement

    func transpose(_ shape: [Int], _ inStrides: [Int], _ elementBytes: Int, _ out: IRValue, _ input: IRValue) {
        let elem = ir.integer(bits: elementBytes * 8)
        let outStrides = contiguousStrides(shape)
        nest(shape, [outStrides, inStrides], [c(0), c(0)]) { offs in
            ir.store(ir.load(elem, ir.gep(elem, input, offs[1]), align: 1), ir.gep(elem, out, offs[0]), align: 1)
        }
    }

    // MARK: softmax

    func softmax(_ outer: Int, _ axis: Int, _ inner: Int, _ out: IRValue, _ x: IRValue, _ w: Int) {
        let maximum: (IRValue, IRValue) -> IRValue = { ir.intrinsic("llvm.maximum", [$0, $1]) }
        let plus: (IRValue, IRValue) -> IRValue = { ir.fadd($0, $1) }
        if inner == 1 {
            ir.forLoop(c(0), c(outer), "o") { o in
                let row = ir.mul(o, c(axis))
                let mx = stripReduce(axis, w, identity: -.infinity, maximum) { i, width in loadF(x, ir.add(row, i), width) }
                let sum = stripReduce(axis, w, identity: 0, plus) { i, width in
                    let e = ir.vexp(ir.fsub(loadF(x, ir.add(row, i), width), ir.splat(mx, width)))
                    storeF(e, out, ir.add(row, i))
                    return e
                }
                let inv = ir.fdiv(ir.constF32(1), sum)
                strip(axis, w) { i, width in
                    let p = ir.add(row, i)
                    storeF(ir.fmul(loadF(out, p, width), ir.splat(inv, width)), out, p)
                }
            }
            return
        }
        // Softmax over a middle axis: vectorise across the contiguous inner dimension.
        ir.forLoop(c(0), c(outer), "o") { o in
            let base = ir.mul(o, c(axis * inner))
            strip(inner, w) { j, width in
                let col = ir.add(base, j)
                let at = { (l: IRValue) in ir.add(col, ir.mul(l, c(inner))) }
                let mx = ir.forLoop(c(0), c(axis), carrying: [ir.constF32(-.infinity, width: width)], "l") { l, a in
                    [maximum(a[0], loadF(x, at(l), width))]
                }[0]
                let sum = ir.forLoop(c(0), c(axis), carrying: [ir.constF32(0, width: width)], "l") { l, a in
                    let e = ir.vexp(ir.fsub(loadF(x, at(l), width), mx))
                    storeF(e, out, at(l))
                    return [ir.fadd(a[0], e)]
                }[0]
                let inv = ir.fdiv(ir.constF32(1, width: width), sum)
                ir.forLoop(c(0), c(axis), "l") { l in storeF(ir.fmul(loadF(out, at(l), width), inv), out, at(l)) }
            }
        }
    }

    // MARK: reductions

    func reduce(_ kind: ReduceKind, _ shape: [Int], _ reduced: [Bool], _ out: IRValue, _ x: IRValue, _ w: Int) {
        let identity: Float = kind == .max ? -.infinity : 0
        let combine: (IRValue, IRValue) -> IRValue = kind == .max
            ? { ir.intrinsic("llvm.maximum", [$0, $1]) } : { ir.fadd($0, $1) }
        let outCount = zip(shape, reduced).filter { !$0.1 }.map(\.0).reduce(1, *)
        strip(outCount, w, "init") { i, width in storeF(ir.constF32(identity, width: width), out, i) }

        let inStrides = contiguousStrides(shape)
        let keptShape = zip(shape, reduced).map { $0.1 ? 1 : $0.0 }
        let keptStrides = contiguousStrides(keptShape)
        let outStrides = zip(keptStrides, reduced).map { $0.1 ? 0 : $0.0 }
        let last = shape.count - 1
        nest(Array(shape.dropLast()), [Array(inStrides.dropLast()), Array(outStrides.dropLast())], [c(0), c(0)]) { offs in
            if reduced[last] {
                let part = stripReduce(shape[last], w, identity: identity, combine) { i, width in
                    loadF(x, ir.add(offs[0], i), width)
                }
                let dst = ir.gep(ir.f32, out, offs[1])
                ir.store(combine(ir.load(ir.f32, dst), part), dst)
            } else {
                strip(shape[last], w) { i, width in
                    let o = ir.add(offs[1], i)
                    storeF(combine(loadF(out, o, width), loadF(x, ir.add(offs[0], i), width)), out, o)
                }
            }
        }
        if kind == .mean {
            let count = zip(shape, reduced).filter(\.1).map(\.0).reduce(1, *)
            let scale = ir.constF32(1 / Float(count))
            strip(outCount, w, "mean") { i, width in
                storeF(ir.fmul(loadF(out, i, width), ir.splat(scale, width)), out, i)
            }
        }
    }
}
