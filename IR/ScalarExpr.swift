#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The meaning of an elementwise op, written once as a scalar expression over its operands.
/// Constant folding evaluates it here; codegen lowers the same tree to vector IR (with
/// Sinter's own polynomials for the transcendental primitives).
///
/// Types follow the operands: arithmetic happens in the operands' dtype (f16/bf16 in f32),
/// constants and attributes take the type of the expression they meet, comparisons give
/// bool, and `cast` converts to the node's result dtype.
public indirect enum ScalarExpr: Hashable, Sendable {
    case operand(Int)
    case constant(Double)
    /// A numeric attribute of the node (alpha, min, ...); lowering substitutes its value.
    case attribute(String)
    case unary(UnaryFn, ScalarExpr)
    case binary(BinaryFn, ScalarExpr, ScalarExpr)
    case compare(Comparison, ScalarExpr, ScalarExpr)
    case select(ScalarExpr, ScalarExpr, ScalarExpr)
    case cast(ScalarExpr)

    public enum UnaryFn: String, CaseIterable, Sendable {
        case neg, abs, exp, log, sqrt, tanh, erf, floor, ceil, round, not
        /// Bitwise complement of an integer.
        case bitNot = "bit-not"
        /// Trigonometric and hyperbolic functions: the C library's, lane by lane (see
        /// `libmName`), so their accuracy over the whole float range is libm's.
        case sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh

        /// The C library function that computes it (f64 name; f32 appends "f").
        public var libmName: String? {
            switch self {
            case .sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh, .atanh: rawValue
            default: nil
            }
        }
    }
    public enum BinaryFn: String, CaseIterable, Sendable {
        case add, sub, mul, div, max, min, and, or
        /// Remainders: `mod` takes the divisor's sign (Python's %, ONNX Mod fmod=0), `fmod` the
        /// dividend's (C fmod, ONNX Mod fmod=1). A zero integer divisor gives 0, never a trap.
        case mod, fmod
        /// Bitwise integer ops; shifts by the bit width or more (or by a negative amount) give 0,
        /// or -1 for a right shift of a negative value (the sign fills every bit).
        case bitAnd = "bit-and"
        case bitOr = "bit-or"
        case bitXor = "bit-xor"
        case shl, shr
    }
    public enum Comparison: String, CaseIterable, Sendable { case eq, lt, le, gt, ge }

    /// Rough cost of one evaluation, in adds: a transcendental (exp, log, tanh, erf) about 8,
    /// a square root or division 4, anything else 1. Schedules weigh elementwise work by it.
    public var cost: Int {
        switch self {
        case .operand, .constant, .attribute: 1
        case .unary(let f, let a):
            a.cost + (f.libmName != nil ? 24 : [.exp, .log, .tanh, .erf].contains(f) ? 8 : f == .sqrt ? 4 : 1)
        case .binary(let f, let a, let b): a.cost + b.cost + ([.div, .mod, .fmod].contains(f) ? 4 : 1)
        case .compare(_, let a, let b): a.cost + b.cost + 1
        case .select(let c, let a, let b): c.cost + a.cost + b.cost + 1
        case .cast(let a): a.cost + 1
        }
    }

    /// Evaluates with Double arithmetic (bool as 0/1); the caller rounds the result to the
    /// result dtype. max/min propagate NaN like numpy.maximum/minimum; integer division
    /// truncates when the caller converts.
    public func evaluate(_ operands: [Double], attribute: (String) -> Double = { _ in .nan }) -> Double {
        func ev(_ e: ScalarExpr) -> Double { e.evaluate(operands, attribute: attribute) }
        switch self {
        case .operand(let i): return operands[i]
        case .constant(let c): return c
        case .attribute(let name): return attribute(name)
        case .unary(let f, let a):
            let x = ev(a)
            switch f {
            case .neg: return -x
            case .abs: return Swift.abs(x)
            case .exp: return cExp(x)
            case .log: return cLog(x)
            case .sqrt: return x.squareRoot()
            case .tanh: return cTanh(x)
            case .erf: return cErf(x)
            case .floor: return x.rounded(.down)
            case .ceil: return x.rounded(.up)
            case .round: return x.rounded(.toNearestOrEven)
            case .not: return x == 0 ? 1 : 0
            case .bitNot: return Double(~toInt64(x))
            case .sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh, .atanh:
                return libm(f, x)
            }
        case .binary(let f, let a, let b):
            let x = ev(a), y = ev(b)
            switch f {
            case .add: return x + y
            case .sub: return x - y
            case .mul: return x * y
            case .div: return x / y
            case .max: return x.isNaN || y.isNaN ? .nan : Swift.max(x, y)
            case .min: return x.isNaN || y.isNaN ? .nan : Swift.min(x, y)
            case .and: return x != 0 && y != 0 ? 1 : 0
            case .or: return x != 0 || y != 0 ? 1 : 0
            // A zero divisor gives NaN here, which integer results convert to 0.
            case .fmod: return cFmod(x, y)
            case .mod:
                let r = cFmod(x, y)
                return r != 0 && (r < 0) != (y < 0) ? r + y : r
            case .bitAnd: return Double(toInt64(x) & toInt64(y))
            case .bitOr: return Double(toInt64(x) | toInt64(y))
            case .bitXor: return Double(toInt64(x) ^ toInt64(y))
            // The result dtype's width truncates when the caller converts.
            case .shl: return y >= 64 || y < 0 ? 0 : Double(toInt64(x) << toInt64(y))
            // Right shifts are arithmetic for negative values: too far fills with the sign.
            case .shr: return y >= 64 || y < 0 ? (x < 0 ? -1 : 0) : Double(toInt64(x) >> toInt64(y))
            }
        case .compare(let c, let a, let b):
            let x = ev(a), y = ev(b)
            let r: Bool =
                switch c {
                case .eq: x == y
                case .lt: x < y
                case .le: x <= y
                case .gt: x > y
                case .ge: x >= y
                }
            return r ? 1 : 0
        case .select(let c, let a, let b):
            return ev(c) != 0 ? ev(a) : ev(b)
        case .cast(let a):
            return ev(a)
        }
    }

    /// Number of operands the expression reads (highest index + 1).
    public var arity: Int {
        switch self {
        case .operand(let i): i + 1
        case .constant, .attribute: 0
        case .unary(_, let a), .cast(let a): a.arity
        case .binary(_, let a, let b), .compare(_, let a, let b): Swift.max(a.arity, b.arity)
        case .select(let c, let a, let b): Swift.max(c.arity, a.arity, b.arity)
        }
    }

    /// Attribute names the expression reads.
    public var attributes: Set<String> {
        switch self {
        case .operand, .constant: []
        case .attribute(let n): [n]
        case .unary(_, let a), .cast(let a): a.attributes
        case .binary(_, let a, let b), .compare(_, let a, let b): a.attributes.union(b.attributes)
        case .select(let c, let a, let b): c.attributes.union(a.attributes).union(b.attributes)
        }
    }

    /// Replaces attribute references by their values.
    public func substituting(_ value: (String) -> Double) -> ScalarExpr {
        switch self {
        case .operand, .constant: self
        case .attribute(let n): .constant(value(n))
        case .unary(let f, let a): .unary(f, a.substituting(value))
        case .cast(let a): .cast(a.substituting(value))
        case .binary(let f, let a, let b): .binary(f, a.substituting(value), b.substituting(value))
        case .compare(let c, let a, let b): .compare(c, a.substituting(value), b.substituting(value))
        case .select(let c, let a, let b): .select(c.substituting(value), a.substituting(value), b.substituting(value))
        }
    }
}

