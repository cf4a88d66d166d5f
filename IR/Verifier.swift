/// Checks a graph against the op table and SSA rules, collecting every problem found.
/// The parser calls it after reading; the pass manager calls it after each pass when asked.
public enum Verifier {
    public static func verify(_ g: Graph) throws(SinterError) {
        let diags = diagnose(g)
        if !diags.isEmpty { throw SinterError(diags) }
    }

    public static func diagnose(_ g: Graph) -> [Diagnostic] {
        var diags: [Diagnostic] = []
        var defined = Set<ValueID>()
        var names: [String: ValueID] = [:]

        func define(_ v: ValueID, at loc: SourceLocation) {
            guard v.index >= 0, v.index < g.values.count else {
                diags.append(Diagnostic("result refers to a value that does not exist", at: loc))
                return
            }
            if g.type(of: v).isTooLarge {
                diags.append(
                    Diagnostic("'%\(g.name(of: v))' has type \(g.type(of: v)), which is too large for memory", at: loc))
            }
            if g.type(of: v).dims.count > TensorType.maxRank {
                diags.append(
                    Diagnostic(
                        "'%\(g.name(of: v))' has rank \(g.type(of: v).dims.count); tensors have at most "
                            + "\(TensorType.maxRank) dimensions", at: loc))
            }
            if let q = g.type(of: v).quant,
                let problem = q.problem(dtype: g.type(of: v).dtype, dims: g.type(of: v).dims)
            {
                diags.append(Diagnostic("'%\(g.name(of: v))': \(problem)", at: loc))
            }
            if defined.contains(v) { diags.append(Diagnostic("value '%\(g.name(of: v))' is defined twice", at: loc)) }
            defined.insert(v)
            let n = g.name(of: v)
            if let other = names[n], other != v { diags.append(Diagnostic("duplicate value name '%\(n)'", at: loc)) }
            names[n] = v
        }

        for v in g.inputs { define(v, at: g.location) }
        for node in g.nodes {
            let s = node.op.schema
            let loc = node.location
            let opName = node.op.rawValue
            var operandsOK = true
            for o in node.operands where !defined.contains(o) {
                let what = o.index >= 0 && o.index < g.values.count ? "'%\(g.name(of: o))'" : "#\(o.index)"
                diags.append(Diagnostic("operand \(what) of '\(opName)' is used before it is defined", at: loc))
                operandsOK = false
            }
            for r in node.results { define(r, at: loc) }
            if !s.acceptsOperandCount(node.operands.count) {
                diags.append(
                    Diagnostic(
                        "'\(opName)' takes \(s.variadic ? "at least " : "")\(s.operandCount) operand(s), got "
                            + "\(node.operands.count)",
                        at: loc))
                operandsOK = false
            }
            if node.results.count != s.resultCount && !(node.op == .split) {
                diags.append(
                    Diagnostic("'\(opName)' has \(s.resultCount) result(s), got \(node.results.count)", at: loc))
                continue
            }
            let attributeProblems = checkAttributes(node, s)
            diags += attributeProblems
            if s.traits.contains(.payload) != (node.payload != nil) {
                diags.append(
                    Diagnostic(
                        node.payload == nil ? "'\(opName)' needs a value" : "'\(opName)' takes no value", at: loc))
                continue
            }
            // The shape rule would only repeat attribute problems (or guess past them).
            guard operandsOK, attributeProblems.isEmpty else { continue }
            let operandTypes = node.operands.map(g.type(of:))
            if let k = operandTypes.indices.first(where: {
                !s.dtypeConstraint(forOperand: $0).allows(operandTypes[$0].dtype)
            }) {
                diags.append(
                    Diagnostic(
                        "'\(opName)' needs \(s.dtypeConstraint(forOperand: k).phrase), got "
                            + "\(operandTypes[k].dtype.rawValue)",
                        at: loc))
                continue
            }
            do throws(ShapeError) {
                let inferred = try g.inferResultTypes(of: node)
                for (r, t) in zip(node.results, inferred) where g.type(of: r) != t {
                    diags.append(
                        Diagnostic(
                            "type mismatch: '\(opName)' gives \(t) but '%\(g.name(of: r))' is declared "
                                + "\(g.type(of: r))",
                            at: loc))
                }
            } catch {
                diags.append(Diagnostic("'\(opName)': \(error.message)", at: loc))
            }
        }
        for o in g.outputs where !defined.contains(o) {
            let what = o.index >= 0 && o.index < g.values.count ? "'%\(g.name(of: o))'" : "#\(o.index)"
            diags.append(Diagnostic("graph output \(what) is never defined", at: g.location))
        }
        if g.outputs.isEmpty { diags.append(Diagnostic("graph '@\(g.name)' has no outputs", at: g.location)) }
        // Fused kernels must still describe this graph (after any pass, not only after fuse).
        if diags.isEmpty { diags += g.resolveKernels().problems + g.arenaProblems() }
        return diags
    }

    static func checkAttributes(_ node: Node, _ s: OpSchema) -> [Diagnostic] {
        var diags: [Diagnostic] = []
        let opName = node.op.rawValue
        for (name, value) in node.attributes {
            guard let spec = s.attributeSpec(name) else {
                let known = s.attributes.map(\.name)
                let hint = known.isEmpty ? "it takes none" : "expected one of: \(known.joined(separator: ", "))"
                diags.append(Diagnostic("unknown attribute '\(name)' for '\(opName)' (\(hint))", at: node.location))
                continue
            }
            if value.kind != spec.kind {
                diags.append(
                    Diagnostic(
                        "attribute '\(name)' of '\(opName)' must be \(spec.kind.rawValue), got "
                            + "\(value.kind.rawValue) \(value)",
                        at: node.location))
            } else if let allowed = spec.allowed, case .string(let v) = value, !allowed.contains(v) {
                diags.append(
                    Diagnostic(
                        "attribute '\(name)' of '\(opName)' is \(value), not one of \(allowed.joined(separator: ", "))",
                        at: node.location))
            }
        }
        for spec in s.attributes where spec.required && node.attributes[spec.name] == nil {
            diags.append(Diagnostic("'\(opName)' needs attribute '\(spec.name)'", at: node.location))
        }
        return diags
    }
}
