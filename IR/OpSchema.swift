/// Every op Sinter knows. The raw value is the mnemonic in `.sir` text.
public enum Op: String, CaseIterable, Sendable, Hashable {
    case constant
    case add, sub, mul, div, max, min
    case neg, abs, exp, log, sqrt, relu, sigmoid, tanh
    case matmul, reshape, transpose, softmax
    case reduceSum = "reduce-sum"
    case reduceMean = "reduce-mean"
    case reduceMax = "reduce-max"

    /// The op's one schema entry: everything the verifier, printer, parser, shape
    /// inference, folding, fusion and lowering know about it.
    public var schema: OpSchema { OpSchema.table[self]! }
}

/// TVM-style pattern classes, ordered from most to least fusable; fusion reads them.
public enum PatternClass: Int, Comparable, Sendable {
    case elementwise, broadcast, injective, reduction, outElementwiseFusable, opaque
    public static func < (a: PatternClass, b: PatternClass) -> Bool { a.rawValue < b.rawValue }
}

/// Properties rules ask about instead of listing ops.
public struct OpTraits: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let commutative = OpTraits(rawValue: 1 << 0)
    /// No side effects: CSE and DCE may merge or drop it.
    public static let pure = OpTraits(rawValue: 1 << 1)
    /// Result is a constant payload carried by the node.
    public static let payload = OpTraits(rawValue: 1 << 2)
    /// Pure data movement: result elements are operand elements.
    public static let movesData = OpTraits(rawValue: 1 << 3)
}

/// Which codegen family lowers the op. Codegen switches over this exhaustively.
public enum KernelFamily: Hashable, Sendable {
    case none                       // constants: no kernel, bytes are embedded
    case elementwise                // the schema's scalar expression, with broadcasting
    case matmul
    case copy                       // reshape: same bytes, new shape
    case transpose
    case softmax
    case reduce(ReduceKind)
}

public enum ReduceKind: String, Hashable, Sendable { case sum, mean, max }

/// Which element types an op accepts (all operands and the result share one dtype here).
public enum DTypeConstraint: Sendable {
    case any, numeric, float

    public func allows(_ d: DType) -> Bool {
        switch self {
        case .any: true
        case .numeric: d != .bool
        case .float: d.isFloat
        }
    }

    var phrase: String {
        switch self {
        case .any: "any type"
        case .numeric: "a numeric type"
        case .float: "a floating-point type"
        }
    }
}

public struct AttributeSpec: Sendable {
    public let name: String
    public let kind: AttributeKind
    /// Value used when the attribute is absent; nil means the shape rule picks (e.g. all axes).
    public let defaultValue: AttributeValue?
    public let required: Bool

    public init(_ name: String, _ kind: AttributeKind, default value: AttributeValue? = nil, required: Bool = false) {
        self.name = name
        self.kind = kind
        self.defaultValue = value
        self.required = required
    }
}

/// What a shape rule sees.
public struct ShapeQuery: Sendable {
    public let operands: [TensorType]
    public let attributes: Attributes
    public let payload: TensorData?

    public init(operands: [TensorType], attributes: Attributes, payload: TensorData?) {
        self.operands = operands
        self.attributes = attributes
        self.payload = payload
    }
}

/// The error a shape rule reports; the verifier adds the node's location.
public struct ShapeError: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

public typealias ShapeRule = @Sendable (ShapeQuery) throws(ShapeError) -> [TensorType]

/// One row of the op table.
public struct OpSchema: Sendable {
    public let op: Op
    /// Exact operand count (variadic ops are not in this slice).
    public let operandCount: Int
    public let resultCount: Int
    public let attributes: [AttributeSpec]
    public let dtypes: DTypeConstraint
    public let traits: OpTraits
    public let pattern: PatternClass
    /// Elementwise meaning; set exactly for ops whose kernel family is `.elementwise`.
    public let scalar: ScalarExpr?
    public let inferTypes: ShapeRule
    public let kernel: KernelFamily
    public let summary: String

    public func attributeSpec(_ name: String) -> AttributeSpec? { attributes.first { $0.name == name } }
}
