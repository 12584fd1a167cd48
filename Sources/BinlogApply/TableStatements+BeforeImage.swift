import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// The before-image check (issue 12, like MySQL's row-based apply with full row images): an
/// UPDATE or DELETE matches its row by rowid or key *and* by every stored column the logged
/// before-image covers, so a row whose values differ from the master's is not touched and the
/// apply stops with a divergence naming the columns.
///
/// Each column is compared with SQLite's own equality, `"c" IS ?n COLLATE BINARY` (TEXT byte by
/// byte whatever the column's collation, NULL equal to NULL). That equality treats an INTEGER and
/// a REAL of the same value as equal, which makes a quirk of SQLite 3.40's pre-update hook
/// harmless: it logs integral REALs of a REAL-affinity column as INTEGERs on insert, and SQLite
/// stores both as the same REAL. Every affinity but BLOB (none) stores one number one way; in a
/// column without affinity the storage class is compared too (`typeof`), so INTEGER 1 and REAL 1.0
/// differ there. 0.0 and -0.0 are equal to SQLite and to this check.
///
/// The third quirk: for a column added by `ALTER TABLE … ADD COLUMN … DEFAULT d`, a row stored
/// before the ALTER holds no value for it (SQLite reads `d`), and the hook logs NULL. A logged
/// NULL in a column with a default therefore matches a stored NULL or the stored default (`d` as
/// SQLite reads it, the expression evaluated with the column's affinity). That is exactly the
/// set of stored values the logged NULL can stand for; a divergence between those two values in
/// such a column is the one this check cannot see. Generated columns are not compared: the
/// replica computes them from the compared ones.
extension TableStatements {
    /// The store's DEFAULT expression of each descriptor column (nil when it has none or its
    /// default is NULL), by column name.
    static func storedDefaults(of table: TableDescriptor, _ db: Database) throws -> [String?] {
        var byName: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, dflt_value FROM pragma_table_xinfo(?) WHERE hidden = 0", arguments: [table.name]) {
            guard let name = row[0] as String?, let value = row[1] as String? else { continue }
            if value.trimmingCharacters(in: .whitespaces).uppercased() == "NULL" { continue }
            byName[name.lowercased()] = value
        }
        return table.columns.map { $0.isGenerated ? nil : byName[$0.name.lowercased()] }
    }

    /// ` AND "c" IS ?n COLLATE BINARY …` for every stored column an image of `count` values
    /// covers, with explicit parameter numbers from `firstParameter` (one per column, in
    /// `columns(count)` order, bound by `bindImage`).
    func beforeImageClause(count: Int, firstParameter: Int) -> String {
        columns(count).enumerated().map { k, c in " AND " + condition(c, parameter: firstParameter + k) }.joined()
    }

    /// True when column `c` holds the value of parameter `parameter` (see the type's comment).
    private func condition(_ c: Int, parameter p: Int) -> String {
        let name = quotedIdentifier(table.columns[c].name)
        // Only a column without affinity keeps INTEGER 1 and REAL 1.0 apart (every other
        // affinity stores one number one way), so only there is the storage class compared too.
        let same = Self.hasBlobAffinity(table.columns[c].declaredType)
            ? "(\(name) IS ?\(p) COLLATE BINARY AND typeof(\(name)) = typeof(?\(p)))" : "\(name) IS ?\(p) COLLATE BINARY"
        guard let d = defaults[c] else { return same }
        return "(\(same) OR (?\(p) IS NULL AND \(name) IS (\(d)) COLLATE BINARY))"
    }

    /// SQLite's affinity rules (§3.1 of its datatype documentation): BLOB (none) when the declared
    /// type is empty or holds BLOB, and none of INT, CHAR, CLOB, TEXT.
    static func hasBlobAffinity(_ declared: String) -> Bool {
        let t = declared.uppercased()
        if ["INT", "CHAR", "CLOB", "TEXT"].contains(where: t.contains) { return false }
        return t.isEmpty || t.contains("BLOB")
    }

    /// Binds the before-image's stored columns from `index` on.
    func bindImage(_ old: [Value], _ stmt: SQLiteStatement, _ index: inout Int32) throws {
        for c in columns(old.count) {
            try bind(old[c], stmt, index)
            index += 1
        }
    }

    /// Why no row matched: nil when there is no row with this rowid or key, else the columns
    /// whose stored value differs from the logged one ("balance: stored 6, logged 5"), judged
    /// by the same conditions as the UPDATE or DELETE.
    func differences(rowid: Int64?, old: [Value], lsn: UInt64, db: Database) throws -> [String]? {
        let cols = columns(old.count)
        let first = keyClause.columns.count + 1
        let matches = cols.enumerated().map { k, c in "(\(condition(c, parameter: first + k)))" }
        let shown = cols.map { quotedIdentifier(table.columns[$0].name) }
        // The key's parameters numbered too: a plain `?` after `?n` would take number n + 1.
        let key = keyClause.columns.enumerated().map { k, c in
            "\(c.map { quotedIdentifier(table.columns[$0].name) } ?? rowidName) = ?\(k + 1)"
        }.joined(separator: " AND ")
        let sql = "SELECT \((matches + shown + ["1"]).joined(separator: ", ")) FROM \(quotedIdentifier(table.name)) WHERE \(key)"
        let statement = try prepare(sql, db)
        let stmt = statement.sqliteStatement
        defer { sqlite3_reset(stmt) }
        var index: Int32 = 1
        try bindKey(stmt, &index, rowid: rowid, old: old, lsn: lsn)
        try bindImage(old, stmt, &index)
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_DONE { return nil }
        guard rc == SQLITE_ROW else {
            throw ApplyError(.database, "reading the stored row to compare it with the before-image: \(String(cString: sqlite3_errmsg(db.sqliteConnection)))",
                             lsn: lsn, table: table.name, key: describeKey(rowid: rowid, values: old), sqliteCode: sqlite3_extended_errcode(db.sqliteConnection))
        }
        var result: [String] = []
        for (k, c) in cols.enumerated() where sqlite3_column_int64(stmt, Int32(k)) == 0 {
            let stored = ExactValues.column(statement, Int32(cols.count + k))
            result.append("\(table.columns[c].name): stored \(Self.visible(stored.description)), logged \(Self.visible(old[c].description))")
        }
        return result
    }

    /// `s` with control characters (a NUL in TEXT, say) written as `\u{0}`, for messages.
    static func visible(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}
