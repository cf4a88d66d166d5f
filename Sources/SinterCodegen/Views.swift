import SinterIR

/// A tensor read in place through a change of indexing: `value`'s elements at `offset` plus
/// index · `strides`, seen with `shape`. Transposes, broadcasts, slices and reshapes of a
/// contiguous tensor are views, so a kernel can read them directly instead of a copy being
/// made first (prologue fusion).
struct View: Hashable, Sendable {
    var value: ValueID
    var shape: [Int]
    var strides: [Int]
    var offset: Int

    static func contiguous(_ value: ValueID, _ shape: [Int]) -> View {
        View(value: value, shape: shape, strides: contiguousStrides(shape), offset: 0)
    }

    /// Result dim i is dim perm[i].
    func transposed(_ perm: [Int]) -> View {
        View(value: value, shape: perm.map { shape[$0] }, strides: perm.map { strides[$0] }, offset: offset)
    }

    /// numpy broadcasting to `target` (aligned from the right; size-1 dims get stride 0).
    func broadcast(to target: [Int]) -> View {
        let lead = target.count - shape.count
        let st = target.indices.map { i in i < lead || (shape[i - lead] == 1 && target[i] != 1) ? 0 : strides[i - lead] }
        return View(value: value, shape: target, strides: st, offset: offset)
    }

    /// Per-axis start and step (counts give the new shape).
    func sliced(_ ranges: [ShapeRules.SliceRange]) -> View {
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
    func reshaped(_ target: [Int]) -> View? {
        if strides == contiguousStrides(shape) || shape.reduce(1, *) == 0 {
            return View(value: value, shape: target, strides: contiguousStrides(target), offset: offset)
        }
        let kept = zip(shape, strides).filter { $0.0 != 1 }
        guard kept.map(\.0) == target.filter({ $0 != 1 }) else { return nil }
        var it = kept.makeIterator()
        let st = target.map { d in d == 1 ? 0 : (it.next()?.1 ?? 0) }
        return View(value: value, shape: target, strides: st, offset: offset)
    }
}
