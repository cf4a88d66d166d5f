import SinterIR

/// `plan-memory`: liveness over the node order, then offsets in one arena. Two heuristics
/// run (greedy by size, and best-fit in program order) and the smaller arena is kept. The
/// plan is IR: a `memory` line (`ArenaPlan`) that codegen reads and dumps print.
///
///     %0 = matmul %x, %w : f32[4,128]
///     %1 = relu %0 : f32[4,128]
///     %2 = exp %1 : f32[4,128]
///   after:
///     %0 = matmul %x, %w : f32[4,128]
///     %1 = relu %0 : f32[4,128]
///     %2 = exp %1 : f32[4,128]
///     memory 4096 "greedy-by-size, 2 in place" [%0 at 0, %1 at 0, %2 at 0] in-place [] views []
public struct PlanMemory: Pass {
    public static let name = "plan-memory"
    public static let summary = "assign workspace offsets to intermediates by liveness (best of two heuristics)"
    public init() {}

    struct Interval {
        var value: ValueID
        var start: Int
        var end: Int
        var size: Int
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        let fusion = try FusionPlan(graph)
        let views = Self.callerViews(graph, fusion: fusion)
        let all = try Self.liveIntervals(graph, fusion: fusion, callerViews: views)
        let (merged, aliases, runs) = Self.inPlace(graph, all, fusion: fusion)
        let (intervals, slices) = Self.concatInPlace(
            graph, merged, aliases: aliases, runs: runs, fusion: fusion)
        let a = Self.place(
            intervals, order: intervals.sorted { ($0.size, -$0.start) > ($1.size, -$1.start) }, bestFit: false)
        let b = Self.place(intervals, order: intervals.sorted { $0.start < $1.start }, bestFit: true)
        var plan = a.arena <= b.arena ? a.plan : b.plan
        plan.strategy =
            (a.arena <= b.arena ? "greedy-by-size" : "best-fit")
            + (aliases.isEmpty ? "" : ", \(aliases.count) in place")
            + (runs.isEmpty ? "" : ", \(runs.count) slices as views")
        plan.arenaBytes = min(a.arena, b.arena)
        plan.intermediateBytes = all.reduce(0) { $0 + $1.size }
        for iv in all { plan.sizes[iv.value] = iv.size }
        // A value computed in place lives where its operand did; a concat operand in its slice.
        for (value, target) in aliases { plan.offsets[value] = plan.offsets[target] }
        // A slice of a concat that is itself a slice of another concat resolves through it:
        // walk each chain up to a value already placed, then fill in the offsets on the way
        // back (a loop, not recursion: a hostile graph can nest concats 100,000 deep).
        var resolved = Set<ValueID>()
        for start in slices.keys where !resolved.contains(start) {
            var chain: [(value: ValueID, offset: Int)] = []
            var v = start
            while !resolved.contains(v), let slice = slices[v] {
                chain.append((v, slice.offset))
                v = slice.concat
            }
            var offset = plan.offsets[v]
            for link in chain.reversed() {
                offset = offset.map { $0 + link.offset }
                plan.offsets[link.value] = offset
                resolved.insert(link.value)
            }
        }
        // A slice that is a run of its operand lives inside it (its operand is never a concat's
        // operand or another run, so its offset is final by now).
        for (value, run) in runs { plan.offsets[value] = plan.offsets[run.of].map { $0 + run.bytes } }
        plan.concatsInPlace = Set(slices.values.map(\.concat))
        plan.callerViews = views
        if !slices.isEmpty { plan.strategy += ", \(plan.concatsInPlace.count) concats in place" }
        let before = graph.memory
        graph.memory = plan.arena(graph)
        return graph.memory != before
    }