// Small constructors so that schema entries read like formulas.
extension ScalarExpr {
    static let x = ScalarExpr.operand(0)
    static let y = ScalarExpr.operand(1)
    static let z = ScalarExpr.operand(2)
    static func c(_ v: Double) -> ScalarExpr { .constant(v) }
    static func attr(_ n: String) -> ScalarExpr { .attribute(n) }
    static func + (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.add, a, b) }
    static func - (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.sub, a, b) }
    static func * (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.mul, a, b) }
    static func / (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.div, a, b) }
    static prefix func - (a: ScalarExpr) -> ScalarExpr { .unary(.neg, a) }
    static func exp(_ a: ScalarExpr) -> ScalarExpr { .unary(.exp, a) }
    static func log(_ a: ScalarExpr) -> ScalarExpr { .unary(.log, a) }
    static func sqrt(_ a: ScalarExpr) -> ScalarExpr { .unary(.sqrt, a) }
    static func tanh(_ a: ScalarExpr) -> ScalarExpr { .unary(.tanh, a) }
    static func erf(_ a: ScalarExpr) -> ScalarExpr { .unary(.erf, a) }
    static func abs(_ a: ScalarExpr) -> ScalarExpr { .unary(.abs, a) }
    static func floor(_ a: ScalarExpr) -> ScalarExpr { .unary(.floor, a) }
    static func max(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .binary(.max, a, b) }
    static func min(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .binary(.min, a, b) }
    static func lt(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .compare(.lt, a, b) }
    static func le(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .compare(.le, a, b) }
    static func gt(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .compare(.gt, a, b) }
    static func eq(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .compare(.eq, a, b) }
    static func and(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .binary(.and, a, b) }

    /// x^y with C pow semantics for negative bases (integer exponents keep the sign rule;
    /// others give NaN), 0^y, and x^0 = 1.
    static func pow(_ x: ScalarExpr, _ y: ScalarExpr) -> ScalarExpr {
        let r = exp(y * log(abs(x)))
        let isInt = eq(floor(y), y)
        let isOdd = and(isInt, not(eq(floor(y * c(0.5)) * c(2), y)))
        let negative = select(isInt, select(isOdd, -r, r), c(.nan))
        let zero = select(gt(y, c(0)), c(0), c(.infinity))
        return select(eq(y, c(0)), c(1), select(eq(x, c(0)), zero, select(lt(x, c(0)), negative, r)))
    }
    static func not(_ a: ScalarExpr) -> ScalarExpr { .unary(.not, a) }
}

