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
public indirect enum ScalarExpr: Hashable, Sendable {
    case operand(Int)
    case constant(Double)
    case unary(UnaryFn, ScalarExpr)
    case binary(BinaryFn, ScalarExpr, ScalarExpr)

    public enum UnaryFn: String, CaseIterable, Sendable { case neg, abs, exp, log, sqrt, tanh }
    public enum BinaryFn: String, CaseIterable, Sendable { case add, sub, mul, div, max, min }

    /// Evaluates in float32 arithmetic, matching what f32 kernels compute up to the accuracy
    /// of the vector polynomials. max/min propagate NaN like numpy.maximum/minimum.
    public func evaluate(_ operands: [Float]) -> Float {
        switch self {
        case .operand(let i): return operands[i]
        case .constant(let c): return Float(c)
        case .unary(let f, let a):
            let x = a.evaluate(operands)
            switch f {
            case .neg: return -x
            case .abs: return Swift.abs(x)
            case .exp: return expf(x)
            case .log: return logf(x)
            case .sqrt: return x.squareRoot()
            case .tanh: return tanhf(x)
            }
        case .binary(let f, let a, let b):
            let x = a.evaluate(operands), y = b.evaluate(operands)
            switch f {
            case .add: return x + y
            case .sub: return x - y
            case .mul: return x * y
            case .div: return x / y
            case .max: return x.isNaN || y.isNaN ? .nan : Swift.max(x, y)
            case .min: return x.isNaN || y.isNaN ? .nan : Swift.min(x, y)
            }
        }
    }

    /// Number of operands the expression reads (highest index + 1).
    public var arity: Int {
        switch self {
        case .operand(let i): i + 1
        case .constant: 0
        case .unary(_, let a): a.arity
        case .binary(_, let a, let b): Swift.max(a.arity, b.arity)
        }
    }
}

// Small constructors so that schema entries read like formulas.
extension ScalarExpr {
    static let x = ScalarExpr.operand(0)
    static let y = ScalarExpr.operand(1)
    static func c(_ v: Double) -> ScalarExpr { .constant(v) }
    static func + (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.add, a, b) }
    static func - (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.sub, a, b) }
    static func * (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.mul, a, b) }
    static func / (a: ScalarExpr, b: ScalarExpr) -> ScalarExpr { .binary(.div, a, b) }
    static prefix func - (a: ScalarExpr) -> ScalarExpr { .unary(.neg, a) }
    static func exp(_ a: ScalarExpr) -> ScalarExpr { .unary(.exp, a) }
    static func log(_ a: ScalarExpr) -> ScalarExpr { .unary(.log, a) }
    static func sqrt(_ a: ScalarExpr) -> ScalarExpr { .unary(.sqrt, a) }
    static func tanh(_ a: ScalarExpr) -> ScalarExpr { .unary(.tanh, a) }
    static func abs(_ a: ScalarExpr) -> ScalarExpr { .unary(.abs, a) }
    static func max(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .binary(.max, a, b) }
    static func min(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr { .binary(.min, a, b) }
}
