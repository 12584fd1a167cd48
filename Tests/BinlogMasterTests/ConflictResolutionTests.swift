import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// ON CONFLICT resolution (OR FAIL, OR IGNORE, OR ABORT, OR ROLLBACK, OR REPLACE; a
/// constraint's own ON CONFLICT; RAISE in triggers) keeps on the master exactly the rows plain
/// SQLite keeps when it runs the same statements in autocommit mode and stops at the first
/// error (`sqlite3 -bail`), and the binlog holds exactly those rows. Before issue 12 the
/// master rolled back the rows INSERT OR FAIL keeps.
final class ConflictResolutionTests: XCTestCase {
    private let schema = """
        CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE);
        CREATE TABLE f(id INTEGER PRIMARY KEY, v TEXT UNIQUE ON CONFLICT FAIL);
        CREATE TABLE u(id INTEGER PRIMARY KEY, k INTEGER UNIQUE);
        CREATE TABLE log(id INTEGER PRIMARY KEY, what TEXT);
        CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log(what) VALUES ('t ' || new.v); END;
        CREATE TRIGGER t_raise BEFORE INSERT ON t WHEN new.v LIKE 'raise-%'
          BEGIN SELECT CASE new.v WHEN 'raise-fail' THEN RAISE(FAIL, 'no') WHEN 'raise-abort' THEN RAISE(ABORT, 'no')
                               WHEN 'raise-rollback' THEN RAISE(ROLLBACK, 'no') ELSE RAISE(IGNORE) END; END;
        INSERT INTO t VALUES (1, 'one');
        INSERT INTO f VALUES (1, 'one');
        INSERT INTO u VALUES (1, 10), (2, 20), (3, 21), (4, 30);
        """

    /// Each runs alone in autocommit mode, on the master and on plain SQLite.
    private let statements = [
        "INSERT OR FAIL INTO t(id, v) VALUES (10, 'a'), (11, 'b'), (12, 'one'), (13, 'c')",
        "INSERT OR ABORT INTO t(id, v) VALUES (20, 'd'), (21, 'one'), (22, 'e')",
        "INSERT INTO t(id, v) VALUES (25, 'd2'), (26, 'one')",
        "INSERT OR ROLLBACK INTO t(id, v) VALUES (30, 'f'), (31, 'one')",
        "INSERT OR IGNORE INTO t(id, v) VALUES (40, 'g'), (41, 'one'), (42, 'h')",
        "INSERT OR REPLACE INTO t(id, v) VALUES (50, 'i'), (51, 'one')",
        "INSERT INTO f(id, v) VALUES (2, 'x'), (3, 'y'), (4, 'one'), (5, 'z')",
        "UPDATE OR FAIL u SET k = k + 1",
        "UPDATE OR ABORT u SET k = k + 9 WHERE id > 1",
        "UPDATE OR IGNORE u SET k = 3",
        "INSERT INTO t(id, v) VALUES (60, 'j'), (61, 'raise-fail'), (62, 'k')",
        "INSERT INTO t(id, v) VALUES (70, 'l'), (71, 'raise-abort'), (72, 'm')",
        "INSERT INTO t(id, v) VALUES (80, 'n'), (81, 'raise-rollback'), (82, 'o')",
        "INSERT INTO t(id, v) VALUES (90, 'p'), (91, 'raise-ignore'), (92, 'q')",
        "INSERT OR FAIL INTO t(id, v) SELECT 100 + id, 'u' || k FROM u UNION ALL SELECT 199, 'one'",
    ]

    private func contents(_ db: Database) throws -> [String] {
        try ["t", "f", "u", "log"].flatMap { table in
            try Row.fetchAll(db, sql: "SELECT '\(table)' AS tbl, * FROM \(table) ORDER BY rowid").map(\.description)
        }
    }

