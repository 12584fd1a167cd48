import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipSystem
import LogshipTestSupport
import XCTest

/// LSN assignment and the statement loop: what commits, what is dropped, what is refused.
final class TransactionTests: XCTestCase {
    func testExplicitTransactionGetsOneLSN() throws {
        let f = try MasterFixture("tx-one")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        var reported: [Master.CommitInfo] = []
        let commits = try m.execute("""
            BEGIN;
            INSERT INTO t VALUES (1, 'a');
            INSERT INTO t VALUES (2, 'b');
            UPDATE t SET v = 'c' WHERE id = 1;
            DELETE FROM t WHERE id = 2;
            COMMIT;
            """, onCommit: { reported.append($0) })
        XCTAssertEqual(commits.count, 1)
        XCTAssertEqual(reported, commits)
        let info = try XCTUnwrap(commits.first)
        XCTAssertEqual(info.lsn, 2)
        XCTAssertEqual(info.events, 4)
        XCTAssertEqual(m.lastLSN, 2)
        let tx = try f.transaction(2)
        XCTAssertEqual(tx.labels, ["insert t", "insert t", "update t", "delete t"])
        XCTAssertEqual(tx.commitTime, info.commitTime)
        XCTAssertEqual(m.lastCommitTime, info.commitTime)
        XCTAssertEqual(try f.transactions().map(\.lsn), [1, 2])
        try f.assertReplayEquals()
    }

    func testAutocommitStatementsEachGetTheirOwnLSN() throws {
        let f = try MasterFixture("tx-autocommit")
        let m = f.master
        let commits = try m.execute("""
            CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
            INSERT INTO t VALUES (1, 'a');
            INSERT INTO t VALUES (2, 'b'), (3, 'c');
            UPDATE t SET v = upper(v);
            DELETE FROM t WHERE id = 3;
            """)
        XCTAssertEqual(commits.map(\.lsn), [1, 2, 3, 4, 5])
        XCTAssertEqual(commits.map(\.events), [1, 1, 2, 3, 1])
        XCTAssertEqual(try f.transactions().map(\.labels), [
            ["ddl"], ["insert t"], ["insert t", "insert t"], ["update t", "update t", "update t"], ["delete t"],
        ])
        try f.assertReplayEquals()
    }

    func testLSNsHaveNoHolesAcrossManualAndSizeRotation() throws {
        var rng = suiteRandom(0x1D5E_9)
        let f = try MasterFixture("tx-rotate", options: Master.Options(segmentSize: 4096))
        var m = f.master
        XCTAssertNil(try m.rotate(), "nothing to seal yet")
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT)")
        var lsns: [UInt64] = [1]
        func write(_ count: Int) throws {
            for _ in 0..<count {
                let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.;:!?-_()[]{}<>=+*/%&$#@\"")
                let payload = String((0..<300).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
                lsns += try m.execute("INSERT INTO t(payload) VALUES ('\(payload)')").map(\.lsn)
            }
        }
        try write(10)
        let sealed = try XCTUnwrap(try m.rotate())
        XCTAssertEqual(sealed.footer.lastLSN, m.lastLSN, "seed \(rng.seed)")
        XCTAssertNil(try m.rotate(), "an empty active segment is not sealed")
        try write(40)
        m = try f.reopen(options: Master.Options(segmentSize: 4096))
        try write(15)
        let n = UInt64(lsns.count)
        XCTAssertEqual(lsns, Array(1...n), "seed \(rng.seed)")
        XCTAssertEqual(m.lastLSN, n)

        let segments = try BinlogDirectory(path: f.binlogPath).list().segments
        XCTAssertGreaterThanOrEqual(segments.count, 5, "size rotation never happened (seed \(rng.seed))")
        XCTAssertTrue(segments.dropLast().allSatisfy { !$0.name.isActive }, "only the last segment may be active")
        XCTAssertEqual(segments.map(\.name.sequence), Array(1...UInt64(segments.count)))
        var expectedFirst: UInt64 = 1
        for entry in segments {
            let reader = try SegmentReader(path: entry.path)
            XCTAssertEqual(reader.header.firstLSN, expectedFirst, "\(entry.name) (seed \(rng.seed))")
            while let tx = try reader.next(decode: false) {
                XCTAssertEqual(tx.lsn, expectedFirst, "\(entry.name) (seed \(rng.seed))")
                expectedFirst += 1
            }
        }
        XCTAssertEqual(expectedFirst, n + 1)
        let report = try BinlogDirectory(path: f.binlogPath).verify()
        XCTAssertEqual(report.outcome, .clean, "\(String(describing: report.problem))")
        XCTAssertEqual(report.firstLSN, 1)
        XCTAssertEqual(report.lastLSN, n)
        XCTAssertEqual(report.transactions, n)
        try f.assertReplayEquals("seed \(rng.seed)")
    }

