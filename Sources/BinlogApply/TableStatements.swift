import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// Prepared INSERT, UPDATE and DELETE statements for one table descriptor, bound and stepped
/// through the C API so TEXT keeps its exact bytes and no per-row Swift values are built.
///
/// UPDATE and DELETE match the row by rowid (or primary key) and by the logged before-image:
/// every stored column must hold the value the master's row held (`BeforeImage`), so a row
/// changed behind apply's back is a divergence, never silently overwritten (issue 12).
final class TableStatements {
    let table: TableDescriptor
    let rowidName: String
    let writable: [Int]
    private var inserts: [Int: Statement] = [:]
    /// UPDATE statements by changed-column set (bit per column, bit 63 for the rowid) and the
    /// number of values in the before-image.
    private var updates: [UpdateKey: Statement] = [:]
    private struct UpdateKey: Hashable { var columns: UInt64; var imageCount: Int }
    private var deletes: [Int: Statement] = [:]
    /// The store's DEFAULT expression of each descriptor column (nil: none), for `BeforeImage`.
    let defaults: [String?]

    init(table: TableDescriptor, db: Database) throws {
        self.table = table
        let names = Set(table.columns.map { $0.name.lowercased() })
        rowidName = ["rowid", "_rowid_", "oid"].first { !names.contains($0) } ?? "rowid"
        writable = table.columns.indices.filter { !table.columns[$0].isGenerated }
        keyClause = Self.keyClause(table, rowidName: rowidName)
        defaults = try Self.storedDefaults(of: table, db)
    }

    /// Rowid tables are always addressed and written by rowid, also when a column aliases it
    /// (SQLite accepts the same value for both), so that `INTEGER PRIMARY KEY DESC`, which is
    /// not an alias, keeps the master's rowids as well.
    private var usesRowid: Bool { !table.withoutRowid }

    /// The writable columns an image of `count` values covers (all of them, almost always).
    func columns(_ count: Int) -> [Int] { count >= table.columns.count ? writable : writable.filter { $0 < count } }

    private func quoted(_ name: String) -> String { quotedIdentifier(name) }

    func prepare(_ sql: String, _ db: Database) throws -> Statement {
        do { return try db.makeStatement(sql: sql) } catch let e as DatabaseError {
            throw ApplyError(.conflict, "cannot prepare \(sql): \(e.message ?? "\(e)")", table: table.name,
                             hint: "the store's schema differs from the master's", sqliteCode: e.extendedResultCode.rawValue)
        }
    }

    /// WHERE clause and the column indexes of `old` it binds (nil entry = the rowid); built
    /// once, as every UPDATE and DELETE binds it.
    let keyClause: (sql: String, columns: [Int?])

    private static func keyClause(_ table: TableDescriptor, rowidName: String) -> (sql: String, columns: [Int?]) {
        if table.withoutRowid {
            let pk = table.primaryKeyColumns
            return (pk.map { "\(quotedIdentifier(table.columns[$0].name)) = ?" }.joined(separator: " AND "), pk)
        }
        return ("\(rowidName) = ?", [nil])
    }

    func insert(rowid: Int64?, values: [Value], lsn: UInt64, db: Database) throws {
        let cols = columns(values.count)
        let statement: Statement
        if let s = inserts[values.count] { statement = s } else {
            var names = cols.map { quoted(table.columns[$0].name) }
            if usesRowid { names.insert(rowidName, at: 0) }
            let sql = "INSERT INTO \(quoted(table.name)) (\(names.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: names.count).joined(separator: ", ")))"
            statement = try prepare(sql, db)
            inserts[values.count] = statement
        }
        let stmt = statement.sqliteStatement
        var index: Int32 = 1
        if usesRowid { try check(sqlite3_bind_int64(stmt, index, rowid ?? 0)); index += 1 }
        for c in cols { try bind(values[c], stmt, index); index += 1 }
        try step(stmt, db, lsn: lsn, what: "INSERT", key: { self.describeKey(rowid: rowid, values: values) })
    }

    /// Sets only the columns whose value changed, and the rowid only when it changed: an
    /// UPDATE that sets the rowid (even to itself) makes SQLite delete and reinsert the row
    /// and every index entry, which was a third of a mixed workload's apply time. One
    /// statement per changed-column set, at most `maximumUpdateStatements` per table.
    func update(oldRowid: Int64?, newRowid: Int64?, old: [Value], new: [Value], lsn: UInt64, db: Database) throws {
        var cols = columns(new.count)
        var setRowid = usesRowid
        var key = UInt64.max - UInt64(new.count) // every column and the rowid (wide tables)
        if table.columns.count < 63 {
            let changed = cols.filter { $0 >= old.count || old[$0] != new[$0] }
            setRowid = usesRowid && oldRowid != newRowid
            // Nothing changed: still one column, so the row must exist (and counts as updated).
            cols = changed.isEmpty && !setRowid ? Array(cols.prefix(1)) : changed
            key = cols.reduce(setRowid ? 1 << 63 : 0) { $0 | 1 << UInt64($1) }
        }
        let statement: Statement
        let cacheKey = UpdateKey(columns: key, imageCount: old.count)
        if let s = updates[cacheKey] { statement = s } else {
            var sets = cols.map { "\(quoted(table.columns[$0].name)) = ?" }
            if setRowid { sets.append("\(rowidName) = ?") }
            let first = sets.count + keyClause.columns.count + 1
            let sql = "UPDATE \(quoted(table.name)) SET \(sets.joined(separator: ", ")) WHERE \(keyClause.sql)\(beforeImageClause(count: old.count, firstParameter: first))"
            statement = try prepare(sql, db)
            if updates.count >= Self.maximumUpdateStatements { updates.removeAll() }
            updates[cacheKey] = statement
        }
        let stmt = statement.sqliteStatement
        var index = Int32(cols.count) + 1
        if setRowid { try check(sqlite3_bind_int64(stmt, index, newRowid ?? 0)); index += 1 }
        try bindKey(stmt, &index, rowid: oldRowid, old: old, lsn: lsn)
        try bindImage(old, stmt, &index)
        for (k, c) in cols.enumerated() { try bind(new[c], stmt, Int32(k + 1)) }
        try step(stmt, db, lsn: lsn, what: "UPDATE", key: { self.describeKey(rowid: oldRowid, values: old) })
        try expectOneRow(db, lsn: lsn, what: "UPDATE", rowid: oldRowid, old: old)
    }

