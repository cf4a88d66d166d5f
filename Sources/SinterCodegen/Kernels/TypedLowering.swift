import SinterIR

/// How elementwise code computes on a dtype: f16 and bf16 are widened to f32, bool is i1.
enum Domain: Hashable {
    case float32, float64, bool
    case int(bits: Int, signed: Bool)

    init(_ d: DType) {
        switch d {
        case .f32, .f16, .bf16: self = .float32
        case .f64: self = .float64
        case .bool: self = .bool
        case .i8: self = .int(bits: 8, signed: true)
        case .u8: self = .int(bits: 8, signed: false)
        case .u16: self = .int(bits: 16, signed: false)
        case .u32: self = .int(bits: 32, signed: false)
        case .u64: self = .int(bits: 64, signed: false)
        case .i16: self = .int(bits: 16, signed: true)
        case .i32: self = .int(bits: 32, signed: true)
        case .i64: self = .int(bits: 64, signed: true)
        }
    }

    var isFloat: Bool { self == .float32 || self == .float64 }
}

/// A value during elementwise lowering together with its domain.
struct Typed {
    var value: IRValue
    var domain: Domain
}

/// Lowers the schema's scalar expressions for any dtype, and loads/stores tensors of any
/// dtype, converting between storage and compute domains.
extension IRBuilder {
    func type(of d: Domain, width: Int) -> IRType {
        switch d {
        case .float32: vector(f32, width)
        case .float64: vector(f64, width)
        case .bool: vector(i1, width)
        case .int(let bits, _): vector(integer(bits: bits), width)
        }
    }

    func storageType(_ d: DType, width: Int) -> IRType {
        switch d {
        case .f32: vector(f32, width)
        case .f64: vector(f64, width)
        case .f16: vector(f16, width)
        case .bf16, .i16, .u16: vector(i16, width)
        case .i8, .u8, .bool: vector(i8, width)
        case .i32, .u32: vector(i32, width)
        case .i64, .u64: vector(i64, width)
        }
    }

    /// Loads `width` elements of dtype `d` at element `index` and widens them to the domain;
    /// with a `mask`, only its lanes are read (the others are 0).
    func loadTyped(_ base: IRValue, _ index: IRValue, _ d: DType, width: Int, mask: IRValue? = nil) -> Typed {
        let st = storageType(d, width: 1)
        let raw =
            if let mask {
                maskedLoad(storageType(d, width: width), gep(st, base, index), mask: mask, align: d.byteSize)
            } else {
                load(storageType(d, width: width), gep(st, base, index), align: d.byteSize)
            }
        switch d {
        case .f16: return Typed(value: fpext(raw, vector(f32, width)), domain: .float32)
        case .bf16:
            let bits = shl(zext(raw, vector(i32, width)), constInt(i32, 16, width: width))
            return Typed(value: bitcast(bits, vector(f32, width)), domain: .float32)
        case .bool: return Typed(value: icmp(.ne, raw, constInt(i8, 0, width: width)), domain: .bool)
        case .f32, .f64, .i8, .u8, .i16, .i32, .i64, .u16, .u32, .u64: return Typed(value: raw, domain: Domain(d))
        }
    }

    /// Narrows `v` to dtype `d` and stores it at element `index`.
    func storeTyped(_ v: Typed, _ base: IRValue, _ index: IRValue, _ d: DType) {
        store(narrowed(v, to: d), gep(storageType(d, width: 1), base, index), align: d.byteSize)
    }

    /// `v` converted to dtype `d` as `d` is stored: its storage type's bits.
    func narrowed(_ v: Typed, to d: DType) -> IRValue {
        let w = v.value.type.vectorWidth
        let c = convert(v, to: Domain(d))
        switch d {
        case .f16: return fptrunc(c.value, vector(f16, w))
        case .bf16:
            // Round to nearest even on the bits; NaN stays a quiet NaN.
            let bits = bitcast(c.value, vector(i32, w))
            let lsb = and(lshr(bits, constInt(i32, 16, width: w)), constInt(i32, 1, width: w))
            let rounded = lshr(add(add(bits, constInt(i32, 0x7FFF, width: w)), lsb), constInt(i32, 16, width: w))
            let nan = fcmp(.uno, c.value, c.value)
            return trunc(select(nan, constInt(i32, 0x7FC0, width: w), rounded), vector(i16, w))
        case .bool: return zext(c.value, vector(i8, w))
        case .f32, .f64, .i8, .u8, .i16, .i32, .i64, .u16, .u32, .u64: return c.value
        }
    }

