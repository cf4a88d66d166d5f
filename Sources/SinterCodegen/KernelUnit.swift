import SinterIR
import SinterPasses

/// A kernel family as one unit: one file that says what a node of the family lowers to (its
/// bodies), how each body is emitted as an LLVM function, and how it is scheduled. The schema
/// names the unit (`kernel: .unit("arg-reduce")`; elementwise ops, whose meaning is their
/// scalar expression, use `ElementwiseUnit`); `KernelUnits.all` registers it. So a new
/// kernel-backed op is its case and entry in IR/OpTable.swift, one unit file, one registry
/// line here, its importer and ONNX spelling in Converters.swift, and its tests — no enum in
/// the IR, the kernel IR or the emitter has to move in step.
protocol KernelUnit: Sendable {
    /// The name the schema uses in `KernelFamily.unit`.
    static var name: String { get }
    /// Whether the unit generates code for these operand and result dtypes.
    static func supports(operands: [DType], results: [DType]) -> Bool
    /// The node's kernel bodies: one per result, in result order. When the node anchors a
    /// fused group, `c.epilogue` is its epilogue and `c.views` how it reads its operands.
    static func lower(_ c: UnitLowering) throws(SinterError) -> [any KernelUnitBody]
    /// How an epilogue operand, broadcast to the anchor's result with element `strides`, is
    /// addressed by this family's kernel; nil for families that take no epilogue.
    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand?
}

extension KernelUnit {
    static func epilogueOperand(_ strides: [Int], _ dtype: DType) -> Epilogue.Operand? { nil }
}

/// One kernel of a unit: it emits its function body and picks its schedule.
protocol KernelUnitBody: Sendable, CustomStringConvertible {
    /// Emits the kernel body into the function `e` is positioned in.
    func emit(_ e: KernelEmitter, _ a: KernelArguments)
    /// Sets `k.tasks`, `k.scratchBytes` and `k.registerTile` from the target's schedules; the
    /// default keeps the kernel whole, without scratch.
    func schedule(_ k: inout Kernel, _ s: Schedules)
    /// The accumulator type of a multiply-accumulate kernel (`Schedules.accumulator`), for reports.
    var accumulator: DType? { get }
    /// The multiply-adds of a matmul or convolution kernel (nil for others), for the report's
    /// count of how much of a model runs in int8.
    var multiplyAdds: Int? { get }
    /// A body that reads constant operand `operand` in a layout of its own (a packed GEMM's B
    /// panels) returns that data, computed once at compile time, and itself reading it.
    func prepacking(_ operand: Int, _ data: TensorData) -> (body: any KernelUnitBody, data: TensorData)?
    /// A body that reads its operands at constant element offsets (a slice's start) returns the
    /// same body reading from offset 0 and each operand's offset in bytes, so the caller moves
    /// the pointers instead: kernels that differ only there (a recurrent cell's per-step slices,
    /// a split's parts) then share one function.
    var hoistingOffsets: (body: any KernelUnitBody, operandBytes: [Int])? { get }
    /// Equality and hashing, so kernels stay values.
    func isEqual(_ other: any KernelUnitBody) -> Bool
    func hash(into h: inout Hasher)
}

extension KernelUnitBody {
    func schedule(_ k: inout Kernel, _ s: Schedules) {}
    var accumulator: DType? { nil }
    var multiplyAdds: Int? { nil }
    func prepacking(_ operand: Int, _ data: TensorData) -> (body: any KernelUnitBody, data: TensorData)? { nil }
    var hoistingOffsets: (body: any KernelUnitBody, operandBytes: [Int])? { nil }
}

extension KernelUnitBody where Self: Hashable {
    func isEqual(_ other: any KernelUnitBody) -> Bool { (other as? Self) == self }
}

/// The kernel IR: one kernel's body, made by the unit `unit`. Each unit's bodies describe one
/// loop nest (iteration space, operand strides, geometry) after dimensions that can be walked
/// as one have been merged; the unit emits each as one LLVM function with explicit vector code.
public struct KernelBody: Hashable, Sendable, CustomStringConvertible {
    public let unit: String
    let body: any KernelUnitBody

    init(unit: String, body: any KernelUnitBody) {
        self.unit = unit
        self.body = body
    }

    public static func == (a: KernelBody, b: KernelBody) -> Bool { a.unit == b.unit && a.body.isEqual(b.body) }
    public func hash(into h: inout Hasher) {
        h.combine(unit)
        body.hash(into: &h)
    }
    public var description: String { "\(unit)(\(body))" }
}

/// What a unit's lowering sees: the node, its operand and result types, its attributes with
/// the schema's defaults, and, when it anchors a fused group, its operand views and epilogue.
struct UnitLowering {
    let node: Node
    let operandTypes: [TensorType]
    let resultTypes: [TensorType]
    /// How the kernel reads each operand: contiguous, or through a fused prologue's view.
    var views: [StridedView]
    /// Elementwise work fused after the anchor (its extra operands follow the node's own).
    var epilogue: Epilogue? = nil
    /// The target's schedule values, for bodies whose shape depends on them (GEMM tiles).
    let schedules: Schedules

    init(node: Node, operandTypes: [TensorType], resultTypes: [TensorType], schedules: Schedules) {
        self.node = node
        self.operandTypes = operandTypes
        self.resultTypes = resultTypes
        self.schedules = schedules
        views = zip(node.operands, operandTypes).map { StridedView.contiguous($0, $1.shape ?? []) }
    }

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

    /// The node's window over `input` (strides, pads and dilations from its attributes).
    func window(_ input: [Int], _ kernel: [Int], ceilMode: Bool = false) throws(SinterError) -> ShapeRules.Window {
        do throws(ShapeError) {
            return try ShapeRules.window(input: input, kernel: kernel, attributes: node.attributes, ceilMode: ceilMode)
        } catch { throw SinterError(error.message, at: node.location) }
    }

    func fail(_ message: String) -> SinterError { SinterError(message, at: node.location) }
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
    /// The kernel's register tile (`Kernel.registerTile`), set by its schedule.
    let registerTile: [Int]
}

/// Every kernel unit, by the name the schema uses.
enum KernelUnits {
    static let all: [any KernelUnit.Type] = [
        ElementwiseUnit.self, MovementUnit.self, MatmulUnit.self, ConvUnit.self, BlockedConvUnit.self, PoolUnit.self,
        ArgReduceUnit.self, SoftmaxUnit.self, LayerNormUnit.self,
        PadUnit.self, ReduceUnit.self, CumSumUnit.self, TopKUnit.self, ScatterUnit.self, QMatmulUnit.self,
        QConvUnit.self, QConvBlockedUnit.self,
    ]

    static func named(_ name: String) -> (any KernelUnit.Type)? { all.first { $0.name == name } }

    /// The unit that lowers a schema's kernel family (nil for constants).
    static func unit(for family: KernelFamily) -> (any KernelUnit.Type)? {
        switch family {
        case .none, .expanded: nil
        case .elementwise: ElementwiseUnit.self
        case .unit(let name): named(name)
        }
    }
}
