import SinterIR

/// What a compiled train step does: the loss on the model's first output, the optimizer and
/// its settings, and which constants are trained.
public struct TrainingConfig: Sendable, Hashable {
    public enum Loss: String, CaseIterable, Sendable {
        /// Cross-entropy from logits (`cross-entropy`), labels as class indices or probabilities.
        case ce
        /// Negative log-likelihood (`nll-loss`) of log-probabilities, labels as class indices.
        case nll
        /// Mean squared error (`mse-loss`).
        case mse
        /// Binary cross-entropy from logits (`bce-loss`), targets in [0, 1] shaped like the output.
        case bce

        /// Class-index labels and an accuracy to report.
        public var classifies: Bool { self == .ce || self == .nll }
    }

    public enum Optimizer: String, CaseIterable, Sendable {
        case sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad

        /// The optimizer slots each parameter carries (velocity; Adam's two moments).
        public var slots: [String] {
            switch self {
            case .sgd: []
            case .momentum, .nesterov: ["velocity"]
            case .adam, .adamw: ["m", "v"]
            case .rmsprop, .adagrad: ["square"]
            }
        }
    }

    public var loss: Loss = .ce
    public var optimizer: Optimizer = .adam
    public var labelSmoothing = 0.0
    public var weightDecay = 0.0
    /// Momentum (momentum/nesterov); Adam's betas; the denominator's epsilon (nil: the op's).
    public var momentum = 0.9
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon: Double?
    /// Scales all gradients together when their global L2 norm exceeds this.
    public var clipNorm: Double?
    /// The trained constants by value name; nil: every f32 constant with at least one axis.
    public var parameters: [String]?
    /// Constants left as they are (fine-tuning chosen layers).
    public var frozen: [String] = []

    public init() {}
}

/// A model turned into two graphs that share their parameters as inputs:
///
/// - `graph`, one optimizer step:
///   `(model inputs..., labels, lr, step, params..., slots...) -> (loss, model outputs...,
///   params'..., slots'...)`; `step` is the 1-based update count (Adam's bias correction);
/// - `inference`: `(model inputs..., params...) -> (model outputs...)`.
///
/// The step is the forward graph, the loss op, `autodiff`'s backward nodes and one update op
/// per parameter; the standard pipeline (with `expand-training`) compiles it like any model.
public struct TrainStep: Sendable {
    public var graph: Graph
    /// Forward and backward only: `(model inputs..., labels, step, params...) -> (loss, grads...)`
    /// (the step seeds dropout masks),
    /// gradients before clipping, one per parameter in parameter order.
    public var gradients: Graph
    /// The update only: `(grads..., lr, step, params..., slots...) -> (params'..., slots'...)`,
    /// with clipping; `graph` is `gradients` followed by `apply`, fused into one program.
    public var apply: Graph
    public var inference: Graph
    /// The loss without the backward pass: `(model inputs..., labels, params...) -> (loss,
    /// model outputs...)`, for validation.
    public var evaluation: Graph
    /// The trained constants' names and starting values, in input order.
    public var parameters: [(name: String, value: TensorData)]
    /// Optimizer slots (zero at the start), in input order, named `PARAM.SLOT`.
    public var slots: [(name: String, type: TensorType)]
    /// Batch norm's running statistics: inputs after the slots (after the parameters in
    /// `gradients`, `inference` and `evaluation`), their next values outputs after the slots'
    /// (after the gradients in `gradients`); not trained, used by inference.
    public var states: [(name: String, value: TensorData)]
    /// How many inputs the model itself takes (they come first in both graphs).
    public var modelInputs: Int

