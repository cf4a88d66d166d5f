import Foundation
import SinterCodegen
import SinterIR
import SinterPasses
import SinterTestSupport
import Testing

struct MemoryPlanTests {
    /// A 4-op chain: liveness lets the arena reuse memory, so it is smaller than the sum of
    /// the intermediates, and the workspace the artifact asks for is that arena.
    @Test func arenaIsSmallerThanSumOfIntermediates() throws {
        var b = GraphBuilder(name: "chain")
        let x = try b.input("x", TensorType(.f32, [64, 64]))
        var v = x
        // Softmax is not elementwise, so no result may overwrite its operand: pure liveness.
        for _ in 0..<4 { v = try b.softmax(v) }
        let y = try b.unary(.abs, v)
        b.output(y)
        var g = b.graph
        let ctx = PassContext()
        _ = try PlanMemory().run(&g, ctx)
        let plan = try MemoryPlan(g)
        #expect(plan.intermediateBytes == 4 * 64 * 64 * 4)
        #expect(plan.arenaBytes == 2 * 64 * 64 * 4, "two buffers suffice for a chain, got \(plan.arenaBytes)")
        #expect(plan.arenaBytes < plan.intermediateBytes)
        // No two simultaneously live values overlap.
        let ids = plan.offsets.keys.sorted()
        for (i, a) in ids.enumerated() {
            for b in ids[(i + 1)...] where abs(a.index - b.index) <= 1 {
                let (oa, ob) = (plan.offsets[a]!, plan.offsets[b]!)
                #expect(oa + plan.sizes[a]! <= ob || ob + plan.sizes[b]! <= oa)
            }
        }
        #expect(try Lowering.lower(g, target: .host).workspaceBytes == plan.arenaBytes)
    }

    /// A reshape of a graph input is the caller's bytes under a new shape: no memory, no kernel.
    @Test func reshapesOfInputsAreViews() throws {
        var b = GraphBuilder(name: "inview")
        let x = try b.input("x", TensorType(.f32, [4, 6]))
        let r = try b.apply(.reshape, [x], attributes: Attributes(["shape": .ints([24])]))[0]
        b.output(try b.softmax(r))
        var g = b.graph
        let ctx = PassContext()
        _ = try PlanMemory().run(&g, ctx)
        let plan = try MemoryPlan(g)
        #expect(plan.offsets[r] == nil && plan.intermediateBytes == 0)
        let program = try Lowering.lower(g, target: .host)
        #expect(program.kernels.count == 1, "\(program.kernels.map(\.name))")
        #expect(program.kernels.first?.operands == [.input(0)])
    }

    /// Concat in place, nested: both concats copy nothing, and each operand sits in its slice
    /// of the outer result.
    @Test func nestedConcatsInPlace() throws {
        var b = GraphBuilder(name: "cat")
        let x = try b.input("x", TensorType(.f32, [1, 4, 8]))
        let parts = try [Op.exp, .neg, .tanh].map { try b.unary($0, x) }
        let inner = try b.apply(.concat, [parts[0], parts[1]], attributes: Attributes(["axis": .int(1)]))[0]
        let outer = try b.apply(.concat, [inner, parts[2]], attributes: Attributes(["axis": .int(1)]))[0]
        b.output(try b.softmax(outer))
        var g = b.graph
        let ctx = PassContext()
        _ = try PlanMemory().run(&g, ctx)
        let plan = try MemoryPlan(g)
        #expect(plan.concatsInPlace == [inner, outer])
        let base = try #require(plan.offsets[outer])
        #expect(plan.offsets[inner] == base && plan.offsets[parts[0]] == base)
        #expect(plan.offsets[parts[1]] == base + 4 * 8 * 4 && plan.offsets[parts[2]] == base + 8 * 8 * 4)
        let program = try Lowering.lower(g, target: .host)
        #expect(!program.kernels.contains { "\($0.body)".hasPrefix("movement(concat") })
    }

