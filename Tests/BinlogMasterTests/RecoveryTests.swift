import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What `Master.open` does when the binlog and the database disagree after a stop.
final class RecoveryTests: XCTestCase {
    private let schema = """
        CREATE TABLE account(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL);
        CREATE TABLE entry(id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES account(id) ON DELETE CASCADE, amount INTEGER, note TEXT);
        CREATE TABLE audit(id INTEGER PRIMARY KEY, account_id INTEGER, what TEXT, salt INTEGER);
        CREATE TRIGGER account_audit AFTER UPDATE OF balance ON account BEGIN
          INSERT INTO audit(account_id, what, salt) VALUES (NEW.id, OLD.balance || '->' || NEW.balance, random());
        END;
        """

    // (a) The database committed LSN n, the binlog lost the end of it: the binlog is behind
    // the database, which recovery must refuse (the binlog would miss a transaction forever).
    func testTornFrameOfATransactionTheDatabaseHoldsRefusesToOpen() throws {
        let f = try MasterFixture("recovery-torn-committed")
        let m = f.master
        try m.execute(schema)
        try m.execute("INSERT INTO account VALUES (1, 'ann', 100), (2, 'bob', 50)")
        let active = try activeSegmentPath(f)
        let before = try dataLength(active)
        let last = try XCTUnwrap(m.execute("INSERT INTO entry(account_id, amount, note) VALUES (1, 5, '\(String(repeating: "x", count: 3000))')").first)
        try m.close()
        let after = try dataLength(active)
        XCTAssertGreaterThan(after - before, 100, "the last transaction should take a frame of its own")
        XCTAssertEqual(truncate(active, off_t(before + (after - before) / 2)), 0)

        // In a child process, so that a crash (as once happened here) fails one test only.
        let outcome = try OpenProbe.open(f.path)
        XCTAssertFalse(outcome.crashed, "Master.open crashed instead of throwing: \(outcome)")
        XCTAssertEqual(outcome.result?.hasPrefix("error binlog: "), true, "\(outcome)")
        XCTAssertEqual(outcome.result?.contains("database holds LSN \(last.lsn)"), true, "\(outcome)")
        XCTAssertEqual(outcome.result?.contains("binlog ends at LSN \(last.lsn - 1)"), true, "\(outcome)")
        // The refused open changed nothing: the torn segment is still there, as it was left.
        XCTAssertEqual(try fileSize(active), before + (after - before) / 2)
    }

    // (a') The same torn frame, but the database never committed that transaction: the tail
    // is dropped and the LSN is given to the next transaction.
    func testTornFrameOfATransactionTheDatabaseLacksIsDropped() throws {
        let f = try MasterFixture("recovery-torn-uncommitted")
        try f.master.execute(schema)
        try f.master.execute("INSERT INTO account VALUES (1, 'ann', 100)")
        let k = f.master.lastLSN
        try f.master.close()
        let snapshot = f.dir.sub("snapshot")
        try copyDatabase(of: f, to: snapshot)

        var m = try Master.open(f.path)
        f.master = m
        let active = try activeSegmentPath(f)
        let before = try dataLength(active)
        try m.execute("INSERT INTO entry(account_id, amount, note) VALUES (1, 5, '\(String(repeating: "y", count: 3000))')")
        try m.close()
        let after = try dataLength(active)
        let cut = before + (after - before) / 2
        XCTAssertEqual(truncate(active, off_t(cut)), 0)
        try restoreDatabase(of: f, from: snapshot)

        m = try Master.open(f.path)
        f.master = m
        XCTAssertEqual(m.recovery.tornTailBytes, cut - before)
        XCTAssertNotNil(m.recovery.tornTailReason)
        XCTAssertNil(m.recovery.redone)
        XCTAssertEqual(m.lastLSN, k)
        XCTAssertEqual(try fileSize(active), before, "the torn tail was not cut off")
        let next = try XCTUnwrap(m.execute("INSERT INTO entry(account_id, amount, note) VALUES (1, 7, 'again')").first)
        XCTAssertEqual(next.lsn, k + 1)
        XCTAssertEqual(try f.transaction(k + 1).events.first?.newValues, [.integer(1), .integer(1), .integer(7), .text("again")])
        XCTAssertEqual(try BinlogDirectory(path: f.binlogPath).verify().outcome, .clean)
        try f.assertReplayEquals()
    }