    /// Converts between domains with C cast semantics (to bool is `!= 0`).
    func convert(_ v: Typed, to d: Domain) -> Typed {
        if v.domain == d { return v }
        let w = v.value.type.vectorWidth
        let t = type(of: d, width: w)
        let x = v.value
        switch (v.domain, d) {
        case (.float32, .float64): return Typed(value: fpext(x, t), domain: d)
        case (.float64, .float32): return Typed(value: fptrunc(x, t), domain: d)
        case (.float32, .bool), (.float64, .bool):
            return Typed(
                value: fcmp(.une, x, constReal(x.type.isVector ? scalarType(of: x.type) : x.type, 0, width: w)),
                domain: d)
        case (.int, .bool): return Typed(value: icmp(.ne, x, constInt(scalarType(of: x.type), 0, width: w)), domain: d)
        case (.bool, .float32), (.bool, .float64): return Typed(value: uitofp(x, t), domain: d)
        case (.bool, .int): return Typed(value: zext(x, t), domain: d)
        case (.float32, .int(_, let signed)), (.float64, .int(_, let signed)):
            return Typed(value: signed ? fptosi(x, t) : fptoui(x, t), domain: d)
        case (.int(_, let signed), .float32), (.int(_, let signed), .float64):
            return Typed(value: signed ? sitofp(x, t) : uitofp(x, t), domain: d)
        case (.int(let from, let signed), .int(let to, _)):
            if from == to { return Typed(value: x, domain: d) }
            return Typed(value: from > to ? trunc(x, t) : signed ? sext(x, t) : zext(x, t), domain: d)
        default:
            return Typed(value: x, domain: d)
        }
    }

    func constant(_ c: Double, _ d: Domain, width: Int) -> IRValue {
        switch d {
        case .float32: return constReal(f32, c, width: width)
        case .float64: return constReal(f64, c, width: width)
        case .bool: return constInt(i1, c != 0 ? 1 : 0, width: width)
        case .int(let bits, let signed):
            // Out-of-range values (such as clip's ±inf defaults) saturate to the type's range.
            let lo = signed ? -pow2(bits - 1) : 0.0, hi = signed ? pow2(bits - 1) - 1 : pow2(bits) - 1
            let v = c.isNaN ? 0 : Swift.min(Swift.max(c.rounded(.towardZero), lo), hi)
            let i: Int = v >= 9.2e18 ? Int.max : v <= -9.2e18 ? Int.min : Int(v)
            return constInt(integer(bits: bits), i, width: width)
        }
    }

    private func pow2(_ n: Int) -> Double { Double(sign: .plus, exponent: n, significand: 1) }

    /// The domain an expression computes in when its operands have `types` (nil: follows context).
    func domain(of e: ScalarExpr, _ types: [DType], result: DType) -> Domain? {
        switch e {
        case .operand(let i): Domain(types[i])
        case .constant, .attribute: nil
        case .unary(.not, _), .compare: .bool
        case .unary(_, let a): domain(of: a, types, result: result)
        case .binary(_, let a, let b): domain(of: a, types, result: result) ?? domain(of: b, types, result: result)
        case .select(_, let a, let b): domain(of: a, types, result: result) ?? domain(of: b, types, result: result)
        case .cast: Domain(result)
        }
    }

    /// Lowers `e` over already loaded operands; `want` types constants that have no other clue.
    func lowerTyped(_ e: ScalarExpr, _ ops: [Typed], _ types: [DType], result: DType, want: Domain, width w: Int)
        -> Typed
    {
        func sub(_ e: ScalarExpr, _ want: Domain) -> Typed {
            lowerTyped(e, ops, types, result: result, want: want, width: w)
        }
        switch e {
        case .operand(let i):
            return ops[i]
        case .constant(let c):
            return Typed(value: constant(c, want, width: w), domain: want)
        case .attribute:
            return Typed(value: constant(.nan, want, width: w), domain: want)  // substituted before lowering
        case .cast(let a):
            let inner = sub(a, domain(of: a, types, result: result) ?? want)
            return convert(inner, to: Domain(result))
        case .unary(let f, let a):
            let d = domain(of: a, types, result: result) ?? want
            let x = sub(a, d)
            return unary(f, x)
        case .binary(let f, let a, let b):
            let d = domain(of: e, types, result: result) ?? want
            let x = convert(sub(a, d), to: d), y = convert(sub(b, d), to: d)
            return binary(f, x, y)
        case .compare(let c, let a, let b):
            let d = domain(of: a, types, result: result) ?? domain(of: b, types, result: result) ?? .float32
            let x = convert(sub(a, d), to: d), y = convert(sub(b, d), to: d)
            return Typed(value: compareValues(c, x, y), domain: .bool)
        case .select(let c, let a, let b):
            let d = domain(of: e, types, result: result) ?? want
            let cond = convert(sub(c, .bool), to: .bool)
            let x = convert(sub(a, d), to: d), y = convert(sub(b, d), to: d)
            return Typed(value: select(cond.value, x.value, y.value), domain: d)
        }
    }

