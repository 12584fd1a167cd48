import BinlogApply
import BinlogFormat
import Foundation

/// Every failure of the master: the operation, the subject, the cause, and a hint.
public struct MasterError: LogshipError {
    public enum Kind: String, CaseIterable, Sendable {
        /// A SQL statement failed; the transaction was rolled back and nothing was logged.
        case sql = "SQL error"
        /// Another process holds the data directory's lock.
        case busy
        /// The data directory does not exist or is not a master.
        case notFound = "not found"
        /// `init` found something already there.
        case exists = "already exists"
        /// The binlog is damaged (corruption, gap) or disagrees with the database.
        case binlog = "binlog"
        /// The file system is full.
        case diskFull = "disk full"
        /// Other I/O failures.
        case io = "i/o error"
        /// Input data (CSV, JSON Lines) that cannot be loaded.
        case input = "bad input"
        /// A promotion superseded this master's epoch (a fence at one of its targets), or the
        /// binlog's histories disagree: writing here would fork the data (docs/FAILOVER.md).
        case splitBrain = "split brain"
        /// A request that makes no sense for this master (bad option value, unknown table).
        case invalid = "invalid request"
        /// Semi-sync (`--sync-replicas`, fallback `wait`): the commit is durable on the master but
        /// not enough targets acknowledged it in time.
        case unacknowledged = "not acknowledged"
    }

    public var kind: Kind
    public var message: String
    public var hint: String?
    /// The underlying format error, when the binlog is involved (file and offset).
    public var formatError: FormatError?

    public init(_ kind: Kind, _ message: String, hint: String? = nil, formatError: FormatError? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.formatError = formatError
    }

    /// Lifts a format error: full disks stay full disks, corruption and gaps are binlog errors.
    public init(_ error: FormatError, while operation: String) {
        switch error.kind {
        case .diskFull: self.init(.diskFull, "\(operation): \(error)", formatError: error)
        case .io: self.init(.io, "\(operation): \(error)", formatError: error)
        case .splitBrain: self.init(.splitBrain, "\(operation): \(error)", formatError: error)
        default: self.init(.binlog, "\(operation): \(error)", formatError: error)
        }
    }

    /// Lifts a system error with the codes it had as a format error: a full disk 13, other I/O
    /// 14, a FIFO or directory named like a segment 3 (a binlog error).
    public init(_ error: SystemError, while operation: String) {
        switch error.kind {
        case .diskFull: self.init(.diskFull, "\(operation): \(error)", formatError: FormatError(error))
        case .io: self.init(.io, "\(operation): \(error)", formatError: FormatError(error))
        case .notRegularFile: self.init(.binlog, "\(operation): \(error)", formatError: FormatError(error))
        }
    }

    /// A binlog error leaves with its format error's status (gap, corruption, …).
    public var exitStatus: ExitStatus {
        switch kind {
        case .sql: return .sqlError
        case .busy: return .busy
        case .notFound: return .notFound
        case .exists: return .alreadyExists
        case .binlog: return formatError?.exitStatus ?? .corruption
        case .diskFull: return .diskFull
        case .io: return .ioError
        case .input: return .badInput
        case .invalid: return .usage
        case .splitBrain: return .splitBrain
        case .unacknowledged: return .lagging
        }
    }

    public var description: String {
        var text = "\(kind.rawValue): \(message)"
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}
