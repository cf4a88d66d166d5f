import SinterIR

/// The C ABI every artifact exports, with `NAME_` prefixed to each symbol. Spelled once here;
/// the LLVM entry points (`ModuleEmitter`) and the header (`HeaderWriter`) both read it.
public enum ABI {
    public static let version: Int32 = 1

    public enum Status: Int32, CaseIterable, Sendable {
        case ok = 0
        case nullArgument = 1
        case misalignedWorkspace = 2
        case outOfMemory = 3
        case invalidArgument = 4

        public var cName: String {
            switch self {
            case .ok: "SINTER_OK"
            case .nullArgument: "SINTER_ERR_NULL_ARGUMENT"
            case .misalignedWorkspace: "SINTER_ERR_MISALIGNED_WORKSPACE"
            case .outOfMemory: "SINTER_ERR_OUT_OF_MEMORY"
            case .invalidArgument: "SINTER_ERR_INVALID_ARGUMENT"
            }
        }

        public var message: String {
            switch self {
            case .ok: "ok"
            case .nullArgument: "a required pointer argument (context, inputs, outputs or one of their entries) is NULL"
            case .misalignedWorkspace: "the workspace is not aligned to workspace_align() bytes"
            case .outOfMemory: "out of memory"
            case .invalidArgument: "invalid argument"
            }
        }
    }

    /// Turns a graph name into a C identifier usable as a symbol prefix.
    public static func cIdentifier(_ name: String) -> String {
        var s = String(name.unicodeScalars.map { c -> Character in
            (("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_") ? Character(c) : "_"
        })
        if s.isEmpty || s.first!.isNumber { s = "m_" + s }
        return s
    }
}
