import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// A store changed behind replica-apply's back, and replica-only indexes: divergence stops
/// apply with exit 4 naming LSN, table and key, leaves the store at the transaction before,
/// and skips nothing (a rerun stops at the same place until the store is repaired); indexes an
/// operator adds for reporting survive the master's later DDL.
final class ReplicaDivergenceTests: XCTestCase {
    private func sql(_ path: String, _ statements: String) throws {
        let q = try DatabaseQueue(path: path)
        defer { try? q.close() }
        try q.write { db in try db.execute(sql: statements) }
    }

    private func rows(_ path: String, _ query: String) throws -> [Row] {
        let q = try DatabaseQueue(path: path)
        defer { try? q.close() }
        return try q.read { db in try Row.fetchAll(db, sql: query) }
    }

    func testChangesBehindTheReplicasBackStopApplyWithExit4AndNothingIsSkipped() throws {
        let f = try ReplicaCLIFixture("diverge")
        try f.seedAccountsAndTags()
        f.assertExit(try f.apply(), 0)
        let commits = try f.master.exec("""
            UPDATE accounts SET balance = 1 WHERE id = 7;
            INSERT INTO accounts (id, owner, balance) VALUES (31, 'new', 5);
            DELETE FROM tags WHERE name = 'c';
            UPDATE accounts SET balance = 2 WHERE id = 8;
            """)
        XCTAssertEqual(commits.count, 4)
        try f.master.rotate()
        try f.shipAll()
        let (update, insert, delete) = (commits[0].lsn, commits[1].lsn, commits[2].lsn)

        // 1. A row the master updates was deleted on the replica.
        let row7 = try rows(f.store, "SELECT * FROM accounts WHERE id = 7")[0]
        try sql(f.store, "DELETE FROM accounts WHERE id = 7")
        let missing = try f.apply()
        f.assertExit(missing, 4, containing: ["LSN \(update)", "table accounts", "id=7", "not there"], "update of a deleted row")
        XCTAssertEqual(try f.storeLSN(), update - 1)
        XCTAssertFalse(missing.stderr.contains("divergence: divergence"), "the kind is said once: \(missing.stderr)")
        f.assertExit(try f.apply(), 4, containing: ["LSN \(update)"], "a rerun stops at the same transaction: nothing is skipped")
        try sql(f.store, "INSERT INTO accounts (id, owner, balance, rate, note) VALUES (\(row7["id"] as Int64), '\(row7["owner"] as String)', \(row7["balance"] as Int64), NULL, NULL)")
        try f.assertStore(at: update - 1, "repaired: nothing of the failed transaction (or after it) was applied")

        // 2. A key the master inserts already exists on the replica.
        try sql(f.store, "INSERT INTO accounts (id, owner, balance) VALUES (31, 'squatter', 0)")
        f.assertExit(try f.apply(), 4, containing: ["LSN \(insert)", "table accounts", "id=31", "already there"], "insert of an existing key")
        try sql(f.store, "DELETE FROM accounts WHERE id = 31")
        try f.assertStore(at: insert - 1)

        // 3. A row of a WITHOUT ROWID table the master deletes is gone already.
        try sql(f.store, "DELETE FROM tags WHERE name = 'c'")
        f.assertExit(try f.apply(), 4, containing: ["LSN \(delete)", "table tags", "name='c'"], "delete of a missing row")
        try sql(f.store, "INSERT INTO tags (name, uses) VALUES ('c', 2)")
        try f.assertStore(at: delete - 1)

        let done = try f.apply()
        f.assertExit(done, 0)
        XCTAssertTrue(done.stdout.hasPrefix("applied LSN \(delete)…\(f.master.lastLSN)"), done.stdout)
        try f.assertStore(at: f.master.lastLSN)
        let status = try f.tool(["status", f.replica])
        XCTAssertTrue(status.stdout.contains("last error"), "the last error stays visible: \(status.stdout)")
    }

    func testReplicaOnlyIndexesSurviveTheMastersSchemaChanges() throws {
        let f = try ReplicaCLIFixture("replica-index")
        try f.master.exec("""
            CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
            CREATE TABLE b (id INTEGER PRIMARY KEY, x TEXT);
            WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 200)
              INSERT INTO a (id, v, n) SELECT k, 'v' || (k % 17), k % 5 FROM s;
            INSERT INTO b (x) VALUES ('one'), ('two');
            """)
        try f.master.rotate()
        try f.shipAll()
        f.assertExit(try f.apply(), 0)
        // The operator adds indexes for reporting.
        try sql(f.store, "CREATE INDEX replica_a_v ON a (v); CREATE INDEX replica_a_n_v ON a (n, v);")
        try f.master.exec("""
            ALTER TABLE a ADD COLUMN w TEXT DEFAULT 'x';
            CREATE INDEX a_w ON a (w);
            UPDATE a SET w = 'w' || id, v = 'changed' WHERE id % 3 = 0;
            INSERT INTO a (v, n, w) VALUES ('new', 9, 'nw');
            DROP TABLE b;
            ALTER TABLE a RENAME COLUMN n TO m;
            DELETE FROM a WHERE m = 1;
            """)
        try f.master.rotate()
        try f.shipAll()
        let r = try f.apply()
        f.assertExit(r, 0, "master DDL over replica-only indexes")
        try f.assertStore(at: f.master.lastLSN)
        XCTAssertEqual(try TableDigest.digest(path: f.store), try TableDigest.digest(path: f.master.databasePath))
        let indexes = try rows(f.store, "SELECT name FROM sqlite_schema WHERE type = 'index' ORDER BY name").map { $0[0] as String }
        XCTAssertEqual(indexes, ["a_w", "replica_a_n_v", "replica_a_v"], "the replica's own indexes are kept beside the master's")
        XCTAssertEqual(try rows(f.store, "PRAGMA integrity_check")[0][0] as String, "ok")

        // Two ways a replica-only index can clash: the master creates an index of the same
        // name, or its data breaks a replica-only UNIQUE index. Both stop apply with exit 4.
        try sql(f.store, "CREATE INDEX a_extra ON a (v)")
        let clash = try f.master.exec("CREATE INDEX a_extra ON a (m)")[0].lsn
        try f.master.rotate()
        try f.shipAll()
        f.assertExit(try f.apply(), 4, containing: ["LSN \(clash)", "a_extra"], "index name clash")
        XCTAssertEqual(try f.storeLSN(), clash - 1)
        try sql(f.store, "DROP INDEX a_extra")
        f.assertExit(try f.apply(), 0, "the master's a_extra applies once the replica's is gone")
        try sql(f.store, "CREATE UNIQUE INDEX replica_unique_w ON a (w) WHERE w LIKE 'u%'")
        let dup = try f.master.exec("INSERT INTO a (v, m, w) VALUES ('p', 1, 'u1'); INSERT INTO a (v, m, w) VALUES ('q', 2, 'u1');")[1].lsn
        try f.master.rotate()
        try f.shipAll()
        f.assertExit(try f.apply(), 4, containing: ["LSN \(dup)", "table a", "UNIQUE"], "master data breaks a replica-only UNIQUE index")
        XCTAssertEqual(try f.storeLSN(), dup - 1)
        try sql(f.store, "DROP INDEX replica_unique_w")
        f.assertExit(try f.apply(), 0)
        try f.assertStore(at: f.master.lastLSN)
    }
}
