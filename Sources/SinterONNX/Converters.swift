import SinterIR

typealias Converter = @Sendable (ImportContext, ONNXNode) throws(SinterError) -> [ValueID?]

/// ONNX op type (default domain) → conversion into IR ops. The IR op table holds what ops
/// mean; this table only says how each ONNX op is spelled in them.
enum Converters {
    static let table: [String: Converter] = elementwise.merging(shapes) { a, _ in a }.merging(networks) { a, _ in a }
        .merging(composed) { a, _ in a }.merging(scatter) { a, _ in a }
        .merging(controlFlow) { a, _ in a }.merging(quantization) { a, _ in a }

    /// The converter for an op of a domain: the default one (`""` or `ai.onnx`), or the
    /// optimizers of `ai.onnx.preview.training`.
    static func converter(domain: String, opType: String) -> Converter? {
        switch domain {
        case "", "ai.onnx": table[opType]
        case previewTrainingDomain: training[opType]
        default: nil
        }
    }

    /// ONNX spellings of IR ops that the exporter's switch does not list (see
    /// `ONNXExporter.Spelling`): an op's import and export live side by side here.
    static let spellings: [Op: ONNXExporter.Spelling] = {
        typealias S = ONNXExporter.Spelling
        var table: [Op: S] = [
            .mod: S(opType: "Mod"),
            .fmod: S(opType: "Mod", attributes: { _ in [ONNXExporter.intAttr("fmod", 1)] }),
            .isNaN: S(opType: "IsNaN"),
            .isInf: S(opType: "IsInf") { node in
                ["detect_positive", "detect_negative"].map { ONNXExporter.intAttr($0, node.attributes.int($0) ?? 1) }
            },
            .bitAnd: S(opType: "BitwiseAnd"), .bitOr: S(opType: "BitwiseOr"), .bitXor: S(opType: "BitwiseXor"),
            .bitNot: S(opType: "BitwiseNot"), .xor: S(opType: "Xor"),
            .shiftLeft: S(opType: "BitShift", attributes: { _ in [ONNXExporter.string("direction", "LEFT")] }),
            .shiftRight: S(opType: "BitShift", attributes: { _ in [ONNXExporter.string("direction", "RIGHT")] }),
            .cumSum: S(
                opType: "CumSum",
                attributes: { node in
                    ["exclusive", "reverse"].map { ONNXExporter.intAttr($0, node.attributes.bool($0) == true ? 1 : 0) }
                }, int64Inputs: { node in [([node.attributes.int("axis") ?? 0], true)] }),
            .topK: S(
                opType: "TopK",
                attributes: { node in
                    [
                        ONNXExporter.intAttr("axis", node.attributes.int("axis") ?? -1),
                        ONNXExporter.intAttr("largest", node.attributes.bool("largest") == false ? 0 : 1),
                    ]
                }, int64Inputs: { node in [([node.attributes.int("k") ?? 0], false)] }),
            .scatterND: S(opType: "ScatterND") { node in
                let r = node.attributes["reduction"].flatMap { if case .string(let s) = $0 { s } else { nil } }
                return r.map { [ONNXExporter.string("reduction", $0)] } ?? []
            },
        ]
        for op in [Op.sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh, .atanh] {
            table[op] = S(opType: op.rawValue.prefix(1).uppercased() + op.rawValue.dropFirst())
        }
        return table
    }()

    /// Names of the outputs, with a stand-in for absent ones.
    static func out(_ n: ONNXNode, _ i: Int = 0) -> String { n.output(i) ?? "\(n.name):\(i)" }

    static func attrs(_ d: [String: AttributeValue]) -> Attributes { Attributes(d) }

    static func unary(_ op: Op) -> Converter {
        { ctx, n throws(SinterError) in [try ctx.emit(op, [try ctx.input(n, 0)], name: out(n), at: n)] }
    }

    static func binary(_ op: Op) -> Converter {
        { ctx, n throws(SinterError) in
            [try ctx.emit(op, [try ctx.input(n, 0), try ctx.input(n, 1)], name: out(n), at: n)]
        }
    }

