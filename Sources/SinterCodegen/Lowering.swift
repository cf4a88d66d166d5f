import SinterIR
import SinterPasses

/// Lowers a planned graph to the kernel IR: one kernel per fused group or unfused node (one per
/// result for split), each made by the kernel unit the op's schema names and scheduled by it,
/// with operands resolved to inputs, outputs, weights or arena offsets.
public enum Lowering {
    /// Fused kernels come from the graph's `kernel` lines (`Graph.kernels`), arena offsets from
    /// its `memory` line (`Graph.memory`, checked by `MemoryPlan(g)`). Schedules come from
    /// `schedule` when given (test-only: a wider ISA's schedules as generic vector code for
    /// `target`, see `CompileOptions.scheduleTarget`).
    public static func lower(_ g: Graph, target: Target, schedule: Target? = nil) throws(SinterError)
        -> KernelProgram
    {
        try checkSupported(g)
        let fusion: FusionPlan? = try FusionPlan(g)
        let plan = try MemoryPlan(g)
        let info = TargetInfo(schedule ?? target)
        let schedules = info.schedules
        var program = KernelProgram(
            name: g.name, inputs: [], outputs: [], constants: [], kernels: [],
            workspaceBytes: plan.arenaBytes)
        var home: [ValueID: Buffer] = [:]
        let defining = g.definingNodes()
        for (i, v) in g.inputs.enumerated() {
            home[v] = .input(i)
            program.inputs.append(spec(g, v))
        }
        for (j, v) in g.outputs.enumerated() {
            program.outputs.append(spec(g, v))
            if home[v] == nil, defining[v].map({ g.nodes[$0].payload == nil }) ?? false {
                home[v] = .output(j)
            }
        }
        var groupAt: [Int: FusionGroup] = [:]
        var member = Set<Int>()
        for group in fusion?.groups ?? [] where group.nodes.count > 1 {
            groupAt[group.root] = group
            member.formUnion(group.nodes)
        }
        // Constants first, so fused kernels can read any of them.
        for node in g.nodes {
            if let p = node.payload {
                home[node.results[0]] = .constant(program.constants.count)
                program.constants.append(p.data)
            }
        }
        for (i, node) in g.nodes.enumerated() where node.payload == nil {
            // Its operands were computed straight into their slices.
            if let r = node.results.first, plan.concatsInPlace.contains(r), let off = plan.offsets[r] {
                home[r] = .workspace(offset: off)
                continue
            }
            // A reshape of a graph input or a weight reads the same bytes: no kernel.
            if let r = node.results.first, plan.callerViews.contains(r), let src = home[node.operands[0]] {
                home[r] = src
                continue
            }
            if let group = groupAt[i] {
                let root = node.results[0]
                if home[root] == nil {
                    guard let off = plan.offsets[root] else {
                        throw SinterError("internal: no memory for '%\(g.name(of: root))'", at: node.location)
                    }
                    home[root] = .workspace(offset: off)
                }
                let (body, operands) = try fusedKernel(group, g, schedules, defining: defining)
                let name =
                    "k\(i)_fused_"
                    + group.nodes.map { g.nodes[$0].op.rawValue.replacing("-", with: "_") }.joined(separator: "_")
                program.kernels.append(
                    Kernel(
                        name: String(name.prefix(80)), body: body,
                        operands: try operands.map { v throws(SinterError) in
                            guard let b = home[v] else {
                                throw SinterError(
                                    "internal: operand '%\(g.name(of: v))' has no buffer", at: node.location)
                            }
                            return b
                        }, result: home[root]!, vectorWidth: info.lanes(.f32),
                        sources: group.nodes.map { g.name(of: g.nodes[$0].results[0]) }))
                continue
            }
            if member.contains(i) { continue }
            // A reshape planned as a view of its operand needs no kernel, nor does a slice planned
            // as a run of it.
            if let r = node.results.first, home[r] == nil, let o = node.operands.first,
                case .workspace(let off)? = home[o],
                let view = PlanMemory.viewOffset(g, node),
                plan.offsets[r] == off + view
            {
                home[r] = .workspace(offset: off + view)
                continue
            }
            for r in node.results where home[r] == nil {
                guard let off = plan.offsets[r] else {
                    throw SinterError("internal: no memory for '%\(g.name(of: r))'", at: node.location)
                }
                home[r] = .workspace(offset: off)
            }
            let operands = node.operands.compactMap { home[$0] }
            let base = "k\(i)_\(node.op.rawValue.replacing("-", with: "_"))"
            for (k, part) in try kernels(node, g, schedules).enumerated() {
                guard let result = home[node.results[part.result]] else { continue }
                program.kernels.append(
                    Kernel(
                        name: k == 0 ? base : "\(base)_\(k)", body: part.body, operands: operands,
                        result: result, vectorWidth: info.lanes(.f32),
                        sources: [g.name(of: node.results[part.result])]))
            }
        }
        prepackConstants(&program)
        for i in program.kernels.indices {
            if let (body, offsets) = program.kernels[i].body.body.hoistingOffsets {
                program.kernels[i].body = KernelBody(unit: program.kernels[i].body.unit, body: body)
                program.kernels[i].operandOffsets = offsets
            }
            program.kernels[i].body.body.schedule(&program.kernels[i], schedules)
        }
        // Outputs that no kernel wrote (graph inputs, constants, or a value listed twice) are copied.
        for (j, v) in g.outputs.enumerated() where home[v] != .output(j) {
            guard let src = home[v], let bytes = g.type(of: v).byteCount else { continue }
            program.kernels.append(
                Kernel(
                    name: "copy_out\(j)",
                    body: KernelBody(unit: MovementUnit.name, body: MovementUnit.Copy(bytes: bytes)),
                    operands: [src],
                    result: .output(j), vectorWidth: info.lanes(.f32), sources: [g.name(of: v)]))
        }
        return program
    }