    func testConflictResolutionKeepsWhatPlainSQLiteKeepsAndLogsExactlyThat() throws {
        let fixture = try MasterFixture("conflict-resolution")
        let m = fixture.master
        let plain = try DatabaseQueue(path: fixture.dir.sub("plain.db"))
        try m.execute(schema)
        try plain.writeWithoutTransaction { try $0.execute(sql: schema) }
        for sql in statements {
            var plainError: String?
            try plain.writeWithoutTransaction { db in
                do { try db.execute(sql: sql) } catch let e as DatabaseError { plainError = e.message }
            }
            var committed: [Master.CommitInfo] = []
            var masterError: MasterError?
            do { try m.execute(sql, onCommit: { committed.append($0) }) } catch let e as MasterError { masterError = e }
            XCTAssertEqual(masterError != nil, plainError != nil, "\(sql): master \(String(describing: masterError)), plain SQLite \(String(describing: plainError))")
            if let plainError { XCTAssertTrue(masterError?.message.contains(plainError) ?? false, "\(sql): \(String(describing: masterError))") }
            XCTAssertEqual(try m.read(contents), try plain.read(contents), "the master keeps what plain SQLite keeps after: \(sql)")
            XCTAssertLessThanOrEqual(committed.count, 1, sql)
            try fixture.assertReplayEquals(sql)
        }
    }

    /// INSERT OR FAIL in autocommit mode: the rows before the conflict are committed with an
    /// LSN, reported, and named in the error.
    func testRowsKeptByOrFailAreCommittedAndReported() throws {
        let f = try MasterFixture("conflict-or-fail")
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE); INSERT INTO t VALUES (1, 'one')")
        var committed: [Master.CommitInfo] = []
        let error = expectMasterError(.sql, containing: ["UNIQUE constraint failed: t.v", "committed at LSN 3"]) {
            try f.master.execute("INSERT OR FAIL INTO t VALUES (2, 'two'), (3, 'three'), (4, 'one'); INSERT INTO t VALUES (9, 'never')",
                                 onCommit: { committed.append($0) })
        }
        XCTAssertNotNil(error)
        XCTAssertEqual(committed.map(\.lsn), [3])
        XCTAssertEqual(committed.first?.events, 2)
        XCTAssertEqual(try f.master.read { try Int.fetchAll($0, sql: "SELECT id FROM t ORDER BY id") }, [1, 2, 3], "the statements after it did not run")
        try f.assertReplayEquals()
    }

    /// Inside BEGIN … COMMIT the first failing statement rolls the whole transaction back, OR
    /// FAIL included (plain SQLite would keep the transaction open; `sqlite3 -bail` rolls it
    /// back as the master does). Documented in docs/ARCHITECTURE.md.
    func testOrFailInsideATransactionRollsTheTransactionBack() throws {
        let f = try MasterFixture("conflict-in-transaction")
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE); INSERT INTO t VALUES (1, 'one')")
        expectMasterError(.sql, containing: ["UNIQUE constraint failed"]) {
            try f.master.execute("BEGIN; INSERT INTO t VALUES (5, 'five'); INSERT OR FAIL INTO t VALUES (2, 'two'), (3, 'one'); COMMIT;")
        }
        XCTAssertEqual(f.master.lastLSN, 2)
        XCTAssertEqual(try f.master.read { try Int.fetchAll($0, sql: "SELECT id FROM t") }, [1])
        try f.assertReplayEquals()
    }

    /// The one documented difference (docs/ARCHITECTURE.md): when FAIL stops a statement at its
    /// first row, SQLite keeps what a BEFORE trigger wrote for that row; the master cannot tell
    /// this from ABORT (sqlite3_changes() is 0 either way) and rolls it back. Master and binlog
    /// still agree.
    func testFailAtTheFirstRowRollsBackWhatBeforeTriggersWrote() throws {
        let f = try MasterFixture("conflict-first-row")
        try f.master.execute("""
            CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE); CREATE TABLE log(what TEXT);
            CREATE TRIGGER before_t BEFORE INSERT ON t BEGIN INSERT INTO log VALUES (new.v); END;
            INSERT INTO t VALUES (1, 'one');
            """)
        let lsn = f.master.lastLSN
        expectMasterError(.sql, containing: ["UNIQUE constraint failed"]) { try f.master.execute("INSERT OR FAIL INTO t VALUES (2, 'one'), (3, 'three')") }
        XCTAssertEqual(f.master.lastLSN, lsn)
        XCTAssertEqual(try f.master.read { try String.fetchAll($0, sql: "SELECT what FROM log") }, ["one"], "plain SQLite would also keep a second 'one'")
        try f.assertReplayEquals()
    }
}