    /// The byte offset at which slice `n`'s result lies in its operand when it is one contiguous
    /// run of it starting on an arena alignment boundary: the plan then makes it a view (the
    /// 64 per-step slices of an LSTM's input projection were 0.9 µs copies each).
    public static func runOffset(_ g: Graph, _ n: Node) -> Int? {
        guard n.results.count == 1, let o = n.operands.first, let input = g.type(of: o).shape,
            let result = g.type(of: n.results[0]).shape, g.type(of: o).dtype == g.type(of: n.results[0]).dtype,
            let elements = StridedView.contiguousRun(n.op, n.attributes, input: input, result: result)
        else { return nil }
        let bytes = elements * g.type(of: o).dtype.byteSize
        return bytes % MemoryPlan.alignment == 0 ? bytes : nil
    }

    /// The byte offset at which node `n`'s result is a view of its operand's bytes: 0 for a
    /// reshape or identity, `runOffset` for a slice, nil for anything else. Planning and
    /// lowering both decide by it whether a node is a view (no memory, no kernel).
    public static func viewOffset(_ g: Graph, _ n: Node) -> Int? {
        StridedView.keepsBytes(n.op) && n.results.count == 1 ? 0 : runOffset(g, n)
    }

    /// In-place reuse: an elementwise kernel (one op or a fused chain without an anchor) may
    /// write its result over an operand that dies in that kernel and has the same type, since
    /// each element is read before the same element is written; a reshape or identity of an
    /// intermediate is a view of the same bytes, and a slice that is a contiguous run of one
    /// (`runOffset`) a view of some of them (codegen then emits no kernel for either). Returns
    /// the intervals with such results merged into their operand's, result → operand aliases,
    /// and runs (result → operand and byte offset).
    static func inPlace(_ g: Graph, _ intervals: [Interval], fusion: FusionPlan?)
        -> ([Interval], [ValueID: ValueID], [ValueID: (of: ValueID, bytes: Int)])
    {
        var byValue: [ValueID: Int] = [:]
        for (k, iv) in intervals.enumerated() { byValue[iv.value] = k }
        var merged = intervals
        var removed = Set<Int>()
        var aliases: [ValueID: ValueID] = [:]
        var runs: [ValueID: (of: ValueID, bytes: Int)] = [:]
        func root(_ v: ValueID) -> ValueID { aliases[v].map(root) ?? v }
        var kernels: [(nodes: [Int], root: Int)] = []
        var grouped = Set<Int>()
        // Only elementwise kernels write in place. A matmul or conv kernel's epilogue members
        // are not kernels of their own: the anchor reads its inputs while results are stored.
        for group in fusion?.groups ?? [] {
            if group.anchor == nil { kernels.append((group.nodes, group.root)) }
            grouped.formUnion(group.nodes)
        }
        for i in g.nodes.indices where !grouped.contains(i) && g.nodes[i].payload == nil { kernels.append(([i], i)) }
        for k in kernels.sorted(by: { $0.root < $1.root }) {
            let r = g.nodes[k.root]
            // A view of an intermediate (a reshape or identity: the same bytes; a slice that is a
            // run of it: some of them) gets no memory and no kernel.
            if k.nodes.count == 1, let bytes = viewOffset(g, r), let ri = byValue[r.results[0]],
                let o = r.operands.first, byValue[o] != nil, let ti = byValue[root(o)], !removed.contains(ti)
            {
                merged[ti].end = max(merged[ti].end, intervals[ri].end)
                removed.insert(ri)
                if StridedView.keepsBytes(r.op) {
                    aliases[r.results[0]] = root(o)
                } else {
                    runs[r.results[0]] = (root(o), bytes)
                }
                continue
            }
            guard k.nodes.allSatisfy({ g.nodes[$0].op.schema.kernel == .elementwise }), r.results.count == 1,
                let ri = byValue[r.results[0]]
            else { continue }
            let produced = Set(k.nodes.flatMap { g.nodes[$0].results })
            let operands = k.nodes.flatMap { g.nodes[$0].operands }.filter { !produced.contains($0) }
            // Never over a value the kernel also reads through a slice view: element i of the
            // view sits elsewhere in it, and another thread's part may already have written there.
            let viewed = Set(operands.compactMap { runs[$0]?.of })
            for o in operands {
                let target = root(o)
                guard byValue[o] != nil, let ti = byValue[target], !removed.contains(ti), !viewed.contains(target),
                    g.type(of: o) == g.type(of: r.results[0]),
                    merged[ti].end == intervals[ri].start
                else { continue }
                merged[ti].end = max(merged[ti].end, intervals[ri].end)
                removed.insert(ri)
                aliases[r.results[0]] = target
                break
            }
        }
        return (merged.enumerated().filter { !removed.contains($0.offset) }.map(\.element), aliases, runs)
    }

