import BinlogFormat
import Foundation
import GRDB

// The one place where a SQLite failure (GRDB's `DatabaseError`) is classified. The modules that
// own a database (BinlogMaster, ReplicaStore, Reports) lift what they catch into their own error
// type with these answers; a `DatabaseError` that escapes a library unwrapped still maps to an
// exit status through `ExitStatusProviding`, so no executable imports GRDB to classify.

/// What a SQLite failure means to an operator, read from its primary result code.
public enum SQLiteFailure: Sendable, Equatable {
    /// SQLITE_FULL: the file system (or a quota) is full.
    case diskFull
    /// SQLITE_BUSY or SQLITE_LOCKED: another connection held the lock for the busy timeout.
    case busy
    /// SQLITE_CONSTRAINT: a UNIQUE, NOT NULL, CHECK or foreign-key constraint refused a row.
    case constraint
    /// SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM: the file system refused.
    case io
    /// Anything else (a SQL error, a schema mismatch, a damaged file).
    case other

    /// The class of SQLite result code `code` (extended codes count as their primary code).
    public init(resultCode code: ResultCode) {
        switch code.primaryResultCode {
        case .SQLITE_FULL: self = .diskFull
        case .SQLITE_BUSY, .SQLITE_LOCKED: self = .busy
        case .SQLITE_CONSTRAINT: self = .constraint
        case .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM: self = .io
        default: self = .other
        }
    }
}

extension DatabaseError: ExitStatusProviding {
    /// What this failure means to an operator.
    public var failure: SQLiteFailure { SQLiteFailure(resultCode: extendedResultCode) }

    /// The exit status of a database error no library lifted into its own error type: a full disk
    /// is a full disk (13), anything else an I/O error (14), as replica-apply has always mapped it.
    /// Where the meaning is known (a user's SQL, a busy store), the module lifts it instead.
    public var exitStatus: ExitStatus { failure == .diskFull ? .diskFull : .ioError }
}

/// True when `error`, raised while writing under `directory`, means the file system is full:
/// SQLITE_FULL, a FormatError or SystemError of kind diskFull, or SQLITE_IOERR on a full file system (SQLite
/// reports a WAL index or checkpoint that cannot grow as an I/O error; see
/// `fileSystemIsNearlyFull`).
public func isDiskFull(_ error: Error, under directory: String) -> Bool {
    if (error as? FormatError)?.kind == .diskFull || (error as? SystemError)?.kind == .diskFull { return true }
    guard let e = error as? DatabaseError else { return false }
    return e.failure == .diskFull || (e.resultCode == .SQLITE_IOERR && fileSystemIsNearlyFull(directory))
}
