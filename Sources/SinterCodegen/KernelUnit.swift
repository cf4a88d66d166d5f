import SinterIR

/// A kernel family as one unit: one file that says what a node of the family lowers to (its
/// bodies), how each body is emitted as an LLVM function, and how it is scheduled. The schema
/// names the unit (`kernel: .unit("arg-reduce")`); `KernelUnits.all` registers it. So a new
/// kernel-backed op is its schema entry, one unit file, one registry line, its
/// importer/exporter lines and its tests — no enum in the IR, the kernel IR or the emitter
/// has to move in step.
///
/// Families that predate units are still cases of `KernelFamily` / `KernelBody` and move to
/// units one by one (docs/extending.md).
protocol KernelUnit: Sendable {
    /// The name the schema uses in `KernelFamily.unit`.
    static var name: String { get }
    /// Whether the unit generates code for these operand and result dtypes.
    static func supports(operands: [DType], results: [DType]) -> Bool
    /// The node's kernel bodies: one per result, in result order.
    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody]
}

/// One kernel of a unit: it emits its function body and picks its schedule.
protocol KernelUnitBody: Sendable, CustomStringConvertible {
    /// Emits the kernel body into the function `e` is positioned in.
    func emit(_ e: KernelEmitter, _ a: KernelArguments)
    /// Sets `k.tasks` (and scratch) for the thread pool; the default keeps the kernel whole.
    func schedule(_ k: inout Kernel, _ s: Schedules)
    /// Equality and hashing, so kernels stay values (`KernelBody` is Hashable).
    func isEqual(_ other: any KernelUnitBody) -> Bool
    func hash(into h: inout Hasher)
}

extension KernelUnitBody {
    func schedule(_ k: inout Kernel, _ s: Schedules) {}
}

extension KernelUnitBody where Self: Hashable {
    func isEqual(_ other: any KernelUnitBody) -> Bool { (other as? Self) == self }
}

/// A unit's body inside `KernelBody.unit`: the unit's name plus its value.
public struct UnitBody: Hashable, Sendable, CustomStringConvertible {
    public let unit: String
    let body: any KernelUnitBody

    public static func == (a: UnitBody, b: UnitBody) -> Bool { a.unit == b.unit && a.body.isEqual(b.body) }
    public func hash(into h: inout Hasher) {
        h.combine(unit)
        body.hash(into: &h)
    }
    public var description: String { "\(unit)(\(body))" }
}

/// What a unit's lowering sees: the node, its operand and result types, its attributes with
/// the schema's defaults.
struct UnitLowering {
    let node: Node
    let operandTypes: [TensorType]
    let resultTypes: [TensorType]

    var inShapes: [[Int]] { operandTypes.map { $0.shape ?? [] } }
    var outShape: [Int] { resultTypes.first?.shape ?? [] }
    func int(_ name: String) -> Int { if case .int(let v)? = node.attribute(name) { v } else { 0 } }
    func bool(_ name: String) -> Bool { if case .bool(let v)? = node.attribute(name) { v } else { false } }
    /// The first operand seen as [outer, axis, inner] around its `axis` attribute.
    var aroundAxis: (outer: Int, axis: Int, inner: Int) {
        let shape = inShapes[0]
        let a = axis()
        return (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    }

    /// A (possibly negative) axis attribute of the first operand, normalised.
    func axis(_ name: String = "axis") -> Int {
        let rank = inShapes.first?.count ?? 0
        return ShapeRules.normalizedAxis(int(name), rank: rank)
    }
}

/// What a unit's emitter gets: the function's pointers and, for split kernels, its part.
struct KernelArguments {
    let out: IRValue
    let ins: [IRValue]
    let scratch: IRValue
    /// This part and the number of parts (0 and 1 for a kernel that is not split).
    let task: IRValue
    let parts: IRValue
    /// f32 lanes of the kernel's schedule.
    let vectorWidth: Int
}

/// Every kernel unit, by the name the schema uses.
enum KernelUnits {
    static let all: [any KernelUnit.Type] = [
        ArgReduceUnit.self, SoftmaxUnit.self, LayerNormUnit.self, PadUnit.self, ReduceUnit.self,
    ]

    static func named(_ name: String) -> (any KernelUnit.Type)? { all.first { $0.name == name } }
}