    /// Sum/Max/Min/Mean with any number of inputs (numpy broadcasting between all).
    static func variadic(_ op: Op, mean: Bool = false) -> Converter {
        { ctx, n throws(SinterError) in
            var acc = try ctx.input(n, 0)
            let count = n.inputCount
            for i in 1..<max(count, 1) {
                acc = try ctx.emit(
                    op, [acc, try ctx.input(n, i)], name: count == i + 1 && !mean ? out(n) : "\(out(n)).acc\(i)", at: n)
            }
            if mean {
                let k = try ctx.scalar(Double(count), ctx.type(acc).dtype, name: "\(out(n)).count")
                acc = try ctx.emit(.div, [acc, k], name: out(n), at: n)
            } else if count == 1 {
                acc = try ctx.emit(.identity, [acc], name: out(n), at: n)
            }
            return [acc]
        }
    }

    static func withAttributes(_ op: Op, _ map: @escaping @Sendable (ONNXNode) -> [String: AttributeValue]) -> Converter
    {
        { ctx, n throws(SinterError) in [try ctx.emit(op, [try ctx.input(n, 0)], attrs(map(n)), name: out(n), at: n)] }
    }

    static let elementwise: [String: Converter] = [
        "Add": binary(.add), "Sub": binary(.sub), "Mul": binary(.mul), "Div": binary(.div), "Pow": pow,
        "PRelu": prelu, "And": binary(.and), "Or": binary(.or),
        "Equal": binary(.equal), "Less": binary(.less), "Greater": binary(.greater),
        "LessOrEqual": binary(.lessEqual), "GreaterOrEqual": binary(.greaterEqual),
        "Neg": unary(.neg), "Abs": unary(.abs), "Sqrt": unary(.sqrt), "Reciprocal": unary(.reciprocal),
        "Exp": unary(.exp),
        "Log": unary(.log), "Erf": unary(.erf), "Floor": unary(.floor), "Ceil": unary(.ceil), "Round": unary(.round),
        "Sign": unary(.sign), "Relu": unary(.relu), "Sigmoid": unary(.sigmoid), "Tanh": unary(.tanh),
        "Softplus": unary(.softplus), "HardSwish": unary(.hardSwish), "Not": unary(.not),
        "Sin": unary(.sin), "Cos": unary(.cos), "Tan": unary(.tan), "Asin": unary(.asin), "Acos": unary(.acos),
        "Atan": unary(.atan), "Sinh": unary(.sinh), "Cosh": unary(.cosh), "Asinh": unary(.asinh),
        "Acosh": unary(.acosh), "Atanh": unary(.atanh), "IsNaN": unary(.isNaN),
        "IsInf": withAttributes(.isInf) {
            [
                "detect_positive": .int($0.int("detect_positive") ?? 1),
                "detect_negative": .int($0.int("detect_negative") ?? 1),
            ]
        },
        "BitwiseAnd": binary(.bitAnd), "BitwiseOr": binary(.bitOr), "BitwiseXor": binary(.bitXor),
        "BitwiseNot": unary(.bitNot), "Xor": binary(.xor),
        "BitShift": { ctx, n throws(SinterError) in
            let direction = n.string("direction") ?? ""
            guard direction == "LEFT" || direction == "RIGHT" else {
                throw n.error("direction must be \"LEFT\" or \"RIGHT\", got \"\(direction)\"")
            }
            return [
                try ctx.emit(
                    direction == "LEFT" ? .shiftLeft : .shiftRight, [try ctx.input(n, 0), try ctx.input(n, 1)],
                    name: out(n), at: n)
            ]
        },
        "Mod": { ctx, n throws(SinterError) in
            let x = try ctx.input(n, 0), y = try ctx.input(n, 1)
            let fmod = (n.int("fmod") ?? 0) != 0
            guard !fmod && ctx.type(x).dtype.isFloat else {
                return [try ctx.emit(fmod ? .fmod : .mod, [x, y], name: out(n), at: n)]
            }
            // Float fmod=0 takes the divisor's sign, as numpy.mod: the C remainder, moved by one
            // divisor when it is nonzero and its sign differs from the divisor's.
            let name = out(n)
            let r = try ctx.emit(.fmod, [x, y], name: "\(name).rem", at: n)
            let zero = try ctx.scalar(0, ctx.type(x).dtype, name: "\(name).zero")
            let nonzero = try ctx.emit(
                .not, [try ctx.emit(.equal, [r, zero], name: "\(name).z", at: n)], name: "\(name).nz", at: n)
            let signs = try ctx.emit(
                .xor,
                [
                    try ctx.emit(.less, [r, zero], name: "\(name).rneg", at: n),
                    try ctx.emit(.less, [y, zero], name: "\(name).yneg", at: n),
                ], name: "\(name).signs", at: n)
            let fix = try ctx.emit(.and, [nonzero, signs], name: "\(name).fix", at: n)
            let moved = try ctx.emit(.add, [r, y], name: "\(name).moved", at: n)
            return [try ctx.emit(.where, [fix, moved, r], name: name, at: n)]
        },
        "CumSum": { ctx, n throws(SinterError) in
            guard let axis = try ctx.constantInput(n, 1, "axis")?.ints.first else { throw n.error("axis is required") }
            let a = attrs([
                "axis": .int(axis), "exclusive": .bool(n.int("exclusive", default: 0) != 0),
                "reverse": .bool(n.int("reverse", default: 0) != 0),
            ])
            return [try ctx.emit(.cumSum, [try ctx.input(n, 0)], a, name: out(n), at: n)]
        },
        "TopK": { ctx, n throws(SinterError) in
            let k: Int
            if n.opset < 10 {
                guard let v = n.int("k") else { throw n.error("attribute k is required") }
                k = v
            } else {
                guard let v = try ctx.constantInput(n, 1, "K")?.ints.first else { throw n.error("K is required") }
                k = v
            }
            let a = attrs([
                "k": .int(k), "axis": .int(n.int("axis", default: -1)),
                "largest": .bool(n.int("largest", default: 1) != 0),
            ])
            return try ctx.emit(.topK, [try ctx.input(n, 0)], a, names: [out(n, 0), out(n, 1)], at: n)
        },
        "CastLike": { ctx, n throws(SinterError) in
            let like = ctx.type(try ctx.input(n, 1)).dtype
            return [
                try ctx.emit(.cast, [try ctx.input(n, 0)], attrs(["to": .string(like.rawValue)]), name: out(n), at: n)
            ]
        },
        "Size": { ctx, n throws(SinterError) in
            let shape = try ctx.staticShape(try ctx.input(n, 0), n)
            return [
                try ctx.constant(
                    TensorData(dtype: .i64, shape: [], values: [Double(shape.reduce(1, *))]), name: out(n))
            ]
        },
        "Max": variadic(.max), "Min": variadic(.min), "Sum": variadic(.add), "Mean": variadic(.add, mean: true),
        "LeakyRelu": withAttributes(.leakyRelu) { ["alpha": .float($0.float("alpha", default: 0.01))] },
        "Elu": withAttributes(.elu) { ["alpha": .float($0.float("alpha", default: 1))] },
        "Selu": withAttributes(.selu) {
            [
                "alpha": .float($0.float("alpha", default: 1.67326319217681884765625)),
                "gamma": .float($0.float("gamma", default: 1.05070102214813232421875)),
            ]
        },
        "HardSigmoid": withAttributes(.hardSigmoid) {
            ["alpha": .float($0.float("alpha", default: 0.2)), "beta": .float($0.float("beta", default: 0.5))]
        },
        "Gelu": { ctx, n throws(SinterError) in
            let approx = n.string("approximate") ?? "none"
            guard approx == "none" || approx == "tanh" else {
                throw n.error("approximate='\(approx)' is not supported")
            }
            return [try ctx.emit(approx == "tanh" ? .geluTanh : .gelu, [try ctx.input(n, 0)], name: out(n), at: n)]
        },
        "Clip": clip,
        "Where": { ctx, n throws(SinterError) in
            [
                try ctx.emit(
                    .where, [try ctx.input(n, 0), try ctx.input(n, 1), try ctx.input(n, 2)], name: out(n), at: n)
            ]
        },
        "Cast": { ctx, n throws(SinterError) in
            guard let code = n.int("to").flatMap({ Int32(exactly: $0) }), let d = ONNXType.dtype(code) else {
                throw n.error(
                    "cast to \(n.int("to").flatMap { Int32(exactly: $0) }.map(ONNXType.name) ?? "an unknown type") "
                        + "is not supported"
                )
            }
            return [try ctx.emit(.cast, [try ctx.input(n, 0)], attrs(["to": .string(d.rawValue)]), name: out(n), at: n)]
        },
        "Identity": { ctx, n throws(SinterError) in [try ctx.input(n, 0)] },
        "Dropout": { ctx, n throws(SinterError) in
            // Loaded for training: the IR's seeded dropout, whose step operand the train step feeds.
            if ctx.keepInitializers && n.output(1) == nil {
                let ratio = try ctx.constantInput(n, 1, "ratio")?.doubles.first ?? 0.5
                let x = try ctx.input(n, 0)
                let step = try ctx.constant(
                    TensorData(dtype: ctx.type(x).dtype, shape: [], values: [0]), name: out(n, 0) + ".step")
                ctx.dropoutSeed += 1
                return try ctx.emit(
                    .dropout, [x, step], Attributes(["ratio": .float(ratio), "seed": .int(ctx.dropoutSeed)]),
                    names: [out(n, 0)], at: n)
            }
            // Inference, or training with ratio 0: identity, and the mask (if asked for) is all true.
            if let training = try ctx.constantInput(n, 2, "training_mode"), training.doubles.first ?? 0 != 0,
                try ctx.constantInput(n, 1, "ratio")?.doubles.first ?? 0.5 != 0
            {
                throw n.error(
                    "training-mode dropout with a nonzero ratio is not supported here (its mask comes from a random "
                        + "generator); `sinter train` runs a model's Dropout layers with seeded masks")
            }
            let x = try ctx.input(n, 0)
            guard n.output(1) != nil else { return [x] }
            let shape = try ctx.staticShape(x, n)
            let mask = try ctx.constant(
                TensorData(dtype: .bool, shape: shape, values: Array(repeating: 1, count: shape.reduce(1, *))),
                name: out(n, 1))
            return [x, mask]
        },
    ]