    /// Constant operands a kernel reads in a layout of its own (a GEMM's packed B panels) are
    /// packed here, once, at compile time: the packed tensor replaces the original, which is
    /// dropped when no other kernel reads it. Kernels whose packed bytes are equal share one copy
    /// (compared as data: two kernels of one weight constant may pack different trailers, such
    /// as an int8 conv's compensation for inputs with different zero points).
    static func prepackConstants(_ program: inout KernelProgram) {
        var packed: [TensorData: Int] = [:]
        for i in program.kernels.indices {
            let k = program.kernels[i]
            for (j, operand) in k.operands.enumerated() {
                guard case .constant(let c) = operand,
                    let (body, data) = k.body.body.prepacking(j, program.constants[c])
                else { continue }
                let index = packed[data] ?? program.constants.count
                if packed[data] == nil {
                    packed[data] = index
                    program.constants.append(data)
                }
                program.kernels[i].body = KernelBody(unit: k.body.unit, body: body)
                program.kernels[i].operands[j] = .constant(index)
            }
        }
        guard !packed.isEmpty else { return }
        // Drop constants no kernel reads any more, renumbering the rest.
        var used = Set<Int>()
        for k in program.kernels {
            for case .constant(let c) in k.operands + [k.result] { used.insert(c) }
        }
        var renumber: [Int: Int] = [:]
        var kept: [TensorData] = []
        for (c, data) in program.constants.enumerated() where used.contains(c) {
            renumber[c] = kept.count
            kept.append(data)
        }
        program.constants = kept
        for i in program.kernels.indices {
            program.kernels[i].operands = program.kernels[i].operands.map { b in
                if case .constant(let c) = b, let n = renumber[c] { .constant(n) } else { b }
            }
        }
    }

    static func spec(_ g: Graph, _ v: ValueID) -> KernelProgram.TensorSpec {
        KernelProgram.TensorSpec(name: g.name(of: v), type: g.type(of: v), shape: g.type(of: v).shape ?? [])
    }

