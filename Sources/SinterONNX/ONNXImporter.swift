import Foundation
import SinterIR
import SwiftProtobuf

/// Reads ONNX models into Sinter graphs.
///
/// Every unsupported op, attribute value or dtype is reported at once, each with the node's
/// name and op type. Initializers become constants; shape subgraphs with static shapes are
/// evaluated at import; symbolic dimensions are bound from `bindings` (`--shape N=1`) or
/// kept symbolic.
public enum ONNXImporter {
    /// ONNX op types (default domain) the importer converts.
    public static var supportedOps: [String] { Converters.table.keys.sorted() }

    /// `constants` specialises graph inputs to fixed values (shape-like inputs such as axes or
    /// pads that an ahead-of-time compiler needs to know).
    /// `keepInitializers`: float initializers stay constants under their own names, never
    /// folded with others at import (training updates them and writes them back by name).
    public static func load(
        _ path: String, bindings: [String: Int] = [:], constants: [String: TensorData] = [:],
        keepInitializers: Bool = false
    ) throws(SinterError) -> Graph {
        let model = try decode(path)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return try importModel(
            model, name: model.graph.name.isEmpty ? base : model.graph.name, directory: dir, bindings: bindings,
            constants: constants, keepInitializers: keepInitializers)
    }

    /// The model at `path` with the named initializers replaced (same name, dtype and shape):
    /// how `sinter train` writes trained weights back into the user's own graph.
    public static func replacingInitializers(_ path: String, with values: [String: TensorData])
        throws(SinterError) -> Data
    {
        var model = try decode(path)
        var diags: [Diagnostic] = []
        var replaced: Set<String> = []
        for i in model.graph.initializer.indices {
            let t = model.graph.initializer[i]
            guard let v = values[t.name] else { continue }
            guard t.dims.map(Int.init) == v.shape else {
                diags.append(Diagnostic("initializer '\(t.name)' is \(t.dims) but the trained value is \(v.shape)"))
                continue
            }
            model.graph.initializer[i] = v.tensorProto(name: t.name)
            replaced.insert(t.name)
        }
        for name in Set(values.keys).subtracting(replaced).sorted() {
            diags.append(Diagnostic("the model has no initializer '\(name)' to write the trained value to"))
        }
        if !diags.isEmpty { throw SinterError(diags) }
        do {
            return try model.serializedData()
        } catch {
            throw SinterError("encoding the trained model failed: \(error)")
        }
    }

    /// Imports a model held in memory (a fuzzer's bytes): external data resolves against
    /// `directory`, which may hold nothing.
    public static func load(bytes: [UInt8], name: String, directory: String) throws(SinterError) -> Graph {
        let model = try decode(Data(bytes), origin: name)
        return try importModel(model, name: name, directory: directory, bindings: [:])
    }

    /// Reads and decodes a model file.
    static func decode(_ path: String) throws(SinterError) -> Onnx_ModelProto {
        guard let data = FileManager.default.contents(atPath: path) else { throw SinterError("cannot read '\(path)'") }
        return try decode(data, origin: path)
    }

    static func decode(_ data: Data, origin: String) throws(SinterError) -> Onnx_ModelProto {
        // Nested messages are decoded recursively: the depth limit (graph → node → attribute →
        // subgraph is three levels per If/Loop/Scan body) keeps a hostile file from overflowing
        // the stack; 100 allows about 32 nested bodies.
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = 100
        do {
            return try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw SinterError("'\(origin)' is not a valid ONNX model (protobuf decoding failed: \(error))")
        }
    }

    /// The graph inputs that are not initializers, in order (what a caller feeds).
    static func fedInputs(_ path: String) throws(SinterError) -> [Onnx_ValueInfoProto] {
        let g = try decode(path).graph
        let initialized = Set(g.initializer.map(\.name))
        return g.input.filter { !initialized.contains($0.name) }
    }

    /// The names of the model's f32 initializers: what training treats as parameters.
    public static func f32InitializerNames(_ path: String) throws(SinterError) -> [String] {
        try decode(path).graph.initializer.filter { $0.dataType == 1 }.map(\.name)  // 1: FLOAT
    }

    /// Names of the graph inputs that are not initializers, in order (what a caller feeds).
    public static func inputNames(_ path: String) throws(SinterError) -> [String] { try fedInputs(path).map(\.name) }

    /// The declared types of the graph inputs that are not initializers, symbolic dimensions
    /// left symbolic: what `sinter run` binds from its input files.
    public static func inputTypes(_ path: String) throws(SinterError) -> [String: TensorType] {
        var out: [String: TensorType] = [:]
        for i in try fedInputs(path) {
            if let t = try? tensorType(i, bindings: [:]) { out[i.name] = t }
        }
        return out
    }

    /// Graph inputs named in diagnostics as needing `--const-input`.
    public static func inputsNeedingConstants(_ error: SinterError) -> [String] {
        var names: [String] = []
        for d in error.diagnostics {
            var rest = Substring(d.message)
            while let r = rest.range(of: "--const-input ") {
                rest = rest[r.upperBound...]
                guard let end = rest.range(of: "=FILE.npy") else { break }
                let name = String(rest[..<end.lowerBound])
                if !names.contains(name) { names.append(name) }
                rest = rest[end.upperBound...]
            }
        }
        return names
    }

