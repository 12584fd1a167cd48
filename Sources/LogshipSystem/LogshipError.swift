import Foundation

// The one error shape of logship. Every module keeps its own error type (its kinds speak the
// module's language), and each of them conforms to `LogshipError`: it knows its exit status, its
// message and its hint. An executable maps any error with `ExitStatus(error)`; no executable
// keeps a switch over another module's kinds. This file holds no OS code on purpose: it is
// shared vocabulary, not file handling. It lives in the leaf module LogshipSystem so that the OS
// helpers' own `SystemError` can conform too; BinlogFormat re-exports LogshipSystem, so every
// module that imports BinlogFormat sees it as before.

/// The exit codes shared by all four tools (docs/OPERATIONS.md has the same table).
/// Cron wrappers and monitoring can act on them without parsing messages.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case ok = 0
    /// An unexpected failure: a bug. The message says what; please report it.
    case internalError = 1
    /// A segment or an LSN range is missing (not shipped yet, or lost).
    case gap = 2
    /// A checksum mismatch, a malformed frame, a broken hash chain, a foreign segment.
    case corruption = 3
    /// A replica's data disagrees with the binlog (row missing, key already there).
    case divergence = 4
    /// A replica or a target is further behind than --max-lag allows.
    case lagging = 5
    /// Split brain: segments of a fenced (older) epoch past its fork point, a master that was
    /// superseded by a promotion, or two histories of the same source that disagree.
    case splitBrain = 6
    /// A report ran past --timeout, --max-rows or --max-memory, and was stopped.
    case limit = 7
    /// A SQL statement failed; its transaction was rolled back and nothing was logged.
    case sqlError = 10
    /// Input data (CSV, JSON Lines) that cannot be loaded.
    case badInput = 11
    /// Another process holds the lock (an overlapping cron run).
    case busy = 12
    /// A file system is full. Nothing acknowledged was lost; rerun once space is freed.
    case diskFull = 13
    /// Another I/O failure (permissions, read-only or unmounted file system).
    case ioError = 14
    /// Wrong path: no such directory, or not a master / replica directory.
    case notFound = 15
    /// Refused to overwrite: the directory or output already exists.
    case alreadyExists = 16
    /// Bad flags or arguments (swift-argument-parser's own code, as in sysexits.h).
    case usage = 64

    /// The status an error leaves with: its own for a logship error (or a library error a module
    /// classifies, such as SQLite's), `internalError` for anything else (a bug).
    public init(_ error: Error) {
        self = (error as? ExitStatusProviding)?.exitStatus ?? .internalError
    }

    /// One line saying what the code means, as the tools print it in `--help`.
    public var summary: String {
        switch self {
        case .ok: return "success"
        case .internalError: return "internal error (a bug; please report it)"
        case .gap: return "gap: a segment or LSN range is missing"
        case .corruption: return "corruption: checksum, frame, footer or hash-chain failure, or a foreign segment"
        case .divergence: return "divergence: replica data disagrees with the binlog"
        case .lagging: return "lag: further behind than --max-lag"
        case .splitBrain: return "split brain: a fenced epoch's writes past the fork point, or two masters"
        case .limit: return "limit: a report ran past --timeout, --max-rows or --max-memory"
        case .sqlError: return "SQL error: rolled back, nothing logged"
        case .badInput: return "bad input data"
        case .busy: return "busy: another process holds the lock"
        case .diskFull: return "disk full: nothing acknowledged lost; rerun when space is freed"
        case .ioError: return "I/O error"
        case .notFound: return "not found: wrong path or not a logship directory"
        case .alreadyExists: return "already exists: refused to overwrite"
        case .usage: return "usage error"
        }
    }

    /// A text table of every code, for `--help` epilogues and the docs.
    public static var table: String {
        allCases.map { String(format: "%3d  %@", $0.rawValue, $0.summary) }.joined(separator: "\n")
    }
}

/// An error that knows which shared exit status it means. Logship's own errors get it through
/// `LogshipError`; a library error that a module classifies in one place (GRDB's `DatabaseError`,
/// in BinlogApply) conforms to this alone, keeping its own message.
public protocol ExitStatusProviding: Error {
    /// The exit code a tool leaves with when this error ends it.
    var exitStatus: ExitStatus { get }
}

/// The shape every logship error type has: a kind that maps onto an exit status, a lowercase
/// message naming the operation and its subject, and, where the user can act, a hint. The
/// description (what the tools print) is the message, then `HINT: …` on its own line.
public protocol LogshipError: ExitStatusProviding, CustomStringConvertible, LocalizedError {
    /// What failed, naming the operation and the subject (file, offset, LSN, table, key, target).
    var message: String { get }
    /// What the user can do about it, when there is something to do.
    var hint: String? { get }
}

/// Foundation's view of a logship error: `localizedDescription` (`errorDescription`) is what the
/// tools print without the hint (the kind, the message, and the file, offset, LSN or target it
/// names), `recoverySuggestion` the hint; so code that embeds the library and shows
/// `error.localizedDescription` says what failed instead of "The operation could not be completed".
extension LogshipError {
    public var errorDescription: String? {
        guard let hint else { return description }
        let suffix = "\nHINT: " + hint
        return description.hasSuffix(suffix) ? String(description.dropLast(suffix.count)) : description
    }
    public var recoverySuggestion: String? { hint }
}
