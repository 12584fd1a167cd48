import BinlogApply
import BinlogFormat
import Foundation
import GRDB

extension Master {
    /// Logs a schema change. A table created with rows in the same statement (CREATE TABLE …
    /// AS SELECT, whose inserts SQLite does not pass to the pre-update hook) is logged as its
    /// plain definition from sqlite_schema followed by INSERT events for the rows it got, so a
    /// replica never re-runs the SELECT (which may read random() or other tables).
    func recordDDL(_ sql: String, creates: Bool, tablesBefore: [String: String], _ db: Database) throws {
        try reloadDescriptors(db)
        // Only CREATE can fill a new table; ALTER TABLE … RENAME makes a "new" name with old rows.
        let created = creates ? try userTables(db).filter { tablesBefore[$0.key] == nil } : [:]
        var filled: [(String, String)] = []
        for (name, definition) in created.sorted(by: { $0.key < $1.key }) where try hasRows(name, db) {
            filled.append((name, definition))
        }
        guard !filled.isEmpty else {
            capture.recordDDL(sql)
            return
        }
        for (name, definition) in filled {
            capture.recordDDL(definition)
            guard let table = capture.descriptors[name] else { continue }
            let quoted = quotedIdentifier(name)
            let rows = try Row.fetchCursor(db, sql: "SELECT rowid, * FROM \(quoted) ORDER BY rowid")
            while let row = try rows.next() {
                let all = Array(row.databaseValues)
                capture.recordInsert(table: table, rowid: row[0], values: all.dropFirst().map(ChangeCapture.value))
            }
        }
    }

    func userTables(_ db: Database) throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'") {
            result[row[0]] = row[1]
        }
        return result
    }

    private func hasRows(_ table: String, _ db: Database) throws -> Bool {
        let quoted = quotedIdentifier(table)
        return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(quoted))") ?? false
    }

    func schemaVersion(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "PRAGMA main.schema_version") ?? 0
    }
}
