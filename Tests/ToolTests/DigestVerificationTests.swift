import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Continuous verification through the built tools (docs/REPLICA.md): the master writes digest
/// markers, replica-apply checks the store's rows at each one, stops with exit 4 when they
/// differ, and `status` shows the last verified LSN. The tamper test changes the store behind
/// apply's back in rows no later event touches, so only the marker can see it.
final class DigestVerificationTests: XCTestCase {
    private func sql(_ path: String, _ statements: String) throws {
        let q = try DatabaseQueue(path: path)
        defer { try? q.close() }
        try q.write { db in try db.execute(sql: statements) }
    }

    /// A master with markers on rotate only (every 1,000,000 transactions), its first rows
    /// applied and verified; returns the first marker's LSN.
    private func setUp(_ f: ReplicaCLIFixture) throws -> UInt64 {
        let configured = try ToolRunner.run("binlog-writer", ["configure", f.master.path, "--digest-every", "1000000"])
        XCTAssertEqual(configured.status, 0, configured.stderr)
        XCTAssertEqual(configured.stdout, "digest markers: every 1000000 transactions, and on rotate\n")
        try f.master.exec("""
            CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT, r REAL);
            CREATE TABLE b (k TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)
              INSERT INTO a (id, v, r) SELECT i, 'value ' || i, i * 1.5 FROM n;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5)
              INSERT INTO b (k, n) SELECT 'k' || i, i FROM n;
            """)
        let marker = try rotateAndShip(f)
        f.assertExit(try f.apply(), 0)
        try f.assertStore(at: marker)
        return marker
    }

    /// Commits something unrelated to the tampered rows, rotates (a marker-only transaction) and ships.
    private func rotateAndShip(_ f: ReplicaCLIFixture, after sql: String? = nil) throws -> UInt64 {
        if let sql { try f.master.exec(sql) }
        let before = try f.master.sealedSegments().last?.lastLSN ?? 0
        try f.master.rotate()
        let sealed = try XCTUnwrap(f.master.sealedSegments().last)
        XCTAssertGreaterThan(sealed.lastLSN, before)
        try f.shipAll()
        return sealed.lastLSN
    }

