import SinterIR

/// A graph-to-graph transformation with a kebab-case name. Passes never print: the pass
/// manager owns dumps, verification and timing. A pass's settings are its options, written in
/// the pipeline string (`layout{block=8}`), so a golden test's RUN line states everything the
/// pass saw; `PassContext` carries only analyses that one pass leaves for later ones.
public protocol Pass: Sendable {
    static var name: String { get }
    /// One line for `sinter dump --help` and docs/passes.md.
    static var summary: String { get }
    /// The options `name{key=value ...}` may set, with their defaults.
    static var options: [PassOption] { get }
    /// True when any option name is accepted (symbol bindings); `init(options:)` checks them.
    static var takesSymbolOptions: Bool { get }
    /// The pass with its defaults.
    init()
    /// The pass configured from a pipeline entry (options already checked against `options`).
    init(options: PassOptionValues) throws(SinterError)
    /// Transforms `graph` in place; returns whether anything changed.
    func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool
}

extension Pass {
    public var name: String { Self.name }
    public static var options: [PassOption] { [] }
    public static var takesSymbolOptions: Bool { false }
    public init(options: PassOptionValues) throws(SinterError) { self.init() }
}

/// One option a pass accepts in the pipeline string.
public struct PassOption: Sendable {
    public enum Kind: Sendable { case int, bool, string }
    public let name: String
    public let kind: Kind
    public let defaultValue: String
    public let help: String
    public init(_ name: String, _ kind: Kind, default value: String, _ help: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = value
        self.help = help
    }
}

/// A pass's option values as written in its pipeline entry, read through typed accessors
/// that fall back to the option table's default.
public struct PassOptionValues: Sendable {
    public let pass: String
    public let values: [String: String]
    public init(pass: String, values: [String: String]) {
        self.pass = pass
        self.values = values
    }

    /// An `int` option: its value, or the option table's default.
    public func int(_ name: String) throws(SinterError) -> Int {
        let spec = PassRegistry.type(named: pass)?.options.first { $0.name == name }
        let text = values[name] ?? spec?.defaultValue ?? ""
        guard let v = Int(text) else {
            throw SinterError("pass '\(pass)': option '\(name)' must be an integer, got '\(text)'")
        }
        return v
    }

    /// A `string` option: its value, or the option table's default.
    public func string(_ name: String) -> String {
        values[name] ?? PassRegistry.type(named: pass)?.options.first { $0.name == name }?.defaultValue ?? ""
    }

    /// A `string` option holding names separated by ';' (`keep`, `wrt`): the names, empty ones
    /// dropped.
    public func names(_ name: String) -> [String] { string(name).split(separator: ";").map(String.init) }
}

/// Analyses one pass leaves for later ones and for codegen. No settings live here: those are
/// pass options in the pipeline string.
public final class PassContext {
    /// Set by `fuse`; read by `plan-memory`, codegen and reports.
    public var fusionPlan: FusionPlan?

    public init() {}
}

/// Every pass, by name. Pipelines are lists of these names.
public enum PassRegistry {
    public static let types: [any Pass.Type] = [
        InferShapes.self, QuantizeInt8.self, QuantizeDynamic.self, PrecisionBF16.self, FoldQDQ.self,
        ExpandQuantization.self, Autodiff.self,
        ExpandTraining.self,
        Canonicalize.self,
        FoldConstants.self,
        CommonSubexpressions.self,
        DeadCodeElimination.self, Rematerialize.self, FoldBatchNorm.self, FoldPad.self, SinkTransposes.self,
        Layout.self, Fuse.self,
        PlanMemory.self,
    ]

    /// Each pass with its default options.
    public static var all: [any Pass] { types.map { $0.init() } }

    public static func type(named name: String) -> (any Pass.Type)? { types.first { $0.name == name } }

    public static func named(_ name: String) -> (any Pass)? { type(named: name)?.init() }
}
