import SinterIR

/// One ONNX node as converters see it: inputs by position (empty names are absent optional
/// inputs), attributes by name, and its location for diagnostics.
struct ONNXNode {
    let proto: Onnx_NodeProto
    let opset: Int

    var opType: String { proto.opType }
    var name: String { proto.name.isEmpty ? (proto.output.first { !$0.isEmpty } ?? "?") : proto.name }
    var location: SourceLocation { .node(name: name, opType: opType) }
    var inputCount: Int { proto.input.count }

    func input(_ i: Int) -> String? { i < proto.input.count && !proto.input[i].isEmpty ? proto.input[i] : nil }
    func output(_ i: Int) -> String? { i < proto.output.count && !proto.output[i].isEmpty ? proto.output[i] : nil }

    func attribute(_ name: String) -> Onnx_AttributeProto? { proto.attribute.first { $0.name == name } }
    func int(_ name: String) -> Int? { attribute(name).map { Int($0.i) } }
    func int(_ name: String, default d: Int) -> Int { int(name) ?? d }
    func ints(_ name: String) -> [Int]? { attribute(name).map { $0.ints.map { Int($0) } } }
    func float(_ name: String) -> Double? { attribute(name).map { Double($0.f) } }
    func float(_ name: String, default d: Double) -> Double { float(name) ?? d }
    func string(_ name: String) -> String? { attribute(name).map { String(decoding: $0.s, as: UTF8.self) } }

    func error(_ message: String) -> SinterError { SinterError(message, at: location) }
}

/// State of one import: the builder, ONNX names → IR values, and known constant values
/// (initializers, Constant nodes and everything folded from them).
final class ImportContext {
    var builder: GraphBuilder
    var values: [String: ValueID] = [:]
    var constants: [ValueID: TensorData] = [:]
    let directory: String
    /// Largest result (elements) folded at import time; bigger constant subgraphs are left
    /// to the fold-constants pass.
    let foldLimit = 1 << 22
    /// Float initializers kept as constants of their own and never folded into others, so that
    /// training finds each parameter under its ONNX name (`ONNXImporter.load(keepInitializers:)`).
    var keptInitializers: Set<ValueID> = []
    var keepInitializers = false
    /// Each training-mode dropout gets its own seed (1, 2, …), so layers draw different masks.
    var dropoutSeed = 0

    init(name: String, directory: String) {
        builder = GraphBuilder(name: name)
        self.directory = directory
    }

    func type(_ v: ValueID) -> TensorType { builder.graph.type(of: v) }

    /// A name not used yet, derived from `base`.
    func unique(_ base: String) -> String {
        if !builder.isUsed(base) { return base }
        var k = 1
        while builder.isUsed("\(base).\(k)") { k += 1 }
        return "\(base).\(k)"
    }

    func value(_ name: String, _ n: ONNXNode) throws(SinterError) -> ValueID {
        guard let v = values[name] else { throw n.error("input '\(name)' is not defined before this node") }
        return v
    }

    /// Input `i` of the node, which must be present.
    func input(_ n: ONNXNode, _ i: Int) throws(SinterError) -> ValueID {
        guard let name = n.input(i) else { throw n.error("input \(i) is required") }
        return try value(name, n)
    }

    func optionalInput(_ n: ONNXNode, _ i: Int) throws(SinterError) -> ValueID? {
        guard let name = n.input(i) else { return nil }
        return try value(name, n)
    }

    /// The value of input `i` when it is a constant (initializer, Constant or folded).
    func constantInput(_ n: ONNXNode, _ i: Int, _ what: String) throws(SinterError) -> TensorData? {
        guard let v = try optionalInput(n, i), let name = n.input(i) else { return nil }
        guard let t = constants[v] else {
            if builder.graph.inputs.contains(v) {
                throw n.error(
                    "input \(i) ('\(what)') is graph input '\(name)', which must be a constant here; specialise "
                        + "it with --const-input \(name)=FILE.npy"
                )
            }
            let sources = graphInputs(reaching: v)
            guard sources.isEmpty else {
                let hints = sources.map { "--const-input \($0)=FILE.npy" }.joined(separator: " and ")
                throw n.error(
                    "input \(i) ('\(what)') is computed at run time from graph input(s) "
                        + "\(sources.map { "'\($0)'" }.joined(separator: ", ")), but Sinter needs it to be a constant; "
                        + "specialise it with \(hints)")
            }
            throw n.error("input \(i) ('\(what)') is computed at run time, but Sinter needs it to be a constant")
        }
        return t
    }

