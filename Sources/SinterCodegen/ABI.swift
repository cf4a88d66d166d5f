import SinterIR

/// The C ABI every artifact exports, with `NAME_` prefixed to each symbol. Spelled once here;
/// the LLVM entry points (`ModuleEmitter`) and the header (`HeaderWriter`) both read it.
public enum ABI {
    /// 3: the shared-types block is fixed for every addition the roadmap names (docs/abi.md,
    /// "ABI policy"): dtype codes for u16/u32/u64 (reserved first, produced now), checkpoint status codes 8–9,
    /// quantization fields in `sinter_tensor_info`, a versioned include guard.
    /// (2: weights side file and status codes 5–7. 1: the first release.)
    public static let version: Int32 = 3

    /// Every `sinter_dtype` enumerator: the IR's dtypes by `DType.abiCode`, in code order (u16,
    /// u32 and u64 were reserved at 11–13 before the IR had them, so adding them left the shared
    /// block unchanged). Codes are never reused or renumbered.
    public static var dtypeCodes: [(name: String, code: Int32)] {
        DType.allCases.map { ($0.rawValue.uppercased(), $0.abiCode) }.sorted { $0.code < $1.code }
    }

    public enum Status: Int32, CaseIterable, Sendable {
        case ok = 0
        case nullArgument = 1
        case misalignedWorkspace = 2
        case outOfMemory = 3
        case invalidArgument = 4
        case weightsIO = 5
        case weightsMismatch = 6
        case weightsNotLoaded = 7
        /// Reserved in ABI 3 for training checkpoints (save/load of parameters and optimizer state).
        case checkpointIO = 8
        case checkpointMismatch = 9

        public var cName: String {
            switch self {
            case .ok: "SINTER_OK"
            case .nullArgument: "SINTER_ERR_NULL_ARGUMENT"
            case .misalignedWorkspace: "SINTER_ERR_MISALIGNED_WORKSPACE"
            case .outOfMemory: "SINTER_ERR_OUT_OF_MEMORY"
            case .invalidArgument: "SINTER_ERR_INVALID_ARGUMENT"
            case .weightsIO: "SINTER_ERR_WEIGHTS_IO"
            case .weightsMismatch: "SINTER_ERR_WEIGHTS_MISMATCH"
            case .weightsNotLoaded: "SINTER_ERR_WEIGHTS_NOT_LOADED"
            case .checkpointIO: "SINTER_ERR_CHECKPOINT_IO"
            case .checkpointMismatch: "SINTER_ERR_CHECKPOINT_MISMATCH"
            }
        }

        public var message: String {
            switch self {
            case .ok: "ok"
            case .nullArgument: "a required pointer argument (context, inputs, outputs or one of their entries) is NULL"
            case .misalignedWorkspace: "the workspace is not aligned to workspace_align() bytes"
            case .outOfMemory: "out of memory"
            case .invalidArgument: "invalid argument"
            case .weightsIO: "cannot read the weights file"
            case .weightsMismatch: "the weights file does not belong to this model"
            case .weightsNotLoaded: "the weights are not loaded (call load_weights first)"
            case .checkpointIO: "cannot read or write the checkpoint file"
            case .checkpointMismatch: "the checkpoint does not belong to this model"
            }
        }
    }

    /// Where the weights live.
    public enum WeightsMode: Sendable, Equatable {
        /// Read-only data inside the artifact.
        case embedded
        /// A side file (`NAME.weights`) that `NAME_load_weights` reads into the context.
        case sideFile
    }

    /// Layout of the side file: a 64-byte header (magic, payload size, fingerprint), then each
    /// tensor 64-byte aligned at the offsets the code was compiled with.
    public static let weightsMagic: [UInt8] = Array("SINTERW1".utf8)

    public static func weightsLayout(_ constants: [TensorData]) -> (offsets: [Int], size: Int) {
        var offsets: [Int] = []
        var size = 0
        for t in constants {
            offsets.append(size)
            size = (size + t.bytes.count + 63) / 64 * 64
        }
        return (offsets, size)
    }

    /// FNV-1a over the tensor sizes, then over the whole payload (tensors and the zero padding
    /// between them), so a file from another model, or with any payload byte changed, is refused.
    public static func weightsFingerprint(_ constants: [TensorData]) -> UInt64 {
        var sizes: [UInt8] = []
        for t in constants { withUnsafeBytes(of: UInt64(t.bytes.count).littleEndian) { sizes += $0 } }
        return fnv1a(weightsPayload(constants), seed: fnv1a(sizes))
    }

    /// 64-bit FNV-1a over `bytes`, continuing from `seed` (the offset basis by default).
    public static func fnv1a<S: Sequence<UInt8>>(_ bytes: S, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var h = seed
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// The tensors at their 64-byte aligned offsets, zero between them.
    static func weightsPayload(_ constants: [TensorData]) -> [UInt8] {
        let (offsets, size) = weightsLayout(constants)
        var payload = [UInt8](repeating: 0, count: size)
        for (t, o) in zip(constants, offsets) { payload.replaceSubrange(o..<(o + t.bytes.count), with: t.bytes) }
        return payload
    }

    /// The 64-byte header: magic, payload size, fingerprint, zero padding.
    public static func weightsHeader(_ constants: [TensorData]) -> [UInt8] {
        var out = weightsMagic
        withUnsafeBytes(of: UInt64(weightsLayout(constants).size).littleEndian) { out += $0 }
        withUnsafeBytes(of: weightsFingerprint(constants).littleEndian) { out += $0 }
        return out + [UInt8](repeating: 0, count: 64 - out.count)
    }

    /// The side file's bytes.
    public static func weightsFile(_ constants: [TensorData]) -> [UInt8] {
        weightsHeader(constants) + weightsPayload(constants)
    }

    /// Turns a graph name into a C identifier usable as a symbol prefix.
    public static func cIdentifier(_ name: String) -> String {
        var s = String(
            name.unicodeScalars.map { c -> Character in
                (("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_")
                    ? Character(c) : "_"
            })
        if s.isEmpty || s.first!.isNumber { s = "m_" + s }
        return s
    }
}