    static func importModel(
        _ model: Onnx_ModelProto, name: String, directory: String, bindings: [String: Int],
        constants: [String: TensorData] = [:], keepInitializers: Bool = false
    ) throws(SinterError) -> Graph {
        guard model.hasGraph else { throw SinterError("the model has no graph") }
        let g = model.graph
        let opset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) } ?? 1
        let ctx = ImportContext(name: name, directory: directory)
        ctx.keepInitializers = keepInitializers

        // Every unsupported op, all at once, before doing any work.
        func unsupportedNodes(_ graph: Onnx_GraphProto) -> [Onnx_NodeProto] {
            graph.node.flatMap { n in
                let here = Converters.converter(domain: n.domain, opType: n.opType) == nil
                let nested = n.attribute.flatMap { a in (a.hasG ? [a.g] : []) + a.graphs }.flatMap(unsupportedNodes)
                return (here ? [n] : []) + nested
            }
        }
        let unsupported = unsupportedNodes(g)
        if !unsupported.isEmpty {
            throw SinterError(
                unsupported.map { n in
                    let loc = ONNXNode(proto: n, opset: opset).location
                    let domain = n.domain.isEmpty ? "" : " in domain '\(n.domain)'"
                    return Diagnostic("unsupported op '\(n.opType)'\(domain)", at: loc)
                })
        }

        var diags: [Diagnostic] = []
        let graphLoc = SourceLocation.node(name: g.name, opType: "graph")
        // Initializers are constants, including those also listed as graph inputs.
        diags += ctx.addInitializers(g.initializer)
        let initialized = Set(g.initializer.map(\.name).filter { ctx.values[$0] != nil })
        let unknownConstants = Set(constants.keys).subtracting(g.input.map(\.name))
        if !unknownConstants.isEmpty {
            throw SinterError(
                unknownConstants.sorted().map {
                    Diagnostic("--const-input '\($0)': the model has no input of that name")
                })
        }
        for input in g.input where !initialized.contains(input.name) {
            do throws(SinterError) {
                let type = try tensorType(input, bindings: bindings)
                if var value = constants[input.name] {
                    // numpy has no bf16: its bits come as uint16.
                    if value.dtype == .u16 && type.dtype == .bf16 {
                        value = TensorData(dtype: .bf16, shape: value.shape, bytes: value.bytes)
                    }
                    guard value.dtype == type.dtype, type.rank == value.shape.count else {
                        throw SinterError(
                            "--const-input '\(input.name)' is \(value.type), but the input is \(type)", at: graphLoc)
                    }
                    ctx.values[input.name] = try ctx.constant(value, name: input.name)
                    continue
                }
                ctx.values[input.name] = try ctx.builder.input(input.name, type)
            } catch { diags += error.diagnostics }
        }
        diags += ctx.convert(g.node, opset: opset, after: diags)
        if !diags.isEmpty { throw SinterError(diags) }

        // Graph outputs keep their ONNX names (an identity node where the value has another name).
        for output in g.output {
            guard let v = ctx.values[output.name] else {
                throw SinterError("graph output '\(output.name)' is not produced by any node", at: graphLoc)
            }
            var out = v
            if ctx.builder.graph.name(of: v) != output.name || ctx.builder.graph.outputs.contains(v) {
                out = try ctx.builder.apply(.identity, [v], names: [ctx.unique(output.name)], location: graphLoc)[0]
            }
            // An output without a shape in the model (no `shape` field, not rank 0) is not checked.
            if output.type.tensorType.hasShape, let declared = try? tensorType(output, bindings: bindings),
                declared.isStatic,
                ctx.type(out).isStatic,
                declared.shape != ctx.type(out).shape || declared.dtype != ctx.type(out).dtype
            {
                throw SinterError(
                    "graph output '\(output.name)' is declared \(declared) but computes \(ctx.type(out))", at: graphLoc)
            }
            ctx.builder.output(out)
        }
        let graph = ctx.builder.graph
        try Verifier.verify(graph)
        return graph
    }

    /// The IR type of a graph input or output.
    static func tensorType(_ info: Onnx_ValueInfoProto, bindings: [String: Int]) throws(SinterError) -> TensorType {
        let loc = SourceLocation.node(name: info.name, opType: "graph input")
        guard info.type.tensorType.hasElemType else {
            throw SinterError(
                "'\(info.name)' is not a tensor (sequences, maps and optionals are not supported)", at: loc)
        }
        let code = info.type.tensorType.elemType
        guard let dtype = ONNXType.dtype(code) else {
            throw SinterError(
                "'\(info.name)' has element type \(ONNXType.name(code)), which Sinter does not support", at: loc)
        }
        let dims = info.type.tensorType.shape.dim.enumerated().map { i, d -> Dim in
            switch d.value {
            case .dimValue(let v)?: return .fixed(Int(v))
            case .dimParam(let p)?: return bindings[p].map { .fixed($0) } ?? .symbol(p.isEmpty ? "d\(i)" : p)
            case nil: return .symbol("\(info.name.filter { $0.isLetter || $0.isNumber })_d\(i)")
            }
        }
        let type = TensorType(dtype, dims)
        if let problem = type.problem { throw SinterError("'\(info.name)': \(problem)", at: loc) }
        return type
    }
}