    /// The graph inputs `v` is computed from, by name, in input order.
    func graphInputs(reaching v: ValueID) -> [String] {
        let g = builder.graph
        let defining = g.definingNodes()
        var seen: Set<ValueID> = [v], stack = [v], found: Set<ValueID> = []
        while let x = stack.popLast() {
            if g.inputs.contains(x) { found.insert(x) }
            guard let d = defining[x] else { continue }
            for o in g.nodes[d].operands where seen.insert(o).inserted { stack.append(o) }
        }
        return g.inputs.filter(found.contains).map(g.name(of:))
    }

    /// Input `i`'s value when it is known at compile time, else nil (no error: for inputs that
    /// may also come at run time).
    func knownInput(_ n: ONNXNode, _ i: Int) throws(SinterError) -> TensorData? {
        guard let v = try optionalInput(n, i) else { return nil }
        return constants[v]
    }

    func constant(_ data: TensorData, name: String) throws(SinterError) -> ValueID {
        let v = try builder.constant(data, name: unique(name))
        constants[v] = data
        return v
    }

    /// Adds an op; when every operand is a known constant the result is computed now and
    /// becomes a constant (this is how shape subgraphs disappear at import).
    func emit(_ op: Op, _ operands: [ValueID], _ attributes: Attributes = Attributes(), names: [String], at n: ONNXNode)
        throws(SinterError) -> [ValueID]
    {
        guard op.schema.acceptsOperandCount(operands.count) else {
            throw n.error(
                "\(op.rawValue) takes \(op.schema.variadic ? "at least " : "")\(op.schema.operandCount) "
                    + "operand(s), got \(operands.count)"
            )
        }
        let names = names.map { unique($0) }
        let known = operands.compactMap { constants[$0] }
        if known.count == operands.count, op.schema.traits.contains(.pure),
            !operands.contains(where: keptInitializers.contains)
        {
            let types: [TensorType]
            do throws(ShapeError) {
                types = try op.schema.inferTypes(
                    ShapeQuery(operands: operands.map(type), attributes: attributes, payload: nil))
            } catch {
                throw n.error("\(op.rawValue): \(error.message)")
            }
            if types.allSatisfy({ ($0.elementCount ?? .max) <= foldLimit }),
                let folded = Evaluator.evaluate(op, attributes: attributes, inputs: known, resultTypes: types)
            {
                var out: [ValueID] = []
                for (t, name) in zip(
                    folded, names + Array(repeating: n.name, count: max(0, folded.count - names.count)))
                {
                    out.append(try constant(t, name: name))
                }
                return out
            }
        }
        return try builder.apply(op, operands, attributes: attributes, names: names, location: n.location)
    }

    func emit(_ op: Op, _ operands: [ValueID], _ attributes: Attributes = Attributes(), name: String, at n: ONNXNode)
        throws(SinterError) -> ValueID
    {
        try emit(op, operands, attributes, names: [name], at: n)[0]
    }

    /// A scalar constant of `dtype`, broadcastable against anything.
    func scalar(_ v: Double, _ dtype: DType, name: String) throws(SinterError) -> ValueID {
        try constant(TensorData(dtype: dtype, shape: [], values: [v]), name: name)
    }

    func staticShape(_ v: ValueID, _ n: ONNXNode) throws(SinterError) -> [Int] {
        guard let s = type(v).shape else {
            throw n.error("needs a static shape, got \(type(v)); bind the symbolic dimensions with --shape NAME=VALUE")
        }
        return s
    }
}
