import SinterIR

/// `autodiff`: reverse-mode differentiation of the whole graph. From the loss (a graph
/// output, the first unless `loss=NAME`), each node between the chosen inputs and the loss
/// hands its results' cotangents to the gradient rule in its schema entry, which builds the
/// operands' cotangents as ordinary ops; fan-out adds them. The gradients become new outputs
/// named `grad.NAME`. Forward values the backward reads (a softmax's result, a matmul's
/// operands) stay alive because the backward nodes use them: plan-memory sees that in the
/// arena like any other lifetime.
///
///     graph @f(%x: f32[2,3], %w: f32[3,4]) -> (%loss) {
///       %y = matmul %x, %w : f32[2,4]
///       %loss = reduce-sum %y : f32[]
///     }
///     ==> autodiff{wrt=w}
///       ... %loss as before, then
///       %0 = constant dense<1.0> : f32[]
///       %1 = expand %0 {shape = [2, 4]} : f32[2,4]
///       %grad.w = matmul %x, %1 {trans_a = true, trans_b = false} : f32[3,4]
///     -> (%loss, %grad.w)
public struct Autodiff: Pass {
    public static let name = "autodiff"
    public static let summary = "append the gradients of the loss with respect to chosen inputs (reverse mode)"
    public static let options = [
        PassOption("loss", .string, default: "", "the graph output to differentiate (default: the first)"),
        PassOption("wrt", .string, default: "", "inputs to differentiate by, separated by ';' (default: all float)"),
    ]
    let loss: String
    let wrt: [String]

    public init() {
        loss = ""
        wrt = []
    }

    public init(options: PassOptionValues) throws(SinterError) {
        loss = options.string("loss")
        wrt = options.names("wrt")
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        let byName = Dictionary(graph.values.indices.map { (graph.values[$0].name, ValueID($0)) }) { a, _ in a }
        guard
            let lossValue = loss.isEmpty
                ? graph.outputs.first : graph.outputs.first(where: { graph.name(of: $0) == loss })
        else {
            throw SinterError(
                loss.isEmpty ? "autodiff: the graph has no output" : "autodiff: no graph output '\(loss)'")
        }
        var targets: [ValueID] = []
        var unknown: [Diagnostic] = []
        for name in wrt {
            if let v = byName[name], graph.inputs.contains(v) {
                targets.append(v)
            } else {
                unknown.append(Diagnostic("autodiff: wrt '\(name)' is not a graph input"))
            }
        }
        if !unknown.isEmpty { throw SinterError(unknown) }
        if wrt.isEmpty { targets = graph.inputs.filter { graph.type(of: $0).dtype.isFloat } }
        let (g, grads) = try Self.gradients(of: lossValue, wrt: targets, in: graph)
        var b = GraphBuilder(extending: g)
        for (x, d) in zip(targets, grads) {
            b.output(try b.apply(.identity, [d], name: "grad." + g.name(of: x))[0])
        }
        graph = b.graph
        return true
    }

    /// The graph extended with the backward nodes, and d loss / d x for each of `wrt` (zeros
    /// for an x the loss does not depend on). `seed` is the loss's cotangent (ones if nil).
    /// Every op on the way without a gradient rule is reported at once, with its location.
    public static func gradients(of loss: ValueID, wrt: [ValueID], in graph: Graph, seed: ValueID? = nil)
        throws(SinterError) -> (Graph, [ValueID])
    {
        // Active nodes: reached from wrt through float values, and on the way to the loss.
        var forward = Set(wrt)
        for n in graph.nodes where n.operands.contains(where: forward.contains) {
            for r in n.results where graph.type(of: r).dtype.isFloat { forward.insert(r) }
        }
        let defining = graph.definingNodes()
        var backward: Set<ValueID> = [loss]
        var stack = [loss]
        while let v = stack.popLast() {
            guard let d = defining[v] else { continue }
            for o in graph.nodes[d].operands where backward.insert(o).inserted { stack.append(o) }
        }
        let active = graph.nodes.indices.filter { i in
            graph.nodes[i].results.contains { forward.contains($0) && backward.contains($0) }
        }
        let missing = active.map { graph.nodes[$0] }.filter { $0.op.schema.gradient == nil }
        if !missing.isEmpty {
            throw SinterError(
                missing.map {
                    Diagnostic("'\($0.op.rawValue)' has no gradient rule (on the way to the loss)", at: $0.location)
                })
        }
        var b = GraphBuilder(extending: graph)
        var cotangent: [ValueID: ValueID] = [:]
        if let seed { cotangent[loss] = seed } else { cotangent[loss] = try b.filled(1, like: loss) }
        var diags: [Diagnostic] = []
        for i in active.reversed() {
            let node = graph.nodes[i]
            guard node.results.contains(where: { cotangent[$0] != nil }), let rule = node.op.schema.gradient else {
                continue
            }
            var gs: [ValueID] = []
            for r in node.results {
                if let c = cotangent[r] { gs.append(c) } else { gs.append(try b.filled(0, like: r)) }
            }
            let grads: [ValueID?]
            do throws(SinterError) {
                grads = try rule(node, gs, &b)
            } catch {
                diags += error.diagnostics.map { Diagnostic($0.message, at: node.location) }
                continue
            }
            for (o, d) in zip(node.operands, grads) {
                guard let d, forward.contains(o) else { continue }
                if let old = cotangent[o] { cotangent[o] = try b.add(old, d) } else { cotangent[o] = d }
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        var grads: [ValueID] = []
        for x in wrt {
            if let d = cotangent[x] { grads.append(d) } else { grads.append(try b.filled(0, like: x)) }
        }
        return (b.graph, grads)
    }
}

extension GraphBuilder {
    /// A tensor of `v`'s type filled with `value`.
    mutating func filled(_ value: Double, like v: ValueID) throws(SinterError) -> ValueID {
        try filled(value, graph.type(of: v).dtype, shape: try staticShape(v))
    }
}
