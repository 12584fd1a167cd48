import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// Binding and reading `Value`s through SQLite's C API, byte for byte. GRDB's `String` and
/// `DatabaseValue` repair invalid UTF-8 and stop TEXT at a NUL, so a value that went through them
/// no longer equals the stored one (issue 12: summary groups whose category held such bytes were
/// lost). For statements prepared with GRDB (`db.cachedStatement`, `db.makeStatement`).
public enum ExactValues {
    /// Resets `statement` and binds `values` to its parameters 1…n.
    public static func bind(_ values: [Value], to statement: Statement) throws {
        let stmt = statement.sqliteStatement
        sqlite3_reset(stmt)
        for (k, v) in values.enumerated() {
            let i = Int32(k + 1)
            let rc = bind(v, stmt, i)
            guard rc == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: "unable to bind parameter \(i)", sql: statement.sql)
            }
        }
    }

    /// Binds `value` to parameter `index` of `stmt` with its exact bytes (TEXT through the hooks'
    /// byte binder, never a Swift String); returns SQLite's result code. The one binding switch of
    /// the apply engine, the content digest and the summaries.
    @inline(__always)
    static func bind(_ value: Value, _ stmt: OpaquePointer, _ index: Int32) -> Int32 {
        switch value {
        case .null: return sqlite3_bind_null(stmt, index)
        case .integer(let v): return sqlite3_bind_int64(stmt, index, v)
        case .real(let v): return sqlite3_bind_double(stmt, index, v)
        case .text(let d): return d.withUnsafeBytes { lsh_bind_text_bytes(UnsafeMutableRawPointer(stmt), index, $0.baseAddress, Int32($0.count)) }
        case .blob(let d): return d.withUnsafeBytes { lsh_bind_blob_bytes(UnsafeMutableRawPointer(stmt), index, $0.baseAddress, Int32($0.count)) }
        }
    }

    /// Steps `statement`: true when it produced a row, false when it is done (and reset).
    /// Throws GRDB's `DatabaseError`.
    public static func step(_ statement: Statement, _ db: Database) throws -> Bool {
        let stmt = statement.sqliteStatement
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        sqlite3_reset(stmt)
        guard rc == SQLITE_DONE else {
            // GRDB's error, as GRDB's own stepping would throw: callers map it as they always did.
            throw DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                                message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
        }
        return false
    }

    /// Ends a read that stopped before `step` returned false.
    public static func reset(_ statement: Statement) { sqlite3_reset(statement.sqliteStatement) }

    /// Column `i` of the current row, as stored.
    public static func column(_ statement: Statement, _ i: Int32) -> Value {
        let stmt = statement.sqliteStatement
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT:
            let p = sqlite3_column_text(stmt, i)   // before _bytes, as SQLite documents
            let n = Int(sqlite3_column_bytes(stmt, i))
            return .text(p.map { Data(bytes: $0, count: n) } ?? Data())
        case SQLITE_BLOB:
            let p = sqlite3_column_blob(stmt, i)
            let n = Int(sqlite3_column_bytes(stmt, i))
            return .blob(p.map { Data(bytes: $0, count: n) } ?? Data())
        default: return .null
        }
    }
}
