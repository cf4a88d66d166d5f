import Foundation
import Sinter
import SinterTestSupport
import Testing

/// `sinter train` end to end: scikit-learn's bundled digits (no download), an untrained ONNX
/// MLP, the CLI trains it, and onnxruntime evaluates the written trained.onnx on the held-out
/// quarter (train_test_split(test_size=0.25, random_state=0, stratify=y)).
struct TrainCLITests {
    let sinter = Support.sinterExecutable
    let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/train_digits.py").path

    @Test func digitsMLPTrainsAbove95PercentInOnnxruntime() throws {
        let dir = try Support.temporaryDirectory("train-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [script, "make", dir.path])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("mlp.onnx").path
        let trained = dir.appendingPathComponent("trained.onnx").path
        let untrained = try Support.run(
            Support.python, [script, "eval", model, dir.appendingPathComponent("test.npz").path])
        let r = try Support.run(
            sinter,
            [
                "train", model, "--data", dir.appendingPathComponent("train.npz").path, "--loss", "ce",
                "--optimizer", "adam", "--lr", "0.002", "--epochs", "15", "--batch-size", "32", "--seed", "3",
                "--validation", "0.1", "-o", trained,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let epochs = r.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }
        #expect(epochs.count == 15, "\(r.stdout)")
        #expect(epochs.last?.contains("val_acc") == true)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("trained.loss.svg").path))
        let eval = try Support.run(
            Support.python, [script, "eval", trained, dir.appendingPathComponent("test.npz").path])
        #expect(eval.status == 0, "\(eval.stderr.suffix(2000))")
        let accuracy = Double(
            eval.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        let before = Double(
            untrained.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        #expect((accuracy ?? 0) >= 0.95, "test accuracy \(eval.stdout), untrained \(untrained.stdout)")
        #expect((before ?? 1) < 0.5, "the untrained model should be near chance: \(untrained.stdout)")

        // The same seed gives the same run: the written weights are byte-identical.
        let again = dir.appendingPathComponent("again.onnx").path
        let r2 = try Support.run(
            sinter,
            [
                "train", model, "--data", dir.appendingPathComponent("train.npz").path, "--optimizer", "adam",
                "--lr", "0.002", "--epochs", "2", "--batch-size", "32", "--seed", "9", "-o", again,
            ])
        let third = dir.appendingPathComponent("third.onnx").path
        let r3 = try Support.run(
            sinter,
            [
                "train", model, "--data", dir.appendingPathComponent("train.npz").path, "--optimizer", "adam",
                "--lr", "0.002", "--epochs", "2", "--batch-size", "32", "--seed", "9", "-o", third,
            ])
        #expect(r2.status == 0 && r3.status == 0, "\(r2.stderr) \(r3.stderr)")
        #expect(FileManager.default.contents(atPath: again) == FileManager.default.contents(atPath: third))
    }

    /// `.npy` data gives the same run as the .npz; a symbolic batch runs the last partial batch,
    /// a fixed one drops it; the validation loss of a padded last batch (fixed) equals the one
    /// run at its own size (symbolic).
    @Test func npyDataPartialBatchesAndFixedBatchValidation() throws {
        let dir = try Support.temporaryDirectory("train-npy")
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let made = try Support.run(Support.python, [script, "make", dir.path, "--hidden", "16,8"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let prep = try Support.run(
            Support.python,
            [
                "-c",
                """
                import numpy as np, onnx, sys
                d = sys.argv[1]
                z = np.load(d + "/train.npz"); np.save(d + "/x.npy", z["x"]); np.save(d + "/y.npy", z["y"])
                m = onnx.load(d + "/mlp.onnx")
                for v in list(m.graph.input) + list(m.graph.output):
                    v.type.tensor_type.shape.dim[0].dim_value = 98
                onnx.save(m, d + "/fixed.onnx")
                """, dir.path,
            ])
        #expect(prep.status == 0, "\(prep.stderr)")
        func train(_ model: String, _ data: [String], _ batch: Int, _ out: String, validation: String = "0")
            throws -> Support.ProcessResult
        {
            try Support.run(
                sinter,
                ["train", path(model)] + data + [
                    "--epochs", "2", "--batch-size", "\(batch)", "--seed", "4", "--validation", validation, "-o",
                    path(out),
                ])
        }
        let npz = try train("mlp.onnx", ["--data", path("train.npz")], 50, "a.onnx")
        let npy = try train("mlp.onnx", ["--data", path("x.npy"), "--labels", path("y.npy")], 50, "b.onnx")
        #expect(npz.status == 0 && npy.status == 0, "\(npz.stderr) \(npy.stderr)")
        #expect(npy.stdout.contains("the last 47 sample(s) of each epoch run as a batch of 47"), "\(npy.stdout)")
        #expect(
            FileManager.default.contents(atPath: path("a.onnx")) == FileManager.default.contents(atPath: path("b.onnx"))
        )

        // 1347 samples: 269 validation, 1078 = 11 × 98 training; 269 = 2 × 98 + 73.
        let symbolic = try train("mlp.onnx", ["--data", path("train.npz")], 98, "s.onnx", validation: "0.2")
        let fixed = try train("fixed.onnx", ["--data", path("train.npz")], 98, "f.onnx", validation: "0.2")
        #expect(symbolic.status == 0 && fixed.status == 0, "\(symbolic.stderr) \(fixed.stderr)")
        func valLoss(_ r: Support.ProcessResult) -> [Double] {
            r.stdout.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                return parts.firstIndex(of: "val_loss").flatMap { Double(parts[$0 + 1]) }
            }
        }
        #expect(
            valLoss(symbolic).count == 2 && valLoss(symbolic) == valLoss(fixed), "\(symbolic.stdout)\(fixed.stdout)")
        let odd = try train("fixed.onnx", ["--data", path("train.npz")], 98, "g.onnx", validation: "0.1")
        #expect(odd.stdout.contains("do not fill a batch of the model's fixed 98; dropped"), "\(odd.stdout)")
    }

    /// Dropout layers train with seeded masks (a new mask each step, the identity in
    /// validation and in the written model) and the result still generalises.
    @Test func dropoutTrainsWithSeededMasks() throws {
        let dir = try Support.temporaryDirectory("train-dropout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [script, "make", dir.path, "--dropout", "0.3"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("mlp.onnx").path, data = dir.appendingPathComponent("train.npz").path
        let step = dir.appendingPathComponent("step.sir").path
        let emitted = try Support.run(sinter, ["train", model, "--data", data, "--emit-step", step])
        #expect(emitted.status == 0, "\(emitted.stderr)")
        let text = (try? String(contentsOfFile: step, encoding: .utf8)) ?? ""
        #expect(text.contains("dropout %r0, %step {ratio = 0.3") && text.contains("seed = 2"), "\(text.prefix(3000))")
        let trained = dir.appendingPathComponent("trained.onnx").path
        let r = try Support.run(
            sinter,
            [
                "train", model, "--data", data, "--optimizer", "adam,lr=0.002", "--epochs", "15", "--seed", "3",
                "-o", trained,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let eval = try Support.run(
            Support.python, [script, "eval", trained, dir.appendingPathComponent("test.npz").path])
        let accuracy = Double(
            eval.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        #expect((accuracy ?? 0) >= 0.95, "\(eval.stdout) \(eval.stderr.suffix(1000))")
    }

    /// ONNX LSTM, GRU and RNN (imported as unrolled cells) trained by the CLI on a task that
    /// needs memory of the whole sequence (Tests/SinterTestSupport/train_sequence.py); the
    /// written model is evaluated in onnxruntime.
    @Test(arguments: ["lstm", "gru", "rnn"])
    func recurrentModelsTrain(_ cell: String) throws {
        let dir = try Support.temporaryDirectory("train-\(cell)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sequence = Support.root.appendingPathComponent("Tests/SinterTestSupport/train_sequence.py").path
        let made = try Support.run(Support.python, [sequence, "make", dir.path, cell])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("model.onnx").path, test = dir.appendingPathComponent("test.npz").path
        let trained = dir.appendingPathComponent("trained.onnx").path
        let r = try Support.run(
            sinter,
            [
                "train", model, "--data", dir.appendingPathComponent("train.npz").path, "--optimizer", "adam,lr=0.01",
                "--epochs", "15", "--batch-size", "32", "--seed", "1", "-o", trained,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        func accuracy(_ path: String) throws -> Double {
            let e = try Support.run(Support.python, [sequence, "eval", path, test])
            #expect(e.status == 0, "\(e.stderr.suffix(2000))")
            return Double(e.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
                ?? 0
        }
        let before = try accuracy(model), after = try accuracy(trained)
        #expect(after >= 0.93 && before < 0.75, "\(cell): test accuracy \(before) before, \(after) after")
    }

    /// A two-conv CNN (conv, ReLU, max-pool gradients end to end) on 8×8 digits.
    /// With batch norm (`bn`), the running statistics are trained as state and written back, so
    /// onnxruntime's inference-mode BatchNormalization uses them.
    @Test(arguments: [false, true])
    func digitsCNNTrainsAbove95PercentInOnnxruntime(_ bn: Bool) throws {
        let dir = try Support.temporaryDirectory("train-cnn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [script, "make", dir.path, "--cnn"] + (bn ? ["--bn"] : []))
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let trained = dir.appendingPathComponent("trained.onnx").path
        let r = try Support.run(
            sinter,
            [
                "train", dir.appendingPathComponent("cnn.onnx").path, "--data",
                dir.appendingPathComponent("train.npz").path, "--optimizer", "adam", "--lr", "0.003", "--epochs",
                bn ? "8" : "15",
                "--batch-size", "32", "--seed", "1", "-o", trained,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let eval = try Support.run(
            Support.python, [script, "eval", trained, dir.appendingPathComponent("test.npz").path])
        let accuracy = Double(
            eval.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        #expect((accuracy ?? 0) >= 0.95, "test accuracy \(eval.stdout) \(eval.stderr.suffix(1000))")
        if bn { #expect(r.stdout.contains("(10 trained tensor(s), 4 running statistic(s))"), "\(r.stdout)") }
    }

    /// A run stopped mid-epoch and resumed from its checkpoint ends with the same bytes as one
    /// that never stopped: deterministically (the test hook stops after 50 updates, in epoch 2),
    /// and with a real SIGINT wherever it lands. Damaged or foreign checkpoints are refused.
    @Test func interruptedRunsResumeToIdenticalWeights() throws {
        let dir = try Support.temporaryDirectory("train-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [script, "make", dir.path, "--hidden", "32"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func train(_ out: String, _ epochs: Int, _ extra: [String] = []) -> [String] {
            [
                "train", path("mlp.onnx"), "--data", path("train.npz"), "--epochs", "\(epochs)", "--seed", "4",
                "--validation", "0.1", "-o", path(out),
            ] + extra
        }
        let full = try Support.run(sinter, train("full.onnx", 3))
        #expect(full.status == 0, "\(full.stderr)")
        let stopped = try Support.run(sinter, train("part.onnx", 3, ["--interrupt-after", "50"]))
        #expect(stopped.status == 130, "\(stopped.stdout) \(stopped.stderr)")
        #expect(stopped.stdout.contains("interrupted: saved"))
        #expect(!FileManager.default.fileExists(atPath: path("part.onnx")))
        let resumed = try Support.run(sinter, train("part.onnx", 3, ["--resume", path("part.ckpt")]))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resumed from \(path("part.ckpt")) at epoch 2, batch 12"), "\(resumed.stdout)")
        #expect(
            FileManager.default.contents(atPath: path("full.onnx"))
                == FileManager.default.contents(atPath: path("part.onnx")))

        // A real Ctrl-C, once the first epoch's checkpoint exists.
        let long = try Support.run(sinter, train("long.onnx", 40))
        #expect(long.status == 0, "\(long.stderr)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sinter)
        p.arguments = train("sig.onnx", 40)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        while p.isRunning && !FileManager.default.fileExists(atPath: path("sig.ckpt")) { usleep(20_000) }
        p.interrupt()
        p.waitUntilExit()
        #expect([0, 130].contains(p.terminationStatus), "status \(p.terminationStatus)")
        if p.terminationStatus == 130 {
            let again = try Support.run(sinter, train("sig.onnx", 40, ["--resume", path("sig.ckpt")]))
            #expect(again.status == 0, "\(again.stderr)")
        }
        #expect(
            FileManager.default.contents(atPath: path("long.onnx"))
                == FileManager.default.contents(atPath: path("sig.onnx")))

        let other = try Support.run(sinter, train("x.onnx", 3, ["--optimizer", "sgd", "--resume", path("part.ckpt")]))
        #expect(other.status != 0 && other.stderr.contains("belongs to another model or optimizer"), "\(other.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path("part.ckpt")))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: path("cut.ckpt")))
        let cut = try Support.run(sinter, train("x.onnx", 3, ["--resume", path("cut.ckpt")]))
        #expect(cut.status != 0 && cut.stderr.contains("is not a usable checkpoint"), "\(cut.stderr)")
    }

    /// Bad settings and data are refused with one clear message, and nothing is written.
    @Test func badInputsAreClearErrors() throws {
        let dir = try Support.temporaryDirectory("train-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Support.run(Support.python, [script, "make", dir.path, "--hidden", "16"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let model = dir.appendingPathComponent("mlp.onnx").path
        let data = dir.appendingPathComponent("train.npz").path
        let out = dir.appendingPathComponent("out.onnx").path
        let cases: [([String], String)] = [
            (["--loss", "hinge"], "--loss 'hinge' is not one of ce, nll, mse, bce"),
            (["--optimizer", "lion"], "--optimizer 'lion' must start with one of"),
            (["--optimizer", "adam,beta3=1"], "unknown setting 'beta3'"),
            (["--y", "labels"], "must hold arrays 'x' and 'labels'"),
            (["--loss", "mse"], "labels are i64[1347]; --loss mse needs f32[1347,10]"),
            (["--freeze", "fc9.weight"], "'fc9.weight' is not a constant of the model"),
            (["--batch-size", "5000"], "fewer than one batch of 5000"),
        ]
        for (args, message) in cases {
            let r = try Support.run(sinter, ["train", model, "--data", data, "--epochs", "1", "-o", out] + args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
