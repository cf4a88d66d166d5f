/// Evaluates ops on constant tensors, reading each op's meaning from the op table (scalar
/// expressions for elementwise ops, shape rules for data movement). Constant folding and
/// the ONNX importer (shape subgraphs such as Shape → Gather → Concat → Reshape) use it.
/// Returns nil for ops it does not evaluate; codegen remains the fast path for everything.
public enum Evaluator {
    /// x op y in two's complement at `dtype`'s width, as a Double (exact: at most 64 bits, and
    /// only values that fit the dtype).
    static func wrapped(_ op: Op, _ x: Double, _ y: Double, _ dtype: DType) -> Double {
        func int(_ v: Double) -> Int64 {
            // u64's largest values round up to 2^64, one past UInt64's range: they are all ones.
            if v >= 18_446_744_073_709_551_615.0 { return -1 }
            return v >= 9.223_372_036_854_775_807e18
                ? Int64(bitPattern: UInt64(v)) : Int64(exactly: v.rounded(.towardZero)) ?? 0
        }
        let a = int(x), b = int(y)
        let r: Int64 = op == .add ? a &+ b : op == .sub ? a &- b : a &* b
        switch dtype {
        case .i8: return Double(Int8(truncatingIfNeeded: r))
        case .u8: return Double(UInt8(truncatingIfNeeded: r))
        case .i16: return Double(Int16(truncatingIfNeeded: r))
        case .u16: return Double(UInt16(truncatingIfNeeded: r))
        case .i32: return Double(Int32(truncatingIfNeeded: r))
        case .u32: return Double(UInt32(truncatingIfNeeded: r))
        case .u64: return Double(UInt64(bitPattern: r))
        default: return Double(r)
        }
    }

    public static func evaluate(_ op: Op, attributes: Attributes, inputs: [TensorData], resultTypes: [TensorType])
        -> [TensorData]?
    {
        guard let shapes = Optional(resultTypes.compactMap(\.shape)), shapes.count == resultTypes.count else {
            return nil
        }
        let schema = op.schema
        func attr(_ name: String) -> AttributeValue? { attributes[name] ?? schema.attributeSpec(name)?.defaultValue }
        func int(_ name: String) -> Int? { if case .int(let v)? = attr(name) { v } else { nil } }
        let out = shapes[0], dtype = resultTypes[0].dtype
        if schema.kernel == .elementwise {
            guard let expr = schema.scalar else { return nil }
            let values = inputs.map(\.doubles)
            let strides = inputs.map { broadcastStrides($0.shape, to: out) }
            let attribute: (String) -> Double = { name in
                switch attr(name) {
                case .float(let v)?: v
                case .int(let v)?: Double(v)
                default: .nan
                }
            }
            var result = [Double](repeating: 0, count: out.reduce(1, *))
            var args = [Double](repeating: 0, count: inputs.count)
            // Integer add/sub/mul wrap at the dtype's width, as the generated code does (Double
            // arithmetic would round a 64-bit product before the wrap).
            let wrapping = !dtype.isFloat && dtype != .bool && [.add, .sub, .mul].contains(op)
            forEachIndex(out) { flat, index in
                for k in inputs.indices {
                    var off = 0
                    for d in index.indices { off += index[d] * strides[k][d] }
                    args[k] = values[k][off]
                }
                result[flat] =
                    wrapping
                    ? wrapped(op, args[0], args[1], dtype) : expr.evaluate(args, attribute: attribute)
            }
            return [TensorData(dtype: dtype, shape: out, values: result)]
        }
        // Data movement, by op: views through `StridedView`, the rest by their definitions here.
        switch op {
        case .identity, .reshape:
            return [TensorData(dtype: dtype, shape: out, bytes: inputs[0].bytes)]
        case .transpose, .slice:
            let t = inputs[0]
            guard let view = StridedView.movement(op, attributes, input: t.shape, result: out) else { return nil }
            return [gatherBytes(t, out, view.strides, view.offset)]
        case .split:
            let t = inputs[0]
            let axis = ShapeRules.normalizedAxis(int("axis") ?? 0, rank: t.shape.count)
            let st = contiguousStrides(t.shape)
            var start = 0
            return shapes.map { part in
                defer { start += part[axis] }
                return gatherBytes(t, part, st, start * st[axis])
            }
        case .concat:
            let axis = ShapeRules.normalizedAxis(int("axis") ?? 0, rank: out.count)
            let outer = out[..<axis].reduce(1, *)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(out.reduce(1, *) * dtype.byteSize)
            for o in 0..<outer {
                for t in inputs {
                    let block = t.shape[axis...].reduce(1, *) * dtype.byteSize
                    bytes += t.bytes[(o * block)..<((o + 1) * block)]
                }
            }
            return [TensorData(dtype: dtype, shape: out, bytes: bytes)]
        case .gather:
            let t = inputs[0], idx = inputs[1].ints
            let axis = ShapeRules.normalizedAxis(int("axis") ?? 0, rank: t.shape.count)
            let n = t.shape[axis]
            guard n > 0 || idx.isEmpty else { return nil }
            let outer = t.shape[..<axis].reduce(1, *), inner = t.shape[(axis + 1)...].reduce(1, *) * dtype.byteSize
            var bytes: [UInt8] = []
            for o in 0..<outer {
                for i in idx {
                    let j = Swift.min(Swift.max(i < 0 ? i + n : i, 0), n - 1)
                    let at = (o * n + j) * inner
                    bytes += t.bytes[at..<(at + inner)]
                }
            }
            return [TensorData(dtype: dtype, shape: out, bytes: bytes)]
        case .tile:
            let t = inputs[0]
            guard let reps = attributes.ints("repeats") else { return nil }
            let st = contiguousStrides(t.shape)
            let view = zip(reps, t.shape).flatMap { [$0, $1] }
            var r = gatherBytes(t, view, st.flatMap { [0, $0] }, 0)
            r.shape = out
            return [r]
        default:
            return nil
        }
    }

    /// Visits every index of `shape` in row-major order.
    static func forEachIndex(_ shape: [Int], _ body: (Int, [Int]) -> Void) {
        let count = shape.reduce(1, *)
        var index = [Int](repeating: 0, count: shape.count)
        for flat in 0..<count {
            body(flat, index)
            for d in stride(from: shape.count - 1, through: 0, by: -1) {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
            }
        }
    }

    /// out[i] = t[offset + Σ i_d · strides_d], element by element (in bytes).
    static func gatherBytes(_ t: TensorData, _ shape: [Int], _ strides: [Int], _ offset: Int) -> TensorData {
        let size = t.dtype.byteSize
        var bytes = [UInt8](repeating: 0, count: shape.reduce(1, *) * size)
        forEachIndex(shape) { flat, index in
            var off = offset
            for d in index.indices { off += index[d] * strides[d] }
            for b in 0..<size { bytes[flat * size + b] = t.bytes[off * size + b] }
        }
        return TensorData(dtype: t.dtype, shape: shape, bytes: bytes)
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