    /// Dtypes each kernel family can generate code for today (its unit says).
    static func supports(_ kernel: KernelFamily, _ operandTypes: [DType], _ resultTypes: [DType]) -> Bool {
        if kernel == .none { return true }
        return KernelUnits.unit(for: kernel)?.supports(operands: operandTypes, results: resultTypes) ?? false
    }

    /// Reports every value codegen cannot handle yet, all at once.
    static func checkSupported(_ g: Graph) throws(SinterError) {
        var diags: [Diagnostic] = []
        for v in g.inputs where !g.type(of: v).isStatic {
            let t = g.type(of: v)
            diags.append(
                Diagnostic(
                    "input '%\(g.name(of: v))' has symbolic type \(t): bind "
                        + "\(t.symbols.joined(separator: ", ")) with --shape NAME=VALUE (symbolic sizes are not "
                        + "supported by codegen yet)",
                    at: g.location))
        }
        for v in g.values where v.type.isTooLarge {
            diags.append(Diagnostic("'%\(v.name)' has type \(v.type), which is too large for memory", at: g.location))
        }
        for node in g.nodes {
            let results = node.results.map(g.type(of:))
            if let t = results.first(where: { !$0.isStatic }) {
                diags.append(
                    Diagnostic(
                        "'\(node.op.rawValue)' has symbolic type \(t): bind "
                            + "\(t.symbols.joined(separator: ", ")) with --shape",
                        at: node.location))
                continue
            }
            if case .expanded(let pass) = node.op.schema.kernel {
                diags.append(
                    Diagnostic(
                        "'\(node.op.rawValue)' is rewritten by the '\(pass)' pass before codegen, and this "
                            + "pipeline does not run it",
                        at: node.location))
                continue
            }
            let operandTypes = node.operands.map { g.type(of: $0).dtype }
            if !supports(node.op.schema.kernel, operandTypes, results.map(\.dtype)) {
                let types = Set(operandTypes + results.map(\.dtype)).map(\.rawValue).sorted().joined(separator: ", ")
                diags.append(
                    Diagnostic(
                        "'\(node.op.rawValue)' on \(types): codegen has no kernel for this op on these dtypes",
                        at: node.location))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
    }

    struct Part {
        var body: KernelBody
        var result = 0
    }

    /// The node's kernels, one per result, from the unit its schema names.
    static func kernels(_ node: Node, _ g: Graph, _ schedules: Schedules) throws(SinterError) -> [Part] {
        guard let unit = KernelUnits.unit(for: node.op.schema.kernel) else {
            throw SinterError("internal: no kernel unit for '\(node.op.rawValue)'", at: node.location)
        }
        let c = UnitLowering(
            node: node, operandTypes: node.operands.map(g.type(of:)), resultTypes: node.results.map(g.type(of:)),
            schedules: schedules)
        return try unit.lower(c).enumerated().map { i, b in Part(body: KernelBody(unit: unit.name, body: b), result: i)
        }
    }

    /// Merges adjacent dimensions that every operand walks contiguously (or broadcasts
    /// along both), so loops are as few and as long as possible. Rank 0 becomes [1].
    static func collapse(_ shape: [Int], _ strides: [[Int]]) -> ([Int], [[Int]]) {
        var outShape: [Int] = []
        var outStrides: [[Int]] = strides.map { _ in [] }
        for d in shape.indices where shape[d] != 1 || shape.count == 1 {
            if let last = outShape.last,
                strides.indices.allSatisfy({ k in outStrides[k].last! == strides[k][d] * shape[d] })
            {
                outShape[outShape.count - 1] = last * shape[d]
                for k in strides.indices { outStrides[k][outStrides[k].count - 1] = strides[k][d] }
            } else {
                outShape.append(shape[d])
                for k in strides.indices { outStrides[k].append(strides[k][d]) }
            }
        }
        if outShape.isEmpty { return ([1], strides.map { _ in [0] }) }
        return (outShape, outStrides)
    }
}
