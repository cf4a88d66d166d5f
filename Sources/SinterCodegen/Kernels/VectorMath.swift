import SinterIR

/// Sinter's own f32 transcendentals as vector IR (Cephes-style range reduction plus minimax
/// polynomials), so kernels stay vectorised and artifacts never call libm per element.
/// Measured accuracy against numpy float32 is asserted in the codegen tests.
extension IRBuilder {
    private func fma(_ a: IRValue, _ b: IRValue, _ c: IRValue) -> IRValue { intrinsic("llvm.fma", [a, b, c]) }

    /// Horner evaluation: ((c0·x + c1)·x + c2)...
    private func poly(_ x: IRValue, _ coeffs: [Float]) -> IRValue {
        let w = x.type.vectorWidth
        var acc = constF32(coeffs[0], width: w)
        for c in coeffs.dropFirst() { acc = fma(acc, x, constF32(c, width: w)) }
        return acc
    }

    private func intVector(_ w: Int) -> IRType { vector(i32, w) }

    /// e^x. Inputs are clamped to [-104, 89] (beyond which the result is 0 or inf anyway);
    /// 2^n is applied in two halves so that results in the subnormal range stay right.
    private func expandExp(_ x0: IRValue) -> IRValue {
        let w = x0.type.vectorWidth
        let lo = constF32(-104, width: w), hi = constF32(89, width: w)
        var x = select(fcmp(.olt, x0, lo), lo, x0)
        x = select(fcmp(.ogt, x, hi), hi, x)
        let fx = intrinsic("llvm.floor", [fma(x, constF32(1.44269504088896341, width: w), constF32(0.5, width: w))])
        var r = fma(fx, constF32(-0.693359375, width: w), x)
        r = fma(fx, constF32(2.12194440e-4, width: w), r)
        let p = poly(
            r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1])
        let y = fadd(fma(p, fmul(r, r), r), constF32(1, width: w))
        let n = fptosi(fx, intVector(w))
        let n1 = ashr(n, constI32(1, width: w))
        let n2 = sub(n, n1)
        let bias = constI32(127, width: w), shift = constI32(23, width: w)
        let s1 = bitcast(shl(add(n1, bias), shift), x.type)
        let s2 = bitcast(shl(add(n2, bias), shift), x.type)
        let result = fmul(fmul(y, s1), s2)
        return select(fcmp(.uno, x0, x0), x0, result)
    }

    /// Natural logarithm; log(0) = -inf, log(x<0) = NaN, log(inf) = inf, subnormals handled.
    private func expandLog(_ x0: IRValue) -> IRValue {
        let w = x0.type.vectorWidth
        let it = intVector(w)
        let tiny = fcmp(.olt, x0, constF32(Float.leastNormalMagnitude, width: w))
        let x = select(tiny, fmul(x0, constF32(8388608, width: w)), x0)  // · 2^23
        let bits = bitcast(x, it)
        var e = sub(and(lshr(bits, constI32(23, width: w)), constI32(0xFF, width: w)), constI32(126, width: w))
        e = select(tiny, sub(e, constI32(23, width: w)), e)
        var m = bitcast(or(and(bits, constI32(0x007F_FFFF, width: w)), constI32(0x3F00_0000, width: w)), x.type)
        var ef = sitofp(e, x.type)
        let small = fcmp(.olt, m, constF32(0.707106781186547524, width: w))
        ef = select(small, fsub(ef, constF32(1, width: w)), ef)
        m = select(small, fsub(fadd(m, m), constF32(1, width: w)), fsub(m, constF32(1, width: w)))
        let z = fmul(m, m)
        let p = poly(
            m,
            [
                7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
            ])
        var y = fmul(fmul(p, m), z)
        y = fma(ef, constF32(-2.12194440e-4, width: w), y)
        y = fma(z, constF32(-0.5, width: w), y)
        var r = fadd(m, y)
        r = fma(ef, constF32(0.693359375, width: w), r)
        // Special values, in order of precedence.
        r = select(fcmp(.oeq, x0, constF32(.infinity, width: w)), x0, r)
        r = select(fcmp(.oeq, x0, constF32(0, width: w)), constF32(-.infinity, width: w), r)
        r = select(fcmp(.olt, x0, constF32(0, width: w)), constF32(.nan, width: w), r)
        return select(fcmp(.uno, x0, x0), x0, r)
    }

    /// Hyperbolic tangent: odd polynomial for |x| < 0.625, else 1 − 2/(e^{2|x|} + 1).
    private func expandTanh(_ x: IRValue) -> IRValue {
        let w = x.type.vectorWidth
        let ax = intrinsic("llvm.fabs", [x])
        let z = fmul(x, x)
        let p = poly(z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1])
        let small = fma(fmul(p, z), x, x)
        let e = expandExp(fadd(ax, ax))
        let large = fsub(constF32(1, width: w), fdiv(constF32(2, width: w), fadd(e, constF32(1, width: w))))
        let signed = intrinsic("llvm.copysign", [large, x])
        return select(fcmp(.olt, ax, constF32(0.625, width: w)), small, signed)
    }

    /// erf(x) as x·P(x²)/Q(x²) on x clamped to [-4, 4] (a rational minimax fit; erf(±4)
    /// rounds to ±1 in f32).
    private func expandErf(_ x0: IRValue) -> IRValue {
        let w = x0.type.vectorWidth
        let lo = constF32(-4, width: w), hi = constF32(4, width: w)
        var x = select(fcmp(.olt, x0, lo), lo, x0)
        x = select(fcmp(.ogt, x, hi), hi, x)
        let x2 = fmul(x, x)
        let p = fmul(
            x,
            poly(
                x2,
                [
                    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
                    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02,
                ]))
        let q = poly(
            x2,
            [
                -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
                -1.42647390514189e-02,
            ])
        return select(fcmp(.uno, x0, x0), x0, fdiv(p, q))
    }

    /// e^x, elementwise on an f32 vector.
    func vexp(_ x: IRValue) -> IRValue { outlined("exp", x, expandExp) }
    /// Natural logarithm, elementwise.
    func vlog(_ x: IRValue) -> IRValue { outlined("log", x, expandLog) }
    /// tanh, elementwise.
    func vtanh(_ x: IRValue) -> IRValue { outlined("tanh", x, expandTanh) }
    /// erf, elementwise.
    func verf(_ x: IRValue) -> IRValue { outlined("erf", x, expandErf) }

    /// The expansion written in place, or, when `outlineMath` is set, a call to one internal
    /// function per function and vector width that holds it. Each expansion is 20–40
    /// instructions: in a module with thousands of distinct kernels, writing them out in
    /// every kernel is most of what LLVM compiles.
    private func outlined(_ name: String, _ x: IRValue, _ expand: (IRValue) -> IRValue) -> IRValue {
        guard outlineMath else { return expand(x) }
        let type = x.type
        let f = function(
            "sinter.\(name).f32x\(type.vectorWidth)", functionType(type, [type]), exported: false, noinline: true)
        if !f.isDefined {
            let here = insertBlock, current = currentFunction
            begin(f)
            ret(expand(f.param(0)))
            resume(current, at: here)
        }
        return call(f, [x])
    }

    /// Folds the lanes of a vector with `combine` (a tree, log2(width) steps).
    func horizontal(_ v: IRValue, _ combine: (IRValue, IRValue) -> IRValue) -> IRValue {
        var v = v
        var w = v.type.vectorWidth
        while w > 1 {
            w /= 2
            v = combine(slice(v, 0, w), slice(v, w, w))
        }
        return v
    }
}
