import SinterIR

/// Emits one kernel of the kernel IR as an internal LLVM function `void k(ptr out, ptr in...)`:
/// the function's signature here, its body by the kernel's unit (`KernelUnitBody.emit`), with
/// the loop and vector helpers every unit shares.
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
        k.body.body.emit(
            self,
            KernelArguments(
                out: out, ins: ins, scratch: scratch, task: task, parts: parts, vectorWidth: k.vectorWidth,
                registerTile: k.registerTile))
        ir.ret()
        return f
    }

    // MARK: helpers

    func c(_ v: Int) -> IRValue { ir.constI64(v) }
    func ceilDiv(_ a: IRValue, _ b: IRValue) -> IRValue { ir.sdiv(ir.sub(ir.add(a, b), c(1)), b) }
    func roundUp(_ a: IRValue, _ m: Int) -> IRValue { ir.mul(ceilDiv(a, c(m)), c(m)) }

    /// `w` floats (f32, or `elem`) at element `off`, claiming the element's own alignment.
    func loadF(_ base: IRValue, _ off: IRValue, _ w: Int, elem: IRType? = nil) -> IRValue {
        let t = elem ?? ir.f32
        return ir.load(ir.vector(t, w), ir.gep(t, base, off), align: t.scalarBytes)
    }

    func storeF(_ v: IRValue, _ base: IRValue, _ off: IRValue, elem: IRType? = nil) {
        let t = elem ?? ir.f32
        ir.store(v, ir.gep(t, base, off), align: t.scalarBytes)
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
        _ n: Int, _ w: Int, identity: Float, elem: IRType? = nil, _ combine: (IRValue, IRValue) -> IRValue,
        _ load: (IRValue, Int) -> IRValue
    ) -> IRValue {
        let main = w > 1 ? n - n % w : 0
        let t = elem ?? ir.f32
        var total = ir.constReal(t, Double(identity))
        if main > 0 {
            let acc = ir.forLoop(c(0), c(main), step: w, carrying: [ir.constReal(t, Double(identity), width: w)], "rv")
            {
                i, a in
                [combine(a[0], load(i, w))]
            }
            total = ir.horizontal(acc[0], combine)
        }
        if main < n {
            total = ir.forLoop(c(main), c(n), carrying: [total], "rs") { i, a in [combine(a[0], load(i, 1))] }[0]
        }
        return total
    }
}
