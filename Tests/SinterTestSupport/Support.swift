import Foundation
import SinterIR

/// Paths, subprocesses and numeric comparison shared by the test targets.
public enum Support {
    /// The package root (found from this file's location, so tests need no environment).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The venv interpreter made by Scripts/setup.sh; tests that need numpy use it.
    public static var python: String { root.appendingPathComponent(".venv/bin/python").path }

    /// The `sinter` executable built next to the test bundle.
    public static var sinterExecutable: String { executable("sinter") }

    /// A product of this package built next to the test bundle (`sinter`, `sinter-fuzz`).
    public static func executable(_ name: String) -> String {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent(name).path,
            root.appendingPathComponent(".build/debug/\(name)").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
    }

    public struct ProcessResult: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs a program (looked up on PATH when not a path) and captures its output.
    public static func run(_ exe: String, _ args: [String], cwd: URL? = nil) throws -> ProcessResult {
        let p = Process()
        if exe.contains("/") {
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [exe] + args
        }
        if let cwd { p.currentDirectoryURL = cwd }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes concurrently so a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return ProcessResult(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// A fresh temporary folder.
    public static func temporaryDirectory(_ tag: String = "sinter-test") throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    public static func writeNpy(_ t: TensorData, to url: URL) throws {
        try Data(Npy.encode(t)).write(to: url)
    }

    public static func readNpy(_ url: URL) throws -> TensorData {
        try Npy.decode(Array(try Data(contentsOf: url)), origin: url.path)
    }

    /// One case for Tests/SinterTestSupport/numpy_reference.py.
    public struct ReferenceCase: Encodable, Sendable {
        public var op: String
        public var attrs: [String: AttrJSON]
        public var inputs: [String]
        public var output: String
        /// numpy dtype name of the result (float32 unless set).
        public var dtype: String
        public init(
            op: String, attrs: [String: AttrJSON] = [:], inputs: [String], output: String, dtype: String = "float32"
        ) {
            self.op = op
            self.attrs = attrs
            self.inputs = inputs
            self.output = output
            self.dtype = dtype
        }
    }

    public enum AttrJSON: Encodable, Sendable {
        case int(Int), ints([Int]), bool(Bool), float(Double), string(String)
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .int(let v): try c.encode(v)
            case .ints(let v): try c.encode(v)
            case .bool(let v): try c.encode(v)
            case .float(let v): try c.encode(v.isFinite ? String(v) : v.isNaN ? "nan" : v > 0 ? "inf" : "-inf")
            case .string(let v): try c.encode(v)
            }
        }

        public init(_ v: AttributeValue) {
            switch v {
            case .int(let x): self = .int(x)
            case .ints(let x): self = .ints(x)
            case .bool(let x): self = .bool(x)
            case .float(let x): self = .float(x)
            case .string(let x): self = .string(x)
            }
        }
    }

    /// Evaluates the cases with numpy (float64 math, rounded to float32) in one process.
    public static func numpyReference(_ cases: [ReferenceCase], in dir: URL) throws {
        let spec = dir.appendingPathComponent("cases.json")
        try JSONEncoder().encode(cases).write(to: spec)
        let script = root.appendingPathComponent("Tests/SinterTestSupport/numpy_reference.py").path
        let r = try run(python, [script, spec.path])
        guard r.status == 0 else {
            throw SinterError("numpy reference failed (run Scripts/setup.sh to create .venv): \(r.stderr)")
        }
    }

    /// The first element where |got − want| > atol + rtol·|want| (NaN must match NaN, inf must
    /// match inf), described for a test failure; nil when all agree.
    public static func mismatch(_ got: [Double], _ want: [Double], atol: Double = 1e-6, rtol: Double = 1e-5) -> String?
    {
        mismatch(got.map { Float($0) }, want.map { Float($0) }, atol: Float(atol), rtol: Float(rtol))
    }

    public static func mismatch(_ got: [Float], _ want: [Float], atol: Float = 1e-6, rtol: Float = 1e-5) -> String? {
        guard got.count == want.count else { return "count \(got.count) vs \(want.count)" }
        for i in got.indices {
            let a = got[i], b = want[i]
            if a.isNaN || b.isNaN { if a.isNaN != b.isNaN { return "[\(i)]: got \(a), want \(b)" } else { continue } }
            if a.isInfinite || b.isInfinite { if a != b { return "[\(i)]: got \(a), want \(b)" } else { continue } }
            if abs(a - b) > atol + rtol * abs(b) { return "[\(i)]: got \(a), want \(b) (diff \(abs(a - b)))" }
        }
        return nil
    }

    /// Deterministic pseudo-random numbers (SplitMix64), so failures reproduce.
    public struct RNG: Sendable {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        public mutating func int(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(next() % UInt64(range.count))
        }
        public mutating func float(_ lo: Float, _ hi: Float) -> Float {
            lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
        }
        public mutating func bool() -> Bool { next() & 1 == 1 }
        public mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
    }
}
