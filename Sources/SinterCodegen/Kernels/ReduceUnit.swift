import SinterIR

/// The reductions (`reduce-sum`, `-mean`, `-max`, `-min`, `-prod`, `-l2`) as a kernel unit:
/// the operand's dims are merged into runs of reduced and kept dims, and the kernel reduces
/// the flagged runs, vectorised along the innermost run.
struct ReduceUnit: KernelUnit {
    static let name = "reduce"

    enum Kind: String, Hashable, Sendable { case sum, mean, max, min, prod, l2 }

    /// f32 and f64 (partial results live in the output, so narrower floats would round them).
    static func supports(operands: [DType], results: [DType]) -> Bool {
        (operands + results).allSatisfy { $0 == .f32 } || (operands + results).allSatisfy { $0 == .f64 }
    }

    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody] {
        let kinds: [Op: Kind] = [
            .reduceSum: .sum, .reduceMean: .mean, .reduceMax: .max, .reduceMin: .min, .reduceProd: .prod,
            .reduceL2: .l2,
        ]
        guard let kind = kinds[c.node.op] else {
            throw SinterError("internal: '\(c.node.op.rawValue)' is not a reduction", at: c.node.location)
        }
        let shape = c.inShapes[0]
        let axes: [Int]
        do throws(ShapeError) {
            axes = try ShapeRules.normalizedAxes(c.node.attributes.ints("axes"), rank: shape.count)
        } catch {
            throw SinterError(error.message, at: c.node.location)
        }
        var dims: [Int] = []
        var flags: [Bool] = []
        for (i, d) in shape.enumerated() {
            let r = axes.contains(i)
            if let last = flags.last, last == r {
                dims[dims.count - 1] *= d
            } else {
                dims.append(d)
                flags.append(r)
            }
        }
        if dims.isEmpty { (dims, flags) = ([1], [false]) }
        return [Body(kind: kind, shape: dims, reduced: flags, dtype: c.operandTypes[0].dtype)]
    }

    struct Body: KernelUnitBody, Hashable {
        var kind: Kind
        var shape: [Int]
        var reduced: [Bool]
        var dtype: DType = .f32

        var description: String { "\(kind.rawValue) over \(shape), reduced \(reduced)\(dtype == .f32 ? "" : " f64")" }

        func emit(_ e: KernelEmitter, _ a: KernelArguments) {
            let f64 = dtype == .f64
            e.reduce(kind, shape, reduced, a.out, a.ins[0], f64 ? max(1, a.vectorWidth / 2) : a.vectorWidth, f64: f64)
        }
    }
}

extension KernelEmitter {
    func reduce(
        _ kind: ReduceUnit.Kind, _ shape: [Int], _ reduced: [Bool], _ out: IRValue, _ x: IRValue, _ w: Int,
        f64: Bool = false
    ) {
        let elem = f64 ? ir.f64 : ir.f32
        func loadF(_ base: IRValue, _ off: IRValue, _ w: Int) -> IRValue { self.loadF(base, off, w, elem: elem) }
        func storeF(_ v: IRValue, _ base: IRValue, _ off: IRValue) { self.storeF(v, base, off, elem: elem) }
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
        strip(outCount, w, "init") { i, width in storeF(ir.constReal(elem, Double(identity), width: width), out, i) }

        let inStrides = contiguousStrides(shape)
        let keptStrides = contiguousStrides(zip(shape, reduced).map { $0.1 ? 1 : $0.0 })
        let outStrides = zip(keptStrides, reduced).map { $0.1 ? 0 : $0.0 }
        let last = shape.count - 1
        nest(Array(shape.dropLast()), [Array(inStrides.dropLast()), Array(outStrides.dropLast())], [c(0), c(0)]) {
            offs in
            if reduced[last] {
                let part = stripReduce(shape[last], w, identity: identity, elem: elem, combine) { i, width in
                    load(ir.add(offs[0], i), width)
                }
                let dst = ir.gep(elem, out, offs[1])
                ir.store(combine(ir.load(elem, dst, align: f64 ? 8 : 4), part), dst, align: f64 ? 8 : 4)
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
            let scale = ir.constReal(elem, 1 / Double(count))
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
