import SinterIR

/// A set of nodes lowered as one kernel. `root` produces the group's one result; `anchor` is a
/// matmul or conv whose output the other nodes transform in its epilogue.
public struct FusionGroup: Hashable, Sendable {
    public var nodes: [Int]  // node indices, in graph order
    public var root: Int
    public var anchor: Int?
    /// Members the kernel does not compute: transposes, slices and reshapes it reads its
    /// operands through, as strided views (prologue fusion).
    public var prologue: [Int] = []
}

/// Why a node was not merged into the group of its users.
public struct FusionRefusal: Hashable, Sendable {
    public var node: Int
    public var reason: String
}

public struct FusionPlan: Hashable, Sendable {
    public var groups: [FusionGroup] = []
    public var refusals: [FusionRefusal] = []

    /// The group holding node `i`, if any.
    public func group(of i: Int) -> FusionGroup? { groups.first { $0.nodes.contains(i) } }

    public init(groups: [FusionGroup] = [], refusals: [FusionRefusal] = []) {
        self.groups = groups
        self.refusals = refusals
    }

    /// The plan the graph's `kernel` lines describe (every other non-constant node a kernel of
    /// its own), or the located problems that make them invalid for this graph.
    public init(_ g: Graph) throws(SinterError) {
        let (resolved, problems) = g.resolveKernels()
        if !problems.isEmpty { throw SinterError(problems) }
        var byName: [String: Int] = [:]
        for (i, n) in g.nodes.enumerated() { if let r = n.results.first { byName[g.name(of: r)] = i } }
        var grouped = Set<Int>()
        for (kernel, nodes) in zip(g.kernels, resolved) {
            groups.append(
                FusionGroup(
                    nodes: nodes, root: nodes[nodes.count - 1], anchor: kernel.anchor.flatMap { byName[$0] },
                    prologue: kernel.prologue.compactMap { byName[$0] }))
            grouped.formUnion(nodes)
        }
        for (i, n) in g.nodes.enumerated() where n.payload == nil && !grouped.contains(i) {
            groups.append(FusionGroup(nodes: [i], root: i, anchor: nil))
        }
        groups.sort { $0.root < $1.root }
    }

    /// The multi-node groups as `kernel` lines of the graph.
    public func kernels(_ g: Graph) -> [KernelGroup] {
        func name(_ i: Int) -> String { g.name(of: g.nodes[i].results[0]) }
        return groups.filter { $0.nodes.count > 1 }.map { group in
            KernelGroup(
                members: group.nodes.map(name), anchor: group.anchor.map(name), prologue: group.prologue.map(name),
                location: g.nodes[group.root].location)
        }
    }
}

