import SinterIR

/// Reductions over any set of axes (f32).
extension KernelEmitter {
    func reduce(_ kind: ReduceKind, _ shape: [Int], _ reduced: [Bool], _ out: IRValue, _ x: IRValue, _ w: Int) {
        let identity: Float =
            switch kind {
            case .max: -.infinity
            case .min: .infinity
            case .prod: 1
            case .sum, .mean, .l2: 0
            }
        let combine: (IRValue, IRValue) -> IRValue =
            switch kind {
            case .max: { ir.intrinsic("llvm.maximum", [$0, $1]) }
            case .min: { ir.intrinsic("llvm.minimum", [$0, $1]) }
            case .prod: { ir.fmul($0, $1) }
            case .sum, .mean, .l2: { ir.fadd($0, $1) }
            }
        let load: (IRValue, Int) -> IRValue =
            kind == .l2
            ? { p, width in
                let v = loadF(x, p, width); return ir.fmul(v, v)
            } : { p, width in loadF(x, p, width) }
        let outCount = zip(shape, reduced).filter { !$0.1 }.map(\.0).reduce(1, *)
        strip(outCount, w, "init") { i, width in storeF(ir.constF32(identity, width: width), out, i) }

        let inStrides = contiguousStrides(shape)
        let keptStrides = contiguousStrides(zip(shape, reduced).map { $0.1 ? 1 : $0.0 })
        let outStrides = zip(keptStrides, reduced).map { $0.1 ? 0 : $0.0 }
        let last = shape.count - 1
        nest(Array(shape.dropLast()), [Array(inStrides.dropLast()), Array(outStrides.dropLast())], [c(0), c(0)]) {
            offs in
            if reduced[last] {
                let part = stripReduce(shape[last], w, identity: identity, combine) { i, width in
                    load(ir.add(offs[0], i), width)
                }
                let dst = ir.gep(ir.f32, out, offs[1])
                ir.store(combine(ir.load(ir.f32, dst), part), dst)
            } else {
                strip(shape[last], w) { i, width in
                    let o = ir.add(offs[1], i)
                    storeF(combine(loadF(out, o, width), load(ir.add(offs[0], i), width)), out, o)
                }
            }
        }
        switch kind {
        case .mean:
            let count = zip(shape, reduced).filter(\.1).map(\.0).reduce(1, *)
            let scale = ir.constF32(1 / Float(count))
            strip(outCount, w, "mean") { i, width in
                storeF(ir.fmul(loadF(out, i, width), ir.splat(scale, width)), out, i)
            }
        case .l2:
            strip(outCount, w, "sqrt") { i, width in storeF(ir.intrinsic("llvm.sqrt", [loadF(out, i, width)]), out, i) }
        case .sum, .max, .min, .prod:
            break
        }
    }
}
