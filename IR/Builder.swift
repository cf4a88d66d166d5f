/// Builds graphs in Swift. Result types come from the op's shape rule, so a builder graph
/// is well-typed by construction; errors are thrown, never trapped.
///
///     var b = GraphBuilder(name: "mlp")
///     let x = b.input("x", TensorType(.f32, [4, 64]))
///     let h = try b.relu(b.add(b.matmul(x, w), bias))
///     b.output(h)
///     let graph = b.graph
public struct GraphBuilder {
    public private(set) var graph: Graph
    private var usedNames: Set<String> = []
    private var counter = 0

    public init(name: String) { graph = Graph(name: name) }

    /// A builder that appends to an existing graph (autodiff adds the backward nodes after the
    /// forward ones); generated names avoid every name the graph already uses.
    public init(extending graph: Graph) {
        self.graph = graph
        usedNames = Set(graph.values.map(\.name))
    }

    /// Whether a value name is taken.
    public func isUsed(_ name: String) -> Bool { usedNames.contains(name) }

    private mutating func freshName(_ requested: String?) throws(SinterError) -> String {
        if let n = requested {
            guard !usedNames.contains(n) else { throw SinterError("duplicate value name '%\(n)'") }
            usedNames.insert(n)
            return n
        }
        while usedNames.contains(String(counter)) { counter += 1 }
        let n = String(counter)
        usedNames.insert(n)
        counter += 1
        return n
    }

    public mutating func input(_ name: String, _ type: TensorType) throws(SinterError) -> ValueID {
        let v = graph.addValue(name: try freshName(name), type: type)
        graph.inputs.append(v)
        return v
    }

    public mutating func output(_ v: ValueID) { graph.outputs.append(v) }

    public mutating func constant(_ data: TensorData, file: String? = nil, name: String? = nil) throws(SinterError)
        -> ValueID
    {
        try apply(.constant, [], payload: ConstantPayload(data, file: file), name: name)[0]
    }

    /// Adds one node; the shape rule computes the result types.
    public mutating func apply(
        _ op: Op, _ operands: [ValueID], attributes: Attributes = Attributes(),
        payload: ConstantPayload? = nil, name: String? = nil
    ) throws(SinterError) -> [ValueID] {
        try apply(op, operands, attributes: attributes, payload: payload, names: [name])
    }

    /// Adds one node, naming its results (missing or nil names are generated).
    public mutating func apply(
        _ op: Op, _ operands: [ValueID], attributes: Attributes = Attributes(),
        payload: ConstantPayload? = nil, names: [String?], location: SourceLocation = .unknown
    ) throws(SinterError) -> [ValueID] {
        let s = op.schema
        guard s.acceptsOperandCount(operands.count) else {
            throw SinterError(
                "'\(op.rawValue)' takes \(s.variadic ? "at least " : "")\(s.operandCount) operand(s), got "
                    + "\(operands.count)",
                at: location)
        }
        let types: [TensorType]
        do throws(ShapeError) {
            types = try s.inferTypes(
                ShapeQuery(operands: operands.map(graph.type(of:)), attributes: attributes, payload: payload?.data))
        } catch {
            throw SinterError("'\(op.rawValue)': \(error.message)", at: location)
        }
        for t in types {
            if let problem = t.problem { throw SinterError("'\(op.rawValue)': its result \(problem)", at: location) }
        }
        var results: [ValueID] = []
        for (i, t) in types.enumerated() {
            results.append(graph.addValue(name: try freshName(i < names.count ? names[i] : nil), type: t))
        }
        graph.nodes.append(
            Node(
                op: op, operands: operands, results: results, attributes: attributes, payload: payload,
                location: location))
        return results
    }

    public mutating func unary(_ op: Op, _ x: ValueID, name: String? = nil) throws(SinterError) -> ValueID {
        try apply(op, [x], name: name)[0]
    }

    public mutating func binary(_ op: Op, _ x: ValueID, _ y: ValueID, name: String? = nil) throws(SinterError)
        -> ValueID
    {
        try apply(op, [x, y], name: name)[0]
    }

    public mutating func add(_ x: ValueID, _ y: ValueID) throws(SinterError) -> ValueID { try binary(.add, x, y) }
    public mutating func mul(_ x: ValueID, _ y: ValueID) throws(SinterError) -> ValueID { try binary(.mul, x, y) }
    public mutating func matmul(_ x: ValueID, _ y: ValueID) throws(SinterError) -> ValueID { try binary(.matmul, x, y) }
    public mutating func relu(_ x: ValueID) throws(SinterError) -> ValueID { try unary(.relu, x) }
    public mutating func softmax(_ x: ValueID, axis: Int = -1) throws(SinterError) -> ValueID {
        try apply(.softmax, [x], attributes: Attributes(["axis": .int(axis)]))[0]
    }
}

/// Gradient rules and the training ops' expansions are written once against `OpEmitter`; the
/// builder is one (autodiff), a pass's rewriter another.
extension GraphBuilder: OpEmitter {
    public func typeOf(_ v: ValueID) -> TensorType { graph.type(of: v) }

    public mutating func emit(_ op: Op, _ operands: [ValueID], _ attributes: Attributes) throws(SinterError)
        -> ValueID
    {
        try apply(op, operands, attributes: attributes)[0]
    }

    public mutating func emitConstant(_ data: TensorData) throws(SinterError) -> ValueID { try constant(data) }
}
