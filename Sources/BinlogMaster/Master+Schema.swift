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
            // Read through the C API (ExactValues): GRDB's String would cut TEXT at a NUL and
            // replace invalid UTF-8, and the replica would get other bytes than the master holds.
            let statement = try db.makeStatement(sql: "SELECT rowid, * FROM \(quoted) ORDER BY rowid")
            let count = Int32(statement.columnCount)
            while try ExactValues.step(statement, db) {
                guard case .integer(let rowid) = ExactValues.column(statement, 0) else { continue }
                capture.recordInsert(table: table, rowid: rowid, values: (1..<count).map { ExactValues.column(statement, $0) })
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
