import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// Bounds on a report: how long its statements may run, how many rows it may print, and how
/// much memory SQLite may take. An abandoned or runaway report query must not hold its read
/// snapshot (and so the replica's WAL) or the machine's memory for long.
public struct ReportLimits: Sendable {
    /// Seconds a read may run before its statement is interrupted; nil for no limit.
    public var timeout: Double?
    /// Rows `report query` may print before it stops with an error; nil for no limit.
    public var maxRows: Int?
    /// Bytes SQLite may allocate in this process (sqlite3_hard_heap_limit64); nil for no limit.
    public var maxMemory: Int64?

    public init(timeout: Double? = 300, maxRows: Int? = nil, maxMemory: Int64? = nil) {
        self.timeout = timeout
        self.maxRows = maxRows
        self.maxMemory = maxMemory
    }

    /// Sets the process-wide SQLite heap limit (all connections of this process share it).
    public func applyMemoryLimit() {
        _ = lsh_report_heap_limit(maxMemory ?? 0)
    }
}

/// The report connection's SQLite authorizer and progress handler (CSQLiteHooks/report_guard.c):
/// statements may read tables of the main database and call ordinary functions; ATTACH, pragmas
/// other than informational reads, writes, and functions that reach outside the store
/// (load_extension, fts3_tokenizer, the shell's readfile/writefile) are denied by SQLite while
/// the statement is prepared, whatever its spelling. The progress handler interrupts a
/// statement past the deadline `arm` sets.
///
/// It replaces GRDB's authorizer on the report connection (SQLite keeps one per connection):
/// that connection is read-only and never observed, the two uses GRDB has for its own.
final class ReportGuard: @unchecked Sendable {
    let state: UnsafeMutablePointer<lsh_report_guard>

    init() {
        state = .allocate(capacity: 1)
        state.initialize(to: lsh_report_guard())
    }

    deinit { state.deallocate() }

    func install(on db: Database) throws {
        let rc = lsh_report_guard_install(db.sqliteConnection, state)
        guard rc == SQLITE_OK else { throw ReportError(.io, "unable to install the report guard: \(String(cString: sqlite3_errstr(rc)))") }
    }

    /// Starts the deadline for the next read and forgets the last denial.
    func arm(_ limits: ReportLimits) {
        state.pointee.denied_action = 0
        lsh_report_guard_arm(state, limits.timeout ?? 0)
    }

    /// The report error a database error stands for when the guard or a limit caused it.
    func explain(_ error: DatabaseError, _ limits: ReportLimits) -> ReportError? {
        switch error.resultCode {
        case .SQLITE_INTERRUPT where state.pointee.timed_out != 0:
            return ReportError(.limit, "the report ran longer than --timeout \(Self.seconds(limits.timeout ?? 0)) and was interrupted; its read snapshot is released",
                               hint: "narrow the query (a WHERE on an indexed column, a LIMIT), or raise --timeout")
        case .SQLITE_NOMEM where limits.maxMemory != nil:
            return ReportError(.limit, "the report needed more memory than --max-memory \(limits.maxMemory.map(String.init) ?? "") bytes allows",
                               hint: "aggregate or filter in the query instead of sorting or grouping everything, or raise --max-memory")
        case _ where state.pointee.denied_action != 0:
            // SQLITE_AUTH, or SQLITE_ERROR "not authorized to use function" for a function.
            return ReportError(.refused, "report query is read-only and refused \(denial()) (reports read the store's tables only)",
                               hint: "reports may read tables and call SQL functions; ATTACH, load_extension, fts3_tokenizer, file functions and pragmas other than table-valued reads (pragma_table_info(…)) are refused")
        default:
            return nil
        }
    }

    /// What the authorizer denied first, in words.
    private func denial() -> String {
        let subject = withUnsafeBytes(of: state.pointee.denied) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        switch state.pointee.denied_action {
        case SQLITE_FUNCTION: return "the function \(subject)() reaches outside the store"
        case SQLITE_PRAGMA: return "PRAGMA \(subject) is not an informational read"
        case SQLITE_READ: return "reading from database \(subject)"
        case SQLITE_ATTACH, SQLITE_DETACH: return "ATTACH and DETACH"
        case 0: return "not authorized"
        case SQLITE_DELETE: return "a DELETE from \(subject)"
        case SQLITE_INSERT: return "an INSERT into \(subject)"
        case SQLITE_UPDATE: return "an UPDATE of \(subject)"
        default: return "a statement that would change the store (SQLite authorizer action \(state.pointee.denied_action)\(subject.isEmpty ? "" : " on \(subject)"))"
        }
    }

    static func seconds(_ s: Double) -> String {
        s >= 60 && s.truncatingRemainder(dividingBy: 60) == 0 ? "\(Int(s / 60))m" : (s == s.rounded() ? "\(Int(s))s" : "\(s)s")
    }
}
