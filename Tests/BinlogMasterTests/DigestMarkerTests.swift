import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The master's side of continuous verification (Master+Digest.swift, docs/REPLICA.md): markers
/// every N transactions, every T seconds, on rotate; computed from the rows; kept across reopen
/// and crash recovery.
final class DigestMarkerTests: XCTestCase {
    private func markerLSNs(_ f: MasterFixture) throws -> [UInt64] { try f.transactions().filter { $0.digest != nil }.map(\.lsn) }

    func testEveryNTransactionsCarriesTheDigestOfTheMastersRows() throws {
        let f = try MasterFixture("digest-every", options: Master.Options(digestEvery: 3))
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE e(k TEXT PRIMARY KEY, n REAL) WITHOUT ROWID")
        for i in 1...4 { try f.master.execute("INSERT INTO t(v) VALUES ('row \(i)'); INSERT INTO e VALUES ('k\(i)', \(i).5)") }
        XCTAssertEqual(f.master.lastLSN, 10)
        XCTAssertEqual(try markerLSNs(f), [3, 6, 9])
        try f.master.execute("DELETE FROM t WHERE id = 1; DELETE FROM e WHERE k = 'k1'")   // LSN 11, 12: marker at 12
        let marker = try XCTUnwrap(try f.transaction(12).digest)
        XCTAssertEqual(marker, try f.master.read { db in try DigestMarker.of(db) })
        XCTAssertEqual(marker.tables.map(\.name), ["e", "t"])
        XCTAssertEqual(marker.tables.map(\.rows), [3, 3])
        XCTAssertFalse(marker.tables.contains { $0.name.hasPrefix("_logship") || $0.name.hasPrefix("sqlite_") })
        XCTAssertEqual(try f.master.read { db in try VerifiedPosition.read(db)?.lsn }, 12)
        let header = try SegmentReader(path: try XCTUnwrap(BinlogDirectory(path: f.binlogPath).list().segments.last).path).header
        XCTAssertEqual(header.version, SegmentHeader.digestVersion)
        try f.assertReplayEquals()
    }

    func testTheCountContinuesAcrossReopens() throws {
        let f = try MasterFixture("digest-reopen", options: Master.Options(digestEvery: 3))
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        try f.master.execute("INSERT INTO t VALUES (1)")
        try f.reopen(options: Master.Options(digestEvery: 3))
        try f.master.execute("INSERT INTO t VALUES (2)")   // LSN 3
        try f.reopen(options: Master.Options(digestEvery: 3))
        for i in 3...6 { try f.master.execute("INSERT INTO t VALUES (\(i))") }   // LSN 4…7
        XCTAssertEqual(try markerLSNs(f), [3, 6])
    }

    func testEveryTSecondsOnTheFirstCommitAfterTheInterval() throws {
        let f = try MasterFixture("digest-interval", options: Master.Options(digestInterval: 0.3))
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")   // LSN 1: no marker before it, due at once
        try f.master.execute("INSERT INTO t VALUES (1)")
        try f.master.execute("INSERT INTO t VALUES (2)")
        Thread.sleep(forTimeInterval: 0.35)
        try f.master.execute("INSERT INTO t VALUES (3)")   // LSN 4
        try f.master.execute("INSERT INTO t VALUES (4)")
        // On a slow machine LSN 2, 3 or 5 may come 0.3 s after a marker too: the rule, from the
        // commit times the binlog holds, says which transactions carry one.
        var last: Int64 = 0
        var due: [UInt64] = []
        for tx in try f.transactions() where tx.commitTime - last >= 300_000 {
            due.append(tx.lsn)
            last = tx.commitTime
        }
        XCTAssertEqual(try markerLSNs(f), due)
        XCTAssertTrue(due.contains(1) && due.contains(4), "\(due)")
    }

