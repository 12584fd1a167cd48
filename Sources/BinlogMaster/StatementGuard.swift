import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// The master's SQLite authorizer (CSQLiteHooks/guard.c): while one of the user's statements
/// is prepared it records what the statement will do (its StatementKind) and refuses what a
/// replica could not reproduce from the binlog: virtual tables, writes to logship's own tables
/// or to sqlite_sequence, and pragmas that change what a replica would hold. The decision is
/// SQLite's own account of the statement, so no spelling, comment or schema name slips past.
///
/// It replaces GRDB's authorizer on the master's connection (SQLite has one per connection):
/// the statement loop clears GRDB's schema cache after DDL itself, and the master registers
/// no transaction observer, the other user of GRDB's authorizer.
///
/// Not Sendable: it lives on the master's one connection, like ChangeCapture.
final class StatementGuard {
    /// Written by the authorizer during each prepare; read right after it.
    let facts: UnsafeMutablePointer<lsh_statement_facts>

    init() {
        facts = .allocate(capacity: 1)
        facts.initialize(to: lsh_statement_facts())
    }

    deinit { facts.deallocate() }

    func install(on db: Database) throws {
        let rc = lsh_guard_install(db.sqliteConnection, facts)
        guard rc == SQLITE_OK else { throw MasterError(.io, "unable to install the statement guard: \(String(cString: sqlite3_errstr(rc)))") }
    }

    func uninstall(from db: Database) {
        _ = lsh_guard_install(db.sqliteConnection, nil)
    }

    /// Prepares one of the user's statements under the guard (`prepare` compiles it) and
    /// returns it with its kind; nil at the end of the text. A refused statement throws its
    /// refusal and never runs.
    func prepare(_ db: Database, _ prepare: () throws -> Statement?) throws -> (Statement, StatementKind)? {
        lsh_guard_reset(facts, 1)
        let statement: Statement?
        do {
            defer { facts.pointee.enforcing = 0 }
            statement = try prepare()
        } catch {
            throw refusal() ?? error
        }
        guard let statement else { return nil }
        return (statement, try StatementKind.of(statement, facts: facts.pointee, db))
    }

    /// The refusal the authorizer recorded during the last prepare, if any.
    private func refusal() -> MasterError? {
        let f = facts.pointee
        let name = Self.string(f.name)
        let detail = Self.string(f.detail)
        switch Int(f.refusal) {
        case Int(LSH_REFUSED_VIRTUAL_TABLE):
            return MasterError(.sql, "refused: CREATE VIRTUAL TABLE \(name) USING \(detail): the rows of a virtual table (FTS3, FTS4, FTS5, R*Tree or any other module) are kept by the module in its own tables, outside what the binlog captures, so a replica would not get them",
                               hint: "the master replicates ordinary tables (rowid and WITHOUT ROWID, generated columns included) with their indexes, views and triggers; build full-text or spatial indexes on a replica's copy instead. Nothing was run or logged")
        case Int(LSH_REFUSED_INTERNAL_TABLE):
            return Self.internalTableRefusal(name)
        case Int(LSH_REFUSED_SEQUENCE):
            return MasterError(.sql, "refused: writing sqlite_sequence directly: such writes are not logged, so a replica, and a master promoted from it, would hand out AUTOINCREMENT ids again",
                               hint: "to make AUTOINCREMENT skip ahead, insert a row with the id wanted and delete it (both are logged). Nothing was run or logged")
        case Int(LSH_REFUSED_PRAGMA):
            return MasterError(.sql, "refused: PRAGMA \(name) = \(detail): \(Self.pragmaReason(name))",
                               hint: "a master allows reading every pragma and setting those that change neither rows, schema text nor durability (foreign_keys, defer_foreign_keys, recursive_triggers, user_version, cache_size, busy_timeout, incremental_vacuum, …; docs/ARCHITECTURE.md). Nothing was run or logged")
        default:
            return nil
        }
    }

    private static func pragmaReason(_ name: String) -> String {
        switch name.lowercased() {
        case "legacy_alter_table": return "ALTER TABLE … RENAME would then leave views and triggers with other text than a replica's, which runs the logged statement without it"
        case "writable_schema": return "edits of sqlite_schema are not logged, so a replica's schema would differ"
        case "journal_mode": return "the master runs in WAL mode; its crash recovery relies on it"
        case "synchronous": return "with synchronous = OFF a power loss can corrupt the database the binlog is redone into"
        case "ignore_check_constraints": return "rows violating a CHECK constraint could not be applied on a replica"
        default: return "it is not known to be safe on a master: it could change what a replica holds or how the master stays consistent with its binlog"
        }
    }

    /// A write to, or a schema change of, one of logship's own tables (or a table renamed into
    /// their reserved prefix, found after the fact by the statement loop).
    static func internalTableRefusal(_ name: String) -> MasterError {
        MasterError(.sql, "refused: \(name) is logship's own table (the prefix _logship is reserved); statements may read it but never write, alter, index or drop it",
                    hint: "the master keeps its position there itself, in the same transaction as each commit. Nothing was run or logged")
    }

    /// VACUUM of the main database: refused (StatementKind.of finds it by its opcode).
    static func vacuumRefusal(_ sql: String) -> MasterError {
        MasterError(.sql, "refused: \(sql.count > 80 ? String(sql.prefix(80)) + "…" : sql): VACUUM renumbers the rowids of tables without an INTEGER PRIMARY KEY, and replicas address rows by rowid",
                    hint: "use VACUUM INTO 'file' for a compacted copy, or PRAGMA incremental_vacuum (with auto_vacuum = INCREMENTAL) to return free pages. Nothing was run or logged")
    }

    private static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}
