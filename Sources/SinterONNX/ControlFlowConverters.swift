import SinterIR

/// If, Loop and Scan for a static compiler: their subgraphs are imported inline, so control
/// flow that is known at compile time disappears. If takes the branch its (constant)
/// condition picks; Loop is unrolled while its trip count and condition stay known (each
/// iteration's condition is folded from constants, as a counter usually is); Scan is unrolled
/// over its sequence axis. A condition or trip count that is only known at run time is a
/// located error (`sinter run` specialises such graph inputs from their files first).
extension Converters {
    static let controlFlow: [String: Converter] = ["If": ifConverter, "Loop": loop, "Scan": scan]

    /// More iterations than this are refused rather than unrolled.
    static let unrollLimit = 4096

    static let ifConverter: Converter = { ctx, n throws(SinterError) in
        guard let cond = try ctx.constantInput(n, 0, "cond") else { throw n.error("cond is required") }
        guard cond.count == 1 else { throw n.error("cond must hold one element, got \(cond.type)") }
        let branch = cond.doubles[0] != 0 ? "then_branch" : "else_branch"
        guard let body = n.attribute(branch), body.hasG else { throw n.error("needs the \(branch) graph") }
        return try ctx.inline(body.g, inputs: [], n)
    }

    static let loop: Converter = { ctx, n throws(SinterError) in
        guard let body = n.attribute("body"), body.hasG else { throw n.error("needs the body graph") }
        let trips = try ctx.constantInput(n, 0, "M")?.ints.first
        var cond = try ctx.constantInput(n, 1, "cond").map { $0.doubles.first != 0 } ?? true
        if trips == nil && n.input(1) == nil {
            throw n.error("a Loop with neither a trip count nor a condition never ends")
        }
        var carried = try (2..<max(n.inputCount, 2)).map { i throws(SinterError) in try ctx.input(n, i) }
        var scans: [[ValueID]] = []
        // Each iteration starts only while the condition holds, so its cond input is true.
        let condIn = try ctx.scalar(1, .bool, name: "\(out(n)).cond")
        var i = 0
        while cond && i < (trips ?? Int.max) {
            guard i < unrollLimit else {
                throw n.error("runs more than \(unrollLimit) iterations, which Sinter does not unroll")
            }
            let counter = try ctx.scalar(Double(i), .i64, name: "\(out(n)).iter\(i)")
            let outputs = try ctx.inline(body.g, inputs: [counter, condIn] + carried, n)
            guard outputs.count >= 1 + carried.count else {
                throw n.error("the body returns \(outputs.count) values, fewer than 1 + \(carried.count) carried")
            }
            guard let next = ctx.constants[outputs[0]] else {
                throw n.error(
                    "the condition becomes run-time data in iteration \(i); Sinter unrolls loops whose condition "
                        + "is known at compile time")
            }
            cond = next.doubles.first != 0
            let stateCount = carried.count
            carried = Array(outputs[1..<(1 + stateCount)])
            let perIteration = Array(outputs[(1 + stateCount)...])
            if scans.isEmpty { scans = perIteration.map { _ in [] } }
            for (k, v) in perIteration.enumerated() { scans[k].append(v) }
            i += 1
        }
        let scanCount = max(0, n.proto.output.count - carried.count)
        if i == 0 && scanCount > 0 { throw n.error("runs no iteration, so its scan outputs have no shape") }
        let stacked = try scans.enumerated().map { k, values throws(SinterError) in
            try stack(ctx, values, axis: 0, reverse: false, "\(out(n, carried.count + k))", n)
        }
        return carried + stacked
    }

