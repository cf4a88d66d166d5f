import SinterIR

/// `layer-norm` as a kernel unit: each of `outer` rows of `inner` elements (the axes from
/// `axis` on) normalised, then scaled and shifted: one kernel, two vector passes per row.
struct LayerNormUnit: KernelUnit {
    static let name = "layer-norm"

    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands + results).allSatisfy { $0 == .f32 }
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let shape = c.inShapes[0]
        let axis = c.axis()
        let eps: Double = if case .float(let v)? = c.node.attribute("epsilon") { v } else { 1e-5 }
        return [Body(outer: shape[..<axis].reduce(1, *), inner: shape[axis...].reduce(1, *), epsilon: eps)]
    }

    struct Body: KernelUnitBody, Hashable {
        var outer: Int
        var inner: Int
        var epsilon: Double

        var description: String { "outer: \(outer), inner: \(inner), epsilon: \(epsilon)" }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            e.layerNorm(outer, inner, epsilon, a.out, a.ins[0], a.ins[1], a.ins[2], a.vectorWidth)
        }
    }
}

extension KernelEmitter {
    /// One kernel: per row, the mean and variance (two vector passes), then
    /// (x − mean) · 1/sqrt(var + eps) · scale + bias.
    func layerNorm(
        _ outer: Int, _ inner: Int, _ eps: Double, _ out: IRValue, _ x: IRValue, _ scale: IRValue, _ bias: IRValue,
        _ w: Int
    ) {
        guard outer * inner > 0 else { return }
        let plus: (IRValue, IRValue) -> IRValue = { ir.fadd($0, $1) }
        let invN = ir.constF32(1 / Float(inner))
        ir.forLoop(c(0), c(outer), "o") { o in
            let row = ir.mul(o, c(inner))
            let mean = ir.fmul(
                stripReduce(inner, w, identity: 0, plus) { i, width in loadF(x, ir.add(row, i), width) }, invN)
            let variance = ir.fmul(
                stripReduce(inner, w, identity: 0, plus) { i, width in
                    let d = ir.fsub(loadF(x, ir.add(row, i), width), ir.splat(mean, width))
                    return ir.fmul(d, d)
                }, invN)
            let inv = ir.fdiv(ir.constF32(1), ir.intrinsic("llvm.sqrt", [ir.fadd(variance, ir.constF32(Float(eps)))]))
            strip(inner, w) { i, width in
                let d = ir.fsub(loadF(x, ir.add(row, i), width), ir.splat(mean, width))
                let y = ir.intrinsic(
                    "llvm.fma", [ir.fmul(d, ir.splat(inv, width)), loadF(scale, i, width), loadF(bias, i, width)])
                storeF(y, out, ir.add(row, i))
            }
        }
    }
}
