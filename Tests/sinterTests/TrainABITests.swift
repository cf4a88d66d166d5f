import Foundation
import Sinter
import SinterTestSupport
import Testing

/// `sinter compile --train`: the train step in the C ABI. The digits MLP (64-32-16-10, Adam,
/// batch 8) is compiled for x86-64 and AArch64; Harness/train.c runs six steps through
/// `NAME_train_step` and `NAME_train_grads` + `NAME_train_apply` with a learning-rate change,
/// a checkpoint round trip into a caller-owned context and every refusal; the losses and
/// parameters must match the in-process `Trainer` (itself checked against numpy in
/// TrainingTests). The generated Python loader's `Trainer` must give the C harness's bytes.
struct TrainABITests {
    static let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/train_digits.py").path
    static let harness = Support.root.appendingPathComponent("Tests/sinterTests/Harness")
    static let steps = 6, lr = 0.01, batch = 8

    func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test func trainStepMatchesTheJITTrainerOnX86AndUnderQemu() throws {
        let dir = try Support.temporaryDirectory("train-abi")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [Self.script, "make", dir.path, "--hidden", "32,16"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("mlp.onnx").path
        let arrays = Dictionary(
            try Npz.decode([UInt8](try Data(contentsOf: dir.appendingPathComponent("train.npz"))), origin: "train.npz")
        ) { a, _ in a }
        let xAll = try #require(arrays["x"]), yAll = try #require(arrays["y"])
        let x = TensorData(
            dtype: .f32, shape: [Self.batch, 64], bytes: Array(xAll.bytes.prefix(Self.batch * 64 * 4)))
        let y = TensorData(dtype: .i64, shape: [Self.batch], bytes: Array(yAll.bytes.prefix(Self.batch * 8)))

        // The reference: the JIT trainer, with the same learning-rate change.
        var config = TrainingConfig()
        config.optimizer = .adam
        let (graph, trainConfig) = try Sinter.loadForTraining(model, bindings: ["N": Self.batch], config)
        let trainer = try Trainer(graph, config: trainConfig, learningRate: Self.lr)
        var losses: [Float] = []
        for s in 0..<Self.steps {
            if s == 2 { trainer.learningRate = Double(Float(Self.lr) / 2) }
            losses.append(Float(try trainer.train([x], labels: y).loss))
        }

        let compile = ["--train", "--loss", "ce", "--optimizer", "adam,lr=\(Self.lr)", "--shape", "N=\(Self.batch)"]
        for arm in [false, true] {
            let out = dir.appendingPathComponent(arm ? "arm" : "host")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let target = arm ? ["--target", "aarch64-linux-gnu"] : []
            let r = try Support.run(
                Support.sinterExecutable,
                ["compile", model] + compile + target + ["--emit", "shared,header,python", "-o", out.path])
            #expect(r.status == 0, "\(r.stderr)")
            try Data(x.bytes).write(to: out.appendingPathComponent("x.bin"))
            try Data(y.bytes).write(to: out.appendingPathComponent("y.bin"))
            let exe = out.appendingPathComponent("train").path
            let cc = try Support.run(
                arm ? "clang" : "cc",
                (arm ? ["--target=aarch64-linux-gnu", "-fuse-ld=lld"] : []) + [
                    "-std=c11", "-O1", "-Wall", "-Werror", "-DPREFIX=digits_mlp", "-DHEADER=\"digits_mlp.h\"",
                    "-I", out.path, Self.harness.appendingPathComponent("train.c").path, "-L", out.path,
                    "-ldigits_mlp", "-Wl,-rpath,\(out.path)", "-lm", "-o", exe,
                ])
            #expect(cc.status == 0, "\(cc.stderr)")
            let args = [out.path, "\(Self.steps)", "\(Self.lr)"]
            let run =
                arm
                ? try Support.run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", exe] + args)
                : try Support.run(exe, args)
            #expect(run.status == 0 && run.stdout.hasPrefix("ok"), "\(arm ? "aarch64" : "x86-64"): \(run.stdout)")
            let name = arm ? "aarch64" : "x86-64"
            let got = try floats(out.appendingPathComponent("c_losses.bin"))
            #expect(Support.mismatch(got, losses, atol: 1e-5, rtol: 1e-5) == nil, "\(name) losses \(got) \(losses)")
            #expect(losses.last! < losses.first! * 0.8, "training does not lower the loss: \(losses)")
            for (i, p) in trainer.parameters.enumerated() {
                let c = try floats(out.appendingPathComponent("c_param_\(i).bin"))
                #expect(
                    Support.mismatch(c, p.doubles.map(Float.init), atol: 1e-5, rtol: 1e-4) == nil,
                    "\(name) parameter \(trainer.step.parameters[i].name)")
            }
            let predicted = try floats(out.appendingPathComponent("c_predict.bin"))
            let want = try trainer.predict([x])[0].doubles.map(Float.init)
            #expect(Support.mismatch(predicted, want, atol: 1e-4, rtol: 1e-4) == nil, "\(name) train_predict")
            if !arm {
                // The Python loader drives the same library: the same bytes.
                let py = try Support.run(
                    Support.python,
                    [
                        Self.harness.appendingPathComponent("train_check.py").path, out.path, "digits_mlp",
                        out.path, "\(Self.steps)", "\(Self.lr)",
                    ])
                #expect(py.status == 0 && py.stdout.contains("ok"), "\(py.stdout)\(py.stderr.suffix(2000))")
                #expect(try floats(out.appendingPathComponent("py_losses.bin")) == got)
                for i in trainer.parameters.indices {
                    #expect(
                        try Data(contentsOf: out.appendingPathComponent("py_param_\(i).bin"))
                            == Data(contentsOf: out.appendingPathComponent("c_param_\(i).bin")))
                }
            }
        }
    }

    /// The Swift JIT API over the same entry points: a step equals gradients + apply, the thread
    /// count does not change the numbers, checkpoints move between trainers, and a checkpoint of
    /// another optimizer is refused.
    @Test func jitTrainerOffersTheSameABI() throws {
        let dir = try Support.temporaryDirectory("train-jit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [Self.script, "make", dir.path, "--hidden", "24,12"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("mlp.onnx").path
        var rng = Support.RNG(seed: 5)
        let x = TensorData((0..<(4 * 64)).map { _ in rng.float(0, 1) }, shape: [4, 64])
        let y = TensorData(dtype: .i64, shape: [4], values: [3, 1, 4, 1])
        var config = TrainingConfig()
        config.optimizer = .adamw
        config.weightDecay = 0.01
        let (graph, trainConfig) = try Sinter.loadForTraining(model, bindings: ["N": 4], config)
        let one = try Sinter.jitTraining(graph, trainConfig, learningRate: 0.01)
        let two = try Sinter.jitTraining(graph, trainConfig, learningRate: 0.01, threads: 2)
        let halves = try Sinter.jitTraining(graph, trainConfig, learningRate: 0.01)
        #expect(one.learningRate == 0.01 && one.steps == 0)
        for _ in 0..<3 {
            let l1 = try one.step([x], labels: y), l2 = try two.step([x], labels: y)
            let l3 = try halves.gradients([x], labels: y)
            for i in 0..<halves.training.parameterCount { try halves.setGradient(i, try halves.gradient(i)) }
            try halves.apply()
            #expect(l1 == l3)
            #expect(abs(l1 - l2) <= 1e-6 * abs(l1))
        }
        #expect(one.steps == 3)
        for i in 0..<one.training.parameterCount {
            #expect(try one.parameter(i) == halves.parameter(i))
            #expect(
                Support.mismatch(try two.parameter(i).doubles, try one.parameter(i).doubles, atol: 1e-6, rtol: 1e-5)
                    == nil)
        }
        #expect(try one.predict([x]) == halves.predict([x]))
        let ckpt = dir.appendingPathComponent("run.ckpt").path
        try one.setLearningRate(0.003)
        try one.save(ckpt)
        let fresh = try Sinter.jitTraining(graph, trainConfig, learningRate: 0.01)
        try fresh.load(ckpt)
        #expect(fresh.steps == 3 && fresh.learningRate == 0.003)
        #expect(try fresh.slot(0) == one.slot(0))
        #expect(try fresh.step([x], labels: y) == one.step([x], labels: y))
        #expect(throws: SinterError.self) { try one.setLearningRate(.nan) }
        #expect(throws: SinterError.self) { try one.parameter(99) }
        var sgd = trainConfig
        sgd.optimizer = .sgd
        let other = try Sinter.jitTraining(graph, sgd, learningRate: 0.01)
        do {
            try other.load(ckpt)
            Issue.record("a checkpoint of another optimizer was accepted")
        } catch {
            #expect("\(error)".contains("does not belong to this model"), "\(error)")
        }
    }

    /// Batch norm's running statistics through the C ABI: the digits CNN with batch norm, three
    /// Adam steps through `JITTrainer` (the NAME_train_* glue: states read from the active bank,
    /// written to the other) against the fused in-process step.
    @Test func batchNormStatesThroughTheABI() throws {
        let dir = try Support.temporaryDirectory("train-abi-bn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [Self.script, "make", dir.path, "--cnn", "--bn"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("cnn.onnx").path
        var rng = Support.RNG(seed: 2)
        let x = TensorData((0..<(8 * 64)).map { _ in rng.float(0, 1) }, shape: [8, 1, 8, 8])
        let y = TensorData(dtype: .i64, shape: [8], values: [0, 1, 2, 3, 4, 5, 6, 7])
        let (graph, config) = try Sinter.loadForTraining(model, bindings: ["N": 8], TrainingConfig())
        let fused = try Trainer(graph, config: config, learningRate: 0.01)
        let abi = try Sinter.jitTraining(graph, config, learningRate: 0.01)
        #expect(fused.step.states.count == 4)
        for _ in 0..<3 {
            let a = try fused.train([x], labels: y).loss, b = Double(try abi.step([x], labels: y))
            #expect(abs(a - b) <= 1e-5 * max(abs(a), 1), "\(a) \(b)")
        }
        let optimizerSlots = abi.training.slots.count
        for (k, state) in fused.states.enumerated() {
            let got = try abi.slot(optimizerSlots + k)
            #expect(Support.mismatch(got.doubles, state.doubles, atol: 1e-5, rtol: 1e-4) == nil, "state \(k)")
            #expect(state.doubles != fused.step.states[k].value.doubles, "state \(k) did not move")
        }
        for (i, p) in fused.parameters.enumerated() {
            #expect(Support.mismatch(try abi.parameter(i).doubles, p.doubles, atol: 1e-5, rtol: 1e-4) == nil)
        }
        let want = try fused.predict([x])[0].doubles, got = try abi.predict([x])[0].doubles
        #expect(Support.mismatch(got, want, atol: 1e-4, rtol: 1e-4) == nil)
    }

    @Test func compileTrainRefusesWhatItCannotBuild() throws {
        let dir = try Support.temporaryDirectory("train-abi-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [Self.script, "make", dir.path, "--hidden", "8,8"])
        #expect(made.status == 0)
        let model = dir.appendingPathComponent("mlp.onnx").path
        let cases: [([String], String)] = [
            (["--train", "--shape", "N=4", "--weights-file"], "--weights-file"),
            (["--train", "--dynamic", "N"], "--dynamic"),
            (["--train", "--shape", "N=4", "--optimizer", "adam,lr=-1"], "learning rate"),
            (["--train", "--shape", "N=4", "--optimizer", "lion", "--loss", "hinge"], "hinge"),
            (["--train", "--shape", "N=4", "--freeze", "nope"], "'nope' is not a constant"),
        ]
        for (args, message) in cases {
            let r = try Support.run(
                Support.sinterExecutable, ["compile", model] + args + ["-o", dir.appendingPathComponent("x.so").path])
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error"), "\(args) crashed")
        }
        // Both bad settings are reported at once.
        let both = try Support.run(
            Support.sinterExecutable,
            ["compile", model, "--train", "--shape", "N=4", "--optimizer", "lion", "--loss", "hinge"])
        #expect(both.stderr.contains("lion") && both.stderr.contains("hinge"), "\(both.stderr)")
    }
}
