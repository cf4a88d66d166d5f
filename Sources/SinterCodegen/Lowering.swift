import SinterIR
import SinterPasses

/// Lowers a planned graph to the kernel IR: one kernel per non-constant node (a group of one
/// until fusion lands; split gives one kernel per result), with operands resolved to inputs,
/// outputs, weights or arena offsets.
public enum Lowering {
    /// Fused kernels come from the graph's `kernel` lines (`Graph.kernels`).
    public static func lower(_ g: Graph, plan: MemoryPlan, target: Target) throws(SinterError) -> KernelProgram {
        try checkSupported(g)
        let fusion: FusionPlan? = try FusionPlan(g)
        let info = TargetInfo(target)
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
                let (body, operands, scratch) = try fusedKernel(group, g)
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
                        sources: group.nodes.map { g.name(of: g.nodes[$0].results[0]) },
                        scratchBytes: scratch))
                continue
            }
            if member.contains(i) { continue }
            // A reshape planned as a view of its operand needs no kernel.
            if node.op.schema.kernel == .copy, let r = node.results.first, home[r] == nil,
                case .workspace(let off)? = home[node.operands[0]], plan.offsets[r] == off
            {
                home[r] = .workspace(offset: off)
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
            for (k, part) in try kernels(node, g).enumerated() {
                guard let result = home[node.results[part.result]] else { continue }
                program.kernels.append(
                    Kernel(
                        name: k == 0 ? base : "\(base)_\(k)", body: part.body, operands: operands,
                        result: result, vectorWidth: info.lanes(.f32),
                        sources: [g.name(of: node.results[part.result])], scratchBytes: part.scratch))
            }
        }
        for i in program.kernels.indices {
            if case .convBlocked(let geo, _) = program.kernels[i].body {
                let tile = schedules.blockedConvTile(outBlocks: geo.outBlocks)
                program.kernels[i].registerTile = [tile.blocks, tile.pixels]
            }
            parallelize(&program.kernels[i], schedules)
        }
        // Outputs that no kernel wrote (graph inputs, constants, or a value listed twice) are copied.
        for (j, v) in g.outputs.enumerated() where home[v] != .output(j) {
            guard let src = home[v], let bytes = g.type(of: v).byteCount else { continue }
            program.kernels.append(
                Kernel(
                    name: "copy_out\(j)", body: .copy(bytes: bytes), operands: [src],
                    result: .output(j), vectorWidth: info.lanes(.f32), sources: [g.name(of: v)]))
        }
        return program
    }

    static func spec(_ g: Graph, _ v: ValueID) -> KernelProgram.TensorSpec {
        KernelProgram.TensorSpec(name: g.name(of: v), type: g.type(of: v), shape: g.type(of: v).shape ?? [])
    }

    /// Dtypes each kernel family can generate code for today.
    static func supports(_ kernel: KernelFamily, _ operandTypes: [DType], _ resultTypes: [DType]) -> Bool {
        let all = operandTypes + resultTypes
        switch kernel {
        case .none, .copy, .transpose, .concat, .split, .slice, .gather, .tile, .elementwise:
            return true
        case .matmul, .conv, .convBlocked, .depthwiseBlocked, .pool, .poolBlocked:
            return all.allSatisfy { $0 == .f32 }
        case .unit(let name):
            return KernelUnits.named(name)?.supports(operands: operandTypes, results: resultTypes) ?? false
        }
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
            let operandTypes = node.operands.map { g.type(of: $0).dtype }
            if !supports(node.op.schema.kernel, operandTypes, results.map(\.dtype)) {
                let types = Set(operandTypes + results.map(\.dtype)).map(\.rawValue).sorted().joined(separator: ", ")
                diags.append(
                    Diagnostic(
                        "'\(node.op.rawValue)' on \(types): codegen supports only f32 for this op so far",
                        at: node.location))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
    }

    struct Part {
        var body: KernelBody
        var result = 0
        var scratch = 0
    }

    static func kernels(_ node: Node, _ g: Graph) throws(SinterError) -> [Part] {
        let resultType = g.type(of: node.results[0])
        let outShape = resultType.shape ?? []
        let inTypes = node.operands.map(g.type(of:))
        let inShapes = inTypes.map { $0.shape ?? [] }
        let bytes = resultType.dtype.byteSize
        func fail(_ e: ShapeError) -> SinterError { SinterError(e.message, at: node.location) }
        func int(_ name: String) -> Int { if case .int(let v)? = node.attribute(name) { v } else { 0 } }
        func bool(_ name: String) -> Bool { if case .bool(let v)? = node.attribute(name) { v } else { false } }
        /// The node's window over `input` (strides, pads and dilations from its attributes).
        func window(_ input: [Int], _ kernel: [Int], ceilMode: Bool = false) throws(SinterError) -> ShapeRules.Window {
            do throws(ShapeError) {
                return try ShapeRules.window(
                    input: input, kernel: kernel, attributes: node.attributes, ceilMode: ceilMode)
            } catch { throw fail(error) }
        }
        switch node.op.schema.kernel {
        case .none:
            throw SinterError("internal: constant reached kernel lowering", at: node.location)
        case .elementwise:
            guard let expr = node.op.schema.scalar else {
                throw SinterError("internal: no scalar expression for '\(node.op.rawValue)'", at: node.location)
            }
            let resolved = expr.substituting { name in
                switch node.attribute(name) {
                case .float(let v)?: v
                case .int(let v)?: Double(v)
                default: .nan
                }
            }
            let (shape, strides) = collapse(outShape, inShapes.map { broadcastStrides($0, to: outShape) })
            return [
                Part(
                    body: .elementwise(
                        expr: resolved, shape: shape, strides: strides, offsets: inShapes.map { _ in 0 },
                        operandTypes: inTypes.map(\.dtype), resultType: resultType.dtype))
            ]
        case .matmul:
            let (body, scratch) = matmulBody(
                a: operandView(g, node.operands[0]), b: operandView(g, node.operands[1]),
                transA: bool("trans_a"), transB: bool("trans_b"), outShape: outShape)
            return [Part(body: body, scratch: scratch)]
        case .copy:
            return [Part(body: .copy(bytes: outShape.reduce(1, *) * bytes))]
        case .transpose, .slice:
            // The same view definition the evaluator and prologue fusion use.
            guard let view = StridedView.movement(node.op, node.attributes, input: inShapes[0], result: outShape) else {
                throw SinterError("'\(node.op.rawValue)' has invalid attributes for its operand", at: node.location)
            }
            return [Part(body: .stridedCopy(strided(outShape, view.strides, view.offset, bytes)))]
        case .split:
            let shape = inShapes[0]
            let axis = ShapeRules.normalizedAxis(int("axis"), rank: shape.count)
            let st = contiguousStrides(shape)
            var start = 0
            return node.results.indices.map { r in
                let part = g.type(of: node.results[r]).shape ?? []
                defer { start += part[axis] }
                return Part(body: .stridedCopy(strided(part, st, start * st[axis], bytes)), result: r)
            }
        case .concat:
            let axis = (int("axis") + outShape.count) % max(outShape.count, 1)
            let outStrides = contiguousStrides(outShape)
            var start = 0
            let parts = inShapes.map { s -> StridedCopy in
                defer { start += s[axis] }
                return StridedCopy(
                    shape: s, inStrides: contiguousStrides(s), inOffset: 0, outStrides: outStrides,
                    outOffset: start * outStrides[axis], elementBytes: bytes)
            }
            return [Part(body: .concat(parts))]
        case .tile:
            // out viewed as [r0, d0, r1, d1, ...] reads x at [0, s0, 0, s1, ...].
            let reps = node.attributes.ints("repeats") ?? []
            let st = contiguousStrides(inShapes[0])
            let shape = zip(reps, inShapes[0]).flatMap { [$0, $1] }
            return [Part(body: .stridedCopy(strided(shape, st.flatMap { [0, $0] }, 0, bytes)))]
        case .gather:
            let shape = inShapes[0]
            let axis = ShapeRules.normalizedAxis(int("axis"), rank: shape.count)
            return [
                Part(
                    body: .gather(
                        outer: shape[..<axis].reduce(1, *), axis: shape[axis], indices: inShapes[1].reduce(1, *),
                        inner: shape[(axis + 1)...].reduce(1, *), elementBytes: bytes, indexType: inTypes[1].dtype))
            ]
        case .unit(let name):
            guard let unit = KernelUnits.named(name) else {
                throw SinterError("internal: no kernel unit '\(name)' for '\(node.op.rawValue)'", at: node.location)
            }
            let bodies = try unit.lower(UnitLowering(node: node, operandTypes: inTypes, resultTypes: [resultType]))
            return bodies.enumerated().map { i, b in Part(body: .unit(UnitBody(unit: name, body: b)), result: i) }
        case .conv:
            let x = inShapes[0], w = inShapes[1]
            let win = try window(Array(x[2...]), Array(w[2...]))
            let group = max(int("group"), 1)
            let geometry = WindowGeometry(
                batch: x[0], channels: x[1], input: Array(x[2...]), window: win, outChannels: w[0],
                group: group, countIncludePad: false)
            // im2col buffer for one group: (C/group · Πk) rows × Πout columns of f32.
            let scratch =
                KernelEmitter.isPointwise(geometry)
                ? 0
                : (x[1] / group) * win.kernel.reduce(1, *) * win.output.reduce(1, *) * 4
            return [Part(body: .conv(geometry, epilogue: nil), scratch: scratch)]
        case .convBlocked:
            let x = inShapes[0], w = inShapes[1]
            let win = try window([x[2], x[3]], [w[2], w[3]])
            return [
                Part(
                    body: .convBlocked(
                        BlockedConvGeometry(
                            batch: x[0], inBlocks: x[1], outBlocks: w[0], block: w[5], inBlock: x[4],
                            input: [x[2], x[3]], window: win), epilogue: nil))
            ]
        case .pool(let kind):
            let x = inShapes[0]
            let win = try window(Array(x[2...]), node.attributes.ints("kernel") ?? [], ceilMode: bool("ceil_mode"))
            return [
                Part(
                    body: .pool(
                        kind,
                        WindowGeometry(
                            batch: x[0], channels: x[1], input: Array(x[2...]), window: win,
                            outChannels: x[1], group: 1, countIncludePad: bool("count_include_pad"))))
            ]
        case .depthwiseBlocked:
            let x = inShapes[0], w = inShapes[1]
            let win = try window([x[2], x[3]], [w[1], w[2]])
            return [
                Part(
                    body: .depthwiseBlocked(
                        BlockedConvGeometry(
                            batch: x[0], inBlocks: x[1], outBlocks: x[1], block: x[4], inBlock: x[4],
                            input: [x[2], x[3]], window: win), epilogue: nil))
            ]
        case .poolBlocked(let kind):
            let x = inShapes[0]
            let win = try window([x[2], x[3]], node.attributes.ints("kernel") ?? [], ceilMode: bool("ceil_mode"))
            return [
                Part(
                    body: .poolBlocked(
                        kind,
                        WindowGeometry(
                            batch: x[0], channels: x[1], input: [x[2], x[3]], window: win,
                            outChannels: x[1], group: 1, countIncludePad: bool("count_include_pad")),
                        block: x[4]))
            ]
        }
    }

    /// How far big kernels may split for the thread pool: matmuls by blocks of 4 rows, convs
    /// by output channels or whole output rows, blocked kernels by output rows. Each gets
    /// `tasks`, the most parts its work supports (work / grain, at most its rows); the context
    /// splits it at run time into one part per thread, at most that many. Small kernels stay
    /// whole because waking threads costs more than the work. Kernels whose parts each need
    /// scratch are capped at `Schedules.maxScratchParts` so the workspace stays bounded.
    static func parallelize(_ k: inout Kernel, _ s: Schedules) {
        switch k.body {
        case .matmul(let batch, _, let b, let m, let n, let kk, _):
            let flops = (checkedProduct(batch + [m, n, kk]) ?? .max)
            guard flops >= s.splitFlops else { return }
            let packs = b.colStride != 1
            k.tasks = s.parts(work: flops, grain: s.grainFlops, units: packs ? min(m / 4, s.maxScratchParts) : m / 4)
            // Each part packs strided B columns into its own region.
            if packs {
                k.scratchBytes = KernelProgram.aligned(k.tasks * KernelEmitter.packedBFloats(n: n, k: kk) * 4)
            }
        case .conv(let g, _):
            let positions = g.window.output.reduce(1, *)
            let flops =
                (checkedProduct([g.batch, g.outChannels, positions, g.channels / g.group] + g.window.kernel) ?? .max)
            guard flops >= s.splitFlops else { return }
            if KernelEmitter.splitsRows(g) {
                k.tasks = s.parts(work: flops, grain: s.grainFlops, units: g.outChannels / g.group / 4)
                return
            }
            // Parts are whole rows of the innermost output axis, so im2col walks rows; each
            // part has its own im2col columns.
            let rowLength = g.window.output.last ?? 1
            let rows = positions / max(rowLength, 1)
            let units = min(rows, positions / (4 * k.vectorWidth), s.maxScratchParts)
            let tasks = s.parts(work: flops, grain: s.grainFlops, units: units)
            guard tasks > 1 else { return }
            let width = (rows + tasks - 1) / tasks * rowLength
            k.tasks = (positions + width - 1) / width
            // Part j's im2col block starts at column p0(j) · K, whatever the part count, so
            // the scratch holds K × (positions + one row per part) floats.
            if k.scratchBytes > 0 {
                let kDim = (g.channels / g.group) * g.window.kernel.reduce(1, *)
                k.scratchBytes = KernelProgram.aligned(kDim * (positions + k.tasks * rowLength) * 4)
            }
        case .poolBlocked(_, let g, let block):
            // Pooling is memory-bound: split when it touches more than about a megabyte.
            let rows = g.batch * g.channels * g.window.output[0]
            let reads = (checkedProduct([rows, g.window.output[1], block] + g.window.kernel) ?? .max)
            if reads >= s.splitReads { k.tasks = s.parts(work: reads, grain: s.grainReads, units: rows) }
        case .depthwiseBlocked(let g, _):
            let rows = g.batch * g.outBlocks * g.window.output[0]
            let flops = (checkedProduct([rows, g.window.output[1], g.block] + g.window.kernel) ?? .max)
            if flops >= s.splitDepthwiseFlops {
                k.tasks = s.parts(work: flops, grain: s.grainDepthwiseFlops, units: rows)
            }
        case .convBlocked(let g, _):
            let rows = g.batch * g.outBlocks * g.window.output[0]
            let flops =
                (checkedProduct([rows, g.window.output[1], g.block, g.inBlocks, g.inBlock] + g.window.kernel) ?? .max)
            if flops >= s.splitFlops { k.tasks = s.parts(work: flops, grain: s.grainFlops, units: rows) }
        case .unit(let u):
            u.body.schedule(&k, s)
        default:
            break
        }
    }

    static func strided(_ shape: [Int], _ inStrides: [Int], _ inOffset: Int, _ bytes: Int) -> StridedCopy {
        StridedCopy(
            shape: shape, inStrides: inStrides, inOffset: inOffset, outStrides: contiguousStrides(shape), outOffset: 0,
            elementBytes: bytes)
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
