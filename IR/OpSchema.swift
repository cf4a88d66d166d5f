/// TVM-style pattern classes, ordered from most to least fusable; fusion reads them.
public enum PatternClass: Int, Comparable, Sendable {
    case elementwise, broadcast, injective, reduction, outElementwiseFusable, opaque
    public static func < (a: PatternClass, b: PatternClass) -> Bool { a.rawValue < b.rawValue }
}

/// Properties rules ask about instead of listing ops.
public struct OpTraits: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Operand order does not matter: CSE merges `add %a, %b` with `add %b, %a`.
    public static let commutative = OpTraits(rawValue: 1 << 0)
    /// No side effects: CSE and DCE may merge or drop it.
    public static let pure = OpTraits(rawValue: 1 << 1)
    /// Result is a constant payload carried by the node.
    public static let payload = OpTraits(rawValue: 1 << 2)
    /// Pure data movement: result elements are operand elements. Only such ops can be views
    /// (`StridedView.isView`) read in place by a fused kernel.
    public static let movesData = OpTraits(rawValue: 1 << 3)
    /// Reduces its operand over the axes in its `axes` attribute (`keepdims` keeps them as 1):
    /// lane-wise across the other axes, so `layout` runs it on blocked tensors unchanged.
    public static let reducesAxes = OpTraits(rawValue: 1 << 4)
}

/// Which codegen family lowers the op: none (constants), the schema's scalar expression
/// (elementwise ops, one codegen unit for all of them), or a named kernel unit — one codegen
/// file that owns the family's lowering, emission and schedule. Passes never switch over it:
/// what an op means to them is its traits, its pattern class and its shape rule.
public enum KernelFamily: Hashable, Sendable {
    case none  // constants: no kernel, bytes are embedded
    case elementwise  // the schema's scalar expression, with broadcasting
    /// A family implemented by one codegen unit file, registered by this name in the
    /// codegen's `KernelUnits`.
    case unit(String)
    /// Rewritten into other ops by the named pass before codegen (quantize and dequantize
    /// become arithmetic); codegen refuses the op and names the pass.
    case expanded(by: String)
}

/// Which element types an operand accepts.
public enum DTypeConstraint: Sendable {
    case any, numeric, float, bool, index, integer

    public func allows(_ d: DType) -> Bool {
        switch self {
        case .any: true
        case .numeric: d != .bool
        case .float: d.isFloat
        case .bool: d == .bool
        case .index: d == .i32 || d == .i64
        case .integer: d != .bool && !d.isFloat
        }
    }

    var phrase: String {
        switch self {
        case .any: "any type"
        case .numeric: "a numeric type"
        case .float: "a floating-point type"
        case .bool: "bool"
        case .index: "i32 or i64 indices"
        case .integer: "an integer type"
        }
    }
}

public struct AttributeSpec: Sendable {
    public let name: String
    public let kind: AttributeKind
    /// Value used when the attribute is absent; nil means `rankDefault` or the shape rule
    /// picks (e.g. all axes).
    public let defaultValue: AttributeValue?
    /// A default that depends on the first operand's rank (transpose's reversed axes).
    public let rankDefault: (@Sendable (Int) -> AttributeValue)?
    /// For enum attributes (string-valued), every value the op accepts; the verifier checks it.
    public let allowed: [String]?
    public let required: Bool

    public init(
        _ name: String, _ kind: AttributeKind, default value: AttributeValue? = nil, required: Bool = false,
        rankDefault: (@Sendable (Int) -> AttributeValue)? = nil, allowed: [String]? = nil
    ) {
        self.name = name
        self.kind = kind
        self.defaultValue = value
        self.required = required
        self.rankDefault = rankDefault
        self.allowed = allowed
    }
}

/// Transpose's permutation and pad's mode, read through the schema so their defaults and
/// spellings live in one place (the op table) instead of at every reader.
extension OpSchema {
    /// The attribute's value: written, else the schema's default, else its rank default.
    public func value(_ name: String, in attributes: Attributes, rank: Int) -> AttributeValue? {
        guard let spec = attributeSpec(name) else { return attributes[name] }
        return attributes[name] ?? spec.defaultValue ?? spec.rankDefault?(rank)
    }

    /// A transpose's permutation (reversed axes when `perm` is absent).
    public static func permutation(_ attributes: Attributes, rank: Int) -> [Int] {
        if case .ints(let p)? = Op.transpose.schema.value("perm", in: attributes, rank: rank) { return p }
        return Array((0..<rank).reversed())
    }
}

/// `pad`'s `mode` attribute, an enum attribute of the schema.
public enum PadMode: String, CaseIterable, Hashable, Sendable {
    case constant, reflect, edge, wrap

    /// The mode written in (or defaulted by the schema for) a pad node's attributes.
    public init?(_ attributes: Attributes) {
        guard case .string(let m)? = Op.pad.schema.value("mode", in: attributes, rank: 0) else { return nil }
        self.init(rawValue: m)
    }
}

/// An op's gradient rule: given the node and the gradients of its results, the gradients of its
/// operands (nil for operands that get none), built with the builder it is handed. The slot is
/// part of the schema now so that autodiff reads it from the same table as everything else.
public typealias GradientRule = @Sendable (Node, [ValueID], inout GraphBuilder) throws(SinterError) -> [ValueID?]

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
    /// Operand count; for variadic ops, the minimum.
    public let operandCount: Int
    public let variadic: Bool
    public let resultCount: Int
    public let attributes: [AttributeSpec]
    /// Accepted dtypes per operand position; the last entry covers any further operands.
    public let dtypes: [DTypeConstraint]
    public let traits: OpTraits
    public let pattern: PatternClass
    /// Elementwise meaning; set exactly for ops whose kernel family is `.elementwise`.
    public let scalar: ScalarExpr?
    public let inferTypes: ShapeRule
    public let kernel: KernelFamily
    public let summary: String

    /// Local rewrites that belong to the op, applied by `canonicalize` (IR/Canonicalization.swift).
    public var canonicalizations: [CanonicalizationPattern] { CanonicalPatterns.patterns(op) }
    /// Along which axes the op combines entries (IR/Coupling.swift); nil: not known, so the
    /// dynamic-batch check refuses a batch axis through it.
    public var couples: CouplingRule? = nil
    /// The op's vector-Jacobian product for autodiff (IR/Gradients.swift); nil: not differentiable.
    public var gradient: GradientRule? = nil
    /// The int8 op this op lowers to under post-training quantization; nil until the
    /// quantization work fills it.
    public var quantized: Op? = nil

    public func attributeSpec(_ name: String) -> AttributeSpec? { attributes.first { $0.name == name } }

    public func dtypeConstraint(forOperand i: Int) -> DTypeConstraint {
        dtypes.isEmpty ? .any : dtypes[Swift.min(i, dtypes.count - 1)]
    }

    public func acceptsOperandCount(_ n: Int) -> Bool { variadic ? n >= operandCount : n == operandCount }
}
