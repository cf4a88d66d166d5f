import SinterIR

/// `fold-constants`: evaluates elementwise ops, reshapes and transposes whose operands are
/// all constants, using the op's scalar expression from the schema (any dtype), and
/// replaces them by constants. Results larger than `PassContext.foldLimit` are left alone.
///
///     %a = constant dense<2.0> : f32[2]
///     %b = exp %a : f32[2]
///     %y = add %x, %b : f32[2]
///     ==>
///     %a = constant dense<2.0> : f32[2]
///     %b = constant dense<7.389056> : f32[2]
///     %y = add %x, %b : f32[2]
public struct FoldConstants: Pass {
    public static let name = "fold-constants"
    public static let summary = "evaluate ops whose operands are all constants (elementwise, reshape, transpose)"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var known: [ValueID: TensorData] = [:]
        var changed = false
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            if let p = node.payload { known[node.results[0]] = p.data; continue }
            let inputs = node.operands.compactMap { known[$0] }
            guard inputs.count == node.operands.count, node.results.count == 1,
                  let shape = graph.type(of: node.results[0]).shape,
                  let count = checkedProduct(shape), count <= context.foldLimit,
                  let folded = Self.evaluate(node, inputs, resultShape: shape,
                                             resultDType: graph.type(of: node.results[0]).dtype) else { continue }
            graph.nodes[i] = Node(op: .constant, operands: [], results: node.results,
                                  payload: ConstantPayload(folded), location: node.location)
            known[node.results[0]] = folded
            changed = true
        }
        return changed
    }

    static func evaluate(_ node: Node, _ inputs: [TensorData], resultShape: [Int], resultDType: DType) -> TensorData? {
        switch node.op.schema.kernel {
        case .elementwise:
            guard let expr = node.op.schema.scalar else { return nil }
            let values = inputs.map(\.doubles)
            let strides = inputs.map { broadcastStrides($0.shape, to: resultShape) }
            let count = resultShape.reduce(1, *)
            var out = [Double](repeating: 0, count: count)
            var index = [Int](repeating: 0, count: resultShape.count)
            var args = [Double](repeating: 0, count: inputs.count)
            let attribute: (String) -> Double = { name in
                switch node.attribute(name) {
                case .float(let v)?: v
                case .int(let v)?: Double(v)
                default: .nan
                }
            }
            for flat in 0..<count {
                for k in inputs.indices {
                    var off = 0
                    for d in index.indices { off += index[d] * strides[k][d] }
                    args[k] = values[k][off]
                }
                out[flat] = expr.evaluate(args, attribute: attribute)
                for d in stride(from: index.count - 1, through: 0, by: -1) {
                    index[d] += 1
                    if index[d] < resultShape[d] { break }
                    index[d] = 0
                }
            }
            return TensorData(dtype: resultDType, shape: resultShape, values: out)
        case .copy:
            return TensorData(dtype: inputs[0].dtype, shape: resultShape, bytes: inputs[0].bytes)
        case .transpose:
            let t = inputs[0]
            let perm = node.attributes.ints("perm") ?? Array((0..<t.shape.count).reversed())
            let inStrides = contiguousStrides(t.shape)
            let size = t.dtype.byteSize
            var bytes = [UInt8](repeating: 0, count: t.bytes.count)
            var index = [Int](repeating: 0, count: resultShape.count)
            for flat in 0..<resultShape.reduce(1, *) {
                var off = 0
                for d in index.indices { off += index[d] * inStrides[perm[d]] }
                for b in 0..<size { bytes[flat * size + b] = t.bytes[off * size + b] }
                for d in stride(from: index.count - 1, through: 0, by: -1) {
                    index[d] += 1
                    if index[d] < resultShape[d] { break }
                    index[d] = 0
                }
            }
            return TensorData(dtype: t.dtype, shape: resultShape, bytes: bytes)
        case .none, .matmul, .softmax, .reduce, .concat, .split, .slice, .gather, .tile, .pad, .argReduce, .conv, .pool:
            return nil
        }
    }
}

/// Strides (in elements) for reading a tensor of `shape` broadcast to `target`: 0 on
/// broadcast dimensions, so one index walk serves every operand.
public func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let pad = target.count - shape.count
    return target.indices.map { d in
        d < pad || shape[d - pad] == 1 ? 0 : own[d - pad]
    }
}
