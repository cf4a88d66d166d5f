import SinterIR

/// `rematerialize`: the keep-or-recompute rule. An elementwise value with a user far after
/// its first one (in a train step: a forward activation the backward reads) is recomputed
/// just before that late user instead of kept, when recomputing extends no other lifetime:
/// each operand of its node is a graph input or constant, or is itself read at or after the
/// late user. Everything else a later node reads is kept. The copy is named `NAME.recomputed`,
/// and `sinter dump --memory-report` lists every recomputed value with the bytes it frees.
///
///     %z = add %mm, %b : f32[32,128]
///     %h = relu %z : f32[32,128]
///     %y = matmul %h, %w : f32[32,10]
///     ... (30 nodes) ...
///     %dz = mul %dh, %mask : f32[32,128]      // reads %z: %z stays alive
///     %dw = matmul %h, %dy {transpose_a = true} : f32[128,10]
///     ==>
///     ...
///     %h.recomputed = relu %z : f32[32,128]
///     %dw = matmul %h.recomputed, %dy {transpose_a = true} : f32[128,10]
///
/// Runs after `cse` (which would merge the copy back) and before `fuse`, which usually folds
/// the copy into the late user's kernel.
public struct Rematerialize: Pass {
    public static let name = "rematerialize"
    public static let summary = "recompute cheap elementwise values for far-away users instead of keeping them"
    /// How many nodes must separate two uses before the later one gets a recomputed copy.
    static let minimumGap = 4

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        let users = graph.users(), defining = graph.definingNodes()
        let outputs = Set(graph.outputs)
        var lastUse: [ValueID: Int] = [:]
        for (v, u) in users { lastUse[v] = u.max() }
        var rw = Rewriter(graph)
        for node in graph.nodes {
            guard node.results.count == 1, node.op.schema.pattern <= .broadcast,
                node.op.schema.traits.contains(.pure), !outputs.contains(node.results[0]),
                let uses = users[node.results[0]]?.sorted(), let first = uses.first
            else { continue }
            // The late users: past a gap after the previous use.
            guard let cut = uses.indices.dropFirst().first(where: { uses[$0] - uses[$0 - 1] > Self.minimumGap })
            else { continue }
            let late = Array(uses[cut...]), start = late[0]
            // Recompute only when every operand is alive at the late user anyway.
            let free = node.operands.allSatisfy { o in
                defining[o].map { graph.nodes[$0].op == .constant } ?? true || (lastUse[o] ?? 0) >= start
            }
            guard free, first < start else { continue }
            let copy = try rw.insert1(
                node.op, node.operands, name: graph.name(of: node.results[0]) + ".recomputed",
                attributes: node.attributes, at: .before(start), location: node.location)
            for u in Set(late) {
                rw.update(u) { n in n.operands = n.operands.map { $0 == node.results[0] ? copy : $0 } }
            }
        }
        guard !rw.isUnchanged else { return false }
        graph = try rw.finish()
        return true
    }
}
