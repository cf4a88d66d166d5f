import SinterIR
import SinterPasses

/// Lowers a planned graph to the kernel IR: one kernel per non-constant node (a group of one
/// until fusion lands), with operands resolved to inputs, outputs, weights or arena offsets.
public enum Lowering {
    public static func lower(_ g: Graph, plan: MemoryPlan, target: Target) throws(SinterError) -> KernelProgram {
        try checkSupported(g)
        var program = KernelProgram(name: g.name, inputs: [], outputs: [], constants: [], kernels: [],
                                    workspaceBytes: plan.arenaBytes)
        var home: [ValueID: Buffer] = [:]
        for (i, v) in g.inputs.enumerated() {
            home[v] = .input(i)
            program.inputs.append(spec(g, v))
        }
        for (j, v) in g.outputs.enumerated() {
            program.outputs.append(spec(g, v))
            if home[v] == nil, g.definingNodes()[v].map({ g.nodes[$0].payload == nil }) ?? false {
                home[v] = .output(j)
            }
        }
        for (i, node) in g.nodes.enumerated() {
            let r = node.results[0]
            if let p = node.payload {
                home[r] = .constant(program.constants.count)
                program.constants.append(p.data)
                continue
            }
            if home[r] == nil {
                guard let off = plan.offsets[r] else { throw SinterError("internal: no memory for '%\(g.name(of: r))'", at: node.location) }
                home[r] = .workspace(offset: off)
            }
            let operands = node.operands.compactMap { home[$0] }
            let body = try kernelBody(node, g)
            program.kernels.append(Kernel(name: "k\(i)_\(node.op.rawValue.replacing("-", with: "_"))", body: body,
                                          operands: operands, result: home[r]!, vectorWidth: target.vectorWidth,
                                          sources: [g.name(of: r)]))
        }
        // Outputs that no kernel wrote (graph inputs, constants, or a value listed twice) are copied.
        for (j, v) in g.outputs.enumerated() where home[v] != .output(j) {
            guard let src = home[v], let bytes = g.type(of: v).byteCount else { continue }
            program.kernels.append(Kernel(name: "copy_out\(j)", body: .copy(bytes: bytes), operands: [src],
                                          result: .output(j), vectorWidth: target.vectorWidth, sources: [g.name(of: v)]))
        }
        return program
    }

    static func spec(_ g: Graph, _ v: ValueID) -> KernelProgram.TensorSpec {
        KernelProgram.TensorSpec(name: g.name(of: v), type: g.type(of: v), shape: g.type(of: v).shape ?? [])
    }

    /// Reports every value codegen cannot handle yet, all at once.
    static func checkSupported(_ g: Graph) throws(SinterError) {
        var diags: [Diagnostic] = []
        for v in g.inputs where !g.type(of: v).isStatic {
            let t = g.type(of: v)
            diags.append(Diagnostic("input '%\(g.name(of: v))' has symbolic type \(t): bind \(t.symbols.joined(separator: ", ")) with --shape NAME=VALUE (symbolic sizes are not supported by codegen yet)", at: g.location))
        }
        for v in g.inputs where g.type(of: v).dtype != .f32 {
            diags.append(Diagnostic("input '%\(g.name(of: v))' is \(g.type(of: v).dtype.rawValue): codegen supports only f32 so far", at: g.location))
        }
        for node in g.nodes {
            for r in node.results {
                let t = g.type(of: r)
                if t.dtype != .f32 {
                    diags.append(Diagnostic("'\(node.op.rawValue)' produces \(t.dtype.rawValue): codegen supports only f32 so far", at: node.location))
                } else if !t.isStatic {
                    diags.append(Diagnostic("'\(node.op.rawValue)' has symbolic type \(t): bind \(t.symbols.joined(separator: ", ")) with --shape", at: node.location))
                }
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
    }

    static func kernelBody(_ node: Node, _ g: Graph) throws(SinterError) -> KernelBody {
        let outShape = g.type(of: node.results[0]).shape ?? []
        let inShapes = node.operands.map { g.type(of: $0).shape ?? [] }
        switch node.op.schema.kernel {
        case .none:
            throw SinterError("internal: constant reached kernel lowering", at: node.location)
        case .elementwise:
            guard let expr = node.op.schema.scalar else { throw SinterError("internal: no scalar expression for '\(node.op.rawValue)'", at: node.location) }
            let (shape, strides) = collapse(outShape, inShapes.map { broadcastStrides($0, to: outShape) })
            return .elementwise(expr: expr, shape: shape, strides: strides)
        case .matmul:
            let a = inShapes[0], b = inShapes[1]
            let m = a[a.count - 2], k = a[a.count - 1], n = b[b.count - 1]
            let batch = Array(outShape.dropLast(2))
            let aStr = broadcastStrides(Array(a.dropLast(2)), to: batch).map { $0 * m * k }
            let bStr = broadcastStrides(Array(b.dropLast(2)), to: batch).map { $0 * k * n }
            return .matmul(batch: batch, aBatchStrides: aStr, bBatchStrides: bStr, m: m, n: n, k: k)
        case .copy:
            return .copy(bytes: outShape.reduce(1, *) * g.type(of: node.results[0]).dtype.byteSize)
        case .transpose:
            let perm = node.attributes.ints("perm") ?? Array((0..<inShapes[0].count).reversed())
            let inStrides = contiguousStrides(inShapes[0])
            return .transpose(shape: outShape, inStrides: perm.map { inStrides[$0] },
                              elementBytes: g.type(of: node.results[0]).dtype.byteSize)
        case .softmax:
            let shape = inShapes[0]
            let raw = node.attribute("axis").flatMap { if case .int(let a) = $0 { a } else { nil } } ?? -1
            let axis = raw < 0 ? raw + shape.count : raw
            return .softmax(outer: shape[..<axis].reduce(1, *), axis: shape[axis], inner: shape[(axis + 1)...].reduce(1, *))
        case .reduce(let kind):
            let shape = inShapes[0]
            let axes: [Int]
            do throws(ShapeError) { axes = try ShapeRules.normalizedAxes(node.attributes.ints("axes"), rank: shape.count) } catch {
                throw SinterError(error.message, at: node.location)
            }
            var dims: [Int] = []
            var flags: [Bool] = []
            for (i, d) in shape.enumerated() {
                let r = axes.contains(i)
                if let last = flags.last, last == r { dims[dims.count - 1] *= d } else { dims.append(d); flags.append(r) }
            }
            if dims.isEmpty { dims = [1]; flags = [false] }
            return .reduce(kind, shape: dims, reduced: flags)
        }
    }

    /// Merges adjacent dimensions that every operand walks contiguously (or broadcasts
    /// along both), so loops are as few and as long as possible. Rank 0 becomes [1].
    static func collapse(_ shape: [Int], _ strides: [[Int]]) -> ([Int], [[Int]]) {
        var outShape: [Int] = []
        var outStrides: [[Int]] = strides.map { _ in [] }
        for d in shape.indices where shape[d] != 1 || shape.count == 1 {
            if let last = outShape.last,
               strides.indices.allSatisfy({ k in outStrides[k].last! == strides[k][d] * shape[d] }) {
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
