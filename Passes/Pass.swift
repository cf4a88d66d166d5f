import SinterIR

/// A graph-to-graph transformation with a kebab-case name. Passes never print: the pass
/// manager owns dumps, verification and timing.
public protocol Pass: Sendable {
    static var name: String { get }
    /// One line for `sinter dump --help` and docs/passes.md.
    static var summary: String { get }
    /// Transforms `graph` in place; returns whether anything changed.
    func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool
}

extension Pass {
    public var name: String { Self.name }
}

/// State shared by the passes of one pipeline run: compile-time settings in, analysis
/// results (such as the memory plan) out.
public final class PassContext {
    /// Values for symbolic dimensions (`--shape N=4`), used by `infer-shapes`.
    public var bindings: [String: Int]
    /// Largest constant (in elements) `fold-constants` may create.
    public var foldLimit: Int
    /// Channels per block for `layout` (the target's f32 vector width; 0 or 1 turns it off).
    public var layoutBlock: Int
    /// Set by `plan-memory`; read by codegen and by dumps.
    public var memoryPlan: MemoryPlan?
    /// Set by `fuse`; read by `plan-memory`, codegen and reports.
    public var fusionPlan: FusionPlan?

    public init(bindings: [String: Int] = [:], foldLimit: Int = 1 << 20, layoutBlock: Int = 16) {
        self.bindings = bindings
        self.foldLimit = foldLimit
        self.layoutBlock = layoutBlock
    }
}

/// Every pass, by name. Pipelines are lists of these names.
public enum PassRegistry {
    public static let all: [any Pass] = [
        InferShapes(), Canonicalize(), FoldConstants(), CommonSubexpressions(), DeadCodeElimination(), FoldBatchNorm(),
        FoldPad(), SinkTransposes(), Layout(), Fuse(), PlanMemory(),
    ]

    public static func named(_ name: String) -> (any Pass)? { all.first { $0.name == name } }
}

/// Pipelines as data: the one default list shared by `compile`, `run` and `dump`.
public enum Pipeline {
    public static let `default` = [
        "infer-shapes", "canonicalize", "fold-constants", "cse", "fold-batchnorm", "fold-pad", "sink-transposes", "canonicalize",
        "layout", "canonicalize", "dce", "fuse", "plan-memory",
    ]

    /// Parses `a,b,c`, reporting every unknown name at once.
    public static func parse(_ spec: String) throws(SinterError) -> [String] {
        let names = spec.split(separator: ",").map { String($0).trimmingCharacters() }.filter { !$0.isEmpty }
        let unknown = names.filter { PassRegistry.named($0) == nil }
        if !unknown.isEmpty {
            let known = PassRegistry.all.map(\.name).joined(separator: ", ")
            throw SinterError(unknown.map { Diagnostic("unknown pass '\($0)' (known passes: \(known))") })
        }
        return names
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
