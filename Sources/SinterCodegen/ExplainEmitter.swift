import SinterIR

/// `NAME_explain` (`sinter compile --explain`): the gradient of each sample's chosen class score
/// with respect to the model's first input, from the explanation program
/// (`(inputs..., target [N,C]) -> (scores [N,C], gradient)`). The one-hot target rows and the
/// scores live in the workspace after the program's own arena.
extension ModuleEmitter {
    /// Where the target rows and the scores sit in the workspace, and the workspace it needs.
    var explainLayout: (target: Int, scores: Int, total: Int, rows: Int, classes: Int)? {
        guard let explain, let scores = explain.outputs.first?.shape, scores.count == 2 else { return nil }
        let bytes = (scores[0] * scores[1] * 4 + 63) / 64 * 64
        let target = (explain.workspaceSize + 63) / 64 * 64
        return (target, target + bytes, target + 2 * bytes, scores[0], scores[1])
    }

    func emitExplain(_ run: IRFunction) {
        guard let explain, let layout = explainLayout else { return }
        let memset = ir.externalFunction("memset", ir.functionType(ir.ptr, [ir.ptr, ir.i32, ir.i64]))
        let f = ir.function(
            "\(prefix)_explain", ir.functionType(ir.i32, [ir.ptr, ir.ptr, ir.ptr, ir.ptr, ir.ptr]), exported: true)
        ir.begin(f)
        let ctx = f.param(0), inputs = f.param(1), targets = f.param(2), attributions = f.param(3)
        ir.returnIf(ir.or(ir.isNull(ctx), ir.isNull(attributions)), status(.nullArgument))
        let modelInputs = explain.inputs.count - 1
        if modelInputs > 0 { ir.returnIf(ir.isNull(inputs), status(.nullArgument)) }
        let ws = ir.select(
            ir.isNull(f.param(4)), ir.load(ir.ptr, ir.structField(ctxType, ctx, 1), align: 8), f.param(4))
        ir.returnIf(ir.isNull(ws), status(.nullArgument))
        let mask = ir.gep(ir.i8, ws, ir.constI64(layout.target)), scores = ir.gep(ir.i8, ws, ir.constI64(layout.scores))
        let (n, c) = (layout.rows, layout.classes)
        ir.call(memset, [mask, ir.constI32(0), ir.constI64(n * c * 4)])
        let given = (0..<modelInputs).map { ir.load(ir.ptr, ir.gep(ir.ptr, inputs, ir.constI64($0)), align: 8) }
        let ins = pointerArray(given + [mask]), outs = pointerArray([scores, attributions])
        let one = ir.constF32(1)
        let chosen = ir.appendBlock("given"), pick = ir.appendBlock("argmax"), go = ir.appendBlock("explain")
        ir.condBr(ir.isNull(targets), pick, chosen)
        // Each sample's own class: a first run for the scores, then the highest per row.
        ir.position(at: pick)
        let first = ir.call(run, [ctx, ins, outs, f.param(4)])
        ir.returnIf(ir.icmp(.ne, first, status(.ok)), first)
        ir.forLoop(ir.constI64(0), ir.constI64(n), "row") { r in
            let row = ir.gep(ir.f32, scores, ir.mul(r, ir.constI64(c)))
            let best = ir.forLoop(
                ir.constI64(1), ir.constI64(c), carrying: [ir.constI64(0), ir.load(ir.f32, row)], "class"
            ) { k, acc in
                let v = ir.load(ir.f32, ir.gep(ir.f32, row, k))
                let better = ir.fcmp(.ogt, v, acc[1])
                return [ir.select(better, k, acc[0]), ir.select(better, v, acc[1])]
            }[0]
            ir.store(one, ir.gep(ir.f32, mask, ir.add(ir.mul(r, ir.constI64(c)), best)))
        }
        ir.br(go)
        // Given classes: each must be one of the C.
        ir.position(at: chosen)
        ir.forLoop(ir.constI64(0), ir.constI64(n), "row") { r in
            let t = ir.load(ir.i64, ir.gep(ir.i64, targets, r), align: 8)
            ir.returnIf(
                ir.or(ir.icmp(.slt, t, ir.constI64(0)), ir.icmp(.sge, t, ir.constI64(c))), status(.invalidArgument))
            ir.store(one, ir.gep(ir.f32, mask, ir.add(ir.mul(r, ir.constI64(c)), t)))
        }
        ir.br(go)
        ir.position(at: go)
        ir.ret(ir.call(run, [ctx, ins, outs, f.param(4)]))
    }
}