    public static func build(_ model: Graph, _ config: TrainingConfig) throws(SinterError) -> TrainStep {
        var g = model
        g.compact()
        guard let output = g.outputs.first else { throw SinterError("the model has no output to train") }
        // Batch norm's running statistics are state: carried from step to step, not trained.
        let defining = g.definingNodes()
        var stateNodes: [Int] = []
        for n in g.nodes where n.op == .batchNorm {
            for v in n.operands[3...4] {
                if let i = defining[v], g.nodes[i].op == .constant, !stateNodes.contains(i) { stateNodes.append(i) }
            }
        }
        let params = try chooseParameters(g, config, excluding: Set(stateNodes))
        // Each trained constant and each state becomes a graph input of the same name and type.
        let paramValues = params.map { g.nodes[$0].results[0] }, stateValues = stateNodes.map { g.nodes[$0].results[0] }
        let initial = params.map { (g.name(of: g.nodes[$0].results[0]), g.nodes[$0].payload?.data) }
        let initialStates = stateNodes.map { (g.name(of: g.nodes[$0].results[0]), g.nodes[$0].payload?.data) }
        let removed = Set(params + stateNodes)
        // The next value of each state: batch-norm's results 1 and 2 for its operands 3 and 4.
        var nextState: [ValueID: ValueID] = [:]
        for n in g.nodes where n.op == .batchNorm {
            for k in 1...2 where nextState[n.operands[2 + k]] == nil { nextState[n.operands[2 + k]] = n.results[k] }
        }
        let stateNext = stateValues.compactMap { nextState[$0] }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        let modelInputs = g.inputs
        var inference = try inferenceMode(withoutDropout(g), inputs: modelInputs + paramValues + stateValues)
        inference.compact()

        var b = GraphBuilder(extending: g)
        let outType = g.type(of: output)
        let labelType: TensorType
        switch config.loss {
        case .ce, .nll:
            guard outType.rank == 2 else {
                throw SinterError(
                    "--loss \(config.loss.rawValue) needs the model's first output to be [N, C] logits or "
                        + "log-probabilities, got \(outType)")
            }
            labelType = TensorType(.i64, [outType.dims[0]])
        case .mse, .bce: labelType = outType
        }
        let labels = try b.input(b.isUsed("labels") ? "train.labels" : "labels", labelType)
        let lr = try b.input("lr", TensorType(outType.dtype, [Dim]()))
        let step = try b.input("step", TensorType(outType.dtype, [Dim]()))
        // Dropout draws its mask from the step count, so each step gets a new one.
        if b.graph.nodes.contains(where: { $0.op == .dropout }) {
            var fed = b.graph
            for i in fed.nodes.indices where fed.nodes[i].op == .dropout { fed.nodes[i].operands[1] = step }
            b = GraphBuilder(extending: fed)
        }
        let loss: ValueID
        switch config.loss {
        case .ce:
            let attrs = Attributes(["label_smoothing": .float(config.labelSmoothing)])
            loss = try b.apply(.crossEntropy, [output, labels], attributes: attrs, name: "loss")[0]
        case .nll: loss = try b.apply(.nllLoss, [output, labels], name: "loss")[0]
        case .mse: loss = try b.apply(.mseLoss, [output, labels], name: "loss")[0]
        case .bce: loss = try b.apply(.bceLoss, [output, labels], name: "loss")[0]
        }
        var scored = withoutDropout(b.graph)
        scored.outputs = [loss] + g.outputs
        var evaluation = try inferenceMode(scored, inputs: modelInputs + [labels] + paramValues + stateValues)
        evaluation.name = model.name + "_eval"
        evaluation.compact()
        let (differentiated, rawGrads) = try Autodiff.gradients(of: loss, wrt: paramValues, in: b.graph)
        var gradients = differentiated
        gradients.inputs = modelInputs + [labels, step] + paramValues + stateValues
        gradients.outputs = [loss] + rawGrads + stateNext
        gradients.name = model.name + "_grads"
        gradients.compact()

        b = GraphBuilder(extending: differentiated)
        let (newParams, slotInputs, newSlots, slots) = try appendUpdates(
            &b, params: paramValues, grads: rawGrads, lr: lr, step: step, config)
        var train = b.graph
        train.inputs = modelInputs + [labels, lr, step] + paramValues + slotInputs + stateValues
        train.outputs = [loss] + g.outputs + newParams + newSlots + stateNext
        train.name = model.name + "_train"
        train.compact()

        // The update alone, for callers that combine gradients themselves (data parallelism).
        var a = GraphBuilder(name: model.name + "_apply")
        var applyGrads: [ValueID] = [], applyParams: [ValueID] = []
        for p in paramValues {
            let name = b.graph.name(of: p), type = b.graph.type(of: p)
            applyGrads.append(try a.input("\(name).grad", type))
            applyParams.append(try a.input(name, type))
        }
        let applyLR = try a.input("lr", TensorType(outType.dtype, [Dim]()))
        let applyStep = try a.input("step", TensorType(outType.dtype, [Dim]()))
        let applied = try appendUpdates(
            &a, params: applyParams, grads: applyGrads, lr: applyLR, step: applyStep, config)
        var apply = a.graph
        apply.inputs = applyGrads + [applyLR, applyStep] + applyParams + applied.slotInputs
        apply.outputs = applied.newParams + applied.newSlots

        func payloads(_ list: [(String, TensorData?)]) throws(SinterError) -> [(name: String, value: TensorData)] {
            var values: [(name: String, value: TensorData)] = []
            for (name, data) in list {
                guard let data else { throw SinterError("internal: constant '\(name)' has no payload") }
                values.append((name, data))
            }
            return values
        }
        return TrainStep(
            graph: train, gradients: gradients, apply: apply, inference: inference, evaluation: evaluation,
            parameters: try payloads(initial), slots: slots, states: try payloads(initialStates),
            modelInputs: modelInputs.count)
    }

