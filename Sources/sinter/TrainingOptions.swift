import ArgumentParser
import Sinter

/// What a train step computes, shared by `sinter train` and `sinter compile --train`.
struct TrainingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "ce (cross-entropy from logits), nll (from log-probabilities), mse, or bce (binary, from logits).",
            valueName: "LOSS"))
    var loss = "ce"

    @Option(
        help: ArgumentHelp(
            "sgd, momentum, nesterov, adam, adamw, rmsprop or adagrad, with settings: "
                + "adam,lr=0.01,beta1=0.9,beta2=0.99",
            valueName: "OPT"))
    var optimizer = "adam"

    @Option(help: "Learning rate (the starting value; an lr= setting of --optimizer wins).") var lr = 0.001
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay (AdamW: decoupled).") var weightDecay = 0.0
    @Option(name: .customLong("label-smoothing"), help: "Cross-entropy label smoothing.") var labelSmoothing = 0.0
    @Option(name: .customLong("clip-norm"), help: "Clip the gradients' global L2 norm to this.") var clipNorm: Double?
    @Option(help: ArgumentHelp("Initializers to leave untrained, comma-separated.", valueName: "NAMES"))
    var freeze: String?

    /// The configuration and the starting learning rate; every bad setting is reported at once.
    func config() throws(SinterError) -> (TrainingConfig, learningRate: Double) {
        var c = TrainingConfig()
        var diags: [Diagnostic] = []
        if let l = TrainingConfig.Loss(rawValue: loss) {
            c.loss = l
        } else {
            diags.append(Diagnostic("--loss '\(loss)' is not one of ce, nll, mse, bce"))
        }
        let parts = optimizer.split(separator: ",").map(String.init)
        if let name = parts.first, let o = TrainingConfig.Optimizer(rawValue: name) {
            c.optimizer = o
        } else {
            let known = TrainingConfig.Optimizer.allCases.map(\.rawValue).joined(separator: ", ")
            diags.append(Diagnostic("--optimizer '\(optimizer)' must start with one of \(known)"))
        }
        var rate = lr
        for setting in parts.dropFirst() {
            let kv = setting.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, let v = Double(kv[1]) else {
                diags.append(Diagnostic("--optimizer setting '\(setting)' must be KEY=NUMBER"))
                continue
            }
            switch kv[0] {
            case "lr": rate = v
            case "beta1": c.beta1 = v
            case "beta2": c.beta2 = v
            case "momentum": c.momentum = v
            case "epsilon", "eps": c.epsilon = v
            case "weight_decay": c.weightDecay = v
            default:
                diags.append(
                    Diagnostic(
                        "--optimizer: unknown setting '\(kv[0])' (lr, beta1, beta2, momentum, epsilon, weight_decay)"))
            }
        }
        if !(rate > 0 && rate.isFinite) { diags.append(Diagnostic("the learning rate must be positive, got \(rate)")) }
        if !diags.isEmpty { throw SinterError(diags) }
        if weightDecay != 0 { c.weightDecay = weightDecay }
        c.labelSmoothing = labelSmoothing
        c.clipNorm = clipNorm
        c.frozen = freeze.map { $0.split(separator: ",").map(String.init) } ?? []
        return (c, rate)
    }
}
