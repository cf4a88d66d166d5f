import Foundation
import SinterCodegen
import SinterIR

/// `--max-memory`: the most memory a model may need, checked before anything of that size is
/// allocated. A hostile or mistaken model (an output of 2^40 elements, an intermediate of
/// 8 GiB) is refused with the node and the bytes it needs, instead of aborting in an
/// allocation or swapping the machine to a halt:
/// - before the pipeline, each input and output of the graph must fit (callers allocate them);
/// - after lowering, the artifact's workspace (arena and kernel scratch) plus its weights must;
///   the error names the largest tensor the arena holds. Intermediates are not checked one by
///   one before the pipeline: fusion may never materialise them (an expand into a reduction).
/// The compiler's own large allocations are the weights it repacks, bounded the same way:
/// constant folding creates at most `fold-constants{limit}` elements per tensor.
public struct MemoryBudget: Sendable, Equatable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    /// min(8 GiB, half the machine's RAM).
    public static var standard: MemoryBudget {
        MemoryBudget(bytes: min(8 << 30, Int(clamping: ProcessInfo.processInfo.physicalMemory / 2)))
    }

    /// Reads "4096", "512K", "64MB", "8GiB", "1.5G" (K, M, G, T are powers of 1024).
    public static func parse(_ text: String) throws(SinterError) -> MemoryBudget {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let digits = t.prefix { $0.isNumber || $0 == "." }
        var unit = String(t.dropFirst(digits.count))
        for suffix in ["IB", "B"] where unit.hasSuffix(suffix) {
            unit = String(unit.dropLast(suffix.count))
            break
        }
        let scale: [String: Double] = ["": 1, "K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        guard let value = Double(digits), let s = scale[unit], value * s >= 1, value * s < 0x1p62 else {
            throw SinterError("--max-memory '\(text)' must be a size such as 512M, 8G or 1073741824")
        }
        return MemoryBudget(bytes: Int(value * s))
    }

    public var description: String { Self.format(bytes) }

    /// "8.0 GiB (8589934592 bytes)"-style sizes for messages.
    static func format(_ n: Int) -> String {
        let units = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)]
        guard let (name, shift) = units.first(where: { n >= 1 << $0.1 }) else { return "\(n) bytes" }
        return String(format: "%.1f ", Double(n) / Double(1 << shift)) + "\(name) (\(n) bytes)"
    }

    /// Every graph input and output larger than the budget, as one located error per value
    /// (all of them at once).
    public func check(_ g: Graph) throws(SinterError) {
        let defining = g.definingNodes()
        var diags: [Diagnostic] = []
        for (v, what) in g.inputs.map({ ($0, "input") }) + g.outputs.map({ ($0, "output") }) {
            let t = g.type(of: v)
            let loc = defining[v].map { g.nodes[$0].location } ?? g.location
            guard t.shape != nil else { continue }
            guard let need = t.byteCount else {
                diags.append(Diagnostic("\(what) '%\(g.name(of: v))' of type \(t) is too large for memory", at: loc))
                continue
            }
            if need > bytes {
                diags.append(
                    Diagnostic(
                        "\(what) '%\(g.name(of: v))' of type \(t) needs \(Self.format(need)), more than the "
                            + "memory budget of \(self) (--max-memory)", at: loc))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
    }

    /// The artifact's workspace plus its weights; `graph` (the lowered one, with its memory
    /// plan) names the largest tensor in the arena.
    public func check(_ p: KernelProgram, _ graph: Graph) throws(SinterError) {
        let weights = p.constants.reduce(0) { $0 + $1.bytes.count }
        let need = p.workspaceSize.addingReportingOverflow(weights)
        guard need.overflow || need.partialValue > bytes else { return }
        var message =
            "'\(p.name)' needs a workspace of \(Self.format(p.workspaceSize)) and weights of "
            + "\(Self.format(weights)), more than the memory budget of \(self) (--max-memory)"
        let defining = graph.definingNodes()
        let slotted = Set((graph.memory?.slots ?? []).map(\.value))
        let planned = graph.values.indices.map(ValueID.init).filter {
            slotted.contains(graph.name(of: $0)) && defining[$0] != nil
        }
        if let v = planned.max(by: { (graph.type(of: $0).byteCount ?? 0) < (graph.type(of: $1).byteCount ?? 0) }),
            let n = defining[v]
        {
            let node = graph.nodes[n]
            message +=
                "; its largest intermediate is '%\(graph.name(of: v))' of type \(graph.type(of: v)), "
                + "the result of '\(node.op.rawValue)'"
            throw SinterError(message, at: node.location)
        }
        throw SinterError(message)
    }
}