    /// Reshapes and identities (chains of them) of graph inputs and constants that are not
    /// graph outputs and not inside a fused kernel: they are the caller's or the weights'
    /// bytes under a new shape, so they get no memory and codegen emits no kernel for them.
    static func callerViews(_ g: Graph, fusion: FusionPlan?) -> Set<ValueID> {
        let outputs = Set(g.outputs)
        let fused = Set((fusion?.groups ?? []).filter { $0.nodes.count > 1 }.flatMap(\.nodes))
        var caller = Set(g.inputs)
        for n in g.nodes where n.payload != nil { caller.formUnion(n.results) }
        var views = Set<ValueID>()
        for (i, n) in g.nodes.enumerated()
        where StridedView.keepsBytes(n.op) && !fused.contains(i) && n.results.count == 1 {
            guard let o = n.operands.first, caller.contains(o), !outputs.contains(n.results[0]) else { continue }
            caller.insert(n.results[0])
            views.insert(n.results[0])
        }
        return views
    }

    /// Concat in place: when a concat's operands are contiguous slices of its result (every
    /// dim before the axis is 1, as for a blocked [1, C/b, H, W, b] channel concat) starting
    /// at aligned offsets, each operand that only the concat reads is computed straight into
    /// its slice, and the concat copies nothing. The result's lifetime then starts at its first operand's.
    static func concatInPlace(
        _ g: Graph, _ intervals: [Interval], aliases: [ValueID: ValueID], runs: [ValueID: (of: ValueID, bytes: Int)],
        fusion: FusionPlan?
    ) -> ([Interval], [ValueID: (concat: ValueID, offset: Int)]) {
        var byValue: [ValueID: Int] = [:]
        for (k, iv) in intervals.enumerated() { byValue[iv.value] = k }
        let users = g.users()
        let fused = Set((fusion?.groups ?? []).filter { $0.nodes.count > 1 }.flatMap(\.nodes))
        // Values with views into them keep their own interval (it covers the views' lifetimes).
        let aliased = Set(aliases.keys).union(aliases.values).union(runs.values.map(\.of))
        var result = intervals
        var removed = Set<Int>()
        var slices: [ValueID: (concat: ValueID, offset: Int)] = [:]
        for (i, n) in g.nodes.enumerated() where n.op == .concat && !fused.contains(i) {
            let r = n.results[0]
            guard let ri = byValue[r], let shape = g.type(of: r).shape, let axis = n.attributes.int("axis"),
                !aliased.contains(r)
            else { continue }
            let a = ShapeRules.normalizedAxis(axis, rank: shape.count)
            guard shape[..<a].allSatisfy({ $0 == 1 }), Set(n.operands).count == n.operands.count,
                n.operands.allSatisfy({ o in
                    byValue[o] != nil && !aliased.contains(o) && slices[o] == nil && users[o]?.count == 1
                }),
                // Every slice starts aligned (bytes: 13 × 13 × 16-channel blocks are 2,704 bytes).
                n.operands.dropLast().allSatisfy({ (g.type(of: $0).byteCount ?? 1) % MemoryPlan.alignment == 0 })
            else { continue }
            var offset = 0
            for o in n.operands {
                guard let oi = byValue[o] else { continue }
                slices[o] = (r, offset)
                offset += g.type(of: o).byteCount ?? 0
                result[ri].start = min(result[ri].start, result[oi].start)  // a nested concat's start was extended
                removed.insert(oi)
            }
        }
        return (result.enumerated().filter { !removed.contains($0.offset) }.map(\.element), slices)
    }

