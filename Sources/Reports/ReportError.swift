import BinlogFormat
import Foundation

/// Every failure of a report, with what the analyst can do about it.
public struct ReportError: LogshipError {
    public enum Kind: String, CaseIterable, Sendable {
        /// The store is staler than --max-lag, or did not reach --min-lsn in time.
        case stale
        /// No such store, or not a replica store.
        case notFound = "not found"
        /// A write attempted through `report query`, or a report asked of a master without --allow-master.
        case refused
        /// SQL that does not run (syntax, unknown column, bad parameter).
        case sql = "SQL error"
        case io = "i/o error"
        case diskFull = "disk full"
        case exists = "already exists"
        case invalid = "invalid request"
        /// A report ran past --timeout, --max-rows or --max-memory.
        case limit
        /// `report verify`: the report file differs from a re-run of its stamp (exit 4, as a
        /// replica whose data disagrees with the binlog).
        case mismatch
        /// Another `report site` run is publishing the same site.
        case busy
    }

    public var kind: Kind
    public var message: String
    public var hint: String?

    public init(_ kind: Kind, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    /// Lifts a system error (an output file, a lock, a store file the OS refused): a full disk
    /// 13, anything else 14 (reports read stores through SQLite, never a segment, so a FIFO here
    /// is an output or lock path the OS refused: I/O).
    public init(_ e: SystemError, while operation: String) {
        self.init(e.kind == .diskFull ? .diskFull : .io, "\(operation): \(e)")
    }

    /// A stale store is lag (exit 5); a refused write or master is a usage error (exit 64).
    public var exitStatus: ExitStatus {
        switch kind {
        case .stale: return .lagging
        case .notFound: return .notFound
        case .refused: return .usage
        case .sql: return .sqlError
        case .io: return .ioError
        case .diskFull: return .diskFull
        case .exists: return .alreadyExists
        case .invalid: return .usage
        case .limit: return .limit
        case .mismatch: return .divergence
        case .busy: return .busy
        }
    }

    public var description: String {
        "\(kind.rawValue): \(message)" + (hint.map { "\nHINT: \($0)" } ?? "")
    }
}
