import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Statements a replica could not reproduce from the binlog are refused before they run, by
/// what SQLite's authorizer says they do (StatementGuard), whatever their spelling: each
/// refusal is a SQL error whose message starts with "refused:", rolls back, logs nothing, and
/// leaves the master as writable as before. Issue 12, "Holes found".
final class StatementRefusalTests: XCTestCase {
    /// Runs `sql` expecting a refusal naming every string of `containing`; checks that nothing
    /// was logged and the master still takes writes.
    private func assertRefused(_ f: MasterFixture, _ sql: String, containing: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        let lsn = f.master.lastLSN
        let error = expectMasterError(.sql, containing: ["refused: "] + containing, sql, file: file, line: line) { try f.master.execute(sql) }
        XCTAssertTrue(error?.message.hasPrefix("refused: ") ?? false, "the message starts with \"refused: \": \(String(describing: error))", file: file, line: line)
        XCTAssertEqual(f.master.lastLSN, lsn, "a refused statement logs nothing: \(sql)", file: file, line: line)
        XCTAssertNoThrow(try f.master.execute("INSERT INTO probe DEFAULT VALUES"), "the master takes writes after refusing \(sql)", file: file, line: line)
    }

    private func fixture(_ label: String) throws -> MasterFixture {
        let f = try MasterFixture(label)
        try f.master.execute("CREATE TABLE probe(id INTEGER PRIMARY KEY, at TEXT DEFAULT 'x')")
        return f
    }

    /// `VACUUM main` passed the text match on "VACUUM" alone, renumbered the rowids of a table
    /// without an INTEGER PRIMARY KEY, and the next UPDATE landed on other rows on a replica.
    func testVacuumOfMainIsRefusedInEverySpellingAndVacuumIntoRuns() throws {
        let f = try fixture("refuse-vacuum")
        try f.master.execute("CREATE TABLE t(v); INSERT INTO t VALUES ('a'), ('b'), ('c'), ('d'); DELETE FROM t WHERE v IN ('a', 'c')")
        for sql in ["VACUUM main", "vacuum \"main\"", "/* x */ VACUUM [Main];", "VACUUM", "  vacuum ;"] {
            try assertRefused(f, sql, containing: ["rowid", "VACUUM INTO"])
        }
        let copy = f.dir.sub("compact.db")
        try f.master.execute("VACUUM main INTO '\(copy)'")
        XCTAssertTrue(FileManager.default.fileExists(atPath: copy), "VACUUM INTO writes a compacted copy and leaves the master alone")
        XCTAssertEqual(try f.master.read { try Int.fetchAll($0, sql: "SELECT rowid FROM t ORDER BY rowid") }, [2, 4], "no rowid was renumbered")
        try f.master.execute("UPDATE t SET v = v || '!'")
        try f.assertReplayEquals()
    }