    /// Lifetimes in kernel order: a fused node runs when its group's root does, and values
    /// that stay inside a group need no memory at all.
    static func liveIntervals(_ g: Graph, fusion: FusionPlan?, callerViews views: Set<ValueID>) throws(SinterError)
        -> [Interval]
    {
        let outputs = Set(g.outputs)
        var exec = Array(g.nodes.indices)
        var insideGroups = Set<ValueID>()
        for group in fusion?.groups ?? [] {
            for i in group.nodes {
                exec[i] = group.root
                if i != group.root { insideGroups.formUnion(g.nodes[i].results) }
            }
        }
        var last: [ValueID: Int] = [:]
        for (i, n) in g.nodes.enumerated() { for o in n.operands { last[o] = max(last[o] ?? 0, exec[i]) } }
        var out: [Interval] = []
        var diags: [Diagnostic] = []
        for (i, n) in g.nodes.enumerated() where n.payload == nil {
            for r in n.results where !outputs.contains(r) && !insideGroups.contains(r) && !views.contains(r) {
                let t = g.type(of: r)
                guard let bytes = t.byteCount else {
                    diags.append(
                        Diagnostic(
                            "'%\(g.name(of: r))' has symbolic type \(t); bind "
                                + "\(t.symbols.joined(separator: ", ")) with --shape",
                            at: n.location))
                    continue
                }
                out.append(Interval(value: r, start: exec[i], end: last[r] ?? exec[i], size: roundUp(bytes)))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return out
    }

    static func roundUp(_ n: Int) -> Int {
        (n + MemoryPlan.alignment - 1) / MemoryPlan.alignment * MemoryPlan.alignment
    }

    /// Places each interval at the lowest (or best-fitting) gap among the already placed
    /// intervals whose lifetimes overlap it.
    static func place(_ all: [Interval], order: [Interval], bestFit: Bool) -> (plan: MemoryPlan, arena: Int) {
        var plan = MemoryPlan()
        var placed: [(Interval, Int)] = []
        var arena = 0
        for iv in order {
            let busy = placed.filter { $0.0.start <= iv.end && iv.start <= $0.0.end }
                .map { (lo: $0.1, hi: $0.1 + $0.0.size) }.sorted { $0.lo < $1.lo }
            var candidate = 0
            var best: (offset: Int, slack: Int)?
            for b in busy {
                if b.lo >= candidate + iv.size {
                    let slack = b.lo - candidate - iv.size
                    if !bestFit { best = (candidate, slack); break }
                    if best == nil || slack < best!.slack { best = (candidate, slack) }
                }
                candidate = max(candidate, b.hi)
            }
            let offset = best?.offset ?? candidate
            plan.offsets[iv.value] = offset
            placed.append((iv, offset))
            arena = max(arena, offset + iv.size)
        }
        return (plan, arena)
    }
}

extension MemoryPlan {
    /// `--memory-report`: the arena layout and how it compares with giving every
    /// intermediate its own buffer.
    public func report(_ g: Graph) -> String {
        let ratio = intermediateBytes > 0 ? Double(arenaBytes) / Double(intermediateBytes) * 100 : 0
        var out =
            "// memory: arena \(arenaBytes) bytes (\(strategy)) for \(offsets.count) intermediates of "
            + "\(intermediateBytes) bytes"
        out += " = \(String(format: "%.1f", ratio))%\n"
        for (v, off) in offsets.sorted(by: { ($0.value, $0.key) < ($1.value, $1.key) }) {
            out +=
                "// \(String(format: "%10d", off))  \(String(format: "%10d", sizes[v] ?? 0)) B  "
                + "%\(g.name(of: v)) : \(g.type(of: v))\n"
        }
        // The keep-or-recompute rule's choices (`rematerialize`): what was recomputed instead of kept.
        let recomputed = g.nodes.flatMap(\.results).filter { g.name(of: $0).hasSuffix(".recomputed") }
        if !recomputed.isEmpty {
            out += "// recomputed for a later user instead of kept (rematerialize): \(recomputed.count) value(s)\n"
            for v in recomputed {
                out += "//   %\(g.name(of: v)) : \(g.type(of: v)), \(g.type(of: v).byteCount ?? 0) B\n"
            }
        }
        return out
    }
}
