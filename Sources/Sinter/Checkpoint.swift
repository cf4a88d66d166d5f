import Foundation

/// A training checkpoint: the parameters and optimizer slots of a `Trainer`, the update count,
/// and where in the data the run stood, so that a resumed run continues exactly (same batches,
/// same order) and ends with the same bytes as one that never stopped.
///
/// Layout (little-endian): `SINTERC1`, the step's fingerprint (names, types and optimizer of
/// every tensor: a checkpoint of another model or optimizer is refused), the position fields,
/// the loss curve, each tensor's bytes, and last an FNV-1a hash over everything before it
/// (a truncated or altered file is refused).
public struct Checkpoint: Sendable, Equatable {
    public static let magic = Array("SINTERC1".utf8)

    /// The epoch in progress (1-based) and how many of its batches are done.
    public var epoch: Int
    public var batch: Int
    public var updates: Int
    /// The shuffling generator's state before this epoch's shuffle.
    public var rngState: UInt64
    /// The running sums of the epoch in progress (for its printed loss and accuracy).
    public var lossSum: Double
    public var correct: Int
    public var seen: Int
    /// Mean training loss of each finished epoch; the best monitored loss and epochs since.
    public var curve: [Double]
    public var best: Double
    public var sinceBest: Int
    /// Parameters, then optimizer slots, in the train step's input order.
    public var tensors: [TensorData]

    public init(
        epoch: Int, batch: Int, updates: Int, rngState: UInt64, lossSum: Double, correct: Int, seen: Int,
        curve: [Double], best: Double, sinceBest: Int, tensors: [TensorData]
    ) {
        self.epoch = epoch
        self.batch = batch
        self.updates = updates
        self.rngState = rngState
        self.lossSum = lossSum
        self.correct = correct
        self.seen = seen
        self.curve = curve
        self.best = best
        self.sinceBest = sinceBest
        self.tensors = tensors
    }

    /// What a checkpoint must match: every parameter's and slot's name and type, and the
    /// optimizer's settings.
    public static func fingerprint(_ step: TrainStep, _ config: TrainingConfig) -> UInt64 {
        var text = "\(config.optimizer.rawValue) \(config.loss.rawValue)"
        for p in step.parameters { text += "|\(p.name):\(p.value.type)" }
        for s in step.slots { text += "|\(s.name):\(s.type)" }
        for s in step.states { text += "|state \(s.name):\(s.value.type)" }
        return fnv(Array(text.utf8))
    }

    static func fnv(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    public func encode(fingerprint: UInt64) -> [UInt8] {
        var out = Self.magic
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
        func double(_ v: Double) { u64(v.bitPattern) }
        u64(fingerprint)
        for v in [epoch, batch, updates] { int(v) }
        u64(rngState)
        double(lossSum)
        for v in [correct, seen, curve.count] { int(v) }
        curve.forEach(double)
        double(best)
        int(sinceBest)
        int(tensors.count)
        for t in tensors {
            int(t.bytes.count)
            out += t.bytes
        }
        u64(Self.fnv(out))
        return out
    }

    /// Reads a checkpoint for a step whose tensors have `types`; refuses (with the ABI's
    /// checkpoint statuses' meaning) a file of another model or a damaged one.
    public static func decode(_ bytes: [UInt8], fingerprint: UInt64, types: [TensorType], origin: String)
        throws(SinterError) -> Checkpoint
    {
        func damaged(_ why: String) -> SinterError { SinterError("'\(origin)' is not a usable checkpoint: \(why)") }
        guard bytes.count >= 24, Array(bytes[..<8]) == magic else { throw damaged("it does not start with SINTERC1") }
        let body = Array(bytes[..<(bytes.count - 8)])
        var at = 8
        func u64() throws(SinterError) -> UInt64 {
            guard at + 8 <= body.count else { throw damaged("it ends early") }
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(body[at + k]) << (8 * k) }
            at += 8
            return v
        }
        func int() throws(SinterError) -> Int {
            let v = Int64(bitPattern: try u64())
            guard v >= 0, v < Int64(Int32.max) * 64 else { throw damaged("a count is out of range") }
            return Int(v)
        }
        var tail: UInt64 = 0
        for k in 0..<8 { tail |= UInt64(bytes[bytes.count - 8 + k]) << (8 * k) }
        guard tail == fnv(body) else { throw damaged("its checksum does not match its bytes") }
        guard try u64() == fingerprint else {
            throw SinterError("'\(origin)' belongs to another model or optimizer (its fingerprint differs)")
        }
        let epoch = try int(), batch = try int(), updates = try int()
        let rng = try u64()
        let lossSum = Double(bitPattern: try u64())
        let correct = try int(), seen = try int(), n = try int()
        var curve: [Double] = []
        for _ in 0..<n { curve.append(Double(bitPattern: try u64())) }
        let best = Double(bitPattern: try u64())
        let sinceBest = try int()
        guard try int() == types.count else { throw damaged("it holds another number of tensors") }
        var tensors: [TensorData] = []
        for t in types {
            let size = try int()
            let want = (t.shape ?? []).reduce(1, *) * t.dtype.byteSize
            guard size == want, at + size <= body.count else { throw damaged("a tensor has the wrong size") }
            tensors.append(TensorData(dtype: t.dtype, shape: t.shape ?? [], bytes: Array(body[at..<(at + size)])))
            at += size
        }
        guard at == body.count else { throw damaged("it has trailing bytes") }
        return Checkpoint(
            epoch: epoch, batch: batch, updates: updates, rngState: rng, lossSum: lossSum, correct: correct, seen: seen,
            curve: curve, best: best, sinceBest: sinceBest, tensors: tensors)
    }
}
