import Foundation
import SinterCodegen
import SinterONNX

/// Seeds the repository's files cannot give: the weights model's own file (and a truncated
/// copy), byte strings that drive the graph generator through every op, and a libFuzzer
/// dictionary for ONNX (op types, attribute names and the protobuf field tags around them).
enum Seeds {
    static func write(_ target: FuzzTarget, into dir: String) -> Int32 {
        let url = URL(fileURLWithPath: dir)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            switch target {
            case .weights:
                guard let valid = FuzzTarget.weightsModel?.valid else { return 1 }
                try Data(valid).write(to: url.appendingPathComponent("valid.weights"))
                try Data(valid.prefix(64)).write(to: url.appendingPathComponent("header-only.weights"))
            case .pipeline:
                // Rank-4 input, then each op choice applied to the newest value.
                for choice in 0..<13 {
                    let bytes: [UInt8] =
                        [3, 1, 3, 7, 9] + (0..<12).flatMap { [UInt8(choice + 13 * $0), 255] + [5, 2, 7] }
                    try Data(bytes).write(to: url.appendingPathComponent("ops-\(choice)"))
                }
            case .onnx, .onnxLower:
                let words =
                    ONNXImporter.supportedOps + [
                        "kernel_shape", "strides", "pads", "dilations", "group", "axis", "axes", "keepdims", "perm",
                        "shape", "hidden_size", "direction", "mode", "then_branch", "else_branch", "body", "to",
                    ]
                let dict = words.map { "\"\($0)\"" }.joined(separator: "\n") + "\n"
                try dict.write(to: url.appendingPathComponent("onnx.dict"), atomically: true, encoding: .utf8)
            case .checkpoint:
                guard let m = FuzzTarget.checkpointModel else { return 1 }
                try Data(m.valid).write(to: url.appendingPathComponent("valid.ckpt"))
                try Data(m.swiftValid).write(to: url.appendingPathComponent("train-cli.ckpt"))
                try Data(m.valid.prefix(64)).write(to: url.appendingPathComponent("header-only.ckpt"))
            case .sir, .sirLower, .npy:
                break
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("cannot write seeds to '\(dir)': \(error)\n".utf8))
            return 1
        }
    }
}