    /// Every batch-norm normalised by its running statistics (inference), with `inputs`.
    static func inferenceMode(_ graph: Graph, inputs: [ValueID]) throws(SinterError) -> Graph {
        var g = graph
        g.inputs = inputs
        guard g.nodes.contains(where: { $0.op == .batchNorm }) else { return g }
        var emitter = RewriteEmitter(rewriter: Rewriter(g))
        emitter.constantSuffix = ".c"
        for (i, node) in g.nodes.enumerated() where node.op == .batchNorm {
            emitter.position = .before(i)
            emitter.name = g.name(of: node.results[0])
            emitter.location = node.location
            let results = try emitter.batchNorm(node, emitter.rewriter.graph.nodes[i].operands, training: false)
            emitter.rewriter.replaceAllUses(of: node.results[0], with: results[0])
            emitter.rewriter.takeName(of: node.results[0], for: results[0])
            emitter.rewriter.erase(i)
        }
        return try emitter.rewriter.finish()
    }

    /// The graph as inference runs it: every dropout is the identity.
    static func withoutDropout(_ graph: Graph) -> Graph {
        var g = graph
        for n in graph.nodes where n.op == .dropout { g.replaceAllUses(of: n.results[0], with: n.operands[0]) }
        g.nodes.removeAll { $0.op == .dropout }
        return g
    }

    /// Clipping (if configured) and one update op per parameter, appended to `b`: the new
    /// parameters, the slot inputs the updates read, the new slots, and the slots' names and types.
    static func appendUpdates(
        _ b: inout GraphBuilder, params: [ValueID], grads rawGrads: [ValueID], lr: ValueID, step: ValueID,
        _ config: TrainingConfig
    ) throws(SinterError) -> (
        newParams: [ValueID], slotInputs: [ValueID], newSlots: [ValueID], slots: [(name: String, type: TensorType)]
    ) {
        let grads = try clip(rawGrads, config.clipNorm, &b)
        var slotInputs: [ValueID] = [], newParams: [ValueID] = [], newSlots: [ValueID] = []
        var slots: [(name: String, type: TensorType)] = []
        for (p, d) in zip(params, grads) {
            let name = b.graph.name(of: p), type = b.graph.type(of: p)
            let mine = try config.optimizer.slots.map { s throws(SinterError) in try b.input("\(name).\(s)", type) }
            slots += config.optimizer.slots.map { ("\(name).\($0)", type) }
            slotInputs += mine
            let (op, attrs) = update(config)
            let extra = op == .adamUpdate ? [lr, step] : [lr]
            let names = ["\(name).next"] + config.optimizer.slots.map { "\(name).\($0).next" }
            let results = try b.apply(op, [p, d] + mine + extra, attributes: attrs, names: names)
            newParams.append(results[0])
            newSlots += results.dropFirst()
        }
        return (newParams, slotInputs, newSlots, slots)
    }