    static let scan: Converter = { ctx, n throws(SinterError) in
        if n.opset >= 9 {
            return try scan9(
                ctx, n, try (0..<n.inputCount).map { i throws(SinterError) in try ctx.input(n, i) }, tag: "")
        }
        // Opset 8: axis 0 of every input and output is a batch, each entry scanned on its own
        // along axis 1; sequence_lens (input 0) may only be absent.
        if n.input(0) != nil { throw n.error("Scan's sequence_lens input is not supported") }
        let inputs = try (1..<max(n.inputCount, 1)).map { i throws(SinterError) in try ctx.input(n, i) }
        guard let first = inputs.first, let batch = try ctx.staticShape(first, n).first else {
            throw n.error("needs inputs with a batch axis")
        }
        guard batch <= unrollLimit else { throw n.error("has a batch of \(batch), more than Sinter unrolls") }
        var perEntry: [[ValueID]] = []
        for b in 0..<batch {
            let entry = try inputs.enumerated().map { k, x throws(SinterError) in
                try take(ctx, x, axis: 0, at: b, "\(out(n)).b\(b).\(k)", n)
            }
            perEntry.append(try scan9(ctx, n, entry, tag: ".b\(b)"))
        }
        return try (0..<(perEntry.first?.count ?? 0)).map { k throws(SinterError) in
            try stack(ctx, perEntry.map { $0[k] }, axis: 0, reverse: false, out(n, k), n)
        }
    }

    /// Scan as opset 9 defines it, on `all` (initial states, then scan inputs).
    static func scan9(_ ctx: ImportContext, _ n: ONNXNode, _ all: [ValueID], tag: String) throws(SinterError)
        -> [ValueID]
    {
        guard let body = n.attribute("body"), body.hasG else { throw n.error("needs the body graph") }
        let scanInputs = n.int("num_scan_inputs", default: 0)
        guard scanInputs >= 1, scanInputs <= all.count else {
            throw n.error("num_scan_inputs \(scanInputs) is invalid")
        }
        var states = Array(all.dropLast(scanInputs))
        let xs = Array(all.suffix(scanInputs))
        let inAxes = n.ints("scan_input_axes") ?? Array(repeating: 0, count: scanInputs)
        let inReverse = (n.ints("scan_input_directions") ?? []).map { $0 == 1 }
        var length: Int?
        var axes: [Int] = []
        for (k, x) in xs.enumerated() {
            let s = try ctx.staticShape(x, n)
            let a = try axis(k < inAxes.count ? inAxes[k] : 0, s.count, n)
            axes.append(a)
            if let l = length, l != s[a] { throw n.error("scan inputs have different lengths \(l) and \(s[a])") }
            length = s[a]
        }
        let steps = length ?? 0
        guard steps <= unrollLimit else { throw n.error("scans \(steps) steps, more than Sinter unrolls") }
        var outs: [[ValueID]] = []
        for t in 0..<steps {
            var slices: [ValueID] = []
            for (k, x) in xs.enumerated() {
                let at = k < inReverse.count && inReverse[k] ? steps - 1 - t : t
                slices.append(try take(ctx, x, axis: axes[k], at: at, "\(out(n))\(tag).in\(k).\(t)", n))
            }
            let results = try ctx.inline(body.g, inputs: states + slices, n)
            guard results.count >= states.count else { throw n.error("the body returns too few values") }
            states = Array(results[..<states.count])
            let per = Array(results[states.count...])
            if outs.isEmpty { outs = per.map { _ in [] } }
            for (k, v) in per.enumerated() { outs[k].append(v) }
        }
        let outAxes = n.ints("scan_output_axes") ?? []
        let outReverse = (n.ints("scan_output_directions") ?? []).map { $0 == 1 }
        var stacked: [ValueID] = []
        for (k, values) in outs.enumerated() {
            let rank = ctx.type(values[0]).rank + 1
            let a = try axis(k < outAxes.count ? outAxes[k] : 0, rank, n)
            let reverse = k < outReverse.count && outReverse[k]
            stacked.append(try stack(ctx, values, axis: a, reverse: reverse, out(n, states.count + k) + tag, n))
        }
        return states + stacked
    }

