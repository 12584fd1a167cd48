import ArgumentParser
import BinlogFormat
import Foundation

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

    public static func forFormat(_ e: FormatError) -> ExitStatus {
        switch e.kind {
        case .gap: return .gap
        case .truncated, .corrupted, .checksumMismatch, .unsupported: return .corruption
        case .diskFull: return .diskFull
        case .io: return .ioError
        case .invalidArgument: return .notFound
        case .splitBrain: return .splitBrain
        }
    }

    /// A text table of every code, for `--help` epilogues and the docs.
    public static var table: String {
        allCases.map { String(format: "%3d  %@", $0.rawValue, $0.summary) }.joined(separator: "\n")
    }
}

/// An error already reported to the user, carrying the exit status to leave with.
public struct ReportedFailure: Error {
    public var status: ExitStatus
    public init(_ status: ExitStatus) { self.status = status }
}

/// Prints `message` to stderr prefixed with the tool's name, as every failure is reported.
public func printError(_ tool: String, _ message: String) {
    FileHandle.standardError.write(Data("\(tool): \(message)\n".utf8))
}

/// Runs `body`, turning a thrown error into a message on stderr and an exit code.
public func runReporting(_ tool: String, _ classify: (Error) -> ExitStatus?, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ReportedFailure {
        throw ExitCode(e.status.rawValue)
    } catch let e as ExitCode {
        throw e
    } catch let e as FormatError {
        printError(tool, e.description)
        throw ExitCode(ExitStatus.forFormat(e).rawValue)
    } catch {
        let status = classify(error) ?? .internalError
        printError(tool, "\(error)")
        throw ExitCode(status.rawValue)
    }
}
