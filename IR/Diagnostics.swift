/// Where a diagnostic points: a `.sir` file position, or an imported node (ONNX node name
/// and op type), or nothing when the graph was built in Swift.
public enum SourceLocation: Hashable, Sendable, CustomStringConvertible {
    case file(path: String, line: Int, column: Int)
    case node(name: String, opType: String)
    case unknown

    public var description: String {
        switch self {
        case .file(let path, let line, let column): "\(path):\(line):\(column)"
        case .node(let name, let opType): "node '\(name)' (\(opType))"
        case .unknown: "<unknown>"
        }
    }
}

/// One problem found in user input. Diagnostics are values so that a tool can report all
/// of them at once and tests can assert message and location separately.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ message: String, at location: SourceLocation = .unknown) {
        self.message = message
        self.location = location
    }

    public var description: String {
        location == .unknown ? "error: \(message)" : "\(location): error: \(message)"
    }
}

/// The error thrown by the parser, verifier, passes and codegen: one or more diagnostics.
public struct SinterError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public init(_ message: String, at location: SourceLocation = .unknown) {
        self.diagnostics = [Diagnostic(message, at: location)]
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