    func testRotateEndsTheSegmentWithAMarkerOnlyWhenSomethingCameAfterTheLastOne() throws {
        let f = try MasterFixture("digest-rotate", options: Master.Options(digestEvery: 100))
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        try f.master.execute("INSERT INTO t VALUES (1, 'a')")
        let sealed = try XCTUnwrap(try f.master.rotate())
        XCTAssertEqual(sealed.footer.lastLSN, 3, "the marker-only transaction takes the next LSN")
        let tx = try f.transaction(3)
        XCTAssertEqual(tx.events, [])
        XCTAssertEqual(tx.digest, try f.master.read { db in try DigestMarker.of(db) })
        XCTAssertNil(try f.master.rotate(), "an empty active segment is not sealed, and no marker is written")
        XCTAssertEqual(f.master.lastLSN, 3)
        // A marker on the last commit already: rotate adds nothing.
        try f.reopen(options: Master.Options(digestEvery: 1))
        try f.master.execute("INSERT INTO t VALUES (2, 'b')")
        XCTAssertEqual(try f.master.rotate()?.footer.lastLSN, 4)
        XCTAssertEqual(try markerLSNs(f), [3, 4])
        try f.assertReplayEquals()
    }

    func testMarkersOffWritesVersion1SegmentsAndRotateAddsNoLSN() throws {
        let f = try MasterFixture("digest-off")
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
        XCTAssertEqual(try f.master.rotate()?.footer.lastLSN, 2)
        XCTAssertEqual(try markerLSNs(f), [])
        let first = try XCTUnwrap(BinlogDirectory(path: f.binlogPath).list().segments.first)
        XCTAssertEqual(try SegmentReader(path: first.path).header.version, 1)
        XCTAssertFalse(try f.master.read { db in try db.tableExists(VerifiedPosition.tableName) })
    }

    /// Turned on while a version-1 segment is active: no marker fits in it; the next segment has them.
    func testMarkersStartWithTheFirstSegmentAfterTheyAreTurnedOn() throws {
        let f = try MasterFixture("digest-enable")
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        try f.master.close()
        try MasterDirectory(path: f.path).configureDigestMarkers(every: 1, interval: nil, lockTimeout: 0)
        f.master = try Master.open(f.path)
        try f.master.execute("INSERT INTO t VALUES (1)")
        XCTAssertEqual(try f.master.rotate()?.footer.lastLSN, 2, "no marker in the version-1 segment")
        try f.master.execute("INSERT INTO t VALUES (2)")
        XCTAssertEqual(try markerLSNs(f), [3])
        XCTAssertEqual(try MasterDirectory(path: f.path).readIdentity().digestEveryTransactions, 1)
    }

    /// Recovery redoes a marker's transaction with the apply engine, which checks the marker
    /// against the redone rows and records it; the next markers count from there.
    func testMarkersSurviveCrashRecoveryAndAreCheckedByIt() throws {
        let f = try MasterFixture("digest-recovery", options: Master.Options(digestEvery: 2))
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE u(id INTEGER PRIMARY KEY)")   // 1, 2*
        try f.master.execute("INSERT INTO u VALUES (7)")   // 3
        try f.master.close()
        let saved = f.dir.sub("saved")
        try copyDatabase(f.path, to: saved)
        f.master = try Master.open(f.path, options: Master.Options(digestEvery: 2))
        for i in 1...5 { try f.master.execute("INSERT INTO t VALUES (\(i), 'v\(i)')") }   // 4*, 5, 6*, 7, 8*
        try f.master.close()

        // The database lost LSN 4…8 (a crash before SQLite's WAL reached the disk); the binlog has them.
        try copyDatabase(saved, to: f.path)
        f.master = try Master.open(f.path, options: Master.Options(digestEvery: 2))
        XCTAssertEqual(f.master.recovery.redone, 4...8)
        XCTAssertEqual(try f.master.read { db in try VerifiedPosition.read(db)?.lsn }, 8)
        try f.master.execute("INSERT INTO t VALUES (6, 'v6')")   // 9
        try f.master.execute("INSERT INTO t VALUES (7, 'v7')")   // 10*
        XCTAssertEqual(try markerLSNs(f), [2, 4, 6, 8, 10])
        try f.master.close()

        // The same lost commits, but a row of u (which no later event touches) was changed in
        // the database behind the master's back: the redo meets the marker at LSN 4 and stops.
        try copyDatabase(saved, to: f.path)
        let q = try DatabaseQueue(path: f.path + "/master.db")
        try q.write { db in try db.execute(sql: "UPDATE u SET id = 8") }
        try q.close()
        XCTAssertThrowsError(try Master.open(f.path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("digest marker at LSN 4") && text.contains("table u has 1 rows"), text)
        }
    }

