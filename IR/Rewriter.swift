/// The one way passes edit a graph: insert nodes before or after a node (or at the end),
/// replace all uses of a value, erase nodes, and make fresh unique names. Insertions and
/// erasures are recorded against the node indices of the graph the rewriter started from and
/// applied by `finish()`, so a pass can walk `graph.nodes` by index while it edits; value edits
/// (new values, replaced uses) take effect at once. Result types of inserted nodes come from
/// the op's shape rule, so a pass cannot insert a node whose type disagrees with its schema.
///
///     var rw = Rewriter(graph)
///     let t = try rw.insert(.transpose, [x], name: "x.t", attributes: ..., before: i)
///     rw.replaceAllUses(of: old, with: t)
///     rw.erase(i)
///     graph = rw.finish()
public struct Rewriter {
    public private(set) var graph: Graph
    private var before: [Int: [Node]] = [:]
    private var after: [Int: [Node]] = [:]
    private var appended: [Node] = []
    private var erased: Set<Int> = []
    private var names: Set<String>

    public init(_ graph: Graph) {
        self.graph = graph
        names = Set(graph.values.map(\.name))
    }

    /// Where an inserted node goes, relative to the nodes of the starting graph.
    public enum Position: Sendable {
        case before(Int)
        case after(Int)
        case end
    }

    /// True when nothing has been inserted, erased or replaced.
    public private(set) var isUnchanged = true

    /// `base` if no value has that name yet, else `base.1`, `base.2`, ...
    public mutating func freshName(_ base: String) -> String {
        var name = base
        var k = 1
        while names.contains(name) {
            name = "\(base).\(k)"
            k += 1
        }
        names.insert(name)
        return name
    }

    /// Inserts one node; its result types come from the op's shape rule unless `results`
    /// names existing values it defines instead (a node that takes over a value's definition).
    @discardableResult
    public mutating func insert(
        _ op: Op, _ operands: [ValueID], name: String, attributes: Attributes = Attributes(),
        payload: ConstantPayload? = nil, results existing: [ValueID]? = nil, at position: Position,
        location: SourceLocation = .unknown
    ) throws(SinterError) -> [ValueID] {
        let results: [ValueID]
        if let existing {
            results = existing
        } else {
            let types: [TensorType]
            do throws(ShapeError) {
                types = try op.schema.inferTypes(
                    ShapeQuery(operands: operands.map(graph.type(of:)), attributes: attributes, payload: payload?.data))
            } catch {
                throw SinterError("a rewrite made an invalid '\(op.rawValue)': \(error.message)", at: location)
            }
            results = types.enumerated().map { i, t in
                graph.addValue(name: freshName(types.count == 1 ? name : "\(name).\(i)"), type: t)
            }
        }
        let node = Node(
            op: op, operands: operands, results: results, attributes: attributes, payload: payload, location: location)
        switch position {
        case .before(let i): before[i, default: []].append(node)
        case .after(let i): after[i, default: []].append(node)
        case .end: appended.append(node)
        }
        isUnchanged = false
        return results
    }

    /// One-result form of `insert`.
    public mutating func insert1(
        _ op: Op, _ operands: [ValueID], name: String, attributes: Attributes = Attributes(),
        payload: ConstantPayload? = nil, at position: Position, location: SourceLocation = .unknown
    ) throws(SinterError) -> ValueID {
        let r = try insert(
            op, operands, name: name, attributes: attributes, payload: payload, at: position, location: location)
        guard r.count == 1 else {
            throw SinterError("'\(op.rawValue)' gives \(r.count) results where one was expected", at: location)
        }
        return r[0]
    }

    /// Points every use of `old` (operands, including those of inserted nodes, and graph
    /// outputs) at `new`.
    public mutating func replaceAllUses(of old: ValueID, with new: ValueID) {
        guard old != new else { return }
        graph.replaceAllUses(of: old, with: new)
        func fix(_ nodes: inout [Node]) {
            for k in nodes.indices { nodes[k].operands = nodes[k].operands.map { $0 == old ? new : $0 } }
        }
        for key in Array(before.keys) { fix(&before[key, default: []]) }
        for key in Array(after.keys) { fix(&after[key, default: []]) }
        fix(&appended)
        isUnchanged = false
    }

    /// Gives `new` the name of `old`, which gets a fresh one: a rewrite that replaces a graph
    /// output keeps the name callers know the output by.
    public mutating func takeName(of old: ValueID, for new: ValueID) {
        let name = graph.values[old.index].name
        graph.values[old.index].name = freshName(name + ".old")
        graph.values[new.index].name = name
        isUnchanged = false
    }

    /// Removes node `i` of the starting graph when the graph is finished.
    public mutating func erase(_ i: Int) {
        erased.insert(i)
        isUnchanged = false
    }

    /// Renames node `i`'s operands through `renamed` (values merged or forwarded away earlier
    /// in a scan). A pass that walks the nodes in order and calls this on each node replaces
    /// uses in one pass, where `replaceAllUses` per replacement would be quadratic.
    public mutating func renameOperands(of i: Int, _ renamed: [ValueID: ValueID]) {
        let operands = graph.nodes[i].operands
        guard operands.contains(where: { renamed[$0] != nil }) else { return }
        update(i) { $0.operands = operands.map { renamed[$0] ?? $0 } }
    }

    /// Replaces node `i`'s attributes or operands in place.
    public mutating func update(_ i: Int, _ change: (inout Node) -> Void) {
        change(&graph.nodes[i])
        isUnchanged = false
    }

    /// The edited graph: insertions in place, erased nodes gone, unused values dropped. It is an
    /// error (a bug in the pass, reported at the node) for an erased node's result to be used.
    public func finish() throws(SinterError) -> Graph {
        var g = graph
        var nodes: [Node] = []
        for (i, node) in graph.nodes.enumerated() {
            nodes += before[i] ?? []
            if !erased.contains(i) { nodes.append(node) }
            nodes += after[i] ?? []
        }
        nodes += appended
        g.nodes = nodes
        var defined = Set(g.inputs)
        for node in nodes {
            for o in node.operands where !defined.contains(o) {
                throw SinterError(
                    "a rewrite left '%\(g.name(of: o))' used by '\(node.op.rawValue)' before (or without) its "
                        + "definition",
                    at: node.location)
            }
            defined.formUnion(node.results)
        }
        if let missing = g.outputs.first(where: { !defined.contains($0) }) {
            throw SinterError("a rewrite removed the definition of graph output '%\(g.name(of: missing))'")
        }
        g.compact()
        return g
    }
}

/// Emits through a rewriter at one position, naming results after the node they replace.
public struct RewriteEmitter: OpEmitter {
    public var rewriter: Rewriter
    public var position: Rewriter.Position = .end
    public var name = ""
    public var location: SourceLocation = .unknown
    /// Appended to `name` for the constants an expansion makes.
    public var constantSuffix = ".q"

    public init(rewriter: Rewriter) { self.rewriter = rewriter }

    public func typeOf(_ v: ValueID) -> TensorType { rewriter.graph.type(of: v) }

    public mutating func emit(_ op: Op, _ operands: [ValueID], _ attributes: Attributes) throws(SinterError) -> ValueID
    {
        try rewriter.insert1(op, operands, name: name, attributes: attributes, at: position, location: location)
    }

    public mutating func emitConstant(_ data: TensorData) throws(SinterError) -> ValueID {
        try rewriter.insert1(
            .constant, [], name: name + constantSuffix, payload: ConstantPayload(data), at: position, location: location
        )
    }
}