    static let pow: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        var y = try ctx.input(n, 1)
        if ctx.type(y).dtype != ctx.type(x).dtype {
            y = try ctx.emit(
                .cast, [y], attrs(["to": .string(ctx.type(x).dtype.rawValue)]), name: "\(out(n)).exponent", at: n)
        }
        return [try ctx.emit(.pow, [x, y], name: out(n), at: n)]
    }

    /// PRelu; a 1-D slope of C values on an [N, C, ...] input is per channel (older opsets).
    static let prelu: Converter = { ctx, n throws(SinterError) in
        let x = try ctx.input(n, 0)
        var slope = try ctx.input(n, 1)
        let xs = ctx.type(x).dims, ss = ctx.type(slope).dims
        if xs.count > 2, ss.count == 1, ss[0] == xs[1], xs.last != ss[0] {
            slope = try reshape(
                ctx, slope, [try ctx.staticShape(slope, n)[0]] + Array(repeating: 1, count: xs.count - 2),
                "\(out(n)).slope", n)
        }
        return [try ctx.emit(.prelu, [x, slope], name: out(n), at: n)]
    }

    static let clip: Converter = { ctx, n throws(SinterError) in
        var a = Attributes()
        if n.opset < 11 {
            a["min"] = .float(n.float("min", default: -.infinity))
            a["max"] = .float(n.float("max", default: .infinity))
        } else {
            // Bounds known at compile time become attributes; bounds given at run time are a
            // max and a min with them (they only carry values, so they need no specialising).
            var x = try ctx.input(n, 0)
            for (i, key, op) in [(1, "min", Op.max), (2, "max", .min)] {
                if let known = try ctx.knownInput(n, i) {
                    a[key] = .float(known.doubles.first ?? (i == 1 ? -.infinity : .infinity))
                } else if let bound = try ctx.optionalInput(n, i) {
                    x = try ctx.emit(op, [x, bound], name: "\(out(n)).\(key)", at: n)
                }
            }
            if a.isEmpty { return [try ctx.emit(.identity, [x], name: out(n), at: n)] }
            return [try ctx.emit(.clip, [x], a, name: out(n), at: n)]
        }
        return [try ctx.emit(.clip, [try ctx.input(n, 0)], a, name: out(n), at: n)]
    }
}
