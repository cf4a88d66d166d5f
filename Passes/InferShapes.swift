import SinterIR

/// `infer-shapes{N=4}`: binds symbolic dimensions (from `--shape`, or the entry's options) and
/// recomputes every result type
/// from the op table's shape rules, so later passes and codegen see concrete types.
///
///     graph @g(%x: f32[N,8]) -> (%y: f32[N,8]) {      // with --shape N=4
///       %y = relu %x : f32[N,8]
///     }
///     ==>
///     graph @g(%x: f32[4,8]) -> (%y: f32[4,8]) {
///       %y = relu %x : f32[4,8]
///     }
public struct InferShapes: Pass {
    public static let name = "infer-shapes"
    public static let summary = "bind symbolic dimensions (--shape) and recompute result types from the op schema"
    /// Any symbol name is an option; `init(options:)` checks the sizes.
    public static let takesSymbolOptions = true
    /// Symbol bindings, `infer-shapes{N=4 T=16}`.
    public var bindings: [String: Int] = [:]
    public init() {}
    public init(bindings: [String: Int]) { self.bindings = bindings }
    public init(options: PassOptionValues) throws(SinterError) {
        for (k, v) in options.values {
            guard let n = Int(v), n >= 0 else {
                throw SinterError("pass 'infer-shapes': binding '\(k)=\(v)' must be a size >= 0")
            }
            bindings[k] = n
        }
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var changed = false
        for v in graph.inputs {
            let bound = graph.type(of: v).binding(bindings)
            if bound != graph.type(of: v) { graph[v].type = bound; changed = true }
        }
        var diags: [Diagnostic] = []
        for node in graph.nodes {
            do throws(ShapeError) {
                let types = try graph.inferResultTypes(of: node)
                for (r, t) in zip(node.results, types) where graph.type(of: r) != t {
                    graph[r].type = t
                    changed = true
                }
            } catch {
                diags.append(Diagnostic("'\(node.op.rawValue)': \(error.message)", at: node.location))
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return changed
    }
}