/// `fuse`: groups nodes into kernels, in the spirit of TVM's FuseOps. Walking from the outputs
/// backwards, an elementwise or broadcast node joins the group of its users when all of its
/// users are in that one group, it has the group's shape and dtype, and it is not a graph
/// output; a matmul or conv whose only users form such a group becomes that group's anchor
/// (bias, activation and residual adds run in its epilogue). Every node that stays apart
/// records why. The kernels are IR: `kernel [...]` lines in the graph (`Graph.kernels`), which
/// `plan-memory` and codegen read, which print and parse, and which the verifier checks after
/// every later pass; the refusals go to `PassContext.fusionPlan` for the report.
///
///     %m = matmul %x, %w : f32[4,8]
///     %b = add %m, %bias : f32[4,8]
///     %y = gelu %b : f32[4,8]
///     ==>
///     %m = matmul %x, %w : f32[4,8]
///     %b = add %m, %bias : f32[4,8]
///     %y = gelu %b : f32[4,8]
///     kernel [%m, %b, %y] anchor %m
public struct Fuse: Pass {
    public static let name = "fuse"
    public static let summary = "group elementwise chains and matmul/conv epilogues into single kernels"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        let plan = Self.plan(graph)
        context.fusionPlan = plan  // with its refusals, for the fusion report
        let kernels = plan.kernels(graph)
        guard kernels != graph.kernels else { return false }
        graph.kernels = kernels
        return true
    }

    static func isElementwise(_ n: Node) -> Bool {
        n.op.schema.kernel == .elementwise && n.results.count == 1
    }

    /// True when every operand and the result share one dtype (casts and comparisons end a group).
    static func sameDType(_ g: Graph, _ n: Node) -> Bool {
        let d = g.type(of: n.results[0]).dtype
        return n.operands.allSatisfy { g.type(of: $0).dtype == d }
    }

    /// Most nodes one fused kernel takes (FusionLimits): it also keeps the pass linear in the graph.
    static let maxKernelNodes = FusionLimits.maxNodes

    public static func plan(_ g: Graph) -> FusionPlan {
        let users = g.users()
        let outputs = Set(g.outputs)
        var groupOf: [Int: Int] = [:]  // node → group index
        var groups: [FusionGroup] = []
        var refusals: [FusionRefusal] = []
        for i in g.nodes.indices.reversed() {
            let n = g.nodes[i]
            if n.payload != nil { continue }
            let r = n.results[0]
            let us = n.results.flatMap { users[$0] ?? [] }
            let userGroups = Set(us.compactMap { groupOf[$0] })
            func alone(_ reason: String?) {
                if let reason { refusals.append(FusionRefusal(node: i, reason: reason)) }
                groupOf[i] = groups.count
                groups.append(FusionGroup(nodes: [i], root: i, anchor: nil))
            }
            // Decide whether n can join the one group all its users are in.
            func joinable() -> (Int?, String?) {
                if us.isEmpty { return (nil, nil) }
                if n.results.contains(where: outputs.contains) {
                    return (nil, "its result %\(g.name(of: r)) is a graph output")
                }
                guard userGroups.count == 1, us.allSatisfy({ groupOf[$0] != nil }), let gi = userGroups.first else {
                    return (nil, "its users are in \(Set(us).count) different kernels")
                }
                let group = groups[gi]
                guard group.nodes.count < maxKernelNodes else {
                    return (nil, "the users' kernel already holds \(maxKernelNodes) ops")
                }
                if let p = us.first(where: group.prologue.contains) {
                    return (nil, "its user '\(g.nodes[p].op.rawValue)' is read as a view in the kernel's prologue")
                }
                guard group.anchor == nil else { return (nil, "the users' kernel already has an anchor") }
                let root = g.nodes[group.root]
                guard group.nodes.allSatisfy({ isElementwise(g.nodes[$0]) || group.prologue.contains($0) }) else {
                    return (
                        nil, "its user '\(root.op.rawValue)' is \(patternName(root.op.schema.pattern)), not elementwise"
                    )
                }
                let expression = Set(group.nodes).subtracting(group.prologue).union([i])
                guard FusionLimits.expressionCost(g, members: expression, root: group.root) != nil else {
                    return (
                        nil,
                        "the kernel's expression would cost more than \(FusionLimits.maxExpressionCost) "
                            + "(a value used twice is written out twice)"
                    )
                }
                guard n.results.count == 1, g.type(of: r).shape == g.type(of: root.results[0]).shape else {
                    return (nil, "its shape \(g.type(of: r)) differs from the kernel's \(g.type(of: root.results[0]))")
                }
                // One dtype throughout, except that the root may end the kernel with a cast (a
                // quantization's, to 8 bits): elementwise kernels and the int8 kernels store it.
                let castRoot = Self.castsAtRoot(g, group)
                let working = castRoot ? g.type(of: root.operands[0]).dtype : g.type(of: root.results[0]).dtype
                guard g.type(of: r).dtype == working,
                    group.nodes.allSatisfy({ ($0 == group.root && castRoot) || sameDType(g, g.nodes[$0]) })
                else {
                    return (nil, "the kernel changes dtype (only a cast at its end is fused)")
                }
                return (gi, nil)
            }
            if StridedView.isView(n.op), !us.isEmpty, !n.results.contains(where: outputs.contains),
                userGroups.count == 1, us.allSatisfy({ groupOf[$0] != nil }), let gi = userGroups.first
            {
                if let why = prologueProblem(g, n, users: us, allUsers: users, group: groups[gi]) {
                    alone("prologue refused: \(why)")
                } else {
                    groups[gi].nodes.insert(i, at: 0)
                    groups[gi].prologue.append(i)
                    if groups[gi].anchor == nil, g.nodes[groups[gi].root].op == .matmul {
                        groups[gi].anchor = groups[gi].root
                    }
                    groupOf[i] = gi
                }
            } else if isElementwise(n) && sameDType(g, n) {
                let (gi, reason) = joinable()
                if let gi {
                    groups[gi].nodes.insert(i, at: 0)
                    groupOf[i] = gi
                } else {
                    alone(reason)
                }
            } else if [.matmul, .qmatmul, .conv, .qconv, .convNCHWc, .qconvNCHWc, .depthwiseConvNCHWc].contains(n.op) {
                let (gi, reason) = joinable()
                if let gi, !groups[gi].prologue.isEmpty {
                    alone("\(n.op.rawValue) epilogue: the users' kernel reads a view in its prologue")
                } else if let gi, Self.castsAtRoot(g, groups[gi]), !Self.storesCasts(n) {
                    alone("\(n.op.rawValue) epilogue: only the int8 and bf16 kernels store a cast result")
                } else if let gi, anchors(n, g.type(of: r).dtype),
                    let why = epilogueProblem(g, anchor: n, group: groups[gi])
                {
                    alone("epilogue refused: \(why)")
                } else if let gi, anchors(n, g.type(of: r).dtype) {
                    groups[gi].nodes.insert(i, at: 0)
                    groups[gi].anchor = i
                    groupOf[i] = gi
                } else {
                    alone(reason.map { "\(n.op.rawValue) epilogue: \($0)" })
                }
            } else if isElementwise(n) {
                alone(us.isEmpty ? nil : "'\(n.op.rawValue)' changes dtype, so it can only end a kernel")
            } else {
                alone(
                    us.isEmpty ? nil : "'\(n.op.rawValue)' is \(patternName(n.op.schema.pattern)); it is its own kernel"
                )
            }
        }
        for k in groups.indices { groups[k].nodes.sort(); groups[k].prologue.sort() }
        groups.sort { $0.root < $1.root }
        return FusionPlan(groups: groups, refusals: refusals.sorted { $0.node < $1.node })
    }

    /// Why view node `n` cannot be read in place by the kernel of `group`, which holds all its
    /// users; nil when it can. An elementwise kernel reads any operand through a view; a
    /// matmul reads its A and B operands through one (its epilogue operands cannot), and so does
    /// a transpose or slice kernel; a reshape in the prologue needs a contiguous operand, so
    /// only reshapes and identities join in front of it.
    static func prologueProblem(_ g: Graph, _ n: Node, users: [Int], allUsers: [ValueID: [Int]], group: FusionGroup)
        -> String?
    {
        let r = n.results[0]
        let root = g.nodes[group.root]
        let matmul = group.anchor.map { g.nodes[$0].op == .matmul } ?? (root.op == .matmul && group.nodes.count == 1)
        let elementwise =
            group.anchor == nil && group.nodes.allSatisfy { isElementwise(g.nodes[$0]) || group.prologue.contains($0) }
        let copy =
            group.anchor == nil && StridedView.isStridedCopy(root.op)
            && group.nodes.allSatisfy { $0 == group.root || group.prologue.contains($0) }
        guard matmul || elementwise || copy else {
            return "its users' kernel is '\(root.op.rawValue)', which reads operands contiguously"
        }
        /// A prologue member that needs a contiguous operand: a reshape, or an identity feeding one.
        func needsContiguous(_ u: Int) -> Bool {
            let m = g.nodes[u]
            if m.op == .reshape { return true }
            guard m.op == .identity else { return false }
            return (allUsers[m.results[0]] ?? []).contains { group.prologue.contains($0) && needsContiguous($0) }
        }
        for u in users {
            let user = g.nodes[u]
            if group.prologue.contains(u) {
                if needsContiguous(u) && n.op != .reshape && n.op != .identity {
                    return "its user '\(user.op.rawValue)' needs a contiguous operand"
                }
                continue
            }
            if matmul && u != (group.anchor ?? group.root) {
                return "its user '\(user.op.rawValue)' is in the matmul's epilogue, which reads operands contiguously"
            }
        }
        // The view must exist: a reshape of a strided operand is not one.
        if n.op == .reshape || n.op == .slice {
            let inShape = g.type(of: n.operands[0]).shape ?? []
            if StridedView.contiguous(n.operands[0], inShape).applying(n, result: g.type(of: r).shape ?? []) == nil {
                return "'\(n.op.rawValue)' has no strided view"
            }
        }
        return nil
    }

    /// The anchors whose kernels store an epilogue's cast result: the int8 ones and the bf16
    /// GEMM (`matmul {to = "f32"}`, whose f32 result is often rounded to bf16 for the next one).
    static func storesCasts(_ n: Node) -> Bool {
        [.qconv, .qconvNCHWc, .qmatmul].contains(n.op)
            || ([.matmul, .conv, .convNCHWc].contains(n.op) && n.attribute("to") != nil)
    }

    /// Whether the group's root is a cast that changes dtype (its kernel stores that dtype).
    static func castsAtRoot(_ g: Graph, _ group: FusionGroup) -> Bool {
        let root = g.nodes[group.root]
        return root.op == .cast && g.type(of: root.operands[0]).dtype != g.type(of: root.results[0]).dtype
    }

    /// Which anchors take an epilogue: f32 convolutions, and matmuls of every float dtype
    /// (the typed matmul applies it too).
    static func anchors(_ n: Node, _ dtype: DType) -> Bool { dtype == .f32 || (n.op == .matmul && dtype.isFloat) }

    /// Epilogue operands must be addressable from the anchor's output coordinates: for conv,
    /// each operand either broadcasts over all spatial axes or walks them contiguously.
    static func epilogueProblem(_ g: Graph, anchor: Node, group: FusionGroup) -> String? {
        guard [.conv, .qconv, .convNCHWc, .qconvNCHWc, .depthwiseConvNCHWc].contains(anchor.op),
            let out = g.type(of: anchor.results[0]).shape
        else { return nil }
        let members = Set(group.nodes.map { g.nodes[$0].results[0] })
        if anchor.op != .conv && anchor.op != .qconv {
            // Each store is one pixel's block of channels: operands walk the lanes or broadcast.
            for i in group.nodes {
                for o in g.nodes[i].operands where !members.contains(o) && o != anchor.results[0] {
                    guard let s = g.type(of: o).shape else { return "operand with a symbolic shape" }
                    if ![0, 1].contains(broadcastStrides(s, to: out).last ?? 0) {
                        return "operand %\(g.name(of: o)) does not walk the channel lanes contiguously"
                    }
                }
            }
            return nil
        }
        for i in group.nodes {
            for o in g.nodes[i].operands where !members.contains(o) && o != anchor.results[0] {
                guard let s = g.type(of: o).shape else { return "operand with a symbolic shape" }
                let st = broadcastStrides(s, to: out)
                let spatial = Array(st[2...])
                let contiguous = contiguousStrides(Array(out[2...]))
                if !(spatial.allSatisfy { $0 == 0 } || spatial == contiguous) {
                    return "operand %\(g.name(of: o)) broadcasts over only some spatial axes"
                }
            }
        }
        return nil
    }

    static func patternName(_ p: PatternClass) -> String {
        switch p {
        case .elementwise: "elementwise"
        case .broadcast: "broadcast"
        case .injective: "injective"
        case .reduction: "a reduction"
        case .outElementwiseFusable: "out-elementwise-fusable"
        case .opaque: "opaque"
        }
    }

    /// Text for `--fusion-report`.
    public static func report(_ g: Graph, _ plan: FusionPlan) -> String {
        var out = "// fusion: \(plan.groups.count) kernels for \(g.nodes.filter { $0.payload == nil }.count) ops\n"
        for (k, group) in plan.groups.enumerated() {
            func describe(_ i: Int) -> String { "\(g.nodes[i].op.rawValue) %\(g.name(of: g.nodes[i].results[0]))" }
            let ops = group.nodes.map(describe)
            let anchor = group.anchor.map { " anchor \(g.nodes[$0].op.rawValue)" } ?? ""
            let prologue =
                group.prologue.isEmpty ? "" : " prologue [\(group.prologue.map(describe).joined(separator: ", "))]"
            out += "// kernel \(k):\(anchor) [\(ops.joined(separator: ", "))]\(prologue)\n"
        }
        for r in plan.refusals {
            out +=
                "// refused: \(g.nodes[r.node].op.rawValue) %\(g.name(of: g.nodes[r.node].results[0])): \(r.reason)\n"
        }
        return out
    }
}
