import Foundation
import SinterIR

/// Writes Sinter graphs as ONNX models (opset 20) for every IR op with an ONNX spelling.
/// Constants become initializers; attributes that ONNX takes as inputs (shapes, axes, pads,
/// starts/ends) become int64 initializers. Ops without an ONNX form are reported all at once.
public enum ONNXExporter {
    public static let opset: Int64 = 20

    public static func export(_ graph: Graph) throws(SinterError) -> Data {
        // Losses and optimizer updates are written as the arithmetic they stand for.
        let g = try TrainingExpansion.expand(graph) ?? graph
        var model = Onnx_ModelProto()
        model.irVersion = 9
        model.producerName = "sinter"
        var o = Onnx_OperatorSetIdProto()
        o.version = opset
        model.opsetImport = [o]
        var graph = Onnx_GraphProto()
        graph.name = g.name
        var diags: [Diagnostic] = []
        var extra = 0
        func int64s(_ values: [Int], _ hint: String) -> String {
            extra += 1
            let name = "\(hint).sinter\(extra)"
            graph.initializer.append(
                TensorData(dtype: .i64, shape: [values.count], values: values.map(Double.init)).tensorProto(name: name))
            return name
        }
        /// QuantizeLinear / DequantizeLinear inputs for a quantized type: scale and zero-point
        /// initializers (one value, or one per index of the axis) and the `axis` attribute.
        func quantization(_ t: TensorType, _ hint: String) -> (inputs: [String], attributes: [Onnx_AttributeProto]) {
            guard let q = t.quant else { return ([], []) }
            let shape = q.axis == nil ? [] : [q.scales.count]
            extra += 1
            let name = "\(hint).sinter\(extra)"
            graph.initializer.append(
                TensorData(dtype: .f32, shape: shape, values: q.scales.map(Double.init)).tensorProto(
                    name: name + ".scale"))
            graph.initializer.append(
                TensorData(dtype: t.dtype, shape: shape, values: q.zeroPoints.map(Double.init))
                    .tensorProto(name: name + ".zero"))
            return ([name + ".scale", name + ".zero"], q.axis.map { [intAttr("axis", $0)] } ?? [])
        }
        func scalar(_ v: Double, _ dtype: DType, _ hint: String) -> String {
            extra += 1
            let name = "\(hint).sinter\(extra)"
            graph.initializer.append(TensorData(dtype: dtype, shape: [], values: [v]).tensorProto(name: name))
            return name
        }
        for v in g.inputs { graph.input.append(valueInfo(g, v)) }
        for v in g.outputs { graph.output.append(valueInfo(g, v)) }
        for node in g.nodes {
            let ins = node.operands.map(g.name(of:)), outs = node.results.map(g.name(of:))
            let hint = outs.first ?? "v"
            if let p = node.payload {
                graph.initializer.append(p.data.tensorProto(name: outs[0]))
                continue
            }
            func ints(_ n: String) -> [Int] { node.attributes.ints(n) ?? [] }
            func attr(_ name: String) -> AttributeValue? { node.attribute(name) }
            func float(_ name: String) -> Double { if case .float(let v)? = attr(name) { v } else { 0 } }
            func int(_ name: String) -> Int { if case .int(let v)? = attr(name) { v } else { 0 } }
            func bool(_ name: String) -> Bool { if case .bool(let v)? = attr(name) { v } else { false } }
            /// An extra node in front of this one (blocked ops have no ONNX form of their own).
            func helper(_ op: String, _ inputs: [String], _ attrs: [Onnx_AttributeProto] = []) -> String {
                extra += 1
                var h = Onnx_NodeProto()
                h.opType = op
                h.name = "\(hint).sinter\(extra)"
                h.input = inputs
                h.output = [h.name]
                h.attribute = attrs
                graph.node.append(h)
                return h.name
            }
            /// `x` widened to f32 by a Cast node.
            func helperCast(_ x: String) -> String {
                helper("Cast", [x], [intAttr("to", Int(ONNXType.code(.f32)))])
            }
            /// [N, C/b, H, W, b] → [N, C, H, W].
            func unblock(_ x: String, _ s: [Int]) -> String {
                helper(
                    "Reshape",
                    [
                        helper("Transpose", [x], [intsAttr("perm", [0, 1, 4, 2, 3])]),
                        int64s([s[0], s[1] * s[4], s[2], s[3]], hint),
                    ])
            }
            /// Makes this node the [N, C, H, W] → [N, C/b, H, W, b] step that blocks `y` into `ys`.
            func reblock(_ y: String, _ ys: [Int], into n: inout Onnx_NodeProto) {
                n.opType = "Transpose"
                n.input = [helper("Reshape", [y, int64s([ys[0], ys[1], ys[4], ys[2], ys[3]], hint)])]
                n.attribute = [intsAttr("perm", [0, 1, 3, 4, 2])]
            }
            var n = Onnx_NodeProto()
            n.input = ins
            n.output = outs
            n.name = hint
            let rank = node.operands.first.map { g.type(of: $0).rank } ?? 0
            // Opset 20 quantizes to 8 bits only (and dequantizes i32 too).
            let storage = (node.op == .dequantize ? node.operands : node.results).map { g.type(of: $0).dtype }.first
            if [.quantize, .requantize, .dequantize].contains(node.op), let storage,
                !(storage == .i8 || storage == .u8 || (node.op == .dequantize && storage == .i32))
            {
                diags.append(
                    Diagnostic(
                        "'\(node.op.rawValue)' with \(storage.rawValue) storage has no ONNX form at opset \(opset); "
                            + "not exported", at: node.location))
                continue
            }
            switch node.op {
            case .constant: continue
            case .add: n.opType = "Add"
            case .sub: n.opType = "Sub"
            case .mul: n.opType = "Mul"
            case .div: n.opType = "Div"
            case .max: n.opType = "Max"
            case .min: n.opType = "Min"
            case .pow: n.opType = "Pow"
            case .prelu: n.opType = "PRelu"
            case .neg: n.opType = "Neg"
            case .abs: n.opType = "Abs"
            case .exp: n.opType = "Exp"
            case .log: n.opType = "Log"
            case .sqrt: n.opType = "Sqrt"
            case .reciprocal: n.opType = "Reciprocal"
            case .erf: n.opType = "Erf"
            case .floor: n.opType = "Floor"
            case .ceil: n.opType = "Ceil"
            case .round: n.opType = "Round"
            case .sign: n.opType = "Sign"
            case .relu: n.opType = "Relu"
            case .sigmoid: n.opType = "Sigmoid"
            case .tanh: n.opType = "Tanh"
            case .softplus: n.opType = "Softplus"
            case .gelu: n.opType = "Gelu"
            case .geluTanh: n.opType = "Gelu"; n.attribute = [string("approximate", "tanh")]
            case .leakyRelu: n.opType = "LeakyRelu"; n.attribute = [floatAttr("alpha", float("alpha"))]
            case .elu: n.opType = "Elu"; n.attribute = [floatAttr("alpha", float("alpha"))]
            case .selu:
                n.opType = "Selu";
                n.attribute = [floatAttr("alpha", float("alpha")), floatAttr("gamma", float("gamma"))]
            case .hardSigmoid:
                n.opType = "HardSigmoid";
                n.attribute = [floatAttr("alpha", float("alpha")), floatAttr("beta", float("beta"))]
            case .hardSwish: n.opType = "HardSwish"
            case .clip:
                n.opType = "Clip"
                let dtype = g.type(of: node.operands[0]).dtype
                n.input = ins + [scalar(float("min"), dtype, hint), scalar(float("max"), dtype, hint)]
            case .not: n.opType = "Not"
            case .and: n.opType = "And"
            case .or: n.opType = "Or"
            case .equal: n.opType = "Equal"
            case .less: n.opType = "Less"
            case .greater: n.opType = "Greater"
            case .lessEqual: n.opType = "LessOrEqual"
            case .greaterEqual: n.opType = "GreaterOrEqual"
            case .where: n.opType = "Where"
            case .cast:
                n.opType = "Cast"
                n.attribute = [intAttr("to", Int(ONNXType.code(g.type(of: node.results[0]).dtype)))]
            case .expand: n.opType = "Expand"; n.input = ins + [int64s(ints("shape"), hint)]
            case .matmul:
                // ONNX MatMul has no transpose flags: a flagged operand gets a Transpose node.
                n.opType = "MatMul"
                for (k, flag) in ["trans_a", "trans_b"].enumerated() where bool(flag) {
                    let r = g.type(of: node.operands[k]).rank
                    var t = Onnx_NodeProto()
                    extra += 1
                    t.opType = "Transpose"
                    t.name = "\(hint).\(flag).sinter\(extra)"
                    t.input = [ins[k]]
                    t.output = [t.name]
                    t.attribute = [intsAttr("perm", Array(0..<(r - 2)) + [r - 1, r - 2])]
                    graph.node.append(t)
                    n.input[k] = t.name
                }
                // `to = "f32"` (bf16 or f16 operands summed in f32): both operands widened
                // exactly, then an f32 MatMul.
                if node.attribute("to") != nil {
                    for k in 0..<2 {
                        n.input[k] = helperCast(n.input[k])
                    }
                }
            case .softmax: n.opType = "Softmax"; n.attribute = [intAttr("axis", int("axis"))]
            case .logSoftmax: n.opType = "LogSoftmax"; n.attribute = [intAttr("axis", int("axis"))]
            case .layerNorm:
                n.opType = "LayerNormalization"
                n.attribute = [intAttr("axis", int("axis")), floatAttr("epsilon", float("epsilon"))]
            case .conv:
                n.opType = "Conv"
                let spatial = rank - 2
                n.attribute = [
                    intsAttr("strides", node.attributes.ints("strides") ?? Array(repeating: 1, count: spatial)),
                    intsAttr("dilations", node.attributes.ints("dilations") ?? Array(repeating: 1, count: spatial)),
                    intsAttr("pads", node.attributes.ints("pads") ?? Array(repeating: 0, count: 2 * spatial)),
                    intAttr("group", int("group")),
                ]
                // `to = "f32"` (bf16 or f16 operands summed in f32): both operands widened
                // exactly, then an f32 Conv.
                if node.attribute("to") != nil {
                    for k in 0..<2 {
                        n.input[k] = helperCast(n.input[k])
                    }
                }
            case .convNCHWc:
                // No ONNX form: unblock input and weights, Conv, block the result again.
                let xs = g.type(of: node.operands[0]).shape ?? [], ws = g.type(of: node.operands[1]).shape ?? []
                let ys = g.type(of: node.results[0]).shape ?? []
                guard xs.count == 5, ws.count == 6, ys.count == 5 else {
                    diags.append(Diagnostic("conv-nchwc with symbolic shapes cannot be exported", at: node.location))
                    continue
                }
                // A grouped one's weights hold each output block's input blocks from its own start.
                guard (node.attributes.int("group") ?? 1) == 1 else {
                    diags.append(
                        Diagnostic("grouped conv-nchwc cannot be exported; export before `layout`", at: node.location))
                    continue
                }
                let b = xs[4]
                var x = unblock(ins[0], xs)
                var w = helper(
                    "Reshape",
                    [
                        helper("Transpose", [ins[1]], [intsAttr("perm", [0, 5, 1, 4, 2, 3])]),
                        int64s([ws[0] * ws[5], ws[1] * b, ws[2], ws[3]], hint),
                    ])
                // `to = "f32"` (bf16 operands summed in f32): both widened exactly, as for conv.
                if node.attribute("to") != nil { (x, w) = (helperCast(x), helperCast(w)) }
                let conv = helper(
                    "Conv", [x, w],
                    [
                        intsAttr("strides", node.attributes.ints("strides") ?? [1, 1]),
                        intsAttr("dilations", node.attributes.ints("dilations") ?? [1, 1]),
                        intsAttr("pads", node.attributes.ints("pads") ?? [0, 0, 0, 0]),
                    ])
                reblock(conv, ys, into: &n)
            case .depthwiseConvNCHWc:
                // Unblock, Conv with group = C, block again.
                let xs = g.type(of: node.operands[0]).shape ?? [], ws = g.type(of: node.operands[1]).shape ?? []
                let ys = g.type(of: node.results[0]).shape ?? []
                guard xs.count == 5, ws.count == 4, ys.count == 5 else {
                    diags.append(
                        Diagnostic("depthwise-conv-nchwc with symbolic shapes cannot be exported", at: node.location))
                    continue
                }
                let channels = xs[1] * xs[4]
                let w = helper(
                    "Reshape",
                    [
                        helper("Transpose", [ins[1]], [intsAttr("perm", [0, 3, 1, 2])]),
                        int64s([channels, 1, ws[1], ws[2]], hint),
                    ])
                let conv = helper(
                    "Conv", [unblock(ins[0], xs), w],
                    [
                        intsAttr("strides", node.attributes.ints("strides") ?? [1, 1]),
                        intsAttr("dilations", node.attributes.ints("dilations") ?? [1, 1]),
                        intsAttr("pads", node.attributes.ints("pads") ?? [0, 0, 0, 0]),
                        intAttr("group", channels),
                    ])
                reblock(conv, ys, into: &n)
            case .maxPoolNCHWc, .avgPoolNCHWc:
                // No ONNX form: unblock, pool, block again.
                let xs = g.type(of: node.operands[0]).shape ?? [], ys = g.type(of: node.results[0]).shape ?? []
                guard xs.count == 5, ys.count == 5 else {
                    diags.append(
                        Diagnostic("\(node.op.rawValue) with symbolic shapes cannot be exported", at: node.location))
                    continue
                }
                let x = unblock(ins[0], xs)
                var attrs = [
                    intsAttr("kernel_shape", ints("kernel")),
                    intsAttr("strides", node.attributes.ints("strides") ?? [1, 1]),
                    intsAttr("pads", node.attributes.ints("pads") ?? [0, 0, 0, 0]),
                    intAttr("ceil_mode", bool("ceil_mode") ? 1 : 0),
                ]
                if node.op == .maxPoolNCHWc {
                    attrs.append(intsAttr("dilations", node.attributes.ints("dilations") ?? [1, 1]))
                } else {
                    attrs.append(intAttr("count_include_pad", bool("count_include_pad") ? 1 : 0))
                }
                let pooled = helper(node.op == .maxPoolNCHWc ? "MaxPool" : "AveragePool", [x], attrs)
                reblock(pooled, ys, into: &n)
            case .quantize, .requantize:
                var x = ins[0]
                if node.op == .requantize {
                    let from = quantization(g.type(of: node.operands[0]), hint)
                    x = helper("DequantizeLinear", [x] + from.inputs, from.attributes)
                } else if g.type(of: node.operands[0]).dtype != .f32 {
                    x = helper("Cast", [x], [intAttr("to", Int(ONNXType.code(.f32)))])
                }
                let to = quantization(g.type(of: node.results[0]), hint)
                n.opType = "QuantizeLinear"
                n.input = [x] + to.inputs
                n.attribute = to.attributes
            case .qmatmul where g.type(of: node.operands[0]).dtype == .f32:
                diags.append(
                    Diagnostic(
                        "qmatmul with an f32 a (dynamic int8, quantized per row) has no ONNX form; not exported",
                        at: node.location))
                continue
            case .qmatmul, .qconv:
                // The QDQ form: both operands dequantized, then a float MatMul or Conv; an i32 bias
                // dequantized at scale_a · scale_b[j] (onnxruntime's form), Conv's B or an Add.
                let types = node.operands.map(g.type(of:))
                var operands = (0..<2).map { i in
                    let q = quantization(types[i], hint)
                    return helper("DequantizeLinear", [ins[i]] + q.inputs, q.attributes)
                }
                if types.count == 3 {
                    let n = types[2].shape?.first ?? 1
                    let params = QuantParams.bias(a: types[0].quant, b: types[1].quant, channels: n)
                    let q = quantization(TensorType(.i32, [n], quant: params), hint)
                    operands.append(helper("DequantizeLinear", [ins[2]] + q.inputs, q.attributes))
                }
                n.opType = node.op == .qconv ? "Conv" : operands.count == 3 ? "Add" : "MatMul"
                if node.op == .qmatmul && operands.count == 3 {
                    operands = [helper("MatMul", Array(operands.prefix(2))), operands[2]]
                }
                n.input = operands
                if node.op == .qconv {
                    n.attribute = [
                        intsAttr("strides", node.attributes.ints("strides") ?? [1, 1]),
                        intsAttr("dilations", node.attributes.ints("dilations") ?? [1, 1]),
                        intsAttr("pads", node.attributes.ints("pads") ?? [0, 0, 0, 0]),
                        intAttr("group", node.attributes.int("group") ?? 1),
                    ]
                }
            case .qconvNCHWc:
                // No ONNX form: the QDQ Conv on the unblocked input (bytes), its result blocked again.
                let types = node.operands.map(g.type(of:))
                let xs = types[0].shape ?? [], ys = g.type(of: node.results[0]).shape ?? []
                guard xs.count == 5, ys.count == 5 else {
                    diags.append(Diagnostic("qconv-nchwc with symbolic shapes cannot be exported", at: node.location))
                    continue
                }
                let (qx, qw) = (quantization(types[0], hint), quantization(types[1], hint))
                var operands = [
                    helper("DequantizeLinear", [unblock(ins[0], xs)] + qx.inputs, qx.attributes),
                    helper("DequantizeLinear", [ins[1]] + qw.inputs, qw.attributes),
                ]
                if types.count == 3 {
                    let m = types[2].shape?.first ?? 1
                    let params = QuantParams.bias(a: types[0].quant, b: types[1].quant, channels: m)
                    let q = quantization(TensorType(.i32, [m], quant: params), hint)
                    operands.append(helper("DequantizeLinear", [ins[2]] + q.inputs, q.attributes))
                }
                let conv = helper(
                    "Conv", operands,
                    [
                        intsAttr("strides", node.attributes.ints("strides") ?? [1, 1]),
                        intsAttr("dilations", node.attributes.ints("dilations") ?? [1, 1]),
                    ])
                reblock(conv, ys, into: &n)
            case .dequantize:
                let from = quantization(g.type(of: node.operands[0]), hint)
                n.opType = "DequantizeLinear"
                n.input = ins + from.inputs
                n.attribute = from.attributes
            case .maxPool, .avgPool:
                n.opType = node.op == .maxPool ? "MaxPool" : "AveragePool"
                let spatial = rank - 2
                n.attribute = [
                    intsAttr("kernel_shape", ints("kernel")),
                    intsAttr("strides", node.attributes.ints("strides") ?? Array(repeating: 1, count: spatial)),
                    intsAttr("pads", node.attributes.ints("pads") ?? Array(repeating: 0, count: 2 * spatial)),
                    intAttr("ceil_mode", bool("ceil_mode") ? 1 : 0),
                ]
                if node.op == .maxPool {
                    n.attribute.append(
                        intsAttr("dilations", node.attributes.ints("dilations") ?? Array(repeating: 1, count: spatial)))
                } else {
                    n.attribute.append(intAttr("count_include_pad", bool("count_include_pad") ? 1 : 0))
                    if let d = node.attributes.ints("dilations"), d.contains(where: { $0 != 1 }) {
                        diags.append(
                            Diagnostic(
                                "avg-pool with dilations has no ONNX form before opset 19 dilations; not exported",
                                at: node.location))
                    }
                }
            case .identity: n.opType = "Identity"
            case .reshape:
                n.opType = "Reshape"; n.input = ins + [int64s(g.type(of: node.results[0]).shape ?? ints("shape"), hint)]
            case .transpose:
                n.opType = "Transpose"
                n.attribute = [intsAttr("perm", OpSchema.permutation(node.attributes, rank: rank))]
            case .concat: n.opType = "Concat"; n.attribute = [intAttr("axis", int("axis"))]
            case .split:
                n.opType = "Split"; n.input = ins + [int64s(ints("sizes"), hint)];
                n.attribute = [intAttr("axis", int("axis"))]
            case .slice:
                n.opType = "Slice"
                n.input =
                    ins + [
                        int64s(ints("starts"), hint), int64s(ints("ends"), hint), int64s(Array(0..<rank), hint),
                        int64s(node.attributes.ints("steps") ?? Array(repeating: 1, count: rank), hint),
                    ]
            case .gather: n.opType = "Gather"; n.attribute = [intAttr("axis", int("axis"))]
            case .tile: n.opType = "Tile"; n.input = ins + [int64s(ints("repeats"), hint)]
            case .pad:
                n.opType = "Pad"
                n.attribute = [string("mode", (PadMode(node.attributes) ?? .constant).rawValue)]
                n.input =
                    ins + [
                        int64s(ints("pads"), hint), scalar(float("value"), g.type(of: node.operands[0]).dtype, hint),
                    ]
            case .reduceSum, .reduceMean, .reduceMax, .reduceMin, .reduceProd, .reduceL2:
                n.opType =
                    [
                        "reduce-sum": "ReduceSum", "reduce-mean": "ReduceMean", "reduce-max": "ReduceMax",
                        "reduce-min": "ReduceMin",
                        "reduce-prod": "ReduceProd", "reduce-l2": "ReduceL2",
                    ][node.op.rawValue] ?? ""
                n.attribute = [intAttr("keepdims", bool("keepdims") ? 1 : 0)]
                if let axes = node.attributes.ints("axes") {
                    n.input = ins + [int64s(axes, hint)]
                    if axes.isEmpty { n.attribute.append(intAttr("noop_with_empty_axes", 1)) }
                }
            case .argMax, .argMin:
                n.opType = node.op == .argMax ? "ArgMax" : "ArgMin"
                n.attribute = [
                    intAttr("axis", int("axis")), intAttr("keepdims", bool("keepdims") ? 1 : 0),
                    intAttr("select_last_index", bool("select_last_index") ? 1 : 0),
                ]
            default:
                // Ops added later spell themselves next to their importer (`Converters.spellings`).
                guard let spelling = Converters.spellings[node.op] else {
                    diags.append(Diagnostic("'\(node.op.rawValue)' has no ONNX form; not exported", at: node.location))
                    continue
                }
                n.opType = spelling.opType
                n.attribute = spelling.attributes(node)
                n.input =
                    ins
                    + spelling.int64Inputs(node).map {
                        $0.scalar ? scalar(Double($0.values.first ?? 0), .i64, hint) : int64s($0.values, hint)
                    }
            }
            graph.node.append(n)
        }
        if !diags.isEmpty { throw SinterError(diags) }
        model.graph = graph
        do { return try model.serializedData() } catch { throw SinterError("cannot encode the ONNX model: \(error)") }
    }

