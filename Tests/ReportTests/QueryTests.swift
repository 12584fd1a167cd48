import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// `report query`: one read-only statement, named parameters bound as values, every write
/// refused with a clear error and the store file left as it was.
final class QueryTests: XCTestCase {
    private struct FileState: Equatable {
        var bytes: Data
        var modified: Date
        var siblings: [String]
    }

    private func state(_ path: String) throws -> FileState {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let dir = (path as NSString).deletingLastPathComponent
        return FileState(bytes: try Data(contentsOf: URL(fileURLWithPath: path)), modified: attributes[.modificationDate] as! Date,
                         siblings: try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix("out-") }.sorted())
    }

    private func query(_ store: String, _ sql: String, _ parameters: [String: DatabaseValue] = [:], in dir: TestDirectory) throws -> [[String: Any]] {
        let text = try Render.query(store, sql, parameters, .json, in: dir)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        return ((object["sections"] as! [[String: Any]])[0]["rows"] as? [[String: Any]]) ?? []
    }

    /// Each attempt to write is refused before it runs, with a message that says why; the
    /// store's bytes, modification time and directory listing are unchanged afterwards.
    func testWritesAreRefusedAndTheStoreIsUnchanged() throws {
        let dir = TestDirectory("query")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        try FileManager.default.createDirectory(atPath: dir.sub("other"), withIntermediateDirectories: true)
        let other = try FixtureStore.create(at: dir.sub("other/other.db"))
        let before = try state(store)
        let attempts = [
            "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-01', 'x', 'x', 1, 'EUR')",
            "UPDATE expenses SET amount_cents = 0",
            "DELETE FROM expenses",
            "WITH x AS (SELECT 1) DELETE FROM expenses",
            "REPLACE INTO expenses (id, spent_at, category, merchant, amount_cents, currency) VALUES (1, 'x', 'x', 'x', 1, 'x')",
            "CREATE TABLE t (x)",
            "CREATE TEMP TABLE t (x)",
            "CREATE INDEX i ON expenses (merchant)",
            "DROP TABLE expenses",
            "ALTER TABLE expenses ADD COLUMN y",
            "ATTACH '\(other)' AS o",
            "ATTACH '\(dir.sub("new.db"))' AS o",
            "DETACH main",
            "PRAGMA user_version = 5",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA query_only = OFF",
            "PRAGMA writable_schema = ON",
            "PRAGMA foreign_keys = OFF",
            "PRAGMA wal_checkpoint(TRUNCATE)",
            "PRAGMA optimize",
            "VACUUM",
            "VACUUM INTO '\(dir.sub("copy.db"))'",
            "REINDEX",
            "ANALYZE",
            "BEGIN IMMEDIATE",
            "SAVEPOINT s",
            "COMMIT",
        ]
        for sql in attempts {
            XCTAssertThrowsError(try Render.query(store, sql, [:], .csv, in: dir), sql) { error in
                let e = error as? ReportError
                XCTAssertEqual(e?.kind, .refused, "\(sql): \(error)")
                XCTAssertTrue(e?.message.contains("read-only") ?? false, "\(sql): \(error)")
            }
        }
        XCTAssertEqual(try state(store), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("new.db")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("copy.db")))
        // Reads of every kind still run.
        XCTAssertEqual(try query(store, "SELECT count(*) AS n FROM expenses", in: dir).first?["n"] as? Int, 12)
        XCTAssertEqual(try query(store, "WITH c AS (SELECT 2 AS x) SELECT x FROM c", in: dir).first?["x"] as? Int, 2)
        XCTAssertEqual(try query(store, "VALUES (1, 'a')", in: dir).count, 1)
        XCTAssertEqual(try query(store, "  -- a comment first\n/* and another */ SELECT 3 AS x;", in: dir).first?["x"] as? Int, 3)
        XCTAssertEqual(try query(store, "SELECT name FROM pragma_table_info('expenses') ORDER BY cid", in: dir).count, 7)
        XCTAssertFalse(try query(store, "EXPLAIN QUERY PLAN SELECT * FROM expenses WHERE spent_at > '2024'", in: dir).isEmpty)
        XCTAssertEqual(try state(store), before)
    }

    /// A PRAGMA that only reads is refused too, with the table-valued form as the way out
    /// (SQLite offers those only for pragmas without side effects).
    func testPragmaReadsPointToTheirTableValuedForm() throws {
        let dir = TestDirectory("query")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        XCTAssertThrowsError(try Render.query(store, "PRAGMA table_info(expenses)", [:], .csv, in: dir)) { error in
            XCTAssertTrue((error as? ReportError)?.hint?.contains("pragma_table_info") ?? false, "\(error)")
        }
    }

    func testOneStatementOnly() throws {
        let dir = TestDirectory("query")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        XCTAssertThrowsError(try Render.query(store, "SELECT 1; DELETE FROM expenses", [:], .csv, in: dir)) { error in
            XCTAssertTrue("\(error)".contains("one statement"), "\(error)")
        }
        for empty in ["", "  ", "-- nothing"] {
            XCTAssertThrowsError(try Render.query(store, empty, [:], .csv, in: dir)) { error in
                XCTAssertTrue("\(error)".contains("no SQL statement"), "\(error)")
            }
        }
        XCTAssertThrowsError(try Render.query(store, "SELEKT 1", [:], .csv, in: dir)) { error in
            XCTAssertEqual((error as? ReportError)?.kind, .sql, "\(error)")
            XCTAssertTrue("\(error)".contains("SELEKT"), "\(error)")
        }
    }

    /// Values are bound, never spliced: an injection attempt stays a value.
    func testParametersAreBoundAsValues() throws {
        let dir = TestDirectory("query")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        let before = try state(store)
        for attack in ["x' OR '1'='1", "'; DROP TABLE expenses; --", "Edeka' --", "\" OR 1=1 --"] {
            let rows = try query(store, "SELECT count(*) AS n, :m AS echoed FROM expenses WHERE merchant = :m", ["m": attack.databaseValue], in: dir)
            XCTAssertEqual(rows.first?["n"] as? Int, 0, attack)
            XCTAssertEqual(rows.first?["echoed"] as? String, attack)
        }
        XCTAssertEqual(try query(store, "SELECT count(*) AS n FROM expenses WHERE merchant = :m", ["m": "Edeka".databaseValue], in: dir).first?["n"] as? Int, 3)
        // $name and @name forms bind from the same --param.
        let forms = try query(store, "SELECT :a AS c, $a AS d, @a AS e", ["a": 7.databaseValue], in: dir)
        XCTAssertEqual([forms[0]["c"], forms[0]["d"], forms[0]["e"]].map { $0 as? Int }, [7, 7, 7])
        XCTAssertEqual(try state(store), before)
    }

    func testMissingExtraAndPositionalParametersAreErrors() throws {
        let dir = TestDirectory("query")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        XCTAssertThrowsError(try Render.query(store, "SELECT :a, :b", ["a": 1.databaseValue], .csv, in: dir)) { error in
            XCTAssertTrue("\(error)".contains(":b") && "\(error)".contains("--param b="), "\(error)")
        }
        XCTAssertThrowsError(try Render.query(store, "SELECT :a", ["a": 1.databaseValue, "zz": 2.databaseValue], .csv, in: dir)) { error in
            XCTAssertTrue("\(error)".contains("--param zz is not used"), "\(error)")
        }
        XCTAssertThrowsError(try Render.query(store, "SELECT 1", ["zz": 2.databaseValue], .csv, in: dir)) { error in
            XCTAssertTrue("\(error)".contains("--param zz is not used"), "\(error)")
        }
        for positional in ["SELECT * FROM expenses WHERE id = ?", "SELECT ?1", "SELECT :a, ?"] {
            XCTAssertThrowsError(try Render.query(store, positional, ["a": 1.databaseValue], .csv, in: dir), positional) { error in
                XCTAssertEqual((error as? ReportError)?.kind, .invalid, "\(error)")
                XCTAssertTrue("\(error)".contains("positional"), "\(error)")
            }
        }
    }

    /// How `--param name=value` text becomes a value.
    func testParameterValueTyping() {
        XCTAssertEqual(CustomQuery.parameterValue("42"), 42.databaseValue)
        XCTAssertEqual(CustomQuery.parameterValue("-7"), (-7).databaseValue)
        XCTAssertEqual(CustomQuery.parameterValue("4.5"), 4.5.databaseValue)
        XCTAssertEqual(CustomQuery.parameterValue("'42'"), "42".databaseValue, "quotes force text")
        XCTAssertEqual(CustomQuery.parameterValue("Edeka"), "Edeka".databaseValue)
        XCTAssertEqual(CustomQuery.parameterValue(""), "".databaseValue)
        // Text that only looks like a number keeps its spelling: a code with leading zeros
        // compared with a TEXT column must not become 7.
        XCTAssertEqual(CustomQuery.parameterValue("007"), "007".databaseValue)
        XCTAssertEqual(CustomQuery.parameterValue("+5"), "+5".databaseValue)
        XCTAssertEqual(CustomQuery.parameterValue("2024-01-01"), "2024-01-01".databaseValue)
    }

    /// Rows stream from SQLite to the writer: nothing holds the whole result (the memory
    /// bound itself is measured on the built tool in ReportCommandTests).
    func testLargeResultStreamsInOrder() throws {
        let dir = TestDirectory("query")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: "CREATE TABLE t (n INTEGER PRIMARY KEY)")
        let queue = try DatabaseQueue(path: store)
        try queue.write { db in
            try db.execute(sql: "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5000) INSERT INTO t SELECT n FROM c")
        }
        try queue.close()
        let text = try Render.query(store, "SELECT n FROM t ORDER BY n", [:], .table, in: dir)
        let numbers = text.components(separatedBy: "\n").dropFirst(6).filter { !$0.isEmpty }.map { Int($0.trimmingCharacters(in: .whitespaces)) }
        XCTAssertEqual(numbers, (1...5000).map { $0 }, "rows after the first 1,000 keep the widths measured on those")
    }
}