    /// A slice that is one contiguous, aligned run of an intermediate (a time step of an unrolled
    /// recurrent cell) is a view at its offset: no copy kernel, and the results match a plain
    /// Swift softmax. A slice along an inner axis, or starting off the alignment, is still copied.
    @Test func leadingAxisSlicesAreViews() throws {
        var b = GraphBuilder(name: "steps")
        let x = try b.input("x", TensorType(.f32, [4, 8, 16]))
        let s = try b.softmax(x, axis: 0)
        func slice(_ starts: [Int], _ ends: [Int]) throws -> ValueID {
            try b.apply(.slice, [s], attributes: Attributes(["starts": .ints(starts), "ends": .ints(ends)]))[0]
        }
        let steps = try (0..<4).map { t in try slice([t, 0, 0], [t + 1, 8, 16]) }
        let inner = try slice([0, 2, 0], [4, 3, 16])  // strided: a copy
        let unaligned = try slice([0, 0, 1], [1, 1, 16])  // 4 bytes in: a copy
        for v in steps + [inner, unaligned] { b.output(try b.softmax(v)) }
        var g = b.graph
        _ = try PlanMemory().run(&g, PassContext())
        let plan = try MemoryPlan(g)
        let base = try #require(plan.offsets[s])
        for (t, v) in steps.enumerated() { #expect(plan.offsets[v] == base + t * 8 * 16 * 4) }
        #expect(plan.strategy.contains("4 slices as views"), "\(plan.strategy)")
        let program = try Lowering.lower(g, target: .host)
        let copies = program.kernels.filter { $0.name.contains("slice") }
        #expect(copies.count == 2, "\(program.kernels.map(\.name))")
        var rng = Support.RNG(seed: 5)
        let xs = (0..<(4 * 8 * 16)).map { _ in rng.float(-3, 3) }
        let got = try JITModel(program, prefix: "steps").run([TensorData(xs, shape: [4, 8, 16])])
        // softmax over axis 0, then over the last axis of each slice.
        var sm = xs
        for j in 0..<(8 * 16) {
            let col = (0..<4).map { xs[$0 * 128 + j] }
            let e = col.map { exp($0 - col.max()!) }
            for t in 0..<4 { sm[t * 128 + j] = e[t] / e.reduce(0, +) }
        }
        func rowSoftmax(_ r: ArraySlice<Float>) -> [Float] {
            let e = r.map { exp($0 - r.max()!) }
            return e.map { $0 / e.reduce(0, +) }
        }
        func rows(_ start: Int, _ count: Int) -> [Float] {
            (0..<count).flatMap { (i: Int) -> [Float] in rowSoftmax(sm[(start + i * 16)..<(start + i * 16 + 16)]) }
        }
        for t in 0..<4 {
            let want = rows(t * 128, 8)
            let have = try #require(got[t].floats)
            #expect(zip(have, want).allSatisfy { abs($0 - $1) <= 1e-6 }, "step \(t)")
        }
        let wantInner = (0..<4).flatMap { (t: Int) -> [Float] in rowSoftmax(sm[(t * 128 + 32)..<(t * 128 + 48)]) }
        #expect(zip(try #require(got[4].floats), wantInner).allSatisfy { abs($0 - $1) <= 1e-6 })
        #expect(zip(try #require(got[5].floats), rowSoftmax(sm[1..<16])).allSatisfy { abs($0 - $1) <= 1e-6 })
    }

    /// An elementwise kernel that reads a value and a slice view of it does not write over that
    /// value: the view's elements sit at other positions, which its parts may already have written.
    @Test func noInPlaceWriteOverAViewedValue() throws {
        var b = GraphBuilder(name: "viewed")
        let x = try b.input("x", TensorType(.f32, [64, 64]))
        let a = try b.softmax(x)
        let last = try b.apply(
            .slice, [a], attributes: Attributes(["starts": .ints([63, 0]), "ends": .ints([64, 64])]))
        let y = try b.add(a, last[0])
        b.output(try b.softmax(y))
        var g = b.graph
        _ = try PlanMemory().run(&g, PassContext())
        let plan = try MemoryPlan(g)
        let base = try #require(plan.offsets[a])
        #expect(plan.offsets[last[0]] == base + 63 * 64 * 4)
        #expect(plan.offsets[y] != base, "\(plan.report(g))")
    }

    /// Elementwise kernels write over an operand that dies in them: a chain needs one buffer.
    @Test func elementwiseChainsRunInPlace() throws {
        var b = GraphBuilder(name: "inplace")
        var v = try b.input("x", TensorType(.f32, [64, 64]))
        v = try b.softmax(v)
        for op in [Op.relu, .exp, .neg, .tanh] { v = try b.unary(op, v) }
        b.output(try b.softmax(v))
        var g = b.graph
        let ctx = PassContext()
        _ = try PlanMemory().run(&g, ctx)
        let plan = try MemoryPlan(g)
        #expect(plan.arenaBytes == 64 * 64 * 4, "\(plan.report(g))")
        #expect(plan.strategy.contains("4 in place"))
        #expect(Set(plan.offsets.values).count == 1)
    }
}