    static let maximumUpdateStatements = 64

    func delete(rowid: Int64?, old: [Value], lsn: UInt64, db: Database) throws {
        let statement: Statement
        if let s = deletes[old.count] { statement = s } else {
            let first = keyClause.columns.count + 1
            statement = try prepare("DELETE FROM \(quoted(table.name)) WHERE \(keyClause.sql)\(beforeImageClause(count: old.count, firstParameter: first))", db)
            deletes[old.count] = statement
        }
        let stmt = statement.sqliteStatement
        var index: Int32 = 1
        try bindKey(stmt, &index, rowid: rowid, old: old, lsn: lsn)
        try bindImage(old, stmt, &index)
        try step(stmt, db, lsn: lsn, what: "DELETE", key: { self.describeKey(rowid: rowid, values: old) })
        try expectOneRow(db, lsn: lsn, what: "DELETE", rowid: rowid, old: old)
    }

    func bindKey(_ stmt: SQLiteStatement, _ index: inout Int32, rowid: Int64?, old: [Value], lsn: UInt64) throws {
        for c in keyClause.columns {
            if let c {
                guard c < old.count else {
                    throw ApplyError(.mismatch, "row image lacks primary-key column \(table.columns[c].name)", lsn: lsn, table: table.name)
                }
                try bind(old[c], stmt, index)
            } else if let alias = table.rowidAliasColumn, rowid == nil, alias < old.count, case .integer(let v) = old[alias] {
                sqlite3_bind_int64(stmt, index, v)
            } else {
                sqlite3_bind_int64(stmt, index, rowid ?? 0)
            }
            index += 1
        }
    }

    func bind(_ value: Value, _ stmt: SQLiteStatement, _ index: Int32) throws {
        try check(ExactValues.bind(value, stmt, index))
    }

    func check(_ rc: Int32) throws {
        guard rc == SQLITE_OK else { throw ApplyError(.database, "bind failed with code \(rc)", table: table.name, sqliteCode: rc) }
    }

    private func step(_ stmt: SQLiteStatement, _ db: Database, lsn: UInt64, what: String, key: () -> String) throws {
        let rc = sqlite3_step(stmt)
        sqlite3_reset(stmt)
        if rc == SQLITE_DONE { return }
        let extended = sqlite3_extended_errcode(db.sqliteConnection)
        let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
        if extended == 1555 || extended == 2579 { // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_ROWID
            throw ApplyError(.divergence, "\(what) of a key that is already there (\(message))", lsn: lsn, table: table.name, key: key(),
                             hint: "the store has diverged from the master; rebuild it from a snapshot", sqliteCode: extended)
        }
        if rc & 0xFF == SQLITE_CONSTRAINT {
            throw ApplyError(.conflict, "\(what) violates a constraint on this store: \(message)", lsn: lsn, table: table.name, key: key(),
                             hint: "a replica-only index or constraint rejects the master's data", sqliteCode: extended)
        }
        throw ApplyError(.database, "\(what) failed: \(message)", lsn: lsn, table: table.name, key: key(), sqliteCode: extended)
    }

    /// No row matched key and before-image: says whether the row is missing or which columns
    /// differ (read only now, on the way to stopping, so the common path stays one statement).
    private func expectOneRow(_ db: Database, lsn: UInt64, what: String, rowid: Int64?, old: [Value]) throws {
        guard sqlite3_changes(db.sqliteConnection) != 1 else { return }
        let key = describeKey(rowid: rowid, values: old)
        guard let differences = try differences(rowid: rowid, old: old, lsn: lsn, db: db) else {
            throw ApplyError(.divergence, "\(what) of a row that is not there", lsn: lsn, table: table.name, key: key,
                             hint: "the store has diverged from the master; rebuild it from a snapshot")
        }
        let listed = differences.isEmpty ? "(no single column; the row differs as a whole)" : differences.joined(separator: "; ")
        throw ApplyError(.divergence, "\(what) of a row that differs from the master's before-image: \(listed)", lsn: lsn, table: table.name, key: key,
                         hint: "the row was changed on this store behind replica-apply's back, or the store has diverged from the master; rebuild it from a snapshot")
    }

    func describeKey(rowid: Int64?, values: [Value]) -> String {
        if table.withoutRowid || table.rowidAliasColumn != nil {
            let pk = table.primaryKeyColumns.filter { $0 < values.count }
            if !pk.isEmpty { return pk.map { "\(table.columns[$0].name)=\(values[$0])" }.joined(separator: ", ") }
        }
        return "rowid=\(rowid.map(String.init) ?? "?")"
    }
}

