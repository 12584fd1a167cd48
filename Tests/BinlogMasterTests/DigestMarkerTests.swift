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
        XCTAssertEqual(try markerLSNs(f), [1, 4])
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

    private func copyDatabase(_ from: String, to dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in ["master.db", "master.db-wal", "master.db-shm"] {
            try? fm.removeItem(atPath: dir + "/" + name)
            if fm.fileExists(atPath: from + "/" + name) { try fm.copyItem(atPath: from + "/" + name, toPath: dir + "/" + name) }
        }
    }
}
