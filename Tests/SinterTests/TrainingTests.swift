import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Compiled train steps against a float64 numpy reference (Tests/SinterTestSupport/
/// train_reference.py): a 5-8-3 ReLU MLP, cross-entropy with label smoothing, three steps of
/// every optimizer (Adam's bias correction reads the step count), weight decay on; the
/// parameters after the last step and each step's loss must agree to 1e-4 (f32 arithmetic).
struct TrainingTests {
    struct Setup: CustomTestStringConvertible, Sendable {
        let optimizer: TrainingConfig.Optimizer
        var clipNorm: Double? = nil
        var testDescription: String { optimizer.rawValue + (clipNorm.map { " clip \($0)" } ?? "") }
    }

    static let setups =
        TrainingConfig.Optimizer.allCases.map { Setup(optimizer: $0) } + [Setup(optimizer: .sgd, clipNorm: 0.05)]

    @Test(arguments: setups)
    func stepsMatchNumpy(_ setup: Setup) throws {
        let dir = try Support.temporaryDirectory("train-\(setup.optimizer.rawValue)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = Support.RNG(seed: 11)
        func random(_ shape: [Int], _ scale: Float) -> TensorData {
            TensorData((0..<shape.reduce(1, *)).map { _ in rng.float(-scale, scale) }, shape: shape)
        }
        let tensors = [
            "w0": random([5, 8], 0.6), "b0": random([8], 0.1), "w1": random([8, 3], 0.6), "b1": random([3], 0.1),
        ]
        let x = random([6, 5], 1)
        let y = TensorData(dtype: .i64, shape: [6], values: [0, 2, 1, 1, 0, 2])

        var b = GraphBuilder(name: "mlp")
        let input = try b.input("x", TensorType(.f32, [6, 5]))
        var c: [String: ValueID] = [:]
        for name in ["w0", "b0", "w1", "b1"] { c[name] = try b.constant(tensors[name]!, name: name) }
        let h = try b.relu(try b.add(try b.matmul(input, c["w0"]!), c["b0"]!))
        b.output(try b.add(try b.matmul(h, c["w1"]!), c["b1"]!))

        var config = TrainingConfig()
        config.optimizer = setup.optimizer
        config.labelSmoothing = 0.1
        config.weightDecay = 0.01
        config.momentum = 0.8
        config.beta2 = 0.99
        config.clipNorm = setup.clipNorm
        let lr = 0.05
        let trainer = try Trainer(b.graph, config: config, learningRate: lr)
        #expect(trainer.step.parameters.map(\.name) == ["w0", "b0", "w1", "b1"])
        var losses: [Double] = []
        for _ in 0..<3 { losses.append(try trainer.train([x], labels: y).loss) }

        for (name, t) in tensors { try Support.writeNpy(t, to: dir.appendingPathComponent("\(name).npy")) }
        try Support.writeNpy(x, to: dir.appendingPathComponent("x.npy"))
        try Support.writeNpy(y, to: dir.appendingPathComponent("y.npy"))
        var json: [String: Any] = [
            "optimizer": setup.optimizer.rawValue, "lr": lr, "steps": 3, "weight_decay": 0.01,
            "label_smoothing": 0.1, "momentum": 0.8, "beta1": 0.9, "beta2": 0.99,
        ]
        if let clip = setup.clipNorm { json["clip_norm"] = clip }
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        let r = try Support.run(
            Support.python,
            [Support.root.appendingPathComponent("Tests/SinterTestSupport/train_reference.py").path, dir.path])
        #expect(r.status == 0, "\(r.stderr.suffix(2000))")

        let wantLoss = try Support.readNpy(dir.appendingPathComponent("ref_loss.npy")).doubles
        #expect(Support.mismatch(losses, wantLoss, atol: 1e-4, rtol: 1e-4) == nil, "losses \(losses) vs \(wantLoss)")
        let trained = trainer.namedParameters
        for name in ["w0", "b0", "w1", "b1"] {
            let want = try Support.readNpy(dir.appendingPathComponent("ref_\(name).npy")).doubles
            let got = trained[name]?.doubles ?? []
            let problem = Support.mismatch(got, want, atol: 1e-4, rtol: 1e-4)
            #expect(problem == nil, "\(name): \(problem ?? "")")
            // The step moved it: a test of an update that does nothing would pass otherwise.
            #expect(Support.mismatch(got, tensors[name]!.doubles, atol: 1e-6, rtol: 0) != nil, "\(name) unchanged")
        }
        // Inference with the trained parameters agrees with the train step's own forward pass.
        let logits = try trainer.predict([x])[0]
        let next = try trainer.train([x], labels: y).outputs[0]
        #expect(Support.mismatch(logits.doubles, next.doubles, atol: 1e-6, rtol: 1e-6) == nil)
    }

    /// Batch norm's running statistics are state: one step moves them to momentum·old +
    /// (1−momentum)·batch (biased variance), they are not trained, and predict uses them.
    @Test func batchNormRunningStatisticsAreUpdated() throws {
        var rng = Support.RNG(seed: 8)
        let x = TensorData((0..<(4 * 2 * 3)).map { _ in rng.float(-2, 2) }, shape: [4, 2, 3])
        var b = GraphBuilder(name: "bn")
        let input = try b.input("x", TensorType(.f32, [4, 2, 3]))
        func c(_ name: String, _ v: [Double]) throws -> ValueID {
            try b.constant(TensorData(dtype: .f32, shape: [2], values: v), name: name)
        }
        let y = try b.apply(
            .batchNorm,
            [
                input, try c("gamma", [1, 1.5]), try c("beta", [0, 0.2]), try c("mean", [0.5, -1]),
                try c("var", [2, 3]),
            ],
            attributes: Attributes(["momentum": .float(0.8)]))[0]
        let w = try b.constant(TensorData((0..<12).map { _ in rng.float(-1, 1) }, shape: [6, 2]), name: "w")
        b.output(try b.matmul(try b.reshape(y, to: [4, 6]), w))
        var config = TrainingConfig()
        config.optimizer = .sgd
        let trainer = try Trainer(b.graph, config: config, learningRate: 0.1)
        #expect(trainer.step.parameters.map(\.name) == ["gamma", "beta", "w"])
        #expect(trainer.step.states.map(\.name) == ["mean", "var"])
        try trainer.train([x], labels: TensorData(dtype: .i64, shape: [4], values: [0, 1, 1, 0]))
        let v = x.doubles
        for ch in 0..<2 {
            let values = (0..<4).flatMap { n in (0..<3).map { v[n * 6 + ch * 3 + $0] } }
            let mean = values.reduce(0, +) / 12
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 12
            let (m0, v0) = ch == 0 ? (0.5, 2.0) : (-1.0, 3.0)
            #expect(abs(trainer.states[0].doubles[ch] - (0.8 * m0 + 0.2 * mean)) < 1e-5)
            #expect(abs(trainer.states[1].doubles[ch] - (0.8 * v0 + 0.2 * variance)) < 1e-5)
        }
        // predict and evaluate both normalise by the running statistics.
        let predicted = try trainer.predict([x])[0].doubles
        let evaluated = try trainer.evaluate([x], labels: TensorData(dtype: .i64, shape: [4], values: [0, 1, 1, 0]))
        #expect(Support.mismatch(predicted, evaluated.outputs[0].doubles, atol: 1e-6, rtol: 1e-5) == nil)
        #expect(trainer.namedParameters["mean"] == trainer.states[0])
    }

    /// NLL on a log-softmax head trains exactly like cross-entropy on the logits.
    @Test func nllOnLogSoftmaxMatchesCrossEntropy() throws {
        var rng = Support.RNG(seed: 3)
        let w = TensorData((0..<(5 * 4)).map { _ in rng.float(-0.5, 0.5) }, shape: [5, 4])
        let x = TensorData((0..<(6 * 5)).map { _ in rng.float(-1, 1) }, shape: [6, 5])
        let y = TensorData(dtype: .i64, shape: [6], values: [0, 3, 1, 2, 2, 0])
        func model(_ logSoftmax: Bool) throws -> Graph {
            var b = GraphBuilder(name: "m")
            let input = try b.input("x", TensorType(.f32, [6, 5]))
            let logits = try b.matmul(input, try b.constant(w, name: "w"))
            b.output(
                logSoftmax ? try b.apply(.logSoftmax, [logits], attributes: Attributes(["axis": .int(1)]))[0] : logits)
            return b.graph
        }
        var ce = TrainingConfig(), nll = TrainingConfig()
        ce.optimizer = .sgd
        nll.optimizer = .sgd
        nll.loss = .nll
        let a = try Trainer(try model(false), config: ce, learningRate: 0.5)
        let b = try Trainer(try model(true), config: nll, learningRate: 0.5)
        for _ in 0..<3 {
            let la = try a.train([x], labels: y).loss, lb = try b.train([x], labels: y).loss
            #expect(abs(la - lb) <= 1e-5 * abs(la), "\(la) \(lb)")
        }
        #expect(Support.mismatch(a.parameters[0].doubles, b.parameters[0].doubles, atol: 1e-6, rtol: 1e-5) == nil)
        #expect(a.parameters[0] != w)
    }

    /// Unknown or frozen names are checked; frozen constants keep their values.
    @Test func frozenParametersStayAndUnknownNamesAreErrors() throws {
        var b = GraphBuilder(name: "lin")
        let x = try b.input("x", TensorType(.f32, [4, 2]))
        let w = try b.constant(TensorData([1, 2, 3, 4, 5, 6], shape: [2, 3]), name: "w")
        let bias = try b.constant(TensorData([0.5, -0.5, 0], shape: [3]), name: "bias")
        b.output(try b.add(try b.matmul(x, w), bias))
        var config = TrainingConfig()
        config.optimizer = .sgd
        config.frozen = ["w"]
        let trainer = try Trainer(b.graph, config: config, learningRate: 0.1)
        #expect(trainer.step.parameters.map(\.name) == ["bias"])
        let xs = TensorData([1, 0, 0, 1, 1, 1, 2, -1], shape: [4, 2])
        try trainer.train([xs], labels: TensorData(dtype: .i64, shape: [4], values: [0, 1, 2, 0]))
        #expect(trainer.namedParameters["bias"]?.doubles != [0.5, -0.5, 0])
        config.frozen = ["nope"]
        #expect(throws: SinterError.self) { try Trainer(b.graph, config: config, learningRate: 0.1) }
        config.frozen = ["w", "bias"]
        #expect(throws: SinterError.self) { try Trainer(b.graph, config: config, learningRate: 0.1) }
    }
}
