import ArgumentParser
import Foundation
import Sinter

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attribute a model's output to its input with the compiled backward (gradients).",
        discussion:
            "Compiles the gradient of the explained class's score with respect to the model's first input (the "
            + "autodiff that training uses, with every parameter frozen) and writes DIR/attributions.npy, shaped "
            + "like the input, and for image-shaped inputs ([N,C,H,W] or [N,H,W]) DIR/attributions.png: red where "
            + "the input raises the score, blue where it lowers it. Integrated gradients use a zero baseline and "
            + "the midpoint rule; their per-sample sum approaches score − baseline score (printed).")

    @Argument(help: "The model (.onnx or .sir); its first output holds [N, C] class scores.")
    var model: String

    @Option(help: ArgumentHelp("The model's input as NAME=FILE.npy.", valueName: "NAME=FILE"))
    var input: String

    @Option(help: "gradient, gradient-x-input or integrated-gradients.") var method = "integrated-gradients"
    @Option(help: "The class to explain (default: each sample's highest-scoring class).") var target: Int?
    @Option(help: "Integration steps (integrated gradients).") var steps = 50
    @Option(name: .shortAndLong, help: "Output folder.") var output: String

    func run() throws {
        do throws(SinterError) {
            guard let m = Explainer.Method(rawValue: method) else {
                let known = Explainer.Method.allCases.map(\.rawValue).joined(separator: ", ")
                throw SinterError("--method '\(method)' is not one of \(known)")
            }
            let parts = input.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw SinterError("--input must be NAME=FILE.npy, got '\(input)'") }
            let x = try Npy.decode(try FileIO.read(parts[1]), origin: parts[1])
            guard let n = x.shape.first else { throw SinterError("\(parts[1]): the input needs a batch axis") }
            let (graph, _) = try Sinter.loadBatched(model, batch: n)
            guard graph.inputs.count == 1, graph.name(of: graph.inputs[0]) == parts[0] else {
                let names = graph.inputs.map { graph.name(of: $0) }
                throw SinterError(
                    "explain takes models with one input; --input names '\(parts[0])', the model has \(names)")
            }
            let want = graph.type(of: graph.inputs[0])
            guard x.type == want else { throw SinterError("\(parts[1]) is \(x.type); input '\(parts[0])' is \(want)") }
            let result = try Explainer(graph).explain(x, method: m, target: target, steps: steps)
            do { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) } catch {
                throw SinterError("cannot create output folder '\(output)': \(error.localizedDescription)")
            }
            try FileIO.writeAtomically(Npy.encode(result.attributions), to: output + "/attributions.npy")
            var wrote = ["attributions.npy"]
            if let png = PNG.heatMap(result.attributions) {
                try FileIO.writeAtomically(png, to: output + "/attributions.png")
                wrote.append("attributions.png")
            }
            let a = result.attributions.doubles, per = a.count / max(n, 1)
            for (r, t) in result.targets.enumerated() {
                let total = a[(r * per)..<((r + 1) * per)].reduce(0, +)
                var line = String(
                    format: "sample %d: class %d, score %.5g, attributions sum %.5g", r, t,
                    result.scores[r], total)
                if m == .integratedGradients {
                    line += String(format: " (score − baseline %.5g)", result.scores[r] - result.baselineScores[r])
                }
                print(line)
            }
            FileHandle.standardError.write(
                Data("wrote \(wrote.map { output + "/" + $0 }.joined(separator: ", "))\n".utf8))
        } catch {
            throw reportAndExit(error)
        }
    }
}