// The C library's math under names the static formula helpers above do not shadow.
private func cExp(_ x: Double) -> Double { exp(x) }
private func cLog(_ x: Double) -> Double { log(x) }
private func cTanh(_ x: Double) -> Double { tanh(x) }
private func cErf(_ x: Double) -> Double { erf(x) }
/// Doubles to integers for bitwise evaluation: truncated, saturated, NaN as 0.
private func toInt64(_ v: Double) -> Int64 {
    guard v.isFinite else { return 0 }
    return v >= 9.2e18 ? .max : v <= -9.2e18 ? .min : Int64(v.rounded(.towardZero))
}
private func cFmod(_ x: Double, _ y: Double) -> Double { fmod(x, y) }
private func libm(_ f: ScalarExpr.UnaryFn, _ x: Double) -> Double {
    switch f {
    case .sin: sin(x)
    case .cos: cos(x)
    case .tan: tan(x)
    case .asin: asin(x)
    case .acos: acos(x)
    case .atan: atan(x)
    case .sinh: sinh(x)
    case .cosh: cosh(x)
    case .asinh: asinh(x)
    case .acosh: acosh(x)
    case .atanh: atanh(x)
    default: .nan
    }
}

extension ScalarExpr: CustomStringConvertible {
    /// The formula as text (`x`, `y`, `z` are the operands), for docs and dumps.
    public var description: String {
        switch self {
        case .operand(let i): return i < 3 ? ["x", "y", "z"][i] : "in\(i)"
        case .constant(let c): return c == c.rounded() && Swift.abs(c) < 1e15 ? String(Int(c)) : formatFloat(c)
        case .attribute(let n): return n
        case .unary(.neg, let a): return "-\(a)"
        case .unary(.not, let a): return "!\(a)"
        case .unary(.bitNot, let a): return "~\(a)"
        case .unary(let f, let a): return "\(f.rawValue)(\(a))"
        case .binary(let f, let a, let b):
            switch f {
            case .add: return "(\(a) + \(b))"
            case .sub: return "(\(a) - \(b))"
            case .mul: return "\(a) * \(b)"
            case .div: return "\(a) / \(b)"
            case .and: return "(\(a) && \(b))"
            case .or: return "(\(a) || \(b))"
            case .max, .min, .mod, .fmod: return "\(f.rawValue)(\(a), \(b))"
            case .bitAnd: return "(\(a) & \(b))"
            case .bitOr: return "(\(a) | \(b))"
            case .bitXor: return "(\(a) ^ \(b))"
            case .shl: return "(\(a) << \(b))"
            case .shr: return "(\(a) >> \(b))"
            }
        case .compare(let c, let a, let b):
            let sym =
                switch c {
                case .eq: "=="
                case .lt: "<"
                case .le: "<="
                case .gt: ">"
                case .ge: ">="
                }
            return "\(a) \(sym) \(b)"
        case .select(let c, let a, let b): return "(\(c) ? \(a) : \(b))"
        case .cast(let a): return "cast(\(a))"
        }
    }
}