    func unary(_ f: ScalarExpr.UnaryFn, _ x: Typed) -> Typed {
        let w = x.value.type.vectorWidth
        switch x.domain {
        case .float32, .float64:
            let v = x.value
            let r: IRValue
            switch f {
            case .neg: r = fneg(v)
            case .abs: r = intrinsic("llvm.fabs", [v])
            case .sqrt: r = intrinsic("llvm.sqrt", [v])
            case .floor: r = intrinsic("llvm.floor", [v])
            case .ceil: r = intrinsic("llvm.ceil", [v])
            case .round: r = intrinsic("llvm.roundeven", [v])
            case .not: return Typed(value: not(convert(x, to: .bool).value), domain: .bool)
            case .bitNot: return unary(f, converting: x, to: .int(bits: 64, signed: true))
            case .sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh, .atanh:
                r = libmLanes(f, v)
            case .exp, .log, .tanh, .erf:
                // Sinter's polynomials are f32; f64 goes through them too (documented accuracy is f32's).
                let v32 = x.domain == .float64 ? fptrunc(v, vector(f32, w)) : v
                let r32: IRValue =
                    switch f {
                    case .exp: vexp(v32)
                    case .log: vlog(v32)
                    case .tanh: vtanh(v32)
                    default: verf(v32)
                    }
                r = x.domain == .float64 ? fpext(r32, vector(f64, w)) : r32
            }
            return Typed(value: r, domain: x.domain)
        case .int:
            switch f {
            case .neg: return Typed(value: sub(constant(0, x.domain, width: w), x.value), domain: x.domain)
            case .abs: return Typed(value: intrinsic("llvm.abs", [x.value, constInt(i1, 0)]), domain: x.domain)
            case .floor, .ceil, .round: return x
            case .not: return Typed(value: not(convert(x, to: .bool).value), domain: .bool)
            case .bitNot: return Typed(value: not(x.value), domain: x.domain)
            case .exp, .log, .tanh, .erf, .sqrt, .sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh,
                .atanh:
                return convert(unary(f, converting: x, to: .float64), to: x.domain)
            }
        case .bool:
            switch f {
            case .not, .bitNot: return Typed(value: not(x.value), domain: .bool)
            default: return unary(f, converting: x, to: .float32)
            }
        }
    }

    /// `f` computed in another domain (integers' transcendentals in f64, bools' in f32).
    func unary(_ f: ScalarExpr.UnaryFn, converting x: Typed, to d: Domain) -> Typed { unary(f, convert(x, to: d)) }

