import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// kill -9 a `binlog-writer exec` process at random moments while it commits, then check
/// against independent oracles: every acknowledged transaction is there, no transaction is
/// there in part, and the master database equals a replay of its binlog.
/// The long version (200 cycles, several clients) belongs to tools/torture (issue 7).
final class WriterCrashTests: XCTestCase {
    func testKill9DuringWorkloadLosesNothingAcknowledged() throws {
        var rng = SeededRandom()
        let seed = rng.seed
        let cycles = Int(ProcessInfo.processInfo.environment["LOGSHIP_CRASH_CYCLES"] ?? "") ?? 50
        let dir = TestDirectory("crash")
        let master = dir.sub("master")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", master, "--segment-size", "16KiB"]).status, 0)
        let schema = """
            CREATE TABLE tags (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, part INTEGER NOT NULL, payload BLOB);
            CREATE TABLE u (k INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT);
            WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 200) INSERT INTO u (k, v, note) SELECT k, 0, 'seed' FROM n;
            """
        let setup = try ToolRunner.run("binlog-writer", ["exec", master, schema])
        XCTAssertEqual(setup.status, 0, setup.stderr)

        var killed = 0
        var expectedParts: [String: Int] = [:]   // tag → rows its transaction inserts
        var acknowledged: [String] = []           // tags whose LSN was printed
        for cycle in 1...cycles {
            var statements: [(tag: String, sql: String, parts: Int)] = []
            for s in 0..<300 {
                let tag = "c\(cycle)-t\(s)"
                let parts = Int.random(in: 1...4, using: &rng)
                var sql = parts > 1 ? "BEGIN;\n" : ""
                for p in 0..<parts {
                    let size = Int.random(in: 0...3000, using: &rng)
                    sql += "INSERT INTO tags (tag, part, payload) VALUES ('\(tag)', \(p), randomblob(\(size)));\n"
                }
                if parts > 1 {
                    let k = Int.random(in: 1...200, using: &rng)
                    sql += "UPDATE u SET v = v + 1, note = 'c\(cycle) é' WHERE k % 13 = \(k % 13);\n"
                    sql += "DELETE FROM u WHERE k = \(k);\nINSERT OR REPLACE INTO u (k, v, note) VALUES (\(k), \(cycle), NULL);\nCOMMIT;\n"
                }
                statements.append((tag, sql, parts))
                expectedParts[tag] = parts
            }
            let script = dir.sub("workload-\(cycle).sql")
            try statements.map(\.sql).joined().write(toFile: script, atomically: true, encoding: .utf8)

            let process = Process()
            process.executableURL = URL(fileURLWithPath: ToolRunner.path("binlog-writer"))
            process.arguments = ["exec", master, "--file", script]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 10_000...200_000, using: &rng))
            kill(process.processIdentifier, SIGKILL)
            let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { killed += 1 }
            // Each complete "lsn=" line acknowledges the next transaction of the script, in order.
            let lines = printed.split(separator: "\n", omittingEmptySubsequences: false).dropLast().filter { $0.hasPrefix("lsn=") }
            acknowledged += statements.prefix(lines.count).map(\.tag)

            try checkMaster(master, acknowledged: acknowledged, expectedParts: expectedParts, seed: seed, cycle: cycle)
        }
        // Prove the fault fired: most runs must have died by the signal, not finished.
        XCTAssertGreaterThan(killed, cycles / 2, "only \(killed) of \(cycles) runs were killed mid-work; seed \(seed)")
        print("WriterCrashTests: \(cycles) cycles, \(killed) killed by SIGKILL, \(acknowledged.count) acknowledged transactions kept; seed \(seed)")
    }

    private func checkMaster(_ master: String, acknowledged: [String], expectedParts: [String: Int], seed: UInt64, cycle: Int) throws {
        let context = "cycle \(cycle), seed \(seed) (rerun with LOGSHIP_SEED=\(seed))"
        // Opening runs recovery; a no-op statement is enough.
        let open = try ToolRunner.run("binlog-writer", ["exec", master, "SELECT 1"])
        XCTAssertEqual(open.status, 0, "reopen failed: \(open.stderr); \(context)")
        let verify = try ToolRunner.run("binlog-writer", ["verify", master])
        XCTAssertEqual(verify.status, 0, "verify: \(verify.stdout) \(verify.stderr); \(context)")

        let counts = try tagCounts(master + "/master.db")
        for tag in acknowledged {
            XCTAssertEqual(counts[tag], expectedParts[tag], "acknowledged transaction \(tag) lost or partial; \(context)")
        }
        for (tag, n) in counts {
            XCTAssertEqual(n, expectedParts[tag], "transaction \(tag) is partly present (\(n) of \(expectedParts[tag] ?? -1) rows); \(context)")
        }
        let replica = master + "-replay-\(cycle).db"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: replica + suffix) } }
        try BinlogReplay.replay(binlog: master + "/binlog", into: replica)
        let expected = try TableDigest.digest(path: master + "/master.db")
        XCTAssertEqual(try TableDigest.digest(path: replica), expected, "master differs from a replay of its binlog; \(context)")
    }

    private func tagCounts(_ path: String) throws -> [String: Int] {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        return try queue.read { db in
            var result: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tag, count(*) FROM tags GROUP BY tag") { result[row[0]] = row[1] }
            return result
        }
    }
}