    private func status(_ f: ReplicaCLIFixture) throws -> [String: Any] {
        let r = try f.tool(["status", f.replica, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    func testEditsBehindApplysBackStopItAtTheNextMarkerWithExit4() throws {
        let f = try ReplicaCLIFixture("digest-tamper")
        var verified = try setUp(f)
        XCTAssertEqual(try status(f)["verifiedLSN"] as? Int, Int(verified))

        let edits: [(name: String, tamper: String, repair: String, table: String, found: String)] = [
            ("UPDATE one value", "UPDATE a SET v = 'edited' WHERE id = 3", "UPDATE a SET v = 'value 3' WHERE id = 3", "a", "table a has 21 rows"),
            ("delete one row", "DELETE FROM a WHERE id = 4", "INSERT INTO a VALUES (4, 'value 4', 6.0)", "a", "table a has 21 rows"),
            ("insert one row", "INSERT INTO b VALUES ('zz', 9)", "DELETE FROM b WHERE k = 'zz'", "b", "table b has 6 rows"),
        ]
        for (i, edit) in edits.enumerated() {
            let marker = try rotateAndShip(f, after: "INSERT INTO a (id, v) VALUES (\(100 + i), 'new \(i)')")
            try sql(f.store, edit.tamper)
            let stopped = try f.apply()
            f.assertExit(stopped, 4, containing: ["LSN \(marker)", "table \(edit.table)", edit.found, "expected", "digest"], edit.name)
            XCTAssertEqual(try f.storeLSN(), marker - 1, "\(edit.name): the transactions before the marker are applied")
            XCTAssertEqual(try status(f)["verifiedLSN"] as? Int, Int(verified), edit.name)
            f.assertExit(try f.apply(), 4, containing: ["LSN \(marker)"], "\(edit.name): a rerun stops at the same marker")

            try sql(f.store, edit.repair)
            f.assertExit(try f.apply(), 0, "\(edit.name), repaired")
            try f.assertStore(at: marker)
            verified = marker
            XCTAssertEqual(try status(f)["verifiedLSN"] as? Int, Int(verified), edit.name)
        }

        let text = try f.tool(["status", f.replica])
        XCTAssertTrue(text.stdout.contains("verified    LSN \(verified) matched the master's digest marker"), text.stdout)
        let prometheus = try f.tool(["status", f.replica, "--prometheus"])
        XCTAssertTrue(prometheus.stdout.contains("logship_replica_verified_lsn{replica=\"\(f.replica)\"} \(verified)\n"), prometheus.stdout)
    }

    func testAReplicaWithoutMarkersShowsNoneVerified() throws {
        let f = try ReplicaCLIFixture("digest-none")
        try f.master.exec("CREATE TABLE a (id INTEGER PRIMARY KEY); INSERT INTO a VALUES (1)")
        try f.master.rotate()
        try f.shipAll()
        f.assertExit(try f.apply(), 0)
        XCTAssertTrue(try status(f)["verifiedLSN"] is NSNull, "null, not left out (docs/JSON.md)")
        XCTAssertTrue(try f.tool(["status", f.replica]).stdout.contains("verified    no digest marker passed yet"))
        XCTAssertTrue(try f.tool(["status", f.replica, "--prometheus"]).stdout.contains("logship_replica_verified_lsn{replica=\"\(f.replica)\"} 0\n"))
    }

    /// A snapshot taken of an edited store carries the edit; restore's own check starts from the
    /// snapshot and agrees with it, but the next marker does not.
    func testRestoreChecksTheMarkersItPasses() throws {
        let f = try ReplicaCLIFixture("digest-restore")
        let first = try setUp(f)
        try sql(f.store, "UPDATE a SET r = 0 WHERE id = 7")
        f.assertExit(try f.tool(["snapshot", f.replica]), 0)
        let second = try rotateAndShip(f, after: "INSERT INTO a (id, v) VALUES (200, 'later')")
        let out = f.dir.sub("restored.db")
        let restored = try f.tool(["restore", f.replica, "--to-lsn", "\(second)", "-o", out])
        f.assertExit(restored, 4, containing: ["LSN \(second)", "table a has 21 rows"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is published")
        XCTAssertEqual(try f.storeLSN(), first)
    }

    /// kill -9 after a marker's transaction reached the binlog and before SQLite committed it:
    /// the next binlog-writer redoes it (the engine checks the marker against the redone rows),
    /// the count of transactions between markers goes on from it, and a replica verifies it.
    func testAMarkerTransactionKilledBeforeItsCommitIsRedoneAndVerified() throws {
        let f = try ReplicaCLIFixture("digest-crash")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["configure", f.master.path, "--digest-every", "2"]).status, 0)
        var env = ProcessInfo.processInfo.environment
        env["LOGSHIP_CRASH_AT"] = "master.before-commit:4"
        let killed = try ToolRunner.run("binlog-writer", ["exec", f.master.path, """
            CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
            INSERT INTO a VALUES (1, 'one'); INSERT INTO a VALUES (2, 'two'); INSERT INTO a VALUES (3, 'three');
            """], environment: env)
        XCTAssertEqual(killed.status, SIGKILL, killed.stderr)
        XCTAssertTrue(killed.stderr.contains("crash point master.before-commit reached (hit 4)"), killed.stderr)
        XCTAssertFalse(killed.stdout.contains("lsn=4 "), "LSN 4 was never acknowledged: \(killed.stdout)")

        let next = try ToolRunner.run("binlog-writer", ["exec", f.master.path, "INSERT INTO a VALUES (4, 'four')"])
        XCTAssertEqual(next.status, 0, next.stderr)
        XCTAssertTrue(next.stderr.contains("recovery: redid LSN 4…4"), next.stderr)
        XCTAssertTrue(next.stdout.hasPrefix("lsn=5 "), next.stdout)
        let last = try rotateAndShip(f)
        XCTAssertEqual(last, 6, "rotate adds a marker-only transaction after LSN 5")
        let dump = try ToolRunner.run("binlog-writer", ["dump", f.master.path, "--format", "jsonl"])
        let marked = dump.stdout.split(separator: "\n").compactMap { line -> Int? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["digest"] != nil else { return nil }
            return o["lsn"] as? Int
        }
        XCTAssertEqual(marked, [2, 4, 6])
        let masterStatus = try ToolRunner.run("binlog-writer", ["status", f.master.path])
        XCTAssertTrue(masterStatus.stdout.contains("markers     every 2 transactions, and on rotate; last at LSN 6\n"), masterStatus.stdout)
        f.assertExit(try f.apply(), 0)
        try f.assertStore(at: 6)
        XCTAssertEqual(try status(f)["verifiedLSN"] as? Int, 6)
        let out = f.dir.sub("restored.db")
        f.assertExit(try f.tool(["restore", f.replica, "--latest", "-o", out]), 0, "a restore passing markers 2, 4 and 6")
        let q = try DatabaseQueue(path: out)
        XCTAssertEqual(try q.read { db in try Int.fetchOne(db, sql: "SELECT lsn FROM _logship_verified") }, 6)
        try q.close()
    }

    func testDumpShowsMarkers() throws {
        let f = try ReplicaCLIFixture("digest-dump")
        let marker = try setUp(f)
        let text = try ToolRunner.run("binlog-writer", ["dump", f.master.path, "--from-lsn", "\(marker)"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("# LSN \(marker)  commit "), text.stdout)
        XCTAssertTrue(text.stdout.contains("events 0\n### DIGEST MARKER (2 tables, 25 rows after this transaction)\n###   a rows=20 digest="), text.stdout)
        XCTAssertTrue(text.stdout.contains("###   b rows=5 digest="), text.stdout)
        let json = try ToolRunner.run("binlog-writer", ["dump", f.master.path, "--from-lsn", "\(marker)", "--format", "jsonl"])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let tables = try XCTUnwrap(object["digest"] as? [[String: Any]])
        XCTAssertEqual(tables.map { $0["table"] as? String }, ["a", "b"])
        XCTAssertEqual(tables.map { $0["rows"] as? Int }, [20, 5])
    }
}
