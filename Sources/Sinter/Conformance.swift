import Foundation

/// Runs one ONNX backend node test written out by Tests/ONNX/onnx_node_tests.py:
/// `DIR/model.onnx`, and for each data set `DIR/<k>/input_<i>.npy`, `output_<i>.npy`.
/// Outputs must match in dtype and shape, and within |got − want| ≤ atol + rtol·|want|.
public enum Conformance {
    public enum Outcome: String, Sendable { case pass = "PASS", fail = "FAIL", skip = "SKIP" }

    public struct Result: Sendable {
        public var name: String
        public var outcome: Outcome
        public var detail: String
    }

    public static let rtol = 1e-3
    public static let atol = 1e-5

    public static func run(_ dir: URL) -> Result {
        let name = dir.lastPathComponent
        let fm = FileManager.default
        if let skip = try? String(contentsOf: dir.appendingPathComponent("SKIP"), encoding: .utf8) {
            return Result(name: name, outcome: .skip, detail: skip.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let modelPath = dir.appendingPathComponent("model.onnx").path
        let sets = ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).filter { Int($0) != nil }.sorted()
        guard !sets.isEmpty else { return Result(name: name, outcome: .skip, detail: "no data sets") }
        do throws(SinterError) {
            // The same loading `sinter run` does: inputs that decide shapes or control flow are
            // specialised from the data set (every data set, since they may differ).
            let inputNames = try ONNXImporter.inputNames(modelPath)
            func loader(_ set: URL) -> (String) throws(SinterError) -> TensorData? {
                { name throws(SinterError) in
                    guard let i = inputNames.firstIndex(of: name) else { return nil }
                    let path = set.appendingPathComponent("input_\(i).npy").path
                    return try Npy.decode(try FileIO.read(path), origin: path)
                }
            }
            let frozen = try Sinter.loadSpecialising(modelPath, value: loader(dir.appendingPathComponent(sets[0])))
                .specialised
            var model: JITModel?
            for set in sets {
                let sd = dir.appendingPathComponent(set)
                func input(_ i: Int, _ expected: DType?) throws(SinterError) -> TensorData {
                    let path = sd.appendingPathComponent("input_\(i).npy").path
                    return try Npy.decode(try FileIO.read(path), origin: path, expected: expected)
                }
                if model == nil || !frozen.isEmpty {
                    model = try Sinter.jit(try Sinter.loadSpecialising(modelPath, value: loader(sd)).graph)
                }
                guard let model else { continue }
                var inputs: [TensorData] = []
                let fed = inputNames.enumerated().filter { !frozen.contains($0.element) }
                for ((i, _), spec) in zip(fed, model.program.inputs) { inputs.append(try input(i, spec.type.dtype)) }
                let outputs = try model.run(inputs)
                for (i, got) in outputs.enumerated() {
                    let path = sd.appendingPathComponent("output_\(i).npy").path
                    let want = try Npy.decode(try FileIO.read(path), origin: path, expected: got.dtype)
                    if let problem = compare(got, want) {
                        return Result(name: name, outcome: .fail, detail: "data set \(set), output \(i): \(problem)")
                    }
                }
            }
            return Result(
                name: name, outcome: .pass,
                detail: frozen.isEmpty ? "" : "specialised: \(frozen.joined(separator: ","))")
        } catch {
            let text = error.diagnostics.prefix(3).map(\.description).joined(separator: "; ")
            return Result(name: name, outcome: .fail, detail: text.replacingOccurrences(of: "\n", with: " "))
        }
    }

    /// Why `got` does not match `want`, or nil.
    public static func compare(_ got: TensorData, _ want: TensorData) -> String? {
        if got.dtype != want.dtype { return "dtype \(got.dtype.rawValue), expected \(want.dtype.rawValue)" }
        if got.shape != want.shape { return "shape \(got.shape), expected \(want.shape)" }
        let a = got.doubles, b = want.doubles
        for i in a.indices {
            let x = a[i], y = b[i]
            if x.isNaN || y.isNaN { if x.isNaN != y.isNaN { return "[\(i)] = \(x), expected \(y)" } else { continue } }
            if x.isInfinite || y.isInfinite { if x != y { return "[\(i)] = \(x), expected \(y)" } else { continue } }
            if abs(x - y) > atol + rtol * abs(y) { return "[\(i)] = \(x), expected \(y)" }
        }
        return nil
    }
}
