import Foundation
import Sinter
import SinterTestSupport
import Testing
@testable import SinterONNX

/// Small ONNX models built in Swift: error reporting, external data, dynamic dimensions,
/// and numerics against numpy-free closed forms.
struct ImporterTests {
    static func value(_ name: String, _ type: Int32 = 1, _ dims: [Any]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type.tensorType.elemType = type
        v.type.tensorType.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let i = d as? Int { dim.dimValue = Int64(i) } else if let s = d as? String { dim.dimParam = s }
            return dim
        }
        return v
    }

    static func node(
        _ op: String, _ inputs: [String], _ outputs: [String], name: String = "", _ attrs: [Onnx_AttributeProto] = []
    ) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name
        n.attribute = attrs
        return n
    }

    static func model(
        _ nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto], outputs: [Onnx_ValueInfoProto],
        initializers: [Onnx_TensorProto] = [], opset: Int64 = 17
    ) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = opset
        m.opsetImport = [o]
        m.graph.name = "test"
        m.graph.node = nodes
        m.graph.input = inputs
        m.graph.output = outputs
        m.graph.initializer = initializers
        return m
    }

    /// The diagnostics an import produces (nil when it succeeds).
    static func failure(_ body: () throws -> Graph) -> [String]? {
        do {
            _ = try body()
            return nil
        } catch let e as SinterError {
            return e.diagnostics.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    static func write(_ m: Onnx_ModelProto, _ dir: URL, _ name: String = "m.onnx") throws -> String {
        let url = dir.appendingPathComponent(name)
        try m.serializedData().write(to: url)
        return url.path
    }

    /// An output with no shape in the model (`make_tensor_value_info(..., None)`) means
    /// "unknown", not rank 0: it takes the computed type; a wrong declared shape is an error.
    @Test func outputsWithoutShapeTakeTheComputedType() throws {
        let dir = try Support.temporaryDirectory("noshape")
        defer { try? FileManager.default.removeItem(at: dir) }
        var y = Onnx_ValueInfoProto()
        y.name = "y"
        y.type.tensorType.elemType = 1
        let m = Self.model([Self.node("Relu", ["x"], ["y"])], inputs: [Self.value("x", 1, [2, 3])], outputs: [y])
        let g = try ONNXImporter.load(try Self.write(m, dir))
        #expect(g.type(of: g.outputs[0]) == TensorType(.f32, [2, 3]))
        let wrong = Self.model(
            [Self.node("Relu", ["x"], ["y"])], inputs: [Self.value("x", 1, [2, 3])], outputs: [Self.value("y", 1, [])])
        #expect(throws: SinterError.self) { try ONNXImporter.load(try Self.write(wrong, dir, "w.onnx")) }
    }

    @Test func reportsEveryUnsupportedOpAtOnce() throws {
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = Self.model(
            [
                Self.node("Relu", ["x"], ["a"], name: "ok"),
                Self.node("Frobnicate", ["a"], ["b"], name: "first"),
                Self.node("NonMaxSuppression", ["b"], ["c"], name: "second"),
                Self.node("Custom", ["c"], ["y"], name: "third"),
            ],
            inputs: [Self.value("x", 1, [2])], outputs: [Self.value("y", 1, [2])])
        let path = try Self.write(m, dir)
        #expect(
            Self.failure { try ONNXImporter.load(path) } == [
                "node 'first' (Frobnicate): error: unsupported op 'Frobnicate'",
                "node 'second' (NonMaxSuppression): error: unsupported op 'NonMaxSuppression'",
                "node 'third' (Custom): error: unsupported op 'Custom'",
            ])
    }

    @Test func corruptAndTruncatedFiles() throws {
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.onnx")
        try Data([0xFF, 0xFF, 0xFF, 0x07, 0x01]).write(to: junk)
        #expect(throws: SinterError.self) { _ = try ONNXImporter.load(junk.path) }
        let good = try Self.model(
            [Self.node("Relu", ["x"], ["y"])], inputs: [Self.value("x", 1, [2])],
            outputs: [Self.value("y", 1, [2])]
        ).serializedData()
        let cut = dir.appendingPathComponent("cut.onnx")
        try good.prefix(good.count - 7).write(to: cut)
        #expect(Self.failure { try ONNXImporter.load(cut.path) }?.first?.contains("is not a valid ONNX model") == true)
    }

    @Test func externalDataLoadsFromTheModelFolderOnly() throws {
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = Onnx_TensorProto()
        w.name = "w"
        w.dataType = 1
        w.dims = [3]
        w.dataLocation = .external
        func entry(_ k: String, _ v: String) -> Onnx_StringStringEntryProto {
            var e = Onnx_StringStringEntryProto()
            e.key = k
            e.value = v
            return e
        }
        w.externalData = [entry("location", "weights.bin"), entry("offset", "4")]
        let floats: [Float] = [99, 1.5, -2, 4]
        try floats.withUnsafeBytes { Data($0) }.write(to: dir.appendingPathComponent("weights.bin"))
        let m = Self.model(
            [Self.node("Add", ["x", "w"], ["y"], name: "add")], inputs: [Self.value("x", 1, [3])],
            outputs: [Self.value("y", 1, [3])], initializers: [w])
        let g = try ONNXImporter.load(try Self.write(m, dir))
        let out = try Sinter.jit(g).run([TensorData([1, 1, 1], shape: [3])])[0]
        #expect(out.floats == [2.5, -1, 5])

        // A missing file and a path that leaves the folder are clear errors.
        w.externalData = [entry("location", "nope.bin")]
        let missing = Self.model(m.graph.node, inputs: m.graph.input, outputs: m.graph.output, initializers: [w])
        let missingPath = try Self.write(missing, dir, "missing.onnx")
        #expect(
            Self.failure { try ONNXImporter.load(missingPath) } == [
                "node 'w' (initializer): error: tensor 'w': external data file 'nope.bin' is missing"
            ])
        w.externalData = [entry("location", "../escape.bin")]
        let escape = Self.model(m.graph.node, inputs: m.graph.input, outputs: m.graph.output, initializers: [w])
        let escapePath = try Self.write(escape, dir, "escape.onnx")
        #expect(
            Self.failure { try ONNXImporter.load(escapePath) }?.first?.contains("outside the model's folder") == true)
    }

    @Test func symbolicBatchIsBoundOrKept() throws {
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = Self.model(
            [Self.node("Sigmoid", ["x"], ["y"])], inputs: [Self.value("x", 1, ["N", 3])],
            outputs: [Self.value("y", 1, ["N", 3])])
        let path = try Self.write(m, dir)
        let symbolic = try ONNXImporter.load(path)
        #expect(symbolic.type(of: symbolic.inputs[0]).description == "f32[N,3]")
        let bound = try ONNXImporter.load(path, bindings: ["N": 2])
        #expect(bound.type(of: bound.inputs[0]).description == "f32[2,3]")
        let y = try Sinter.jit(bound).run([TensorData([0, 0, 0, 0, 0, 0], shape: [2, 3])])[0]
        #expect(y.floats == [0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    }

    /// ONNX's losses import to the IR's loss ops in the common case (mean over [N, C], no
    /// weights, no ignored index), which the training ops differentiate; otherwise they are
    /// compositions (the node tests cover those).
    @Test func trainingLossesImportToLossOps() throws {
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (op, ir) in [("SoftmaxCrossEntropyLoss", Op.crossEntropy), ("NegativeLogLikelihoodLoss", .nllLoss)] {
            let m = Self.model(
                [Self.node(op, ["x", "t"], ["l"], name: "loss")],
                inputs: [Self.value("x", 1, [3, 5]), Self.value("t", 7, [3])], outputs: [Self.value("l", 1, [])])
            let g = try ONNXImporter.load(try Self.write(m, dir))
            #expect(g.nodes.map(\.op) == [ir], "\(op): \(g.nodes.map(\.op))")
        }
    }

    @Test func inconsistentShapesNameTheNode() throws {
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = Self.model(
            [Self.node("MatMul", ["a", "b"], ["y"], name: "mm")],
            inputs: [Self.value("a", 1, [2, 3]), Self.value("b", 1, [4, 5])], outputs: [Self.value("y", 1, [2, 5])])
        let path = try Self.write(m, dir)
        #expect(
            Self.failure { try ONNXImporter.load(path) } == [
                "node 'mm' (MatMul): error: 'matmul': contracting dimensions differ: [2,3] x [4,5] (3 vs 4)"
            ])
    }

    @Test func shapeSubgraphsFoldAtImport() throws {
        // Reshape(x, Concat(Shape(x)[0:1], [-1])) becomes a plain reshape with a constant shape.
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        var minusOne = Onnx_TensorProto()
        minusOne.name = "m1"
        minusOne.dataType = 7
        minusOne.dims = [1]
        minusOne.int64Data = [-1]
        var zero = Onnx_TensorProto()
        zero.name = "zero"
        zero.dataType = 7
        zero.dims = [1]
        zero.int64Data = [0]
        var axisAttr = Onnx_AttributeProto()
        axisAttr.name = "axis"
        axisAttr.type = .int
        axisAttr.i = 0
        let nodes = [
            Self.node("Shape", ["x"], ["s"]), Self.node("Gather", ["s", "zero"], ["n"], [axisAttr]),
            Self.node("Concat", ["n", "m1"], ["shape"], [axisAttr]), Self.node("Reshape", ["x", "shape"], ["y"]),
        ]
        let m = Self.model(
            nodes, inputs: [Self.value("x", 1, [2, 3, 4])], outputs: [Self.value("y", 1, [2, 12])],
            initializers: [minusOne, zero])
        let g = try ONNXImporter.load(try Self.write(m, dir))
        #expect(g.nodes.filter { $0.payload == nil }.map(\.op) == [.reshape])
    }
}

extension ImporterTests {
    /// Shape-like graph inputs (here ReduceSum's axes) are specialised with --const-input.
    @Test func constInputSpecialisesShapeLikeInputs() throws {
        let dir = try Support.temporaryDirectory("onnx")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = Self.model(
            [Self.node("ReduceSum", ["x", "axes"], ["y"], name: "sum")],
            inputs: [Self.value("x", 1, [2, 3]), Self.value("axes", 7, [1])], outputs: [Self.value("y", 1, [2, 1])],
            opset: 13)
        let path = try Self.write(m, dir)
        #expect(
            Self.failure { try ONNXImporter.load(path) } == [
                "node 'sum' (ReduceSum): error: input 1 ('axes') is graph input 'axes', which must be a constant here; specialise it with --const-input axes=FILE.npy"
            ])
        let g = try ONNXImporter.load(path, constants: ["axes": TensorData(dtype: .i64, shape: [1], values: [1])])
        #expect(g.inputs.count == 1)
        let y = try Sinter.jit(g).run([TensorData([1, 2, 3, 4, 5, 6], shape: [2, 3])])[0]
        #expect(y.floats == [6, 15])
    }
}
