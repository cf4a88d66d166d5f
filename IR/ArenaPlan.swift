/// The memory plan, written in the IR: where each intermediate lives in the workspace arena.
/// `plan-memory` writes it; codegen reads it; it prints and parses in `.sir`, so a golden test
/// can start from a planned graph and a hand-written plan is checked like any other IR:
///
///     %0 = matmul %x, %w : f32[4,128]
///     %1 = relu %0 : f32[4,128]
///     %2 = exp %1 : f32[4,128]
///     memory 4096 "best-fit, 1 in place" [%0 at 0, %1 at 0, %2 at 2048] in-place [] views []
///
/// `in-place` lists concats whose operands were computed straight into their slices (no copy
/// kernel runs); `views` lists reshapes of graph inputs or weights (the caller's bytes, no
/// memory). Values are named, not numbered, so the plan survives passes that renumber; a pass
/// that changes the graph after `plan-memory` invalidates it (the pass manager reports that).
public struct ArenaPlan: Hashable, Sendable {
    public static let alignment = 64

    public struct Slot: Hashable, Sendable {
        public var value: String
        public var offset: Int
        public init(value: String, offset: Int) {
            self.value = value
            self.offset = offset
        }
    }

    /// Arena size in bytes.
    public var bytes: Int
    /// Which heuristic produced the plan (reports only).
    public var strategy: String
    /// One slot per intermediate that has memory, in graph order.
    public var slots: [Slot]
    public var inPlace: [String]
    public var views: [String]
    public var location: SourceLocation

    public init(
        bytes: Int, strategy: String = "", slots: [Slot] = [], inPlace: [String] = [], views: [String] = [],
        location: SourceLocation = .unknown
    ) {
        self.bytes = bytes
        self.strategy = strategy
        self.slots = slots
        self.inPlace = inPlace
        self.views = views
        self.location = location
    }

    public static func == (a: ArenaPlan, b: ArenaPlan) -> Bool {
        a.bytes == b.bytes && a.strategy == b.strategy && a.slots == b.slots && a.inPlace == b.inPlace
            && a.views == b.views
    }

    public func hash(into h: inout Hasher) {
        h.combine(bytes)
        h.combine(slots)
    }
}

extension Graph {
    /// Problems that make the memory plan invalid for this graph whatever the liveness: a
    /// value no node defines or listed twice, a slot for a graph input, output or constant
    /// (they live in caller buffers or read-only data), a misaligned offset, a slot that does
    /// not fit the arena, an `in-place` entry that is not a concat or a `views` entry that is
    /// not a reshape or identity. Overlaps between values alive at once are checked by
    /// `plan-memory`'s own check, which knows the kernel order.
    public func arenaProblems() -> [Diagnostic] {
        guard let plan = memory else { return [] }
        var diags: [Diagnostic] = []
        func problem(_ m: String) { diags.append(Diagnostic("memory plan: \(m)", at: plan.location)) }
        var byName: [String: (node: Int, value: ValueID)] = [:]
        for (i, n) in nodes.enumerated() { for r in n.results { byName[name(of: r)] = (i, r) } }
        let callers = Set(inputs).union(outputs)
        if plan.bytes < 0 { problem("arena size \(plan.bytes) is negative") }
        var seen = Set<String>()
        for s in plan.slots {
            guard let (i, v) = byName[s.value] else {
                problem("'%\(s.value)' is not defined by any node")
                continue
            }
            if !seen.insert(s.value).inserted { problem("'%\(s.value)' has two slots") }
            if callers.contains(v) || nodes[i].payload != nil {
                problem("'%\(s.value)' is a graph output or a constant, which has no arena slot")
            }
            if s.offset < 0 || s.offset % ArenaPlan.alignment != 0 {
                problem("'%\(s.value)' at \(s.offset) is not a multiple of \(ArenaPlan.alignment)")
            }
            if let size = type(of: v).byteCount, s.offset + size > plan.bytes {
                problem("'%\(s.value)' (\(size) bytes at \(s.offset)) does not fit the \(plan.bytes)-byte arena")
            }
        }
        for (list, ops, what) in [
            (plan.inPlace, [Op.concat], "a concat"), (plan.views, [Op.reshape, .identity], "a reshape or identity"),
        ] {
            for name in list {
                guard let (i, _) = byName[name] else {
                    problem("'%\(name)' is not defined by any node")
                    continue
                }
                if !ops.contains(nodes[i].op) {
                    problem("'%\(name)' is listed as \(what) but is '\(nodes[i].op.rawValue)'")
                }
            }
        }
        return diags
    }
}
