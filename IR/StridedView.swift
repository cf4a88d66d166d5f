/// A tensor read in place through a change of indexing: `value`'s elements at `offset` plus
/// index · `strides`, seen with `shape`. Transposes, broadcasts, slices and reshapes of a
/// contiguous tensor are views, so a kernel can read them directly instead of a copy being
/// made first (prologue fusion).
public struct StridedView: Hashable, Sendable {
    public var value: ValueID
    public var shape: [Int]
    public var strides: [Int]
    public var offset: Int

    public static func contiguous(_ value: ValueID, _ shape: [Int]) -> StridedView {
        StridedView(value: value, shape: shape, strides: contiguousStrides(shape), offset: 0)
    }

    /// Result dim i is dim perm[i].
    public func transposed(_ perm: [Int]) -> StridedView {
        StridedView(value: value, shape: perm.map { shape[$0] }, strides: perm.map { strides[$0] }, offset: offset)
    }

    /// numpy broadcasting to `target` (aligned from the right; size-1 dims get stride 0).
    public func broadcast(to target: [Int]) -> StridedView {
        let lead = target.count - shape.count
        let st = target.indices.map { i in i < lead || (shape[i - lead] == 1 && target[i] != 1) ? 0 : strides[i - lead]
        }
        return StridedView(value: value, shape: target, strides: st, offset: offset)
    }

    /// Per-axis start and step (counts give the new shape).
    public func sliced(_ ranges: [ShapeRules.SliceRange]) -> StridedView {
        var v = self
        for (d, r) in ranges.enumerated() {
            v.offset += r.start * strides[d]
            v.strides[d] = strides[d] * r.step
            v.shape[d] = r.count
        }
        return v
    }

    /// The same elements in row-major order with a new shape, when that is still a view:
    /// the view is contiguous, or only size-1 dims come and go.
    public func reshaped(_ target: [Int]) -> StridedView? {
        if strides == contiguousStrides(shape) || shape.reduce(1, *) == 0 {
            return StridedView(value: value, shape: target, strides: contiguousStrides(target), offset: offset)
        }
        let kept = zip(shape, strides).filter { $0.0 != 1 }
        guard kept.map(\.0) == target.filter({ $0 != 1 }) else { return nil }
        var it = kept.makeIterator()
        let st = target.map { d in d == 1 ? 0 : (it.next()?.1 ?? 0) }
        return StridedView(value: value, shape: target, strides: st, offset: offset)
    }
}

extension StridedView {
    /// Ops a kernel can read through as a view of their operand (prologue fusion): those
    /// lowered as a byte copy (reshape, identity), a transpose or a slice.
    public static func isView(_ op: Op) -> Bool {
        op.schema.traits.contains(.movesData) && (keepsBytes(op) || isStridedCopy(op))
    }

    /// Ops whose result is their operand's bytes under a new shape (reshape, identity).
    public static func keepsBytes(_ op: Op) -> Bool { op == .reshape || op == .identity }

    /// Ops whose result is one strided copy of their operand (transpose, slice): their
    /// kernel, too, can read through a prologue's views.
    public static func isStridedCopy(_ op: Op) -> Bool { op == .transpose || op == .slice }

    /// `node`'s result seen through its operand's view, or nil when that is not a view
    /// (a reshape of a non-contiguous view, or a bad attribute).
    public func applying(_ node: Node, result: [Int]) -> StridedView? {
        applying(node.op, node.attributes, result: result)
    }

    /// The one definition of what a data-movement op does to the indexing of its operand: the
    /// evaluator (constant folding), lowering (copy kernels) and fusion (prologues) all read
    /// transposes, slices and reshapes through it.
    public func applying(_ op: Op, _ attributes: Attributes, result: [Int]) -> StridedView? {
        switch op {
        case .transpose:
            return transposed(OpSchema.permutation(attributes, rank: shape.count))
        case .identity, .reshape:
            return reshaped(result)
        case .slice:
            guard
                let ranges = try? ShapeRules.sliceRanges(
                    shape: shape, starts: attributes.ints("starts") ?? [],
                    ends: attributes.ints("ends") ?? [], steps: attributes.ints("steps"))
            else { return nil }
            return sliced(ranges)
        default:
            return nil
        }
    }

    /// The view `op` makes of a contiguous operand of `shape` (value numbering aside).
    public static func movement(_ op: Op, _ attributes: Attributes, input shape: [Int], result: [Int]) -> StridedView? {
        contiguous(ValueID(0), shape).applying(op, attributes, result: result)
    }

    /// The element offset of `op`'s result inside its contiguous operand when the result is one
    /// contiguous run of it (a slice along the leading axes: an unrolled recurrent cell's time
    /// step, a Split on axis 0), else nil. Memory planning then gives the result the operand's
    /// bytes from there and no kernel copies it.
    public static func contiguousRun(_ op: Op, _ attributes: Attributes, input: [Int], result: [Int]) -> Int? {
        guard op == .slice, let v = movement(op, attributes, input: input, result: result), v.shape == result,
            v.isContiguous
        else { return nil }
        return v.offset
    }

    /// True when walking the view in row-major order reads memory contiguously from `offset`.
    public var isContiguous: Bool { strides == contiguousStrides(shape) || shape.reduce(1, *) <= 1 }
}
