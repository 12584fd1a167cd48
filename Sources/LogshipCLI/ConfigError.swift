import BinlogFormat

/// A problem with the deployment configuration: `logship.yml`, a `LOGSHIP_…` environment
/// variable or `--config` (docs/OPERATIONS.md "Configuration").
public struct ConfigError: LogshipError {
    /// What kind of problem, which decides the exit code.
    public enum Kind: Sendable {
        /// A bad key, value or variable (exit 64, usage).
        case invalid
        /// The file named by `--config` or `LOGSHIP_CONFIG` does not exist (exit 15).
        case notFound
        /// The file exists but cannot be read (exit 14).
        case io
    }

    public var kind: Kind
    public var message: String
    public var hint: String?

    /// A bad key, value or variable (exit 64).
    public init(_ message: String, hint: String? = nil) {
        self.init(.invalid, message, hint: hint)
    }

    public init(_ kind: Kind, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    public var exitStatus: ExitStatus {
        switch kind {
        case .invalid: return .usage
        case .notFound: return .notFound
        case .io: return .ioError
        }
    }

    public var description: String { message + (hint.map { "\nHINT: \($0)" } ?? "") }
}
