import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// `report` is read-only and bounded (issue 14): a timeout that interrupts a runaway statement
/// and, failing that, ends the process; a row cap; SQLite's heap limit; an authorizer that lets a
/// query read the store's tables and nothing else. Each limit exits 7 with a message that names it.
final class ReportLimitsTests: XCTestCase {
    private func store(_ dir: TestDirectory, rows: Int = 100) throws -> String {
        try ReportCommandTests.makeStore(dir.sub("store.db"), rows: """
            WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < \(rows)) INSERT INTO t SELECT n, 'label ' || n FROM c
            """, schema: "CREATE TABLE t (n INTEGER PRIMARY KEY, label TEXT);")
    }

    private func query(_ store: String, _ args: [String]) throws -> ToolRunner.Result {
        try ToolRunner.run("report", ["query", "--store", store] + args)
    }

    func testATimeoutInterruptsARunawayQuery() throws {
        let dir = TestDirectory("report-limits")
        let store = try store(dir)
        let started = Date()
        let r = try query(store, ["--timeout", "1s", "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"])
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertTrue(r.stderr.contains("ran longer than --timeout 1s and was interrupted"), r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        XCTAssertEqual(try query(store, ["--timeout", "bald"]).status, 64)
    }

    func testARowCapStopsTheOutputAndPublishesNothing() throws {
        let dir = TestDirectory("report-limits")
        let store = try store(dir)
        let out = dir.sub("out.csv")
        let r = try query(store, ["--max-rows", "10", "-f", "csv", "--out", out, "SELECT * FROM t"])
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertTrue(r.stderr.contains("more than --max-rows 10 rows"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a stopped report leaves no --out file")
        let all = try query(store, ["--max-rows", "0", "-f", "csv", "SELECT * FROM t"])
        XCTAssertEqual(all.status, 0, all.stderr)
        XCTAssertEqual(all.stdout.components(separatedBy: "\r\n").filter { $0.hasPrefix("label") || $0.first?.isNumber == true }.count, 100)
        XCTAssertEqual(try query(store, ["--max-rows", "100", "SELECT * FROM t"]).status, 0, "exactly the cap is allowed")
    }

    func testTheMemoryCapStopsAQueryThatWouldTakeMore() throws {
        let dir = TestDirectory("report-limits")
        let store = try store(dir)
        let big = "SELECT length(group_concat(hex(randomblob(1000)))) FROM t a, t b"   // a 20 MB string
        let r = try query(store, ["--max-memory", "8MiB", big])
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertTrue(r.stderr.contains("more memory than --max-memory"), r.stderr)
        XCTAssertEqual(try query(store, ["--max-memory", "12", "SELECT 1"]).status, 64, "a cap under 1 MiB is a mistake")
    }

    func testQueriesReadTablesAndCallNothingThatReachesOutside() throws {
        let dir = TestDirectory("report-limits")
        let store = try store(dir)
        for (sql, named) in [("SELECT load_extension('/tmp/x.so')", "load_extension"), ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
                             ("SELECT * FROM t WHERE n = (SELECT length(load_extension('x')))", "load_extension"),
                             ("SELECT * FROM pragma_integrity_check", "PRAGMA integrity_check")] {
            let r = try query(store, [sql])
            XCTAssertEqual(r.status, 64, "\(sql): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("refused") && r.stderr.contains(named), "\(sql): \(r.stderr)")
        }
        for sql in ["SELECT name FROM pragma_table_info('t') ORDER BY cid", "SELECT count(*) FROM sqlite_schema", "SELECT * FROM pragma_user_version",
                    "SELECT upper(label), length(label) FROM t WHERE n = 1"] {
            let r = try query(store, [sql])
            XCTAssertEqual(r.status, 0, "\(sql): \(r.stderr)")
        }
        XCTAssertEqual(try ToolRunner.run("report", ["monthly-expenses", "--store", store, "--table", "t"]).status, 64,
                       "the guard leaves the other reports' own statements alone (this one only lacks the expense columns)")
    }

    /// A reader that stops reading leaves the report blocked on its output, outside SQLite: the
    /// watchdog ends the process a few seconds past --timeout, which releases its read snapshot.
    func testAReportBlockedOnItsOutputEndsAfterTheTimeout() throws {
        let dir = TestDirectory("report-limits")
        let store = try store(dir, rows: 2000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.path("report"))
        process.arguments = ["query", "--store", store, "--timeout", "1s", "-f", "csv",
                             "SELECT a.n, b.label, hex(randomblob(200)) FROM t a, t b"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out   // never read: the pipe fills and the report blocks in write
        process.standardError = err
        let started = Date()
        try process.run()
        while process.isRunning, Date().timeIntervalSince(started) < 60 { usleep(100_000) }
        let elapsed = Date().timeIntervalSince(started)
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        let stderr = String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 7, stderr)
        XCTAssertTrue(stderr.contains("ran longer than --timeout"), stderr)
        XCTAssertLessThan(elapsed, 30, "the report should end about 5 s after its 1 s timeout")
    }
}
