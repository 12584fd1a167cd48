import BinlogFormat
import BinlogMaster
import Foundation
import ReplicaStore

/// Every failure of a failover command: what, where, and what the operator can do.
public struct FailoverError: LogshipError {
    public enum Kind: String, CaseIterable, Sendable {
        /// Another promotion, a fenced epoch, replicas of different histories (exit 6).
        case splitBrain = "split brain"
        /// No such replica or fence directory (exit 15).
        case notFound = "not found"
        /// The new master's directory exists (exit 16).
        case exists = "already exists"
        /// A replica that cannot be promoted as it is: empty, another source (exit 64).
        case invalid = "invalid request"
        case io = "i/o error"
        case diskFull = "disk full"
    }

    public var kind: Kind
    public var message: String
    public var hint: String?

    public init(_ kind: Kind, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    /// Lifts a format error (history files, fences).
    public init(_ e: FormatError, while operation: String) {
        let kind: Kind
        switch e.kind {
        case .splitBrain: kind = .splitBrain
        case .diskFull: kind = .diskFull
        case .invalidArgument: kind = .notFound
        default: kind = .io
        }
        self.init(kind, "\(operation): \(e)")
    }

    /// Lifts a system error (history files, fences): a full disk 13, anything else 14, as a
    /// format error's I/O and type failures were mapped here.
    public init(_ e: SystemError, while operation: String) {
        self.init(e.kind == .diskFull ? .diskFull : .io, "\(operation): \(e)")
    }

    /// A replica that cannot be promoted as it is counts as a usage error (exit 64).
    public var exitStatus: ExitStatus {
        switch kind {
        case .splitBrain: return .splitBrain
        case .notFound: return .notFound
        case .exists: return .alreadyExists
        case .invalid: return .usage
        case .io: return .ioError
        case .diskFull: return .diskFull
        }
    }

    public var description: String {
        var text = "\(kind.rawValue): \(message)"
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}
