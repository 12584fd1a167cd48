import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// A small seeded torture run: random statements over tables of every key shape, random
/// transaction boundaries, savepoints, rollbacks, rotations and reopens. Replay LOGSHIP_SEED=<seed>
/// to reproduce a failure.
final class RandomWorkloadTests: XCTestCase {
    func testSeededRandomWorkloadReplaysExactly() throws {
        var rng = suiteRandom(0x5EED_2024)
        let seed = rng.seed
        let f = try MasterFixture("random", options: Master.Options(segmentSize: 8192))
        try f.master.execute("""
            CREATE TABLE acct(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE tag(name TEXT PRIMARY KEY, acct_id INTEGER REFERENCES acct(id) ON DELETE CASCADE, weight REAL);
            CREATE TABLE pair(a INTEGER, b TEXT, v BLOB, PRIMARY KEY(a, b)) WITHOUT ROWID;
            CREATE TABLE log(acct_id, delta, at);
            CREATE TRIGGER acct_log AFTER UPDATE OF balance ON acct BEGIN
              INSERT INTO log VALUES (NEW.id, NEW.balance - OLD.balance, random());
            END;
            """)
        var expectedLSN = f.master.lastLSN

        func statement() -> String {
            let id = Int.random(in: 1...25, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: return "INSERT OR REPLACE INTO acct(id, owner, balance) VALUES (\(id), 'o\(id)', \(Int.random(in: -99...99, using: &rng)))"
            case 1: return "UPDATE acct SET balance = balance + \(Int.random(in: -9...9, using: &rng)) WHERE id % 3 = \(id % 3)"
            case 2: return "DELETE FROM acct WHERE id = \(id)"
            case 3: return "INSERT INTO tag VALUES ('t\(id)', \(Int.random(in: 1...25, using: &rng)), \(Double(Int.random(in: 0...1000, using: &rng)) / 8)) ON CONFLICT(name) DO UPDATE SET weight = weight + 1"
            case 4: return "UPDATE tag SET name = name || 'x' WHERE name = 't\(id)'"
            case 5: return "INSERT OR IGNORE INTO pair VALUES (\(id % 7), 'k\(id % 5)', randomblob(\(id)))"
            case 6: return "UPDATE pair SET a = a + 100 WHERE a = \(id % 7) AND b = 'k\(id % 5)'"
            case 7: return "DELETE FROM pair WHERE a > \(Int.random(in: 50...150, using: &rng))"
            case 8: return "DELETE FROM log WHERE rowid % 5 = \(id % 5)"
            default: return "INSERT INTO acct(owner) VALUES ('new \(id)')"
            }
        }

        for round in 0..<120 {
            let context = "seed \(seed), round \(round)"
            let shape = Int.random(in: 0..<10, using: &rng)
            var sql: String
            switch shape {
            case 0...3: sql = statement()
            case 4...6: sql = "BEGIN; " + (0..<Int.random(in: 1...5, using: &rng)).map { _ in statement() }.joined(separator: "; ") + "; COMMIT;"
            case 7: sql = "BEGIN; \(statement()); SAVEPOINT s; \(statement()); \(statement()); ROLLBACK TO s; \(statement()); RELEASE s; COMMIT;"
            case 8: sql = "BEGIN; \(statement()); \(statement()); ROLLBACK;"
            default: sql = "SAVEPOINT a; \(statement()); SAVEPOINT b; \(statement()); RELEASE b; RELEASE a;"
            }
            do {
                let commits = try f.master.execute(sql)
                for c in commits {
                    XCTAssertEqual(c.lsn, expectedLSN + 1, context)
                    expectedLSN = c.lsn
                }
            } catch let e as MasterError where e.kind == .sql {
                // Constraint failures are part of the workload; they must log nothing.
                XCTAssertEqual(f.master.lastLSN, expectedLSN, "\(context): \(e)")
            }
            if round % 40 == 39 { try f.reopen(options: Master.Options(segmentSize: 8192)) }
            if round % 25 == 12 { try f.master.rotate() }
        }
        XCTAssertGreaterThan(expectedLSN, 60, "the workload committed too little to mean much (seed \(seed))")
        XCTAssertEqual(try f.transactions().map(\.lsn), Array(1...expectedLSN), "seed \(seed)")
        let report = try BinlogDirectory(path: f.binlogPath).verify()
        XCTAssertEqual(report.outcome, .clean, "seed \(seed): \(String(describing: report.problem))")
        XCTAssertGreaterThan(report.sealedSegments, 2, "seed \(seed)")
        try f.assertReplayEquals("seed \(seed)")
    }
}
