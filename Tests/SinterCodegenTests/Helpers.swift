import SinterCodegen
import SinterIR
import SinterPasses

/// Plans memory and lowers a builder graph to the kernel IR, as the Sinter API does.
func lowered(_ g: Graph, target: Target = .host) throws -> KernelProgram {
    var graph = g
    let ctx = PassContext()
    var pm = PassManager(dump: { _ in })
    try pm.run(
        Pipeline.applying([Layout.name: ["block": "\(target.vectorWidth)"]], to: Pipeline.default), on: &graph,
        context: ctx)
    return try Lowering.lower(graph, target: target)
}

/// A graph with one input of `shape` and one op applied to it.
func unaryGraph(_ op: Op, _ shape: [Int], attributes: Attributes = Attributes()) throws -> Graph {
    var b = GraphBuilder(name: op.rawValue.replacing("-", with: "_"))
    let x = try b.input("x", TensorType(.f32, shape))
    b.output(try b.apply(op, [x], attributes: attributes)[0])
    return b.graph
}

/// Distance in units in the last place between two finite floats of the same sign class.
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(Int32(bitPattern: x.bitPattern))
        return bits < 0 ? Int64(Int32.min) - bits : bits
    }
    return Int(abs(ordered(a) - ordered(b)))
}