    /// Indices of the constant nodes to train, with every unknown or untrainable name reported.
    static func chooseParameters(_ g: Graph, _ config: TrainingConfig, excluding: Set<Int> = [])
        throws(SinterError) -> [Int]
    {
        var byName: [String: Int] = [:]
        for (i, n) in g.nodes.enumerated() where n.op == .constant { byName[g.name(of: n.results[0])] = i }
        var diags: [Diagnostic] = []
        for name in (config.parameters ?? []) + config.frozen where byName[name] == nil {
            diags.append(Diagnostic("'\(name)' is not a constant of the model, so it cannot be trained or frozen"))
        }
        let used = Set(g.nodes.flatMap(\.operands)).union(g.outputs)
        let chosen: [Int]
        if let names = config.parameters {
            chosen = names.compactMap { byName[$0] }
            for i in chosen where g.type(of: g.nodes[i].results[0]).dtype != .f32 {
                diags.append(Diagnostic("parameter '\(g.name(of: g.nodes[i].results[0]))' is not f32"))
            }
        } else {
            chosen = g.nodes.indices.filter { i in
                let t = g.type(of: g.nodes[i].results[0])
                return g.nodes[i].op == .constant && t.dtype == .f32 && t.rank >= 1 && t.quant == nil
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        let frozen = Set(config.frozen.compactMap { byName[$0] })
        let params = chosen.filter {
            !frozen.contains($0) && !excluding.contains($0) && used.contains(g.nodes[$0].results[0])
        }
        guard !params.isEmpty else { throw SinterError("the model has no parameters left to train") }
        return params
    }

    static func update(_ c: TrainingConfig) -> (Op, Attributes) {
        var a: [String: AttributeValue] = ["weight_decay": .float(c.weightDecay)]
        if let e = c.epsilon { a["epsilon"] = .float(e) }
        switch c.optimizer {
        case .sgd: return (.sgdUpdate, Attributes(["weight_decay": .float(c.weightDecay)]))
        case .momentum, .nesterov:
            return (
                .momentumUpdate,
                Attributes([
                    "momentum": .float(c.momentum), "nesterov": .bool(c.optimizer == .nesterov),
                    "weight_decay": .float(c.weightDecay),
                ])
            )
        case .adam, .adamw:
            a["beta1"] = .float(c.beta1)
            a["beta2"] = .float(c.beta2)
            a["decoupled"] = .bool(c.optimizer == .adamw)
            return (.adamUpdate, Attributes(a))
        case .rmsprop: return (.rmspropUpdate, Attributes(a))
        case .adagrad: return (.adagradUpdate, Attributes(a))
        }
    }

    /// Gradients scaled by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ over all of them together.
    static func clip(_ grads: [ValueID], _ maxNorm: Double?, _ b: inout GraphBuilder) throws(SinterError)
        -> [ValueID]
    {
        guard let maxNorm, let first = grads.first else { return grads }
        let dtype = b.graph.type(of: first).dtype
        var total: ValueID?
        for d in grads {
            let s = try b.apply(.reduceSum, [try b.mul(d, d)])[0]
            if let t = total { total = try b.add(t, s) } else { total = s }
        }
        guard let total else { return grads }
        let norm = try b.add(try b.unary(.sqrt, total), try b.scalar(1e-6, dtype))
        let ratio = try b.binary(.div, try b.scalar(maxNorm, dtype), norm)
        let scale = try b.binary(.min, ratio, try b.scalar(1, dtype))
        return try grads.map { d throws(SinterError) in try b.mul(d, scale) }
    }
}