    func binary(_ f: ScalarExpr.BinaryFn, _ x: Typed, _ y: Typed) -> Typed {
        let a = x.value, b = y.value, d = x.domain
        let w = a.type.vectorWidth
        switch d {
        case .float32, .float64:
            let r: IRValue =
                switch f {
                case .add: fadd(a, b)
                case .sub: fsub(a, b)
                case .mul: fmul(a, b)
                case .div: fdiv(a, b)
                case .max: intrinsic("llvm.maximum", [a, b])
                case .min: intrinsic("llvm.minimum", [a, b])
                case .and: and(convert(x, to: .bool).value, convert(y, to: .bool).value)
                case .or: or(convert(x, to: .bool).value, convert(y, to: .bool).value)
                case .fmod: frem(a, b)
                case .mod:
                    // fmod, moved into the divisor's sign when the signs differ (Python's %).
                    { (r: IRValue) in
                        let zero = constant(0, d, width: w)
                        let differ = xor(fcmp(.olt, r, zero), fcmp(.olt, b, zero))
                        return select(and(fcmp(.une, r, zero), differ), fadd(r, b), r)
                    }(frem(a, b))
                case .bitAnd, .bitOr, .bitXor, .shl, .shr:
                    convert(
                        binary(
                            f, convert(x, to: .int(bits: 64, signed: true)),
                            convert(y, to: .int(bits: 64, signed: true))
                        ), to: d
                    ).value
                }
            return Typed(value: r, domain: f == .and || f == .or ? .bool : d)
        case .int(_, let signed):
            let zero = constant(0, d, width: w), one = constant(1, d, width: w)
            switch f {
            case .add: return Typed(value: add(a, b), domain: d)
            case .sub: return Typed(value: sub(a, b), domain: d)
            case .mul: return Typed(value: mul(a, b), domain: d)
            case .div:
                // No traps on user data: x / 0 = 0, and INT_MIN / -1 wraps.
                let isZero = icmp(.eq, b, zero)
                if signed {
                    let minusOne = icmp(.eq, b, constant(-1, d, width: w))
                    let safe = select(or(isZero, minusOne), one, b)
                    let q = select(minusOne, sub(zero, a), sdiv(a, safe))
                    return Typed(value: select(isZero, zero, q), domain: d)
                }
                return Typed(value: select(isZero, zero, udiv(a, select(isZero, one, b))), domain: d)
            case .max: return Typed(value: intrinsic(signed ? "llvm.smax" : "llvm.umax", [a, b]), domain: d)
            case .min: return Typed(value: intrinsic(signed ? "llvm.smin" : "llvm.umin", [a, b]), domain: d)
            case .and, .or:
                let p = convert(x, to: .bool).value, q = convert(y, to: .bool).value
                return Typed(value: f == .and ? and(p, q) : or(p, q), domain: .bool)
            case .mod, .fmod:
                // No traps: a zero divisor gives 0 (and INT_MIN % -1 is 0).
                let isZero = icmp(.eq, b, zero)
                let safe = select(isZero, one, b)
                let r = signed ? srem(a, safe) : urem(a, safe)
                var m = r
                if f == .mod && signed {
                    let differ = xor(icmp(.slt, r, zero), icmp(.slt, b, zero))
                    m = select(and(icmp(.ne, r, zero), differ), add(r, b), r)
                }
                return Typed(value: select(isZero, zero, m), domain: d)
            case .bitAnd: return Typed(value: and(a, b), domain: d)
            case .bitOr: return Typed(value: or(a, b), domain: d)
            case .bitXor: return Typed(value: xor(a, b), domain: d)
            case .shl, .shr:
                guard case .int(let bits, _) = d else { return x }
                // Shifts by the width or more (or negative amounts) give 0 instead of poison; a
                // signed right shift that far fills with the sign (-1 or 0).
                let tooFar = icmp(.uge, b, constant(Double(bits), d, width: w))
                if f == .shr && signed {
                    let clamped = select(tooFar, constant(Double(bits - 1), d, width: w), b)
                    return Typed(value: ashr(a, clamped), domain: d)
                }
                let shifted = f == .shl ? shl(a, b) : lshr(a, b)
                return Typed(value: select(tooFar, zero, shifted), domain: d)
            }
        case .bool:
            switch f {
            case .and: return Typed(value: and(a, b), domain: .bool)
            case .or: return Typed(value: or(a, b), domain: .bool)
            case .max: return Typed(value: or(a, b), domain: .bool)
            case .min, .mul: return Typed(value: and(a, b), domain: .bool)
            case .bitAnd: return Typed(value: and(a, b), domain: .bool)
            case .bitOr: return Typed(value: or(a, b), domain: .bool)
            case .bitXor: return Typed(value: xor(a, b), domain: .bool)
            case .add, .sub, .div, .mod, .fmod, .shl, .shr:
                return binary(
                    f, convert(x, to: .int(bits: 8, signed: false)), convert(y, to: .int(bits: 8, signed: false)))
            }
        }
    }

    /// The C library's `name`/`namef` on each lane: exact to libm's accuracy over the whole
    /// range, at the cost of one call per element.
    func libmLanes(_ f: ScalarExpr.UnaryFn, _ v: IRValue) -> IRValue {
        let scalar = scalarType(of: v.type)
        let single = scalar.isFloat32
        let fn = externalFunction((f.libmName ?? f.rawValue) + (single ? "f" : ""), functionType(scalar, [scalar]))
        let w = v.type.vectorWidth
        guard w > 1 else { return call(fn, [v]) }
        var r = v
        for i in 0..<w { r = replacingLane(r, i, call(fn, [slice(v, i, 1)])) }
        return r
    }

    func compareValues(_ c: ScalarExpr.Comparison, _ x: Typed, _ y: Typed) -> IRValue {
        switch x.domain {
        case .float32, .float64:
            let p: FloatPredicate =
                switch c {
                case .eq: .oeq
                case .lt: .olt
                case .le: .ole
                case .gt: .ogt
                case .ge: .oge
                }
            return fcmp(p, x.value, y.value)
        case .int(_, let signed):
            let p: IntPredicate =
                switch c {
                case .eq: .eq
                case .lt: signed ? .slt : .ult
                case .le: signed ? .sle : .ule
                case .gt: signed ? .sgt : .ugt
                case .ge: signed ? .sge : .uge
                }
            return icmp(p, x.value, y.value)
        case .bool:
            let p: IntPredicate =
                switch c {
                case .eq: .eq
                case .lt: .ult
                case .le: .ule
                case .gt: .ugt
                case .ge: .uge
                }
            return icmp(p, x.value, y.value)
        }
    }
}
