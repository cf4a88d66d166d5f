import SinterIR

import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a pipeline and owns everything around the passes: verification after each pass,
/// IR dumps (`--print-after-all`, `--print-after=NAME`) and timing.
public struct PassManager {
    public struct Options: Sendable {
        public var printAfterAll = false
        public var printAfter: Set<String> = []
        public var verifyEach = true
        /// Print, for each pass that changed the graph, a line diff of the IR.
        public var printChanged = false
        /// Stop the pipeline after the first pass with this name.
        public var stopAfter: String?
        public init() {}
    }

    public var options: Options
    /// Where dumps go (standard output for the CLI, a buffer in tests).
    public var dump: (String) -> Void
    public private(set) var timings: [(pass: String, seconds: Double, changed: Bool)] = []

    public init(options: Options = Options(), dump: @escaping (String) -> Void = { print($0, terminator: "") }) {
        self.options = options
        self.dump = dump
    }

    public mutating func run(_ specs: [PassSpec], on graph: inout Graph, context: PassContext) throws(SinterError) {
        let unknownDumps = options.printAfter.filter { PassRegistry.named($0) == nil }
        if !unknownDumps.isEmpty {
            throw SinterError(unknownDumps.sorted().map { Diagnostic("--print-after names unknown pass '\($0)'") })
        }
        let names = specs.map(\.name)
        if let stop = options.stopAfter, !names.contains(stop) {
            throw SinterError(
                "--stop-after names '\(stop)', which is not in the pipeline (\(names.joined(separator: ",")))")
        }
        let passes = try Pipeline.instantiate(specs)
        // A change to the graph after `plan-memory`, or one that breaks a `kernel` line after
        // `fuse`, makes that result stale: it is dropped, and needing it (plan-memory after
        // broken kernels, or the pipeline ending with either) is an error naming both entries,
        // instead of code that silently ignores what `fuse` or `plan-memory` decided.
        var plannedAt: Int?
        var stale: [String: [Diagnostic]] = [:]
        func staleError(_ names: [String]) -> SinterError? {
            let diags = names.flatMap { stale[$0] ?? [] }
            return diags.isEmpty ? nil : SinterError(diags)
        }
        for (index, pass) in passes.enumerated() {
            let name = pass.name
            let before = options.printChanged ? Printer.print(graph) : ""
            if name == PlanMemory.name, let error = staleError([Fuse.name]) { throw error }
            let start = monotonicSeconds()
            let changed = try pass.run(&graph, context)
            timings.append((name, monotonicSeconds() - start, changed))
            if name == Fuse.name || name == PlanMemory.name { stale[name] = nil }
            if name == PlanMemory.name { plannedAt = index }
            if changed, name != PlanMemory.name {
                // The fusion plan in the context only carries the refusals for reports; the
                // kernels themselves are IR (`kernel` lines), checked below.
                if name != Fuse.name { context.fusionPlan = nil }
                if let plan = graph.memory, stale[PlanMemory.name] == nil {
                    let origin = plannedAt.map { "after 'plan-memory' (entry \($0 + 1))" } ?? "after its 'memory' line"
                    stale[PlanMemory.name] = [
                        Diagnostic(
                            "pass '\(name)' (pipeline entry \(index + 1)) changed the graph \(origin): the memory "
                                + "plan no longer matches it; run 'plan-memory' again after '\(name)', or move "
                                + "'\(name)' before it",
                            at: plan.location == .unknown ? graph.location : plan.location)
                    ]
                    graph.memory = nil
                }
            }
            // Kernels a pass broke (a member removed or rewired) are dropped and reported
            // unless 'fuse' runs again before they are needed; kernels it left intact survive.
            if changed, name != Fuse.name, !graph.kernels.isEmpty {
                let broken = graph.resolveKernelsByKernel().problems
                if !broken.isEmpty {
                    let notes = broken.keys.sorted().flatMap { broken[$0] ?? [] }.map {
                        Diagnostic(
                            "\($0.message), after pass '\(name)' (pipeline entry \(index + 1)); run 'fuse' again "
                                + "after it, or move it before 'fuse'", at: $0.location)
                    }
                    stale[Fuse.name, default: []] += notes
                    graph.kernels = graph.kernels.enumerated().filter { broken[$0.offset] == nil }.map(\.element)
                }
            }
            if options.verifyEach {
                let diags = Verifier.diagnose(graph)
                if !diags.isEmpty {
                    throw SinterError(diags.map { Diagnostic("after pass '\(name)': \($0.message)", at: $0.location) })
                }
            }
            if options.printAfterAll || options.printAfter.contains(name) {
                dump("// ----- IR after \(name)\(changed ? "" : " (unchanged)") -----\n" + Printer.print(graph))
            }
            if options.printChanged && changed {
                dump("// ----- \(name) changed the IR -----\n" + LineDiff.diff(before, Printer.print(graph)))
            }
            if name == options.stopAfter { break }
        }
        if let error = staleError([Fuse.name, PlanMemory.name]) { throw error }
    }

    /// `--time-passes`: one line per pass run.
    public var timingReport: String {
        let total = timings.reduce(0) { $0 + $1.seconds }
        var out = "// pass timings (total \(String(format: "%.3f", total * 1000)) ms)\n"
        for t in timings {
            out += "\(String(format: "%9.3f", t.seconds * 1000)) ms  \(t.pass)\(t.changed ? "" : " (unchanged)")\n"
        }
        return out
    }

}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
