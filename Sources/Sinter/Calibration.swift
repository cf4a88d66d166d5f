import Foundation
import SinterIR
import SinterPasses

/// Calibration for post-training int8: the range of every activation the `quantize` pass would
/// quantize (the f32 input of each matmul with a constant weight), measured by running the
/// compiled float model over sample inputs, and the range `method` picks from what was seen.
/// Written as JSON by `sinter calibrate`, read by `--calibration`.
public struct Calibration: Codable, Sendable {
    public enum Method: String, Codable, CaseIterable, Sendable {
        /// The whole observed range.
        case minmax
        /// The 0.01% and 99.99% quantiles (outliers clipped).
        case percentile
        /// The symmetric clip whose 128-level quantization loses the least information
        /// (KL divergence between the |x| histogram and its quantized form, as TensorRT does).
        case entropy
    }

    public struct Tensor: Codable, Sendable {
        /// What was observed.
        public var min: Float
        public var max: Float
        /// The range the method chose, which the quantize pass uses.
        public var low: Float
        public var high: Float
        /// Counts of |x| in `bins` equal bins over [0, max |x|] (empty for minmax).
        public var histogram: [Int]
    }

    public var method: Method
    public var samples: Int
    public var tensors: [String: Tensor]

    /// The ranges as the quantize pass's `ranges` option.
    public var rangesOption: String {
        tensors.keys.sorted().compactMap { k in tensors[k].map { "\(k):\($0.low):\($0.high)" } }.joined(separator: ";")
    }

    public static func load(_ path: String) throws(SinterError) -> Calibration {
        let bytes = try FileIO.read(path)
        do {
            return try JSONDecoder().decode(Calibration.self, from: Data(bytes))
        } catch {
            throw SinterError("\(path): not a calibration file from `sinter calibrate`: \(error)")
        }
    }

    /// Writes the JSON through a temporary file and a rename.
    public func write(to path: String) throws(SinterError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch { throw SinterError("cannot encode the calibration: \(error)") }
        try FileIO.writeAtomically(Array(data), to: path)
    }
}

extension Sinter {
    static let histogramBins = 2048

    /// Runs the float model (the compiled code, with every observed activation made an output,
    /// so no fusion hides it) over the samples and measures each activation's range. `sample(i)`
    /// gives the inputs of sample i; `progress(done, total)` is called after each run.
    public static func calibrate(
        _ graph: Graph, samples count: Int, method: Calibration.Method, options: CompileOptions = CompileOptions(),
        sample: (Int) throws(SinterError) -> [TensorData], progress: (Int, Int) -> Void = { _, _ in }
    ) throws(SinterError) -> Calibration {
        guard count > 0 else { throw SinterError("calibration needs at least one sample") }
        var g = graph
        var observed: [ValueID] = []
        let products = QuantizeInt8.activationProducts(graph).flatMap { [$0.a, $0.b] }
        for activation in QuantizeInt8.candidates(graph).map(\.activation) + products
        where !observed.contains(activation) {
            observed.append(activation)
        }
        guard !observed.isEmpty else {
            throw SinterError("'\(graph.name)' has no matmul with a constant weight: nothing to quantize")
        }
        let firstObserved = g.outputs.count
        g.outputs += observed
        var float = options
        float.int8 = nil
        let model = try jit(g, float)
        let passes = method == .minmax ? 1 : 2
        var low = [Float](repeating: .infinity, count: observed.count)
        var high = [Float](repeating: -.infinity, count: observed.count)
        var histograms = [[Int]](repeating: [Int](repeating: 0, count: histogramBins), count: observed.count)
        for pass in 0..<passes {
            for s in 0..<count {
                let outputs = try model.run(try sample(s))
                for (k, t) in outputs[firstObserved...].enumerated() {
                    let values = t.floats ?? []
                    if pass == 0 {
                        for v in values where v.isFinite {
                            low[k] = Swift.min(low[k], v)
                            high[k] = Swift.max(high[k], v)
                        }
                    } else {
                        let peak = Swift.max(abs(low[k]), abs(high[k]))
                        guard peak > 0 else { continue }
                        let per = Float(histogramBins) / peak
                        for v in values where v.isFinite {
                            histograms[k][Swift.min(histogramBins - 1, Int(abs(v) * per))] += 1
                        }
                    }
                }
                progress(pass * count + s + 1, passes * count)
            }
        }
        var tensors: [String: Calibration.Tensor] = [:]
        for (k, v) in observed.enumerated() {
            let (lo, hi) = low[k] <= high[k] ? (low[k], high[k]) : (0, 0)
            let peak = Swift.max(abs(lo), abs(hi))
            let clip: Float =
                switch method {
                case .minmax: peak
                case .percentile: percentileClip(histograms[k], peak: peak)
                case .entropy: entropyClip(histograms[k], peak: peak, levels: lo >= 0 ? 255 : 128)
                }
            tensors[graph.name(of: v)] = Calibration.Tensor(
                min: lo, max: hi, low: Swift.max(lo, -clip), high: Swift.min(hi, clip),
                histogram: method == .minmax ? [] : histograms[k])
        }
        return Calibration(method: method, samples: count, tensors: tensors)
    }

    /// The |x| below which 99.99% of the values fall (the upper edge of its bin).
    static func percentileClip(_ histogram: [Int], peak: Float) -> Float {
        let total = histogram.reduce(0, +)
        guard total > 0 else { return peak }
        var seen = 0
        for (i, c) in histogram.enumerated() {
            seen += c
            if Double(seen) >= 0.9999 * Double(total) { return peak * Float(i + 1) / Float(histogram.count) }
        }
        return peak
    }

    /// TensorRT's entropy calibration on the |x| histogram: for each candidate clip of at least
    /// `levels` bins, the clipped distribution P (outliers folded into its last bin) against Q,
    /// P merged into `levels` levels (128 for signed data, 255 for data that is never negative:
    /// u8 spends every level on it) and spread back over its non-empty bins; the clip with the
    /// least KL(P ‖ Q) wins. The first bin (zeros from a ReLU) is left out: 0 is exact.
    static func entropyClip(_ counts: [Int], peak: Float, levels: Int) -> Float {
        let bins = counts.count
        var histogram = counts
        histogram[0] = 0
        guard histogram.reduce(0, +) > 0 else { return peak }
        var best = (divergence: Double.infinity, bins: bins)
        for edge in stride(from: levels, through: bins, by: 16) {
            var p = histogram[0..<edge].map(Double.init)
            p[edge - 1] += Double(histogram[edge...].reduce(0, +))
            var q = [Double](repeating: 0, count: edge)
            for level in 0..<levels {
                let start = level * edge / levels, end = (level + 1) * edge / levels
                let mass = histogram[start..<end].reduce(0) { $0 + Double($1) }
                let nonEmpty = histogram[start..<end].filter { $0 > 0 }.count
                guard nonEmpty > 0 else { continue }
                for j in start..<end where histogram[j] > 0 { q[j] = mass / Double(nonEmpty) }
            }
            let pSum = p.reduce(0, +), qSum = q.reduce(0, +)
            guard pSum > 0, qSum > 0 else { continue }
            var divergence = 0.0
            for j in 0..<edge where p[j] > 0 {
                let pj = p[j] / pSum, qj = q[j] / qSum
                divergence += qj > 0 ? pj * log(pj / qj) : pj * 20  // a missing level costs a lot
            }
            if divergence < best.divergence { best = (divergence, edge) }
        }
        return peak * Float(best.bins) / Float(bins)
    }
}