    // (b) The binlog holds transactions the database lacks (an older copy of the database
    // files, as after losing the WAL's newest commits): recovery redoes exactly those.
    func testTransactionsTheDatabaseLacksAreRedoneFromTheBinlog() throws {
        var rng = suiteRandom(0x4ED0)
        let f = try MasterFixture("recovery-redo")
        try f.master.execute(schema)
        try f.master.execute("INSERT INTO account VALUES (1, 'ann', 100), (2, 'bob', 50), (3, 'cy', 0)")
        try f.master.execute("UPDATE account SET balance = balance + 1 WHERE id = 1")
        let k = f.master.lastLSN
        try f.master.close()
        let snapshot = f.dir.sub("snapshot")
        try copyDatabase(of: f, to: snapshot)

        var m = try Master.open(f.path)
        f.master = m
        for i in 0..<12 {
            let account = Int.random(in: 1...3, using: &rng)
            let amount = Int.random(in: -20...20, using: &rng)
            try m.execute("""
                BEGIN;
                INSERT INTO entry(account_id, amount, note) VALUES (\(account), \(amount), 'entry \(i)');
                UPDATE account SET balance = balance + \(amount) WHERE id = \(account);
                COMMIT;
                """)
            if i == 5 { try m.rotate() }
        }
        try m.execute("DELETE FROM account WHERE id = 2") // cascades to entry
        try m.execute("ALTER TABLE account ADD COLUMN closed INTEGER DEFAULT 0; UPDATE account SET closed = 1 WHERE id = 3")
        let n = m.lastLSN
        let expected = try m.read { db in try TableDigest.digest(db) }
        try m.close()
        try restoreDatabase(of: f, from: snapshot)

        m = try Master.open(f.path)
        f.master = m
        XCTAssertEqual(m.recovery.redone, (k + 1)...n, "seed \(rng.seed)")
        XCTAssertEqual(m.recovery.tornTailBytes, 0)
        XCTAssertEqual(m.lastLSN, n)
        // Triggers and cascades must not fire again during the redo: their rows are in the binlog.
        XCTAssertEqual(try m.read { db in try TableDigest.digest(db) }, expected, "seed \(rng.seed)")
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM audit") }, 13, "seed \(rng.seed)")
        XCTAssertEqual(try m.read { db in try AppliedPosition.read(db)?.lsn }, n)
        try f.assertReplayEquals("seed \(rng.seed)")

        // Capture works after the redo, with the schema the redo brought back.
        XCTAssertEqual(try m.execute("UPDATE account SET balance = 0, closed = 1").map(\.lsn), [n + 1])
        try f.reopen()
        XCTAssertTrue(f.master.recovery.isEmpty)
        try f.assertReplayEquals("seed \(rng.seed)")
    }

    // (c) Zeros after the last frame (preallocated space, or a file system that extended the
    // file but never wrote it): the end of the log, not a torn write; kept on open (the next
    // commits write into them, no cut and no zero-filling again), and the binlog stays clean
    // for what follows.
    func testZerosAfterTheLastFrameAreKeptAndWrittenInto() throws {
        let f = try MasterFixture("recovery-zeros")
        try f.master.execute(schema)
        try f.master.execute("INSERT INTO account VALUES (1, 'ann', 100)")
        let n = f.master.lastLSN
        try f.master.close()
        let active = try activeSegmentPath(f)
        let size = try dataLength(active)
        XCTAssertEqual(truncate(active, off_t(size)), 0)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: active))
        handle.seekToEndOfFile()
        handle.write(Data(count: 4096))
        try handle.close()

        let m = try Master.open(f.path)
        f.master = m
        XCTAssertEqual(m.recovery.tornTailBytes, 0, "zeros are not reported as a torn write")
        XCTAssertNil(m.recovery.redone)
        XCTAssertEqual(m.lastLSN, n)
        XCTAssertEqual(try fileSize(active), size + 4096, "the zeros are kept on open")
        XCTAssertEqual(try m.execute("UPDATE account SET balance = 90; INSERT INTO account VALUES (2, 'bob', 1)").map(\.lsn), [n + 1, n + 2])
        XCTAssertGreaterThan(try dataLength(active), size, "the commits went into the zeros")
        try m.close()
        let report = try BinlogDirectory(path: f.binlogPath).verify()
        XCTAssertEqual(report.outcome, .clean, "\(String(describing: report.problem))")
        XCTAssertEqual(report.lastLSN, n + 2)
        XCTAssertEqual(report.warnings, [])
        try BinlogReplay.assertReplayEquals(binlogPath: f.binlogPath, databasePath: f.databasePath, scratch: f.dir)
    }

    func testCleanReopenNeedsNoRecovery() throws {
        let f = try MasterFixture("recovery-none")
        try f.master.execute(schema)
        try f.master.execute("INSERT INTO account VALUES (1, 'ann', 100)")
        try f.master.rotate()
        try f.master.execute("UPDATE account SET balance = 5")
        let n = f.master.lastLSN
        let time = f.master.lastCommitTime
        try f.master.close()
        // The child-process probe used by the recovery tests sees the same clean state.
        let probe = try OpenProbe.open(f.path)
        XCTAssertEqual(probe.result, "opened lastLSN=\(n) tornTailBytes=0 redone=nil", "\(probe)")
        let m = try f.reopen()
        XCTAssertTrue(m.recovery.isEmpty, "\(m.recovery)")
        XCTAssertEqual(m.lastLSN, n)
        XCTAssertEqual(m.lastCommitTime, time)
        XCTAssertEqual(try m.execute("UPDATE account SET balance = 6").map(\.lsn), [n + 1])
        try f.assertReplayEquals()
    }

    // MARK: -

    private func activeSegmentPath(_ f: MasterFixture) throws -> String {
        let segments = try BinlogDirectory(path: f.binlogPath).list().segments
        guard let last = segments.last, last.name.isActive else {
            throw MasterError(.binlog, "no active segment in \(f.binlogPath)")
        }
        return last.path
    }

    private static let databaseFiles = ["master.db", "master.db-wal", "master.db-shm"]

    /// Copies the database files (whichever exist) of a closed master to `dir`.
    private func copyDatabase(of f: MasterFixture, to dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in Self.databaseFiles where fm.fileExists(atPath: f.path + "/" + name) {
            try fm.copyItem(atPath: f.path + "/" + name, toPath: dir + "/" + name)
        }
    }

    /// Puts back the database files saved by `copyDatabase`, removing the newer ones.
    private func restoreDatabase(of f: MasterFixture, from dir: String) throws {
        let fm = FileManager.default
        for name in Self.databaseFiles {
            try? fm.removeItem(atPath: f.path + "/" + name)
            if fm.fileExists(atPath: dir + "/" + name) {
                try fm.copyItem(atPath: dir + "/" + name, toPath: f.path + "/" + name)
            }
        }
    }
}
