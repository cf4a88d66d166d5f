import SinterIR

/// The graph `sinter explain` compiles: the model's first output and the gradient of its
/// selected entries with respect to the model's first input, through the same `autodiff` as
/// training, with every constant (the trained parameters) frozen.
///
///     (model inputs..., target [N,C]) -> (output [N,C], ∂Σ(output·target)/∂input)
///
/// `target` is a run-time input (a one-hot row per sample picks the class to explain), so one
/// compiled program explains any class; integrated gradients run it once per step.
public enum Explanation {
    public static func build(_ model: Graph) throws(SinterError) -> Graph {
        var g = model
        g.compact()
        guard let input = g.inputs.first, let output = g.outputs.first else {
            throw SinterError("explain needs a model with an input and an output")
        }
        guard g.type(of: input).dtype.isFloat else {
            throw SinterError("explain differentiates by the first input, which is \(g.type(of: input)), not float")
        }
        let outType = g.type(of: output)
        var b = GraphBuilder(extending: g)
        let target = try b.input(b.isUsed("target") ? "explain.target" : "target", outType)
        let selected = try b.apply(.reduceSum, [try b.mul(output, target)], name: "selected")[0]
        let (differentiated, grads) = try Autodiff.gradients(of: selected, wrt: [input], in: b.graph)
        var explained = differentiated
        explained.inputs = g.inputs + [target]
        explained.outputs = [output, grads[0]]
        explained.name = model.name + "_explain"
        explained.compact()
        return explained
    }
}
