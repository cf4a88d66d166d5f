import ArgumentParser
import Foundation
import Sinter

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a model's compiled code (JIT) on seeded random inputs.",
        discussion:
            "Compiles the model in memory with the same pipeline and code as `sinter compile`, binds its inputs "
            + "once (as a C caller that reuses its buffers; only the model call is timed), runs it once to "
            + "warm up, then repeatedly for about --seconds per thread count, and prints the median, minimum and "
            + "90th-percentile latency. Benchmarks/run.sh compares the same numbers with ONNX Runtime. "
            + "--profile then runs it again with a clock around each kernel and prints a per-kernel time table "
            + "(the clock reads add a little to each kernel)."
    )

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @Option(
        name: .customLong("threads"),
        help: ArgumentHelp("Thread counts to time, comma-separated.", valueName: "N,..."))
    var threads: String = "1"

    @Option(name: .customLong("seconds"), help: "Time budget per thread count, in seconds.")
    var seconds: Double = 2

    @Flag(help: "Also print a per-kernel time table (with the last thread count).")
    var profile = false

    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        do throws(SinterError) {
            let counts = try threadCounts()
            guard seconds > 0, seconds <= 3600 else {
                throw SinterError("--seconds must be between 0 and 3600, got \(seconds)")
            }
            let options = try pipeline.compileOptions()
            let graph = try Sinter.load(model, bindings: options.bindings, constants: options.constantInputs)
            let start = ContinuousClock.now
            let first = try Sinter.jit(graph, options, threads: counts[0])
            let compileSeconds = seconds(start.duration(to: .now))
            let program = first.program
            var rng = SplitMix(seed: 42)
            let inputs = program.inputs.map { spec in
                TensorData(
                    dtype: spec.type.dtype, shape: spec.shape,
                    values: (0..<spec.shape.reduce(1, *)).map { _ in
                        spec.type.dtype.isFloat ? rng.uniform() * 2 - 1 : Double(rng.next() % 2)
                    })
            }
            let split = program.kernels.filter { $0.tasks > 1 }.count
            print(
                "\(graph.name): \(program.kernels.count) kernels (\(split) split), workspace "
                    + "\(program.workspaceSize) bytes, compiled in \(String(format: "%.2f", compileSeconds)) s")
            for (i, n) in counts.enumerated() {
                let jit = i == 0 ? first : try Sinter.jit(graph, options, threads: n)
                // Inputs are bound once: each timed run is the C entry point alone.
                let call = try jit.bind(inputs)
                try call.run()
                var times: [Double] = []
                let begin = ContinuousClock.now
                repeat {
                    let t = ContinuousClock.now
                    try call.run()
                    times.append(seconds(t.duration(to: .now)) * 1000)
                } while times.count < 5 || (seconds(begin.duration(to: .now)) < self.seconds && times.count < 100_000)
                times.sort()
                let median = times[times.count / 2], p90 = times[min(times.count - 1, times.count * 9 / 10)]
                print(
                    "threads \(n): median \(format(median)) ms, min \(format(times[0])) ms, "
                        + "p90 \(format(p90)) ms over \(times.count) runs")
            }
            if profile, let n = counts.last {
                try printProfile(try Sinter.jit(graph, options, threads: n, profile: true), inputs, threads: n)
            }
        } catch {
            throw reportAndExit(error)
        }
    }

    /// Runs the profiled build for about --seconds and prints each kernel's mean time, slowest first.
    func printProfile(_ jit: JITModel, _ inputs: [TensorData], threads: Int) throws(SinterError) {
        var ns: [Int64] = []
        let call = try jit.bind(inputs)
        try call.runProfiled(nanoseconds: &ns)  // warm up
        ns = []
        var runs = 0
        let begin = ContinuousClock.now
        repeat {
            try call.runProfiled(nanoseconds: &ns)
            runs += 1
        } while runs < 5 || (seconds(begin.duration(to: .now)) < self.seconds && runs < 100_000)
        let kernels = jit.program.kernels
        let total = Double(ns.reduce(0, +))
        print("\nper-kernel time, \(threads) thread(s), mean of \(runs) runs (kernels: \(kernels.count)):")
        print("| # | kernel | unit | parts | ms | % |")
        print("| ---: | --- | --- | ---: | ---: | ---: |")
        for i in ns.indices.sorted(by: { ns[$0] > ns[$1] }) {
            let k = kernels[i]
            let ms = Double(ns[i]) / Double(runs) / 1e6
            let share = total > 0 ? 100 * Double(ns[i]) / total : 0
            print(
                "| \(i) | \(k.name) (\(k.sources.joined(separator: ", "))) | \(k.body.unit) | \(k.tasks) | "
                    + "\(format(ms)) | \(String(format: "%.1f", share)) |")
        }
        print("| | total | | | \(format(total / Double(runs) / 1e6)) | 100.0 |")
    }

    func threadCounts() throws(SinterError) -> [Int] {
        var out: [Int] = []
        for part in threads.split(separator: ",", omittingEmptySubsequences: false) {
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 1, n <= 1024 else {
                throw SinterError("--threads '\(threads)' must be thread counts from 1 to 1024, like 1,2")
            }
            out.append(n)
        }
        return out
    }

    func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    func format(_ ms: Double) -> String { String(format: ms < 1 ? "%.4f" : "%.3f", ms) }
}

/// A small seeded generator, so every run times the same inputs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