    /// x[..., at, ...] along `axis`, with the axis dropped.
    static func take(_ ctx: ImportContext, _ x: ValueID, axis: Int, at: Int, _ name: String, _ n: ONNXNode)
        throws(SinterError) -> ValueID
    {
        var dropped = try ctx.staticShape(x, n)
        let part = try slice(ctx, x, axis: axis, at, at + 1, "\(name).slice", n)
        dropped.remove(at: axis)
        return try reshape(ctx, part, dropped, name, n)
    }

    /// The values joined along a new axis `axis` (in reverse order when `reverse`).
    static func stack(
        _ ctx: ImportContext, _ values: [ValueID], axis: Int, reverse: Bool, _ name: String, _ n: ONNXNode
    ) throws(SinterError) -> ValueID {
        let parts = try (reverse ? values.reversed() : values).enumerated().map { k, v throws(SinterError) in
            var s = try ctx.staticShape(v, n)
            s.insert(1, at: axis)
            return try reshape(ctx, v, s, "\(name).part\(k)", n)
        }
        if parts.count == 1 { return try ctx.emit(.identity, parts, name: name, at: n) }
        return try ctx.emit(.concat, parts, attrs(["axis": .int(axis)]), name: name, at: n)
    }
}

extension ImportContext {
    /// Imports a subgraph's nodes here with its inputs bound to `inputs` and returns its
    /// outputs. Names it defines are visible only inside it; names from the enclosing graphs
    /// resolve as usual.
    func inline(_ body: Onnx_GraphProto, inputs: [ValueID], _ n: ONNXNode) throws(SinterError) -> [ValueID] {
        guard body.input.count == inputs.count else {
            throw n.error(
                "the subgraph '\(body.name)' takes \(body.input.count) inputs, the node gives \(inputs.count)")
        }
        let saved = values
        defer { values = saved }
        for (info, v) in zip(body.input, inputs) { values[info.name] = v }
        var diags = addInitializers(body.initializer)
        diags += convert(body.node, opset: n.opset, after: diags)
        if !diags.isEmpty { throw SinterError(diags) }
        var outputs: [ValueID] = []
        for o in body.output {
            guard let v = values[o.name] else { throw n.error("subgraph output '\(o.name)' is not produced") }
            outputs.append(v)
        }
        return outputs
    }

    /// Binds each initializer's name to a constant; returns the problems found.
    func addInitializers(_ tensors: [Onnx_TensorProto]) -> [Diagnostic] {
        var diags: [Diagnostic] = []
        for t in tensors {
            do throws(SinterError) {
                let data = try t.tensorData(directory: directory, location: .node(name: t.name, opType: "initializer"))
                values[t.name] = try constant(data, name: t.name)
                if keepInitializers, data.dtype.isFloat, let v = values[t.name] { keptInitializers.insert(v) }
            } catch { diags += error.diagnostics }
        }
        return diags
    }

    /// Converts nodes in order, binding their outputs by name; returns every problem found. A
    /// node whose inputs are missing after earlier problems is skipped (its cause is reported).
    func convert(_ nodes: [Onnx_NodeProto], opset: Int, after earlier: [Diagnostic]) -> [Diagnostic] {
        var diags: [Diagnostic] = []
        for proto in nodes {
            let n = ONNXNode(proto: proto, opset: opset)
            let failed = !(earlier.isEmpty && diags.isEmpty)
            guard !failed || proto.input.allSatisfy({ $0.isEmpty || values[$0] != nil }) else { continue }
            do throws(SinterError) {
                guard let converter = Converters.converter(domain: proto.domain, opType: n.opType) else {
                    throw n.error("unsupported op '\(n.opType)'")
                }
                let results = try converter(self, n)
                for (i, name) in proto.output.enumerated() where !name.isEmpty {
                    guard i < results.count, let v = results[i] else { throw n.error("output \(i) is not supported") }
                    values[name] = v
                }
            } catch {
                diags += error.diagnostics.map { $0.location == .unknown ? Diagnostic($0.message, at: n.location) : $0 }
            }
        }
        return diags
    }
}
