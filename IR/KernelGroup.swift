/// A fused kernel, written in the IR: the nodes one kernel computes, each named by its first
/// result. `fuse` writes these; `plan-memory` and codegen read them; they print and parse in
/// `.sir`, so a golden test can start from a fused graph:
///
///     %m = matmul %x, %w : f32[4,16]
///     %b = add %m, %bias : f32[4,16]
///     %y = gelu %b : f32[4,16]
///     kernel [%m, %b, %y] anchor %m
///
/// Names, not node indices, so a kernel survives passes that renumber values or edit other
/// nodes. A pass that removes or rewires a member breaks the kernel, and the verifier then
/// reports it at the `kernel` line (`kernelProblems`) instead of codegen ignoring it.
public struct KernelGroup: Hashable, Sendable {
    /// Members in graph order; the last is the root, whose result the kernel produces.
    public var members: [String]
    /// A matmul or conv member whose output the other members transform in its epilogue.
    public var anchor: String?
    /// Members the kernel does not compute: transposes, slices and reshapes it reads its
    /// operands through, as strided views.
    public var prologue: [String]
    public var location: SourceLocation

    public init(members: [String], anchor: String? = nil, prologue: [String] = [], location: SourceLocation = .unknown)
    {
        self.members = members
        self.anchor = anchor
        self.prologue = prologue
        self.location = location
    }

    public static func == (a: KernelGroup, b: KernelGroup) -> Bool {
        a.members == b.members && a.anchor == b.anchor && a.prologue == b.prologue
    }

    public func hash(into h: inout Hasher) {
        h.combine(members)
        h.combine(anchor)
        h.combine(prologue)
    }
}

extension Graph {
    /// For each kernel, its members' node indices (graph order), or the problems that make it
    /// invalid for this graph: a member no node defines, members out of order or not
    /// connected to the root, a member's result used outside the kernel or returned, or an
    /// anchor or prologue that is not a member.
    public func resolveKernels() -> (groups: [[Int]], problems: [Diagnostic]) {
        let (groups, byKernel) = resolveKernelsByKernel()
        return (groups, byKernel.keys.sorted().flatMap { byKernel[$0] ?? [] })
    }

    /// `resolveKernels`, with the problems of each broken kernel by its index.
    public func resolveKernelsByKernel() -> (groups: [[Int]], problems: [Int: [Diagnostic]]) {
        var byName: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { if let r = n.results.first { byName[name(of: r)] = i } }
        let users = users()
        let outputs = Set(outputs)
        var groups: [[Int]] = []
        var problems: [Int: [Diagnostic]] = [:]
        var claimed: [Int: Int] = [:]
        for (k, kernel) in kernels.enumerated() {
            func problem(_ m: String) {
                problems[k, default: []].append(Diagnostic("kernel \(k): \(m)", at: kernel.location))
            }
            var indices: [Int] = []
            for m in kernel.members {
                guard let i = byName[m] else {
                    problem("'%\(m)' is not defined by any node")
                    continue
                }
                if let other = claimed[i] { problem("'%\(m)' is already in kernel \(other)") }
                claimed[i] = k
                indices.append(i)
            }
            guard indices.count == kernel.members.count else { continue }
            if indices != indices.sorted() { problem("members are not in graph order") }
            if indices.count < 2 { problem("a kernel needs at least two members") }
            if indices.count > FusionLimits.maxNodes {
                problem("\(indices.count) members; a kernel takes at most \(FusionLimits.maxNodes)")
            }
            let computed = Set(indices).subtracting(
                ([kernel.anchor].compactMap { $0 } + kernel.prologue).compactMap { byName[$0] })
            if let root = indices.last, indices.count <= FusionLimits.maxNodes,
                FusionLimits.expressionCost(self, members: computed, root: root) == nil
            {
                problem("its expression costs more than \(FusionLimits.maxExpressionCost) when written out")
            }
            let set = Set(indices)
            for i in indices.dropLast() {
                for r in nodes[i].results {
                    if outputs.contains(r) { problem("'%\(name(of: r))' is a graph output but not the kernel's root") }
                    if (users[r] ?? []).contains(where: { !set.contains($0) }) {
                        problem("'%\(name(of: r))' is used outside the kernel but is not its root")
                    }
                }
            }
            for extra in [kernel.anchor].compactMap({ $0 }) + kernel.prologue where !kernel.members.contains(extra) {
                problem("'%\(extra)' is not a member")
            }
            groups.append(indices)
        }
        return (groups, problems)
    }
}
