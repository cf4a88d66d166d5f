import Foundation
import Sinter

/// `sinter train`'s samples: features and labels checked against the train step's inputs once,
/// then cut into batches by index.
struct TrainingSet {
    let x: TensorData
    let y: TensorData
    let count: Int
    let loss: TrainingConfig.Loss
    let batchShape: [Int]
    let labelShape: [Int]

    init(_ x: TensorData, _ y: TensorData, _ step: TrainStep, loss: TrainingConfig.Loss, origin: String)
        throws(SinterError)
    {
        let g = step.graph
        let input = g.type(of: g.inputs[0]), labels = g.type(of: g.inputs[step.modelInputs])
        guard step.modelInputs == 1 else { throw SinterError("sinter train takes models with one input") }
        guard let inShape = input.shape, let labelShape = labels.shape else {
            throw SinterError("internal: the train step has symbolic shapes")
        }
        guard x.dtype == input.dtype, x.shape.count == inShape.count,
            Array(x.shape.dropFirst()) == Array(inShape.dropFirst())
        else {
            let per = inShape.dropFirst().map(String.init).joined(separator: ",")
            throw SinterError("\(origin): features are \(x.type); the model needs \(input.dtype.rawValue)[S,\(per)]")
        }
        var y = y
        if loss.classifies && y.dtype == .i32 { y = TensorData(dtype: .i64, shape: y.shape, values: y.doubles) }
        guard y.dtype == labels.dtype, y.shape.count == labelShape.count,
            Array(y.shape.dropFirst()) == Array(labelShape.dropFirst()), y.shape.first == x.shape.first
        else {
            let per = ([x.shape[0]] + labelShape.dropFirst()).map(String.init).joined(separator: ",")
            throw SinterError(
                "\(origin): labels are \(y.type); --loss \(loss.rawValue) needs \(labels.dtype.rawValue)[\(per)]")
        }
        self.x = x
        self.y = y
        self.count = x.shape[0]
        self.loss = loss
        self.batchShape = inShape
        self.labelShape = labelShape
    }

    /// A seeded split: the validation indices first `fraction` of a shuffle, the rest training.
    func split(_ fraction: Double, _ rng: inout SplitMix) -> (train: [Int], validation: [Int]) {
        let all = shuffled(Array(0..<count), &rng)
        let n = Int((fraction * Double(count)).rounded(.down))
        return (Array(all[n...]), Array(all[..<n]))
    }

    /// Fisher–Yates with the seeded generator: the same seed gives the same order everywhere.
    func shuffled(_ idx: [Int], _ rng: inout SplitMix) -> [Int] {
        var a = idx
        guard a.count > 1 else { return a }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
        return a
    }

    private func gather(_ t: TensorData, _ idx: [Int], _ shape: [Int]) -> TensorData {
        let per = t.bytes.count / max(count, 1)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(per * idx.count)
        for i in idx { bytes += t.bytes[(i * per)..<((i + 1) * per)] }
        return TensorData(dtype: t.dtype, shape: [idx.count] + shape.dropFirst(), bytes: bytes)
    }

    func features(_ idx: [Int]) -> TensorData { gather(x, idx, batchShape) }
    func labels(_ idx: [Int]) -> TensorData { gather(y, idx, labelShape) }

    /// Rows of `logits` whose arg-max is the label (cross-entropy only; the first `idx.count`
    /// rows count).
    func correct(_ logits: TensorData, _ idx: [Int]) -> Int {
        guard loss.classifies, let rows = logits.shape.first, rows > 0 else { return 0 }
        let v = logits.doubles, c = v.count / rows
        var hits = 0
        for (r, i) in idx.enumerated() where r < rows {
            let row = v[(r * c)..<((r + 1) * c)]
            if let best = row.indices.max(by: { row[$0] < row[$1] }), best - r * c == Int(y.element(at: i)) {
                hits += 1
            }
        }
        return hits
    }

    /// Mean loss (the train step's own loss op, without the update) and accuracy over `idx`
    /// with the current parameters. A short last batch runs at its size when the batch is
    /// dynamic; otherwise it is padded with repeats of its first sample, whose loss is taken
    /// back out (one more batch of that sample alone) and whose rows are not counted.
    func evaluate(_ trainer: Trainer, _ idx: [Int], batchSize: Int) throws(SinterError) -> (Double, Double) {
        var total = 0.0, hits = 0
        for start in stride(from: 0, to: idx.count, by: batchSize) {
            let real = Array(idx[start..<min(start + batchSize, idx.count)])
            let pad = trainer.dynamicBatch ? 0 : batchSize - real.count
            let rows = real + Array(repeating: real[0], count: pad)
            let (loss, outputs) = try trainer.evaluate([features(rows)], labels: labels(rows))
            total += loss * Double(rows.count)
            if pad > 0 {
                let first = Array(repeating: real[0], count: batchSize)
                total -= try trainer.evaluate([features(first)], labels: labels(first)).loss * Double(pad)
            }
            hits += correct(outputs[0], real)
        }
        return (total / Double(max(idx.count, 1)), Double(hits) / Double(max(idx.count, 1)))
    }
}

/// The loss per epoch as a small standalone SVG line chart.
enum LossCurve {
    static func svg(_ losses: [Double]) -> String {
        let w = 480.0, h = 240.0, pad = 40.0
        let finite = losses.filter(\.isFinite)
        let hi = finite.max() ?? 1, lo = min(finite.min() ?? 0, 0)
        let span = max(hi - lo, 1e-12)
        let points = losses.enumerated().map { i, l in
            let px = pad + (w - 2 * pad) * (losses.count > 1 ? Double(i) / Double(losses.count - 1) : 0.5)
            let py = h - pad - (h - 2 * pad) * ((l.isFinite ? l : hi) - lo) / span
            return String(format: "%.1f,%.1f", px, py)
        }
        let title = "training loss per epoch (max \(String(format: "%.4g", hi)))"
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))">
            <rect width="100%" height="100%" fill="white"/>
            <line x1="\(pad)" y1="\(h - pad)" x2="\(w - pad)" y2="\(h - pad)" stroke="black"/>
            <line x1="\(pad)" y1="\(pad)" x2="\(pad)" y2="\(h - pad)" stroke="black"/>
            <text x="\(pad)" y="\(pad - 10)" font-size="12">\(title)</text>
            <text x="\(w - pad)" y="\(h - pad + 16)" font-size="12" text-anchor="end">epoch \(losses.count)</text>
            <polyline fill="none" stroke="steelblue" stroke-width="2" points="\(points.joined(separator: " "))"/>
            </svg>

            """
    }
}
