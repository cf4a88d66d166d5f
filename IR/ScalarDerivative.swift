/// Symbolic derivatives of scalar expressions: the gradient of every elementwise op comes from
/// the same formula that defines its forward meaning, so adding an activation to the op table
/// gives it a gradient with no further code (micrograd's rule, applied to the schema).
extension ScalarExpr {
    /// Raised for parts of a formula that have no useful derivative (bitwise ops, remainders).
    public struct NotDifferentiable: Error, Sendable {
        public let what: String
    }

    /// ∂self/∂operand(i); nil when it is zero everywhere (constants, comparisons, rounding).
    /// Kinks take one side: max/min pass the gradient to the strictly larger (smaller)
    /// operand, so relu'(0) = 0 as in PyTorch and JAX.
    public func derivative(_ i: Int) throws(NotDifferentiable) -> ScalarExpr? {
        switch self {
        case .operand(let j): return j == i ? .c(1) : nil
        case .constant, .attribute, .compare: return nil
        case .cast(let a): return try a.derivative(i)
        case .select(let c, let a, let b):
            let da = try a.derivative(i), db = try b.derivative(i)
            if da == nil && db == nil { return nil }
            return .select(c, da ?? .c(0), db ?? .c(0))
        case .unary(let f, let a):
            guard let da = try a.derivative(i) else { return nil }
            let square = a * a
            let slope: ScalarExpr
            switch f {
            case .neg: return -da
            case .abs: return .select(.lt(a, .c(0)), -da, da)
            case .exp: slope = .exp(a)
            case .log: return da / a
            case .sqrt: return da / (.c(2) * .sqrt(a))
            case .tanh: slope = .c(1) - .tanh(a) * .tanh(a)
            case .erf: slope = .c(1.1283791670955126) * .exp(-square)
            case .floor, .ceil, .round: return nil
            case .not, .bitNot: throw NotDifferentiable(what: f.rawValue)
            case .sin: slope = .unary(.cos, a)
            case .cos: slope = -.unary(.sin, a)
            case .tan: slope = .c(1) + .unary(.tan, a) * .unary(.tan, a)
            case .asin: return da / .sqrt(.c(1) - square)
            case .acos: return -da / .sqrt(.c(1) - square)
            case .atan: return da / (.c(1) + square)
            case .sinh: slope = .unary(.cosh, a)
            case .cosh: slope = .unary(.sinh, a)
            case .asinh: return da / .sqrt(square + .c(1))
            case .acosh: return da / .sqrt(square - .c(1))
            case .atanh: return da / (.c(1) - square)
            }
            return Self.product(slope, da)
        case .binary(let f, let a, let b):
            let da = try a.derivative(i), db = try b.derivative(i)
            if da == nil && db == nil { return nil }
            switch f {
            case .add: return Self.sum(da, db)
            case .sub: return Self.sum(da, db.map { -$0 })
            case .mul: return Self.sum(da.map { Self.product($0, b) }, db.map { Self.product(a, $0) })
            case .div: return Self.sum(da.map { $0 / b }, db.map { -(Self.product(a, $0)) / (b * b) })
            case .max: return .select(.gt(a, b), da ?? .c(0), db ?? .c(0))
            case .min: return .select(.lt(a, b), da ?? .c(0), db ?? .c(0))
            case .and, .or: return nil
            case .mod, .fmod, .bitAnd, .bitOr, .bitXor, .shl, .shr: throw NotDifferentiable(what: f.rawValue)
            }
        }
    }

    /// a + b with absent (zero) terms dropped.
    static func sum(_ a: ScalarExpr?, _ b: ScalarExpr?) -> ScalarExpr? {
        guard let a else { return b }
        guard let b else { return a }
        return a + b
    }

    /// a · b without multiplying by a literal one.
    static func product(_ a: ScalarExpr, _ b: ScalarExpr) -> ScalarExpr {
        if a == .c(1) { return b }
        if b == .c(1) { return a }
        return a * b
    }

    /// The op that computes this node of a formula, for emitting derivatives as graph ops.
    var op: Op? {
        switch self {
        case .unary(let f, _): return Op(rawValue: f.rawValue)
        case .binary(let f, _, _): return Op(rawValue: f.rawValue)
        case .compare(let c, _, _):
            switch c {
            case .eq: return .equal
            case .lt: return .less
            case .le: return .lessEqual
            case .gt: return .greater
            case .ge: return .greaterEqual
            }
        case .select: return .where
        case .operand, .constant, .attribute, .cast: return nil
        }
    }
}

extension GraphBuilder {
    /// Builds `e` as graph ops: operand k is `operands[k]`, attributes take the node's values,
    /// literals are scalars of `dtype` that broadcast. Shared subformulas are built once.
    mutating func emit(
        _ e: ScalarExpr, operands: [ValueID], dtype: DType, attribute: (String) -> Double,
        memo: inout [ScalarExpr: ValueID]
    ) throws(SinterError) -> ValueID {
        if let v = memo[e] { return v }
        let v: ValueID
        switch e {
        case .operand(let k):
            guard k < operands.count else { throw SinterError("internal: formula reads operand \(k)") }
            v = operands[k]
        case .constant(let c): v = try scalar(c, dtype)
        case .attribute(let name): v = try scalar(attribute(name), dtype)
        case .cast: throw SinterError("internal: a derivative formula contains a cast")
        case .unary(_, let a):
            guard let op = e.op else { throw SinterError("internal: no op computes \(e)") }
            v = try unary(op, try emit(a, operands: operands, dtype: dtype, attribute: attribute, memo: &memo))
        case .binary(_, let a, let b), .compare(_, let a, let b):
            guard let op = e.op else { throw SinterError("internal: no op computes \(e)") }
            let x = try emit(a, operands: operands, dtype: dtype, attribute: attribute, memo: &memo)
            let y = try emit(b, operands: operands, dtype: dtype, attribute: attribute, memo: &memo)
            v = try binary(op, x, y)
        case .select(let c, let a, let b):
            let cv = try emit(c, operands: operands, dtype: dtype, attribute: attribute, memo: &memo)
            let x = try emit(a, operands: operands, dtype: dtype, attribute: attribute, memo: &memo)
            let y = try emit(b, operands: operands, dtype: dtype, attribute: attribute, memo: &memo)
            v = try apply(.where, [cv, x, y])[0]
        }
        memo[e] = v
        return v
    }

    /// A rank-0 constant that broadcasts against anything.
    public mutating func scalar(_ value: Double, _ dtype: DType) throws(SinterError) -> ValueID {
        try constant(TensorData(dtype: dtype, shape: [], values: [value]))
    }

    /// A tensor of `shape` filled with `value`: a scalar broadcast by `expand`, never a payload.
    public mutating func filled(_ value: Double, _ dtype: DType, shape: [Int]) throws(SinterError) -> ValueID {
        let s = try scalar(value, dtype)
        guard !shape.isEmpty else { return s }
        return try apply(.expand, [s], attributes: Attributes(["shape": .ints(shape)]))[0]
    }
}