    func testStatementsThatChangeNothingGetNoLSN() throws {
        let f = try MasterFixture("tx-noop")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')")
        let lsn = m.lastLSN
        let bytes = try f.binlogBytes()
        var rows: [String] = []
        let commits = try m.execute("""
            UPDATE t SET v = 'x' WHERE id = 42;
            DELETE FROM t WHERE v = 'nothing';
            INSERT INTO t SELECT * FROM t WHERE 0;
            SELECT v FROM t;
            BEGIN; SELECT count(*) FROM t; UPDATE t SET v = 'y' WHERE 0; COMMIT;
            """, onRow: { rows.append($0.description) })
        XCTAssertEqual(commits, [])
        XCTAssertEqual(rows, ["[v:\"a\"]", "[count(*):1]"])
        XCTAssertEqual(m.lastLSN, lsn)
        XCTAssertEqual(try f.binlogBytes(), bytes, "a statement that changed nothing reached the binlog")
        XCTAssertEqual(try m.execute("INSERT INTO t VALUES (2, 'b')").map(\.lsn), [lsn + 1])
    }

    func testRollbackToSavepointDropsTheRolledBackChanges() throws {
        let f = try MasterFixture("tx-savepoint")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'keep')")
        let commits = try m.execute("""
            BEGIN;
            INSERT INTO t VALUES (2, 'two');
            SAVEPOINT a;
            INSERT INTO t VALUES (3, 'dropped');
            UPDATE t SET v = 'dropped' WHERE id = 1;
            SAVEPOINT b;
            DELETE FROM t WHERE id = 2;
            ROLLBACK TO a;
            INSERT INTO t VALUES (4, 'four');
            SAVEPOINT c;
            UPDATE t SET v = 'kept' WHERE id = 4;
            RELEASE c;
            RELEASE a;
            COMMIT;
            """)
        XCTAssertEqual(commits.count, 1)
        let tx = try f.transaction(try XCTUnwrap(commits.first).lsn)
        XCTAssertEqual(tx.labels, ["insert t", "insert t", "update t"])
        XCTAssertEqual(tx.events.compactMap(\.newValues), [
            [.integer(2), .text("two")], [.integer(4), .text("four")], [.integer(4), .text("kept")],
        ])
        XCTAssertEqual(try m.read { db in try String.fetchAll(db, sql: "SELECT v FROM t ORDER BY id") }, ["keep", "two", "kept"])
        try f.assertReplayEquals()
    }

    func testSavepointInAutocommitModeCommitsAtTheOutermostRelease() throws {
        let f = try MasterFixture("tx-savepoint-auto")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        let commits = try m.execute("""
            SAVEPOINT outer_sp;
            INSERT INTO t VALUES (1, 'a');
            SAVEPOINT inner_sp;
            INSERT INTO t VALUES (2, 'b');
            ROLLBACK TO inner_sp;
            INSERT INTO t VALUES (3, 'c');
            RELEASE inner_sp;
            RELEASE outer_sp;
            INSERT INTO t VALUES (5, 'e');
            """)
        XCTAssertEqual(commits.map(\.lsn), [2, 3], "the outermost RELEASE commits, then the autocommit INSERT")
        XCTAssertEqual(commits.map(\.events), [2, 1])
        XCTAssertEqual(try f.transaction(2).events.compactMap(\.newValues), [[.integer(1), .text("a")], [.integer(3), .text("c")]])

        // A savepoint rolled back entirely, then released, commits nothing.
        let nothing = try m.execute("SAVEPOINT s; INSERT INTO t VALUES (9, 'z'); ROLLBACK TO s; RELEASE s;")
        XCTAssertEqual(nothing, [])
        XCTAssertEqual(m.lastLSN, 3)
        try f.assertReplayEquals()
    }

    func testRollbackLogsNothing() throws {
        let f = try MasterFixture("tx-rollback")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')")
        let bytes = try f.binlogBytes()
        let commits = try m.execute("BEGIN; INSERT INTO t VALUES (2, 'b'); UPDATE t SET v = 'x'; DELETE FROM t WHERE id = 1; ROLLBACK;")
        XCTAssertEqual(commits, [])
        XCTAssertEqual(m.lastLSN, 2)
        XCTAssertEqual(try f.binlogBytes(), bytes)
        XCTAssertEqual(try m.read { db in try String.fetchAll(db, sql: "SELECT v FROM t") }, ["a"])
        // Savepoints opened in autocommit mode, then a plain ROLLBACK.
        XCTAssertEqual(try m.execute("SAVEPOINT s; INSERT INTO t VALUES (3, 'c'); ROLLBACK;"), [])
        XCTAssertEqual(try f.binlogBytes(), bytes)
        // The next transaction follows without a hole.
        XCTAssertEqual(try m.execute("INSERT INTO t VALUES (4, 'd')").map(\.lsn), [3])
        try f.assertReplayEquals()
    }

    func testFailingStatementInsideBeginRollsBackTheWholeTransaction() throws {
        let f = try MasterFixture("tx-failure")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t VALUES (1, 'a')")
        let lsn = m.lastLSN
        let bytes = try f.binlogBytes()

        let failing = "INSERT INTO t VALUES (1, 'duplicate')"
        var committed: [Master.CommitInfo] = []
        let error = expectMasterError(.sql, containing: [failing, "UNIQUE"]) {
            try m.execute("BEGIN; INSERT INTO t VALUES (2, 'b'); UPDATE t SET v = 'changed' WHERE id = 1; \(failing); INSERT INTO t VALUES (3, 'c'); COMMIT;",
                          onCommit: { committed.append($0) })
        }
        XCTAssertEqual(error?.message.contains(failing), true, "the message must name the failing statement: \(String(describing: error))")
        XCTAssertEqual(committed, [])
        XCTAssertEqual(m.lastLSN, lsn)
        XCTAssertEqual(try f.binlogBytes(), bytes, "a rolled-back transaction left frames in the binlog")
        XCTAssertEqual(try m.read { db in try Row.fetchAll(db, sql: "SELECT id, v FROM t").map(\.description) }, ["[id:1 v:\"a\"]"])
        XCTAssertFalse(try m.read { db in db.isInsideTransaction }, "the transaction was left open")

        // A statement that does not even prepare: same outcome, and the error names it.
        let unknown = "INSERT INTO no_such_table VALUES (1)"
        let prepareError = expectMasterError(.sql, containing: ["no_such_table"]) {
            try m.execute("BEGIN; INSERT INTO t VALUES (5, 'e'); \(unknown); COMMIT;")
        }
        XCTAssertEqual(prepareError?.message.contains(unknown), true, "the message must name the failing statement: \(String(describing: prepareError))")
        XCTAssertEqual(m.lastLSN, lsn)
        XCTAssertEqual(try f.binlogBytes(), bytes)
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") }, 1)

        // The master goes on with the next LSN.
        XCTAssertEqual(try m.execute("INSERT INTO t VALUES (2, 'b')").map(\.lsn), [lsn + 1])
        try f.assertReplayEquals()
    }

    func testAutocommitFailureKeepsEarlierStatementsCommitted() throws {
        let f = try MasterFixture("tx-autocommit-failure")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        var committed: [UInt64] = []
        expectMasterError(.sql, containing: ["INSERT INTO t VALUES (3, NULL)", "NOT NULL"]) {
            try m.execute("INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b'); INSERT INTO t VALUES (3, NULL); INSERT INTO t VALUES (4, 'd');",
                          onCommit: { committed.append($0.lsn) })
        }
        XCTAssertEqual(committed, [2, 3])
        XCTAssertEqual(m.lastLSN, 3)
        XCTAssertEqual(try m.read { db in try Int.fetchAll(db, sql: "SELECT id FROM t ORDER BY id") }, [1, 2])
        try f.assertReplayEquals()
    }

    func testInputEndingInsideATransactionIsRolledBack() throws {
        let f = try MasterFixture("tx-unterminated")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        let bytes = try f.binlogBytes()
        expectMasterError(.sql, containing: ["never committed"]) {
            try m.execute("BEGIN; INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b');")
        }
        XCTAssertEqual(m.lastLSN, 1)
        XCTAssertEqual(try f.binlogBytes(), bytes)
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") }, 0)
        XCTAssertFalse(try m.read { db in db.isInsideTransaction })
        expectMasterError(.sql, containing: ["never committed"]) {
            try m.execute("SAVEPOINT s; INSERT INTO t VALUES (3, 'c');")
        }
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") }, 0)
        XCTAssertEqual(try m.execute("INSERT INTO t VALUES (4, 'd')").map(\.lsn), [2])
        try f.assertReplayEquals()
    }

    func testTransactionControlErrors() throws {
        let f = try MasterFixture("tx-control")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        expectMasterError(.sql, containing: ["COMMIT without BEGIN"]) { try m.execute("COMMIT") }
        expectMasterError(.sql, containing: ["ROLLBACK without BEGIN"]) { try m.execute("ROLLBACK") }
        expectMasterError(.sql, containing: ["cannot BEGIN inside a transaction"]) { try m.execute("BEGIN; INSERT INTO t VALUES (1); BEGIN;") }
        expectMasterError(.sql, containing: ["no such savepoint"]) { try m.execute("BEGIN; INSERT INTO t VALUES (2); RELEASE nope; COMMIT;") }
        expectMasterError(.invalid, containing: ["not allowed"]) {
            try m.transaction { tx in try tx.execute("INSERT INTO t VALUES (3); COMMIT") }
        }
        XCTAssertEqual(m.lastLSN, 1)
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") }, 0)
        XCTAssertFalse(try m.read { db in db.isInsideTransaction })
    }

    func testMasterTransactionCommitsOnceAndRollsBackOnThrow() throws {
        let f = try MasterFixture("tx-closure")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        let info = try XCTUnwrap(m.transaction { tx in
            try tx.execute("INSERT INTO t VALUES (?, ?)", arguments: [1, "a"])
            try tx.execute("INSERT INTO t VALUES (?, ?); UPDATE t SET v = ? WHERE id = ?", arguments: [2, "b", "c", 1])
        })
        XCTAssertEqual(info.lsn, 2)
        XCTAssertEqual(info.events, 3)
        struct Abort: Error {}
        XCTAssertThrowsError(try m.transaction { tx in
            try tx.execute("INSERT INTO t VALUES (3, 'x')")
            throw Abort()
        }) { XCTAssertTrue($0 is Abort) }
        XCTAssertNil(try m.transaction { tx in try tx.execute("UPDATE t SET v = 'q' WHERE 0") }, "a transaction that changed nothing has no LSN")
        XCTAssertEqual(m.lastLSN, 2)
        XCTAssertEqual(try m.read { db in try Row.fetchAll(db, sql: "SELECT id, v FROM t ORDER BY id").map(\.description) },
                       ["[id:1 v:\"c\"]", "[id:2 v:\"b\"]"])
        try f.assertReplayEquals()
    }

    func testDeferredForeignKeyFailureAtCommitLogsNothing() throws {
        let f = try MasterFixture("tx-deferred-fk")
        let m = f.master
        try m.execute("""
            CREATE TABLE parent(id INTEGER PRIMARY KEY);
            CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
            """)
        let lsn = m.lastLSN
        let bytes = try f.binlogBytes()
        XCTAssertThrowsError(try m.execute("BEGIN; INSERT INTO child VALUES (1, 99); COMMIT;"))
        XCTAssertEqual(m.lastLSN, lsn)
        XCTAssertEqual(try f.binlogBytes(), bytes, "the frame of a transaction SQLite refused to commit stayed in the binlog")
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM child") }, 0)
        XCTAssertFalse(try m.read { db in db.isInsideTransaction })
        XCTAssertEqual(try m.execute("INSERT INTO parent VALUES (99); INSERT INTO child VALUES (1, 99)").map(\.lsn), [lsn + 1, lsn + 2])
        XCTAssertEqual(try BinlogDirectory(path: f.binlogPath).verify().outcome, .clean)
        try f.assertReplayEquals()
    }

    func testCommitTimesNeverDecrease() throws {
        let f = try MasterFixture("tx-times")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        var infos: [Master.CommitInfo] = []
        for i in 0..<40 {
            infos += try m.execute("INSERT INTO t VALUES (\(i))")
            if i == 20 { try m.rotate() }
        }
        let times = try f.transactions().map(\.commitTime)
        XCTAssertEqual(times.count, 41)
        XCTAssertEqual(times, times.sorted(), "commit times went back")
        XCTAssertEqual(Array(times.suffix(40)), infos.map(\.commitTime))
        let now = microsecondsNow()
        XCTAssertLessThanOrEqual(times.last ?? .max, now)
        XCTAssertGreaterThan(times.first ?? 0, now - 600_000_000, "commit times are not wall-clock microseconds")
    }
}
