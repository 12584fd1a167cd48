import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
@testable import ReplicaStore
import XCTest

/// Restore's logical check: each table's content digest, carried from the starting point
/// through the binlog, against the digest of the restored rows (RestoreCheck). A database that
/// differs from what the binlog implies is never published; after ALTER TABLE the table falls
/// back to its row count, and the result says so.
final class RestoreCheckTests: XCTestCase {
    /// Applies up to `lsn` and writes a snapshot there.
    private func snapshot(_ f: ReplicaFixture, at lsn: UInt64) throws {
        try f.apply(Replica.ApplyOptions(untilLSN: lsn))
        let r = try Replica.open(f.replicaPath)
        defer { r.close() }
        XCTAssertEqual(try r.snapshot().snapshot.lsn, lsn)
    }

    private func restore(_ f: ReplicaFixture, to lsn: UInt64, _ out: String, tamper: ((Database) throws -> Void)? = nil) throws -> Restore.Result {
        let plan = try Restore.plan(replica: f.replicaPath, target: .lsn(lsn))
        return try Restore.execute(plan, output: out, force: false, progress: nil, beforeCheck: tamper)
    }

    func testAChangedRowIsCaughtEvenWhenEveryRowCountStillMatches() throws {
        let f = try ReplicaFixture("restore-check-tamper")
        let first = try f.runWorkload(300)
        let rest = try f.runWorkload(300, schema: false)
        try f.shipAll()
        try snapshot(f, at: first.last!.lsn)
        let target = rest.last!.lsn
        let out = f.dir.sub("restored.db")
        // Each keeps every table's row count: only the content digest can tell.
        let tampering: [(table: String, sql: String)] = [
            ("accounts", "UPDATE accounts SET balance = balance + 1 WHERE id = (SELECT min(id) FROM accounts)"),
            ("accounts", "UPDATE accounts SET owner = owner || '!' WHERE id = (SELECT max(id) FROM accounts)"),
            ("ledger", "DELETE FROM ledger WHERE id = (SELECT max(id) FROM ledger); INSERT INTO ledger (account, amount) VALUES (1, 1)"),
            ("tags", "UPDATE tags SET uses = uses + 1 WHERE name = (SELECT min(name) FROM tags)"),
        ]
        for (table, sql) in tampering {
            expectReplicaError(.divergence, containing: ["\(table): has", "expected", "nothing was published"], "\(sql); \(f.context)") {
                try restore(f, to: target, out) { db in try db.execute(sql: sql) }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a database that fails the check is never published: \(sql)")
        }
        // Untouched, from the snapshot and from empty, the same restores pass.
        let good = try restore(f, to: target, out)
        XCTAssertEqual(good.notes, [], "no table fell back to row counts")
        try f.assertDatabase(out, equalsMasterAt: target)
        unlink(out)
        let bare = f.dir.sub("bare")
        try ReplicaDirectory.initialize(at: bare)
        for s in try f.master.sealedSegments() { try Shipping.ship(s.path, to: bare + "/inbox") }
        let plan = try Restore.plan(replica: bare, target: .lsn(target))
        XCTAssertNil(plan.snapshot)
        expectReplicaError(.divergence, containing: ["tags: has"], "from empty; \(f.context)") {
            try Restore.execute(plan, output: out, force: false, progress: nil) { db in try db.execute(sql: "UPDATE tags SET weight = coalesce(weight, 0) + 0.25 WHERE name = (SELECT min(name) FROM tags)") }
        }
        XCTAssertEqual(try Restore.execute(plan, output: out).notes, [])
    }

    /// The rows the pre-update hook logs differently from how they are stored still check:
    /// integral REALs (logged as INTEGER on insert), rows stored before an ADD COLUMN with a
    /// default (logged with NULL in that column when updated or deleted), generated columns.
    func testAlterFallsBackToRowCountsAndLoggedImagesThatDifferFromStoredRowsStillCheck() throws {
        let f = try ReplicaFixture("restore-check-alter")
        let before = try f.runWorkload(200)
        try f.master.exec("""
            CREATE TABLE g (id INTEGER PRIMARY KEY, a REAL, b TEXT GENERATED ALWAYS AS (a || 'x') STORED, c GENERATED ALWAYS AS (a * 2) VIRTUAL);
            INSERT INTO g (id, a) VALUES (1, 1.0), (2, 2.5), (3, -0.0);
            INSERT INTO accounts (id, owner, balance) VALUES (800001, 'kept', 5);
            """)
        let alter = try f.master.exec("ALTER TABLE accounts ADD COLUMN extra INTEGER NOT NULL DEFAULT 7").last!.lsn
        let after = try f.master.exec("""
            UPDATE accounts SET balance = balance + 1 WHERE id IN (SELECT id FROM accounts ORDER BY id LIMIT 5);
            DELETE FROM accounts WHERE id IN (SELECT id FROM accounts ORDER BY id LIMIT 5 OFFSET 5);
            INSERT INTO accounts (id, owner, balance, rate) VALUES (900001, 'real', 1, 3.0);
            BEGIN; UPDATE accounts SET extra = 8 WHERE id = 900001; UPDATE accounts SET rate = 4 WHERE id = 900001; COMMIT;
            UPDATE g SET a = 4.0 WHERE id = 1;
            DELETE FROM g WHERE id = 2;
            """).last!.lsn
        let more = try f.runWorkload(150, schema: false).last!.lsn
        try f.shipAll()
        try snapshot(f, at: before.last!.lsn)
        let out = f.dir.sub("restored.db")

        // Across the ALTER: accounts is checked by its row count, and the result says so.
        let across = try restore(f, to: after, out)
        XCTAssertEqual(across.notes, ["digest check skipped for accounts after ALTER at LSN \(alter); row count checked"])
        try f.assertDatabase(out, equalsMasterAt: after)
        unlink(out)
        expectReplicaError(.divergence, containing: ["accounts: has"], "a missing row still fails the row count; \(f.context)") {
            try restore(f, to: after, out) { db in try db.execute(sql: "DELETE FROM accounts WHERE id = 900001") }
        }
        let cli = try ToolRunner.run("replica-apply", ["restore", f.replicaPath, "--to-lsn", "\(after)", "-o", out])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        XCTAssertTrue(cli.stdout.contains("content digests match"), cli.stdout)
        XCTAssertTrue(cli.stdout.contains("note: digest check skipped for accounts after ALTER at LSN \(alter); row count checked"), cli.stdout)
        unlink(out)

        // From a snapshot after the ALTER, every table keeps its digest, also through updates
        // and deletes of rows stored before the column was added.
        try snapshot(f, at: alter)
        let later = try restore(f, to: more, out)
        XCTAssertEqual(later.notes, [], "\(f.context)")
        try f.assertDatabase(out, equalsMasterAt: more)
        unlink(out)
        expectReplicaError(.divergence, containing: ["accounts: has"], "\(f.context)") {
            try restore(f, to: more, out) { db in try db.execute(sql: "UPDATE accounts SET extra = 6 WHERE id = (SELECT min(id) FROM accounts)") }
        }
        expectReplicaError(.divergence, containing: ["g: has"], "\(f.context)") {
            try restore(f, to: more, out) { db in try db.execute(sql: "UPDATE g SET a = 1 WHERE id = 1") }
        }

        // Such a row (800001, untouched since before the ALTER) updated in a transaction that
        // also changes the schema: the check does not read the row then, and says so.
        let mixed = try f.master.exec("BEGIN; CREATE INDEX accounts_by_note ON accounts (note); UPDATE accounts SET balance = 6 WHERE id = 800001; COMMIT;").last!.lsn
        try f.master.rotate()
        try f.shipAll()
        let withDDL = try restore(f, to: mixed, out)
        XCTAssertEqual(withDDL.notes, ["digest check skipped for accounts from LSN \(mixed): a logged row image the check cannot match to the stored row; row count checked"])
        try f.assertDatabase(out, equalsMasterAt: mixed)
    }

    func testSchemaStatementsAreReadForTheTablesTheyChange() {
        XCTAssertEqual(TableDDL.parse("CREATE TABLE t (x)"), .create("t", ifNotExists: false))
        XCTAssertEqual(TableDDL.parse("  create table if not exists \"Odd \"\"name\"\"\"(x)"), .create("Odd \"name\"", ifNotExists: true))
        XCTAssertEqual(TableDDL.parse("CREATE TABLE main.[b c](x)"), .create("b c", ifNotExists: false))
        XCTAssertEqual(TableDDL.parse("CREATE TEMP TABLE t (x)"), TableDDL.none)
        XCTAssertEqual(TableDDL.parse("CREATE TABLE aux.t (x)"), TableDDL.none)
        XCTAssertEqual(TableDDL.parse("CREATE VIRTUAL TABLE v USING fts5(x)"), .unknown)
        XCTAssertEqual(TableDDL.parse("CREATE UNIQUE INDEX i ON t (x)"), TableDDL.none)
        XCTAssertEqual(TableDDL.parse("DROP TABLE IF EXISTS `t`"), .drop("t"))
        XCTAssertEqual(TableDDL.parse("DROP VIEW v"), TableDDL.none)
        XCTAssertEqual(TableDDL.parse("ALTER TABLE t RENAME TO u"), .rename("t", to: "u"))
        XCTAssertEqual(TableDDL.parse("ALTER TABLE t RENAME COLUMN a TO b"), .alter("t"))
        XCTAssertEqual(TableDDL.parse("alter table /* c */ t -- x\n add column y"), .alter("t"))
        XCTAssertEqual(TableDDL.parse("ALTER TABLE"), .unknown)
    }
}