    /// FTS3/FTS4 wrote their index rows at COMMIT, unseen by capture (MATCH found nothing on a
    /// replica); FTS5 and R*Tree failed with misleading errors. All virtual tables are refused.
    func testVirtualTablesAreRefusedWithTheirModuleNamed() throws {
        let f = try fixture("refuse-vtab")
        for (sql, module) in [("CREATE VIRTUAL TABLE docs USING fts4(body)", "fts4"), ("create virtual table d3 using FTS3(body)", "FTS3"),
                              ("CREATE VIRTUAL TABLE d5 USING fts5(body)", "fts5"), ("CREATE VIRTUAL TABLE box USING rtree(id, x0, x1)", "rtree")] {
            try assertRefused(f, sql, containing: ["CREATE VIRTUAL TABLE", module, "ordinary tables"])
        }
        XCTAssertEqual(try f.master.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%VIRTUAL%'") }, 0)
        try f.assertReplayEquals()
    }

    /// exec could write _logship_position; every later exec then failed with a misleading hint.
    /// logship's tables are readable, never writable or changeable, by any route.
    func testLogshipTablesAreNeverWritableThroughExec() throws {
        let f = try fixture("refuse-internal")
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
        for sql in ["UPDATE _logship_position SET lsn = 99", "DELETE FROM _logship_position", "INSERT INTO _LOGSHIP_POSITION(id) VALUES (2)",
                    "DROP TABLE _logship_position", "ALTER TABLE _logship_position ADD COLUMN x", "CREATE INDEX i ON _logship_position(lsn)",
                    "CREATE TRIGGER tr AFTER UPDATE ON _logship_position BEGIN SELECT 1; END", "CREATE TABLE _logship_mine(x)",
                    "ALTER TABLE t RENAME TO _Logship_t",
                    "BEGIN; INSERT INTO t VALUES (1, 'a'); UPDATE main.\"_logship_position\" SET lsn = lsn + 1; COMMIT;"] {
            try assertRefused(f, sql, containing: ["_logship", "logship's own table"])
        }
        // A trigger may be created on a user table; the write it would make is refused when
        // SQLite compiles it into the statement that fires it.
        try f.master.execute("CREATE TRIGGER sneaky AFTER INSERT ON t BEGIN UPDATE _logship_position SET lsn = 0; END")
        try assertRefused(f, "INSERT INTO t VALUES (2, 'b')", containing: ["_logship_position"])
        XCTAssertEqual(try f.master.read { try Int.fetchOne($0, sql: "SELECT lsn FROM _logship_position") }.map(UInt64.init), f.master.lastLSN)
        try f.master.execute("DROP TRIGGER sneaky; INSERT INTO t VALUES (3, 'c')")
        try f.assertReplayEquals()
    }

    /// `UPDATE sqlite_sequence` was not logged: a replica, and a master promoted from it,
    /// handed out the same AUTOINCREMENT ids again. SQLite's own upkeep of it stays allowed.
    func testSqliteSequenceIsNotWritableButItsUpkeepIs() throws {
        let f = try fixture("refuse-sequence")
        try f.master.execute("CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, v); INSERT INTO a(v) VALUES ('x'), ('y'); DELETE FROM a")
        for sql in ["UPDATE sqlite_sequence SET seq = 1000 WHERE name = 'a'", "DELETE FROM sqlite_sequence", "INSERT INTO sqlite_sequence VALUES ('b', 5)"] {
            try assertRefused(f, sql, containing: ["sqlite_sequence", "AUTOINCREMENT"])
        }
        try f.master.execute("INSERT INTO a(id, v) VALUES (1000, 'skip'); DELETE FROM a WHERE id = 1000; INSERT INTO a(v) VALUES ('next')")
        XCTAssertEqual(try f.master.read { try Int.fetchOne($0, sql: "SELECT id FROM a") }, 1001)
        try f.master.execute("ALTER TABLE a RENAME TO a2; CREATE TABLE gone(id INTEGER PRIMARY KEY AUTOINCREMENT); INSERT INTO gone DEFAULT VALUES; DROP TABLE gone")
        try f.assertReplayEquals()
        let replica = f.dir.sub("replica.db")
        try BinlogReplay.replay(binlogPath: f.binlogPath, into: replica)
        let sequence = { (path: String) in try DatabaseQueue(path: path).read { try Row.fetchAll($0, sql: "SELECT name, seq FROM sqlite_sequence ORDER BY name").map(\.description) } }
        XCTAssertEqual(try sequence(f.databasePath), ["[name:\"a2\" seq:1001]"])
        XCTAssertEqual(try sequence(replica), try sequence(f.databasePath), "a replica hands out the same AUTOINCREMENT ids next")
    }

    /// `PRAGMA legacy_alter_table = ON` then RENAME left other view text on the replica.
    /// Pragmas may be read; only settings that change neither rows, schema text nor
    /// durability may be made.
    func testPragmasThatChangeWhatAReplicaHoldsAreRefused() throws {
        let f = try fixture("refuse-pragma")
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v); CREATE VIEW tv AS SELECT v FROM t")
        for (sql, name) in [("PRAGMA legacy_alter_table = ON", "legacy_alter_table"), ("pragma main.legacy_alter_table=1", "legacy_alter_table"),
                            ("PRAGMA writable_schema = 1", "writable_schema"), ("PRAGMA journal_mode = DELETE", "journal_mode"),
                            ("PRAGMA synchronous = OFF", "synchronous"), ("PRAGMA ignore_check_constraints = ON", "ignore_check_constraints"),
                            ("PRAGMA schema_version = 7", "schema_version"), ("PRAGMA locking_mode = EXCLUSIVE", "locking_mode")] {
            try assertRefused(f, sql, containing: ["PRAGMA \(name)"])
        }
        for sql in ["PRAGMA legacy_alter_table = OFF", "PRAGMA legacy_alter_table", "PRAGMA journal_mode", "PRAGMA journal_mode = WAL",
                    "PRAGMA user_version = 3", "PRAGMA foreign_keys = ON", "PRAGMA table_info(t)", "PRAGMA integrity_check", "PRAGMA cache_size = -4000",
                    "PRAGMA synchronous = FULL", "PRAGMA synchronous = NORMAL", "PRAGMA schema_version", "PRAGMA incremental_vacuum(10)"] {
            XCTAssertNoThrow(try f.master.execute(sql), sql)
        }
        try f.master.execute("ALTER TABLE t RENAME TO t2; INSERT INTO t2 VALUES (1, 'a')")
        try f.assertReplayEquals()
    }

    /// `load` prepares its INSERT under the same guard.
    func testLoadCannotWriteInternalTables() throws {
        let f = try fixture("refuse-load")
        let path = f.dir.sub("rows.jsonl")
        try writeFile(path, "{\"id\": 2, \"lsn\": 99}\n")
        var source = try JSONLinesRowSource(path: path)
        expectMasterError(.sql, containing: ["refused: ", "_logship_position"]) { try f.master.load(table: "_logship_position", from: &source) }
        XCTAssertEqual(try f.master.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM _logship_position") }, 1)
    }
}
