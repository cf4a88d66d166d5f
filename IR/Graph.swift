/// An SSA value: its index in `Graph.values`.
public struct ValueID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    public var description: String { "v\(index)" }
}

public struct ValueInfo: Hashable, Sendable {
    public var name: String
    public var type: TensorType
    public init(name: String, type: TensorType) {
        self.name = name
        self.type = type
    }
}

/// A constant's bytes and, when it lives in a `.npy` file next to the `.sir` file, that
/// file's name (relative), so printing writes the reference instead of the numbers.
public struct ConstantPayload: Hashable, Sendable {
    public var data: TensorData
    public var file: String?
    public init(_ data: TensorData, file: String? = nil) {
        self.data = data
        self.file = file
    }
}

public struct Node: Hashable, Sendable {
    public var op: Op
    public var operands: [ValueID]
    public var results: [ValueID]
    public var attributes: Attributes
    public var payload: ConstantPayload?
    public var location: SourceLocation

    /// Equality and hashing ignore `location`: two graphs are equal when they compute the
    /// same thing, wherever they were read from.
    public static func == (a: Node, b: Node) -> Bool {
        a.op == b.op && a.operands == b.operands && a.results == b.results && a.attributes == b.attributes
            && a.payload == b.payload
    }

    public func hash(into h: inout Hasher) {
        h.combine(op)
        h.combine(operands)
        h.combine(results)
    }

    public init(
        op: Op, operands: [ValueID], results: [ValueID], attributes: Attributes = Attributes(),
        payload: ConstantPayload? = nil, location: SourceLocation = .unknown
    ) {
        self.op = op
        self.operands = operands
        self.results = results
        self.attributes = attributes
        self.payload = payload
        self.location = location
    }

    /// The attribute's value, or the schema default when absent.
    public func attribute(_ name: String) -> AttributeValue? {
        attributes[name] ?? op.schema.attributeSpec(name)?.defaultValue
    }
}

/// The graph: named inputs, nodes in a valid execution order, and outputs.
/// Value types all the way down, so passes take `inout Graph` and tests compare with `==`.
public struct Graph: Hashable, Sendable {
    public var name: String
    public var values: [ValueInfo] = []
    public var inputs: [ValueID] = []
    public var outputs: [ValueID] = []
    public var nodes: [Node] = []
    /// Fused kernels (`kernel [...]` lines), written by `fuse`; empty before fusion.
    public var kernels: [KernelGroup] = []
    /// The memory plan (`memory ...` line), written by `plan-memory`; nil before planning.
    public var memory: ArenaPlan?
    /// Where the graph header was read from, for diagnostics about the graph as a whole.
    public var location: SourceLocation = .unknown

    public init(name: String) { self.name = name }

    /// Structural equality: value numbering does not matter (a builder and the parser may
    /// number the same graph differently), so both sides are compared in canonical order.
    public static func == (a: Graph, b: Graph) -> Bool {
        var x = a, y = b
        x.compact()
        y.compact()
        return x.name == y.name && x.values == y.values && x.inputs == y.inputs && x.outputs == y.outputs
            && x.nodes == y.nodes && x.kernels == y.kernels && x.memory == y.memory
    }

    public func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(nodes)
    }

    public subscript(v: ValueID) -> ValueInfo {
        get { values[v.index] }
        set { values[v.index] = newValue }
    }

    public func type(of v: ValueID) -> TensorType { values[v.index].type }
    public func name(of v: ValueID) -> String { values[v.index].name }

    /// Result types the op table's shape rule gives for `node` with its current operands.
    public func inferResultTypes(of node: Node) throws(ShapeError) -> [TensorType] {
        try node.op.schema.inferTypes(
            ShapeQuery(
                operands: node.operands.map(type(of:)), attributes: node.attributes,
                payload: node.payload?.data))
    }

    public mutating func addValue(name: String, type: TensorType) -> ValueID {
        values.append(ValueInfo(name: name, type: type))
        return ValueID(values.count - 1)
    }

    /// For each value, the index of the node that defines it (nil for graph inputs).
    public func definingNodes() -> [ValueID: Int] {
        var out: [ValueID: Int] = [:]
        for (i, n) in nodes.enumerated() { for r in n.results { out[r] = i } }
        return out
    }

    /// For each value, the indices of the nodes that read it.
    public func users() -> [ValueID: [Int]] {
        var out: [ValueID: [Int]] = [:]
        for (i, n) in nodes.enumerated() { for o in n.operands { out[o, default: []].append(i) } }
        return out
    }

    /// Drops values no node, input or output refers to and renumbers the rest in order of
    /// definition. Passes that delete nodes call this so the value table stays dense.
    public mutating func compact() {
        var map: [ValueID: ValueID] = [:]
        var newValues: [ValueInfo] = []
        func keep(_ v: ValueID) -> ValueID {
            if let m = map[v] { return m }
            newValues.append(values[v.index])
            let n = ValueID(newValues.count - 1)
            map[v] = n
            return n
        }
        let newInputs = inputs.map(keep)
        var newNodes = nodes
        for i in newNodes.indices {
            newNodes[i].operands = newNodes[i].operands.map(keep)
            newNodes[i].results = newNodes[i].results.map(keep)
        }
        let newOutputs = outputs.map(keep)
        values = newValues
        inputs = newInputs
        nodes = newNodes
        outputs = newOutputs
    }
}

extension Graph {
    /// Points every use of `old` (operands and graph outputs) at `new`.
    public mutating func replaceAllUses(of old: ValueID, with new: ValueID) {
        for i in nodes.indices {
            nodes[i].operands = nodes[i].operands.map { $0 == old ? new : $0 }
        }
        outputs = outputs.map { $0 == old ? new : $0 }
    }

    /// The constant data behind `v`, if a constant node defines it.
    public func constantValue(_ v: ValueID, defining: [ValueID: Int]) -> TensorData? {
        defining[v].flatMap { nodes[$0].payload?.data }
    }
}