    /// No false alarm: a seeded random workload with a marker on every commit, over the value
    /// shapes where SQLite's storage and the pre-update hook's images differ (integral REALs in
    /// REAL columns, -0.0, text in NUMERIC columns, rows stored before ADD COLUMN … DEFAULT,
    /// WITHOUT ROWID, triggers, cascades, REPLACE); replaying the binlog checks every marker
    /// against the replayed rows.
    func testEveryMarkerOfARandomWorkloadMatchesTheReplayedRows() throws {
        var rng = suiteRandom(0xD16E_57)
        let seed = rng.seed
        let f = try MasterFixture("digest-random", options: Master.Options(segmentSize: 8192, digestEvery: 1))
        try f.master.execute("""
            CREATE TABLE acct(id INTEGER PRIMARY KEY, owner TEXT, balance REAL NOT NULL DEFAULT 0, n NUMERIC);
            CREATE TABLE tag(name TEXT PRIMARY KEY, acct_id INTEGER REFERENCES acct(id) ON DELETE CASCADE, weight REAL) WITHOUT ROWID;
            CREATE TABLE log(acct_id, delta, at);
            CREATE TRIGGER acct_log AFTER UPDATE OF balance ON acct BEGIN INSERT INTO log VALUES (NEW.id, NEW.balance - OLD.balance, random()); END;
            INSERT INTO acct(id, owner, balance, n) VALUES (1, 'a', 1, '7'), (2, 'b', -0.0, '1.50'), (3, 'c', 2.5, 'x');
            ALTER TABLE acct ADD COLUMN kind TEXT DEFAULT 'plain';
            """)
        func statement() -> String {
            let id = Int.random(in: 1...12, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return "INSERT OR REPLACE INTO acct(id, owner, balance, n) VALUES (\(id), 'o\(id)', \(Int.random(in: -9...9, using: &rng)), '\(id).0')"
            case 1: return "UPDATE acct SET balance = balance + \(Int.random(in: -3...3, using: &rng)) WHERE id % 3 = \(id % 3)"
            case 2: return "DELETE FROM acct WHERE id = \(id)"
            case 3: return "INSERT INTO tag VALUES ('t\(id)', \(id), \(id)) ON CONFLICT(name) DO UPDATE SET weight = -0.0"
            case 4: return "UPDATE acct SET owner = owner || '.' WHERE id = \(id)"
            case 5: return "DELETE FROM log WHERE rowid % 4 = \(id % 4)"
            case 6: return "UPDATE tag SET weight = weight / 2 WHERE name = 't\(id)'"
            default: return "INSERT INTO acct(owner, balance) VALUES ('new', \(Double(id) / 4))"
            }
        }
        for round in 0..<60 {
            let sql = Int.random(in: 0..<3, using: &rng) == 0
                ? "BEGIN; \(statement()); \(statement()); COMMIT;" : statement()
            do { try f.master.execute(sql) } catch let e as MasterError where e.kind == .sql { _ = e }
            if round % 20 == 19 { try f.master.rotate() }
        }
        let all = try f.transactions()
        XCTAssertTrue(all.allSatisfy { $0.digest != nil }, "seed \(seed): a marker on every commit")
        XCTAssertEqual(all.last?.digest, try f.master.read { db in try DigestMarker.of(db) }, "seed \(seed)")
        try f.assertReplayEquals("seed \(seed)")   // the replay's engine checks every marker
    }

    private func copyDatabase(_ from: String, to dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in ["master.db", "master.db-wal", "master.db-shm"] {
            try? fm.removeItem(atPath: dir + "/" + name)
            if fm.fileExists(atPath: from + "/" + name) { try fm.copyItem(atPath: from + "/" + name, toPath: dir + "/" + name) }
        }
    }
}
