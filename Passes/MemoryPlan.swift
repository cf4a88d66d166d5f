import SinterIR

/// The memory plan resolved against a graph: offsets and sizes by value. It is built from
/// the graph's `memory` line (`MemoryPlan(graph)`), which is the plan's only home, and that
/// construction is where a plan is checked against the graph's liveness.
public struct MemoryPlan: Hashable, Sendable {
    public static let alignment = ArenaPlan.alignment
    /// Byte offset of each intermediate value (graph inputs, outputs and constants live in
    /// caller buffers or read-only data and have no offset).
    public var offsets: [ValueID: Int] = [:]
    public var sizes: [ValueID: Int] = [:]
    public var arenaBytes = 0
    /// Sum of all intermediates' sizes: what a planner without reuse would need.
    public var intermediateBytes = 0
    /// Which heuristic produced the plan.
    public var strategy = ""
    /// Concats whose operands were computed straight into their slices of the result: no
    /// copy kernel runs for them.
    public var concatsInPlace: Set<ValueID> = []
    /// Reshapes of graph inputs and weights: the caller's or the weights' bytes, no memory.
    public var callerViews: Set<ValueID> = []

    init() {}

    /// The graph's `memory` line, checked: its names and offsets (`Graph.arenaProblems`), a
    /// slot for every intermediate that needs memory, and no two values alive at the same
    /// time sharing bytes unless one aliases the other (a reshape view, a slice viewing a run of
    /// its operand, an elementwise kernel writing over an operand that dies in it, an operand
    /// computed into its concat's slice).
    public init(_ g: Graph) throws(SinterError) {
        guard let m = g.memory else {
            throw SinterError(
                "the graph has no memory plan: run 'plan-memory' (or write a 'memory' line)", at: g.location)
        }
        let problems = g.arenaProblems()
        if !problems.isEmpty { throw SinterError(problems) }
        var byName: [String: ValueID] = [:]
        for n in g.nodes { for r in n.results { byName[g.name(of: r)] = r } }
        for slot in m.slots {
            guard let v = byName[slot.value] else { continue }
            offsets[v] = slot.offset
            sizes[v] = PlanMemory.roundUp(g.type(of: v).byteCount ?? 0)
        }
        arenaBytes = m.bytes
        strategy = m.strategy
        concatsInPlace = Set(m.inPlace.compactMap { byName[$0] })
        callerViews = Set(m.views.compactMap { byName[$0] })
        intermediateBytes = try PlanMemory.check(self, g, at: m.location)
    }

    /// The plan as IR: one slot per planned value, in graph order.
    func arena(_ g: Graph) -> ArenaPlan {
        var slots: [ArenaPlan.Slot] = []
        var inPlace: [String] = []
        var views: [String] = []
        for n in g.nodes {
            for r in n.results {
                if let off = offsets[r] { slots.append(ArenaPlan.Slot(value: g.name(of: r), offset: off)) }
                if concatsInPlace.contains(r) { inPlace.append(g.name(of: r)) }
                if callerViews.contains(r) { views.append(g.name(of: r)) }
            }
        }
        return ArenaPlan(bytes: arenaBytes, strategy: strategy, slots: slots, inPlace: inPlace, views: views)
    }
}

extension PlanMemory {
    /// Checks `plan` against the graph's kernel order: every intermediate that needs memory has
    /// a slot, and values alive at the same time share bytes only within an alias class.
    /// Returns the intermediates' total size (what a planner without reuse would need).
    static func check(_ plan: MemoryPlan, _ g: Graph, at location: SourceLocation) throws(SinterError) -> Int {
        let fusion = try FusionPlan(g)
        var intervals = try liveIntervals(g, fusion: fusion, callerViews: plan.callerViews)
        var diags: [Diagnostic] = []
        for iv in intervals where plan.offsets[iv.value] == nil {
            diags.append(
                Diagnostic("memory plan: '%\(g.name(of: iv.value))' needs arena memory but has no slot", at: location))
        }
        if !diags.isEmpty { throw SinterError(diags) }
        var total = 0
        for iv in intervals { total += iv.size }
        // Alias classes (union-find): a reshape or identity and its operand; a slice placed as a
        // run of its operand and that operand; an elementwise kernel's result and an operand that
        // dies in that kernel; a concat in place and its operands.
        var parent: [ValueID: ValueID] = [:]
        func find(_ v: ValueID) -> ValueID {
            var v = v
            while let p = parent[v], p != v { v = p }
            return v
        }
        func union(_ a: ValueID, _ b: ValueID) { if find(a) != find(b) { parent[find(a)] = find(b) } }
        var kernelOf = Array(g.nodes.indices)
        var anchored = Set<Int>()
        for group in fusion.groups {
            for i in group.nodes { kernelOf[i] = group.root }
            if group.anchor != nil { anchored.insert(group.root) }
        }
        for (i, n) in g.nodes.enumerated() {
            guard let r = n.results.first else { continue }
            if StridedView.keepsBytes(n.op) || plan.concatsInPlace.contains(r) {
                for o in n.operands { union(o, r) }
            } else if let bytes = PlanMemory.runOffset(g, n), let off = plan.offsets[r],
                plan.offsets[n.operands[0]].map({ $0 + bytes }) == off
            {
                union(n.operands[0], r)
            } else if n.results.count == 1, n.op.schema.kernel == .elementwise, !anchored.contains(kernelOf[i]) {
                let root = g.nodes[kernelOf[i]].results[0]
                for o in n.operands { union(o, root) }
            }
        }
        intervals.sort { (plan.offsets[$0.value] ?? 0) < (plan.offsets[$1.value] ?? 0) }
        for (x, a) in intervals.enumerated() {
            let aOff = plan.offsets[a.value] ?? 0
            for b in intervals[(x + 1)...] {
                let bOff = plan.offsets[b.value] ?? 0
                if bOff >= aOff + a.size { break }
                // Empty values occupy no bytes, whatever their offset.
                guard a.size > 0, b.size > 0, a.start <= b.end && b.start <= a.end, find(a.value) != find(b.value)
                else { continue }
                diags.append(
                    Diagnostic(
                        "memory plan: '%\(g.name(of: a.value))' (\(a.size) bytes at \(aOff)) and "
                            + "'%\(g.name(of: b.value))' (\(b.size) bytes at \(bOff)) are alive at the same time "
                            + "but share bytes", at: location))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return total
    }
}