    /// How an IR op without a case in the exporter's switch is written in ONNX: its op type, its
    /// attributes, and the int64 tensors ONNX takes as extra inputs (an axis, a k). An op adds
    /// its spelling to `Converters.spellings`, next to its importer.
    struct Spelling: Sendable {
        var opType: String
        var attributes: @Sendable (Node) -> [Onnx_AttributeProto] = { _ in [] }
        /// Extra int64 inputs after the node's operands: their values, and whether one is 0-D.
        var int64Inputs: @Sendable (Node) -> [(values: [Int], scalar: Bool)] = { _ in [] }
    }

    static func valueInfo(_ g: Graph, _ v: ValueID) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = g.name(of: v)
        let t = g.type(of: v)
        info.type.tensorType.elemType = ONNXType.code(t.dtype)
        info.type.tensorType.shape.dim = t.dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .fixed(let n): dim.dimValue = Int64(n)
            case .symbol(let s): dim.dimParam = s
            }
            return dim
        }
        return info
    }

    static func intAttr(_ name: String, _ v: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(v)
        return a
    }

    static func intsAttr(_ name: String, _ v: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = v.map { Int64($0) }
        return a
    }

    static func floatAttr(_ name: String, _ v: Double) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = Float(v)
        return a
    }

    static func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(v.utf8)
        return a
    }
}
