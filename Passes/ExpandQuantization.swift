import SinterIR

/// `expand-quant`: quantize, dequantize and requantize become the arithmetic they stand for,
/// so folding, fusion and the elementwise codegen treat them like any other ops. Per-axis
/// parameters become constants shaped to broadcast along their axis.
///
///     %q = quantize %x {to = "u8<0.5:10>"} : u8<0.5:10>[4]
///     %y = dequantize %q : f32[4]
///     ==>
///     %0 = constant dense<0.5> : f32[]
///     %1 = div %x, %0 : f32[4]
///     %2 = round %1 : f32[4]
///     %3 = constant dense<10.0> : f32[]
///     %4 = add %2, %3 : f32[4]
///     %5 = clip %4 {max = 255.0, min = 0.0} : f32[4]
///     %q = cast %5 {to = "u8"} : u8[4]
///     ... and the same for the dequantize: cast to i32, sub 10, cast to f32, mul 0.5
public struct ExpandQuantization: Pass {
    public static let name = "expand-quant"
    public static let summary = "rewrite quantize/dequantize/requantize into elementwise arithmetic"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        var emitter = RewriteEmitter(rewriter: Rewriter(graph))
        let defining = graph.definingNodes()
        for (i, node) in graph.nodes.enumerated() {
            let expands: Bool
            if case .expanded(by: Self.name) = node.op.schema.kernel { expands = true } else { expands = false }
            // The int8 kernels take an i8 b with zero point 0 (a qconv's constant); any other
            // qmatmul or qconv runs in f32.
            let integer = node.op == .qmatmul || node.op == .qconv
            guard expands || (integer && !Self.int8Kernel(graph, node, defining)) else { continue }
            emitter.position = .before(i)
            emitter.name = graph.name(of: node.results[0])
            emitter.location = node.location
            // Read operands from the rewriter: an earlier expansion may have replaced them.
            let operands = emitter.rewriter.graph.nodes[i].operands
            let types = node.operands.map(graph.type(of:)), target = graph.type(of: node.results[0])
            let y: ValueID
            switch node.op {
            case .quantize: y = try emitter.expandQuantize(operands[0], to: target)
            case .dequantize: y = try emitter.expandDequantize(operands[0], from: types[0])
            case .requantize:
                y = try emitter.expandQuantize(try emitter.expandDequantize(operands[0], from: types[0]), to: target)
            default:
                // A dynamic qmatmul (f32 a, quantized per row at run time) has only the kernel.
                guard types[0].dtype != .f32 else {
                    throw SinterError(
                        "qmatmul with an f32 a (dynamic int8) needs an i8 b with zero point 0, got \(types[1])",
                        at: node.location)
                }
                let a = try emitter.expandDequantize(operands[0], from: types[0])
                let b = try emitter.expandDequantize(operands[1], from: types[1])
                let product = try emitter.emit(node.op == .qconv ? .conv : .matmul, [a, b], node.attributes)
                y =
                    operands.count == 3
                    ? try Self.addBias(product, operands[2], types, conv: node.op == .qconv, &emitter) : product
            }
            emitter.rewriter.replaceAllUses(of: node.results[0], with: y)
            emitter.rewriter.takeName(of: node.results[0], for: y)
            emitter.rewriter.erase(i)
        }
        guard !emitter.rewriter.isUnchanged else { return false }
        graph = try emitter.rewriter.finish()
        return true
    }
}

extension ExpandQuantization {
    /// A qmatmul's or qconv's i32 bias in f32: dequantized at scale_a · scale_b[j] per channel
    /// and added (per output channel of a conv: shaped [n, 1, 1]).
    static func addBias(
        _ y: ValueID, _ bias: ValueID, _ types: [TensorType], conv: Bool, _ emitter: inout RewriteEmitter
    ) throws(SinterError) -> ValueID {
        let n = types[2].shape?.first ?? 1
        let q = QuantParams.bias(a: types[0].quant, b: types[1].quant, channels: n)
        var b = try emitter.expandDequantize(bias, from: TensorType(.i32, [n], quant: q))
        if conv { b = try emitter.emit(.reshape, [b], Attributes(["shape": .ints([n, 1, 1])])) }
        return try emitter.emit(.add, [y, b], Attributes())
    }

    /// Whether the int8 kernels take this qmatmul or qconv: b i8 with zero point 0, a constant
    /// (a qconv's weights, a qmatmul's packed at compile time) or, for qmatmul, a value the
    /// kernel packs as it runs.
    static func int8Kernel(_ g: Graph, _ node: Node, _ defining: [ValueID: Int]) -> Bool {
        let b = node.operands[1], t = g.type(of: b)
        guard t.dtype == .i8, t.quant?.isSymmetric == true else { return false }
        return node.op == .qmatmul || defining[b].map { g.nodes[$0].op == .constant } == true
    }
}
