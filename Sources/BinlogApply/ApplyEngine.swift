import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// The one apply engine (STYLE.md): replays binlog transactions into a SQLite database, for
/// the master's crash recovery and for every replica, so the two can never drift apart.
///
/// Rows are addressed by rowid (or by primary key in WITHOUT ROWID tables), so a replica keeps
/// the master's rowids; an UPDATE or DELETE also requires the row to hold the logged
/// before-image (TableStatements+BeforeImage.swift), so a row that differs is a divergence. Triggers are disabled on the connection and foreign keys must be off:
/// the binlog already holds every row a trigger or a cascade changed on the master, and
/// firing them again would apply those changes twice.
public final class ApplyEngine {
    private var statements: [String: TableStatements] = [:]
    /// When true (the default), a transaction's digest marker is checked against the rows
    /// after its events and recorded in `_logship_verified` (DigestVerification.swift).
    public var checksDigestMarkers = true

    public init() {}

    /// Prepares a connection for applying: triggers off (SQLITE_DBCONFIG_ENABLE_TRIGGER).
    /// Foreign keys are a per-connection pragma that must be off outside a transaction;
    /// open the database with `Configuration.foreignKeysEnabled = false`.
    public static func prepareConnection(_ db: Database) throws {
        guard lsh_enable_triggers(db.sqliteConnection, 0) == 0 else {
            throw ApplyError(.database, "unable to disable triggers on the apply connection")
        }
    }

    /// Runs `body` on a connection that also serves other writers (the master's, in crash
    /// recovery) with it prepared for applying as `prepareConnection` does, foreign keys off
    /// too, then turns triggers back on and foreign keys back to what they were.
    public static func withPreparedConnection<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        let foreignKeys = try Bool.fetchOne(db, sql: "PRAGMA foreign_keys") ?? false
        if foreignKeys { try db.execute(sql: "PRAGMA foreign_keys = OFF") }
        try prepareConnection(db)
        let result = Result { try body() }
        let triggersBack = lsh_enable_triggers(db.sqliteConnection, 1) == 1
        if foreignKeys { try db.execute(sql: "PRAGMA foreign_keys = ON") }
        guard triggersBack else {
            throw ApplyError(.database, "unable to turn triggers back on after applying",
                             hint: "close and reopen the database: triggers are on in every new connection")
        }
        return try result.get()
    }

    /// Applies every event of `transaction` inside the caller's open SQLite transaction.
    /// Throws `ApplyError` at the first event that does not fit; the caller rolls back.
    public func apply(_ transaction: Transaction, in db: Database) throws {
        for event in transaction.events {
            switch event {
            case .ddl(let sql):
                do {
                    try db.execute(sql: sql)
                } catch let e as DatabaseError {
                    throw ApplyError(.conflict, "DDL failed: \(e.message ?? "\(e)"): \(sql)", lsn: transaction.lsn,
                                     hint: "a replica-only object may clash with the master's schema change", sqliteCode: e.extendedResultCode.rawValue)
                }
                statements.removeAll()
            case .insert(let table, let rowid, let values):
                let s = try statements(for: table, db)
                try s.insert(rowid: rowid, values: values, lsn: transaction.lsn, db: db)
            case .update(let table, let oldRowid, let newRowid, let old, let new):
                let s = try statements(for: table, db)
                try s.update(oldRowid: oldRowid, newRowid: newRowid, old: old, new: new, lsn: transaction.lsn, db: db)
            case .delete(let table, let rowid, let old):
                let s = try statements(for: table, db)
                try s.delete(rowid: rowid, old: old, lsn: transaction.lsn, db: db)
            }
        }
        if checksDigestMarkers, let marker = transaction.digest {
            try marker.verify(db, lsn: transaction.lsn, commitTime: transaction.commitTime)
        }
    }

    /// Drops prepared statements (call before closing the database).
    public func reset() { statements.removeAll() }

    private func statements(for table: TableDescriptor, _ db: Database) throws -> TableStatements {
        if let s = statements[table.name], s.table == table { return s }
        let s = try TableStatements(table: table, db: db)
        statements[table.name] = s
        return s
    }
}
