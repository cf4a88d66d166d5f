import Foundation
import Sinter
import SinterTestSupport
import Testing

@testable import SinterONNX

/// If, Loop and Scan import inline when their conditions and trip counts are known at compile
/// time; otherwise the error names the node and the graph inputs to specialise.
struct ControlFlowTests {
    typealias M = ImporterTests

    static func graph(_ name: String, _ nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto], outputs: [String])
        -> Onnx_GraphProto
    {
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes
        g.input = inputs
        g.output = outputs.map { M.value($0, 1, []) }
        return g
    }

    static func graphAttr(_ name: String, _ g: Onnx_GraphProto) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .graph
        a.g = g
        return a
    }

    static func intAttr(_ name: String, _ v: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = v
        return a
    }

    static func scalar(_ name: String, _ dtype: Int32, _ v: Int64) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = dtype
        if dtype == 7 { t.int64Data = [v] } else { t.int32Data = [Int32(v)] }
        return t
    }

    /// y = x doubled `trips` times by a Loop whose body also emits each partial result.
    static func doubling(tripsAsInput: Bool) -> Onnx_ModelProto {
        let body = Self.graph(
            "body",
            [
                M.node("Identity", ["c"], ["c_out"]), M.node("Add", ["v", "v"], ["v_out"]),
                M.node("Identity", ["v_out"], ["s"]),
            ],
            inputs: [M.value("i", 7, []), M.value("c", 9, []), M.value("v", 1, [3])], outputs: ["c_out", "v_out", "s"])
        let loop = M.node("Loop", ["trips", "", "x"], ["y", "scan"], name: "twice", [Self.graphAttr("body", body)])
        return M.model(
            [loop], inputs: [M.value("x", 1, [3])] + (tripsAsInput ? [M.value("trips", 7, [])] : []),
            outputs: [M.value("y", 1, [3]), M.value("scan", 1, [4, 3])],
            initializers: tripsAsInput ? [] : [scalar("trips", 7, 4)])
    }

    @Test func loopUnrollsAKnownTripCount() throws {
        let dir = try Support.temporaryDirectory("loop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let g = try ONNXImporter.load(try M.write(Self.doubling(tripsAsInput: false), dir))
        let out = try Sinter.jit(g).run([TensorData([1, -2, 0.5], shape: [3])])
        #expect(out[0].floats == [16, -32, 8])
        #expect(out[1].floats == [2, -4, 1, 4, -8, 2, 8, -16, 4, 16, -32, 8])
    }

    @Test func runTimeTripCountNamesTheInputToSpecialise() throws {
        let dir = try Support.temporaryDirectory("loop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try M.write(Self.doubling(tripsAsInput: true), dir)
        let errors = M.failure { try ONNXImporter.load(path) } ?? []
        #expect(errors.count == 1 && errors[0].hasPrefix("node 'twice' (Loop): error: input 0 ('M') is graph input"))
        #expect(ONNXImporter.inputsNeedingConstants(SinterError(errors.map { Diagnostic($0) })) == ["trips"])
        let (g, specialised) = try Sinter.loadSpecialising(path) { name in
            name == "trips" ? TensorData(dtype: .i64, shape: [], values: [4]) : nil
        }
        #expect(specialised == ["trips"] && g.inputs.count == 1)
    }

    @Test func ifTakesTheKnownBranchAndRefusesARunTimeCondition() throws {
        let dir = try Support.temporaryDirectory("if")
        defer { try? FileManager.default.removeItem(at: dir) }
        let then = Self.graph("then", [M.node("Relu", ["x"], ["a"])], inputs: [], outputs: ["a"])
        let other = Self.graph("else", [M.node("Neg", ["x"], ["b"])], inputs: [], outputs: ["b"])
        // The condition is computed from a graph input: not known without specialising it.
        let nodes = [
            M.node("ReduceSum", ["x"], ["s"], name: "sum", [Self.intAttr("keepdims", 0)]),
            M.node("Greater", ["s", "zero"], ["cond"]),
            M.node(
                "If", ["cond"], ["y"], name: "pick",
                [Self.graphAttr("then_branch", then), Self.graphAttr("else_branch", other)]),
        ]
        var zero = Onnx_TensorProto()
        zero.name = "zero"
        zero.dataType = 1
        zero.floatData = [0]
        let runTime = M.model(
            nodes, inputs: [M.value("x", 1, [3])], outputs: [M.value("y", 1, [3])], initializers: [zero])
        let errors = M.failure { try ONNXImporter.load(try M.write(runTime, dir)) } ?? []
        #expect(
            errors.first?.hasPrefix(
                "node 'pick' (If): error: input 0 ('cond') is computed at run time from graph input(s) 'x'") == true,
            "\(errors)")
        var yes = Onnx_TensorProto()
        yes.name = "c"
        yes.dataType = 9
        yes.int32Data = [0]
        let known = M.model(
            [M.node("If", ["c"], ["y"], [Self.graphAttr("then_branch", then), Self.graphAttr("else_branch", other)])],
            inputs: [M.value("x", 1, [3])], outputs: [M.value("y", 1, [3])], initializers: [yes])
        let g = try ONNXImporter.load(try M.write(known, dir, "k.onnx"))
        #expect(try Sinter.jit(g).run([TensorData([1, -2, 3], shape: [3])])[0].floats == [-1, 2, -3])
    }

    @Test func unsupportedOpsInsideSubgraphsAreListedWithTheRest() throws {
        let dir = try Support.temporaryDirectory("if")
        defer { try? FileManager.default.removeItem(at: dir) }
        let then = Self.graph("then", [M.node("Frobnicate", ["x"], ["a"], name: "inner")], inputs: [], outputs: ["a"])
        let m = M.model(
            [
                M.node("Custom", ["x"], ["c"], name: "outer"),
                M.node("If", ["c"], ["y"], [Self.graphAttr("then_branch", then), Self.graphAttr("else_branch", then)]),
            ], inputs: [M.value("x", 1, [3])], outputs: [M.value("y", 1, [3])])
        #expect(
            M.failure { try ONNXImporter.load(try M.write(m, dir)) } == [
                "node 'outer' (Custom): error: unsupported op 'Custom'",
                "node 'inner' (Frobnicate): error: unsupported op 'Frobnicate'",
                "node 'inner' (Frobnicate): error: unsupported op 'Frobnicate'",
            ])
    }
}
