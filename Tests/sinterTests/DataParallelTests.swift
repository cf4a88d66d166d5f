import Foundation
import Sinter
import SinterTestSupport
import Testing

/// Data parallelism over Open MPI (2 ranks on this machine, as root: mpirun needs
/// OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1).
struct DataParallelTests {
    static let script = Support.root.appendingPathComponent("Tests/SinterTestSupport/train_digits.py").path
    static let mpi = [
        "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMPI_MCA_rmaps_base_oversubscribe=1",
        "mpirun", "-n", "2",
    ]

    /// `mpirun -n 2 sinter train --data-parallel` ends with the parameters of a 1-process run
    /// over the same global batches (within 1e-5), and not with those of either shard alone.
    @Test func twoRanksMatchOneProcess() throws {
        let dir = try Support.temporaryDirectory("train-mpi")
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let made = try Support.run(Support.python, [Self.script, "make", dir.path, "--hidden", "32"])
        #expect(made.status == 0, "\(made.stderr.suffix(2000))")
        let small = try Support.run(
            Support.python,
            [
                "-c",
                "import numpy as np, sys; d = np.load(sys.argv[1] + '/train.npz'); "
                    + "np.savez(sys.argv[1] + '/small.npz', x=d['x'][:320], y=d['y'][:320])",
                dir.path,
            ])
        #expect(small.status == 0, "\(small.stderr)")
        func train(_ out: String, _ extra: [String] = []) -> [String] {
            [
                Support.sinterExecutable, "train", path("mlp.onnx"), "--data", path("small.npz"), "--batch-size", "32",
                "--epochs", "2", "--seed", "5", "--optimizer", "adam,lr=0.005", "-o", path(out),
            ] + extra
        }
        let one = try Support.run(Support.sinterExecutable, Array(train("one.onnx").dropFirst()))
        #expect(one.status == 0, "\(one.stderr)")
        let two = try Support.run("/usr/bin/env", Self.mpi + train("two.onnx", ["--data-parallel"]))
        #expect(two.status == 0, "\(two.stdout)\(two.stderr)")
        #expect(two.stdout.components(separatedBy: "wrote ").count == 2, "rank 0 alone writes: \(two.stdout)")
        let alone = try Support.run(
            "/usr/bin/env", Self.mpi + train("alone.onnx", ["--data-parallel", "--shards-alone"]))
        #expect(alone.status == 0, "\(alone.stderr)")
        let compare = try Support.run(
            Support.python,
            [
                "-c",
                """
                import onnx, sys, numpy as np
                from onnx import numpy_helper as nh
                def load(p): return {i.name: nh.to_array(i) for i in onnx.load(p).graph.initializer}
                a, b, c = (load(sys.argv[1] + n) for n in ["/one.onnx", "/two.onnx", "/alone.onnx"])
                print(max(np.abs(a[k] - b[k]).max() for k in a), max(np.abs(a[k] - c[k]).max() for k in a))
                """,
                dir.path,
            ])
        let numbers = compare.stdout.split(separator: " ").compactMap {
            Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(numbers.count == 2, "\(compare.stdout)\(compare.stderr)")
        if numbers.count == 2 {
            #expect(numbers[0] <= 1e-5, "2 ranks vs 1 process: max difference \(numbers[0])")
            #expect(numbers[1] >= 1e-3, "a shard alone should train differently: \(numbers[1])")
        }
        // The global batch must split evenly.
        let odd = try Support.run(
            "/usr/bin/env", Self.mpi + train("odd.onnx", ["--data-parallel", "--batch-size", "33"]))
        #expect(odd.status != 0 && odd.stderr.contains("must be divisible by the 2 ranks"), "\(odd.stderr)")
    }

    /// Without libmpi the error says what to install.
    @Test func missingMPIIsAClearError() throws {
        let r = try Support.run(
            "/usr/bin/env",
            [
                "SINTER_MPI_LIBRARY=/nonexistent/libmpi.so", Support.sinterExecutable, "train",
                Support.root.appendingPathComponent("Examples/train-mpi/linear.sir").path, "--data", "/nonexistent.npz",
                "--data-parallel",
            ])
        #expect(r.status != 0 && r.stderr.contains("apt install openmpi-bin"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    /// Examples/train-mpi: a C app that averages NAME_train_grads' gradients with its own
    /// MPI_Allreduce before NAME_train_apply; the ranks end with identical parameters.
    @Test func cExampleDoesItsOwnAllReduce() throws {
        let dir = try Support.temporaryDirectory("train-mpi-c")
        defer { try? FileManager.default.removeItem(at: dir) }
        let example = Support.root.appendingPathComponent("Examples/train-mpi")
        let build = dir.appendingPathComponent("build").path
        let c = try Support.run(
            Support.sinterExecutable,
            [
                "compile", example.appendingPathComponent("linear.sir").path, "--train", "--loss", "ce", "--optimizer",
                "sgd,lr=0.5", "--emit", "shared,header", "-o", build,
            ])
        #expect(c.status == 0, "\(c.stderr)")
        let exe = dir.appendingPathComponent("train_mpi").path
        let cc = try Support.run(
            "mpicc",
            [
                "-std=c11", "-Wall", "-Werror", "-I\(build)", "-o", exe, example.appendingPathComponent("main.c").path,
                "-L\(build)", "-llinear", "-Wl,-rpath,\(build)",
            ])
        #expect(cc.status == 0, "\(cc.stderr)")
        let run = try Support.run("/usr/bin/env", Self.mpi + [exe])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(
            run.stdout.contains("2 ranks, 60 steps") && run.stdout.contains("identical on every rank"), "\(run.stdout)")
    }
}
