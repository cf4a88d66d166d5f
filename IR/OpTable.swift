/// The op table: one entry per op, and the only place an op's meaning is written.
extension OpSchema {
    static let table: [Op: OpSchema] = Dictionary(uniqueKeysWithValues: Op.allCases.map { ($0, entry($0)) })

    // swiftlint:disable:next function_body_length
    private static func entry(_ op: Op) -> OpSchema {
        switch op {
        case .constant:
            return OpSchema(op: op, operandCount: 0, resultCount: 1, attributes: [], dtypes: .any,
                            traits: [.pure, .payload], pattern: .opaque, scalar: nil,
                            inferTypes: ShapeRules.payload, kernel: .none,
                            summary: "A tensor literal, inline (`dense<...>`) or from a .npy file.")
        case .add: return binary(op, .x + .y, [.commutative], "x + y")
        case .sub: return binary(op, .x - .y, [], "x - y")
        case .mul: return binary(op, .x * .y, [.commutative], "x * y")
        case .div: return binary(op, .x / .y, [], "x / y", dtypes: .float)
        case .max: return binary(op, .max(.x, .y), [.commutative], "maximum, NaN-propagating")
        case .min: return binary(op, .min(.x, .y), [.commutative], "minimum, NaN-propagating")
        case .neg: return unary(op, -.x, "-x", dtypes: .numeric)
        case .abs: return unary(op, .abs(.x), "|x|", dtypes: .numeric)
        case .exp: return unary(op, .exp(.x), "e^x")
        case .log: return unary(op, .log(.x), "natural logarithm")
        case .sqrt: return unary(op, .sqrt(.x), "square root")
        case .relu: return unary(op, .max(.x, .c(0)), "max(x, 0)", dtypes: .numeric)
        case .sigmoid: return unary(op, .c(1) / (.c(1) + .exp(-.x)), "1 / (1 + e^-x)")
        case .tanh: return unary(op, .tanh(.x), "hyperbolic tangent")
        case .matmul:
            return OpSchema(op: op, operandCount: 2, resultCount: 1, attributes: [], dtypes: .float,
                            traits: [.pure], pattern: .outElementwiseFusable, scalar: nil,
                            inferTypes: ShapeRules.matmul, kernel: .matmul,
                            summary: "numpy.matmul for rank >= 2 (batch dimensions broadcast).")
        case .reshape:
            return OpSchema(op: op, operandCount: 1, resultCount: 1,
                            attributes: [AttributeSpec("shape", .ints, required: true)], dtypes: .any,
                            traits: [.pure, .movesData], pattern: .injective, scalar: nil,
                            inferTypes: ShapeRules.reshape, kernel: .copy,
                            summary: "Same elements in row-major order, new shape; one -1 is inferred.")
        case .transpose:
            return OpSchema(op: op, operandCount: 1, resultCount: 1,
                            attributes: [AttributeSpec("perm", .ints)], dtypes: .any,
                            traits: [.pure, .movesData], pattern: .injective, scalar: nil,
                            inferTypes: ShapeRules.transpose, kernel: .transpose,
                            summary: "Permutes dimensions; result dim i is operand dim perm[i] (default: reversed).")
        case .softmax:
            return OpSchema(op: op, operandCount: 1, resultCount: 1,
                            attributes: [AttributeSpec("axis", .int, default: .int(-1))], dtypes: .float,
                            traits: [.pure], pattern: .opaque, scalar: nil,
                            inferTypes: ShapeRules.softmax, kernel: .softmax,
                            summary: "exp(x - max) / sum(exp(x - max)) along one axis.")
        case .reduceSum: return reduce(op, .sum, "sum over axes")
        case .reduceMean: return reduce(op, .mean, "mean over axes")
        case .reduceMax: return reduce(op, .max, "maximum over axes (NaN-propagating)")
        }
    }

    private static func binary(_ op: Op, _ e: ScalarExpr, _ traits: OpTraits, _ summary: String,
                               dtypes: DTypeConstraint = .numeric) -> OpSchema {
        OpSchema(op: op, operandCount: 2, resultCount: 1, attributes: [], dtypes: dtypes,
                 traits: traits.union(.pure), pattern: .broadcast, scalar: e,
                 inferTypes: ShapeRules.broadcast, kernel: .elementwise,
                 summary: summary + " (numpy broadcasting)")
    }

    private static func unary(_ op: Op, _ e: ScalarExpr, _ summary: String,
                              dtypes: DTypeConstraint = .float) -> OpSchema {
        OpSchema(op: op, operandCount: 1, resultCount: 1, attributes: [], dtypes: dtypes,
                 traits: [.pure], pattern: .elementwise, scalar: e,
                 inferTypes: ShapeRules.sameAsOperand, kernel: .elementwise, summary: summary)
    }

    private static func reduce(_ op: Op, _ kind: ReduceKind, _ summary: String) -> OpSchema {
        OpSchema(op: op, operandCount: 1, resultCount: 1,
                 attributes: [AttributeSpec("axes", .ints), AttributeSpec("keepdims", .bool, default: .bool(false))],
                 dtypes: .float, traits: [.pure], pattern: .reduction, scalar: nil,
                 inferTypes: ShapeRules.reduce, kernel: .reduce(kind),
                 summary: summary + "; no `axes` means all axes")
    }
}
