import SinterIR

/// The entry points a dynamic artifact adds or changes: `NAME_run(ctx, n, ...)` covering `n`
/// with the specialised runs (largest first, each on the next contiguous part of every input
/// and output that carries N), `NAME_workspace_size_for(n)` and the bounds.
extension ModuleEmitter {
    func emitDynamicRun(_ d: DynamicProgram, _ runs: [IRFunction]) {
        let outside = { (n: IRValue) -> IRValue in
            let low = ir.icmp(.slt, n, ir.constI64(d.minimum))
            guard let max = d.maximum else { return low }
            return ir.or(low, ir.icmp(.sgt, n, ir.constI64(max)))
        }
        for (name, value) in [("dynamic_min", d.minimum), ("dynamic_max", d.maximum ?? -1)] {
            let f = ir.function("\(prefix)_\(name)", ir.functionType(ir.i64, []), exported: true)
            ir.begin(f)
            ir.ret(ir.constI64(value))
        }

        let sizeFor = ir.function("\(prefix)_workspace_size_for", ir.functionType(ir.i64, [ir.i64]), exported: true)
        ir.begin(sizeFor)
        let m = sizeFor.param(0)
        ir.returnIf(outside(m), ir.constI64(-1))
        var bytes = ir.constI64(0)
        for v in d.variants {
            bytes = ir.select(ir.icmp(.sge, m, ir.constI64(v.size)), ir.constI64(d.workspaceSize(for: v.size)), bytes)
        }
        ir.ret(bytes)

        let f = ir.function(
            "\(prefix)_run", ir.functionType(ir.i32, [ir.ptr, ir.i64, ir.ptr, ir.ptr, ir.ptr]), exported: true)
        ir.begin(f)
        let ctx = f.param(0), n = f.param(1), inputs = f.param(2), outputs = f.param(3), ws = f.param(4)
        ir.returnIf(ir.isNull(ctx), ir.constI32(ABI.Status.nullArgument.rawValue))
        ir.returnIf(outside(n), ir.constI32(ABI.Status.invalidArgument.rawValue))
        if !d.inputs.isEmpty { ir.returnIf(ir.isNull(inputs), ir.constI32(ABI.Status.nullArgument.rawValue)) }
        ir.returnIf(ir.isNull(outputs), ir.constI32(ABI.Status.nullArgument.rawValue))
        let inArray = ir.alloca(ir.array(ir.ptr, max(d.inputs.count, 1)))
        let outArray = ir.alloca(ir.array(ir.ptr, max(d.outputs.count, 1)))
        // Base pointers and the bytes one entry of N takes in each tensor (0: does not carry N).
        func bases(_ array: IRValue, _ specs: [KernelProgram.TensorSpec], _ carries: [Bool]) -> [(IRValue, Int)] {
            specs.enumerated().map { i, s in
                let p = ir.load(ir.ptr, ir.gep(ir.ptr, array, ir.constI64(i)), align: 8)
                ir.returnIf(ir.isNull(p), ir.constI32(ABI.Status.nullArgument.rawValue))
                let row = s.shape.dropFirst().reduce(s.type.dtype.byteSize, *)
                return (p, carries[i] ? row : 0)
            }
        }
        let ins = bases(inputs, d.inputs, d.batched.inputs)
        let outs = bases(outputs, d.outputs, d.batched.outputs)
        var done = ir.constI64(0)
        for (v, run) in zip(d.variants, runs).reversed() {
            let count = ir.sdiv(ir.sub(n, done), ir.constI64(v.size))
            done =
                ir.forLoop(ir.constI64(0), count, carrying: [done], "part\(v.size)") { _, carried in
                    let first = carried[0]
                    for (array, list) in [(inArray, ins), (outArray, outs)] {
                        for (i, (base, row)) in list.enumerated() {
                            let p = row == 0 ? base : ir.gep(ir.i8, base, ir.mul(first, ir.constI64(row)))
                            ir.store(p, ir.gep(ir.ptr, array, ir.constI64(i)), align: 8)
                        }
                    }
                    let status = ir.call(run, [ctx, inArray, outArray, ws])
                    ir.returnIf(ir.icmp(.ne, status, ir.constI32(0)), status)
                    return [ir.add(first, ir.constI64(v.size))]
                }[0]
        }
        ir.ret(ir.constI32(ABI.Status.ok.rawValue))
    }
}
