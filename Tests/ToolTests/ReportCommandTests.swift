import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// `report` as an analyst runs it: the built binary's stdout, stderr, exit codes and files,
/// on stores built here, on a real master and replica, and while `replica-apply --follow`
/// applies.
final class ReportCommandTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let goldenDirectory = root + "/Tests/ReportTests/Fixtures"
    static let sourceID = UUID(uuidString: "5EED0000-0000-4000-8000-000000000005")!
    static let commitTime: Int64 = 1_714_564_800_123_456   // 2024-05-01T12:00:00.123456Z, as in ReportTests

    private func report(_ args: String...) throws -> ToolRunner.Result { try ToolRunner.run("report", args) }

    /// A store file with the sample schema, `rows` and a position (the golden store of
    /// ReportTests when `rows` is Fixtures/golden-rows.sql and the defaults are kept).
    @discardableResult
    static func makeStore(_ path: String, rows: String = "", schema: String? = nil, lsn: UInt64 = 1234, commitTime: Int64 = commitTime) throws -> String {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        try queue.write { db in
            try db.execute(sql: try schema ?? String(contentsOfFile: root + "/samples/expenses.sql", encoding: .utf8))
            if !rows.isEmpty { try db.execute(sql: rows) }
            try AppliedPosition.createTable(db, initial: AppliedPosition(sourceID: sourceID, epoch: 3, lsn: lsn, commitTime: commitTime, appliedAt: commitTime))
        }
        return path
    }

    /// Replaces the age, "reported at" and temporary directory, as ReportTests' Render.normalized does.
    static func normalized(_ text: String, directory: String) -> String {
        var t = text.replacingOccurrences(of: directory, with: "<dir>")
        t = t.replacingOccurrences(of: #"\([0-9.]+ (s|min|h|days) old when reported at [0-9T:.\-]+Z\)"#, with: "(<age> old when reported at <now>)", options: .regularExpression)
        t = t.replacingOccurrences(of: #""ageSeconds":[0-9.eE+\-]+"#, with: #""ageSeconds":"<age>""#, options: .regularExpression)
        return t.replacingOccurrences(of: #""reportedAt":"[0-9T:.\-]+Z""#, with: #""reportedAt":"<now>""#, options: .regularExpression)
    }

    private func modification(_ path: String) throws -> (Data, Date) {
        (try Data(contentsOf: URL(fileURLWithPath: path)), try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date)
    }

    /// The built tool prints exactly the golden files of ReportTests, for both reports, every
    /// format, with the SQL from --file and the parameter from --param.
    func testBuiltToolPrintsTheGoldenOutputs() throws {
        let dir = TestDirectory("report-cli")
        let store = try Self.makeStore(dir.sub("store.db"), rows: String(contentsOfFile: Self.goldenDirectory + "/golden-rows.sql", encoding: .utf8))
        let sql = dir.sub("query.sql")
        try """
            SELECT id, spent_at, merchant, amount_cents, amount_cents / 100.0 AS amount, note,
                   CASE WHEN id = 1 THEN x'00ff10' END AS raw
            FROM expenses WHERE amount_cents >= :min ORDER BY id
            """.write(toFile: sql, atomically: true, encoding: .utf8)
        for (format, ext) in [("table", "txt"), ("csv", "csv"), ("json", "json"), ("markdown", "md"), ("html", "html")] {
            let monthly = try report("monthly-expenses", "--store", store, "--format", format)
            XCTAssertEqual(monthly.status, 0, monthly.stderr)
            // CSV without comment lines carries the freshness stamp on stderr.
            if format == "csv" {
                XCTAssertTrue(monthly.stderr.hasPrefix("report: data as of LSN 1234, committed ") && monthly.stderr.split(separator: "\n").count == 1, monthly.stderr)
            } else {
                XCTAssertEqual(monthly.stderr, "")
            }
            XCTAssertEqual(Self.normalized(monthly.stdout, directory: dir.path), try String(contentsOfFile: Self.goldenDirectory + "/monthly-expenses.\(ext)", encoding: .utf8), format)
            let query = try report("query", "--store", store, "-f", format, "--file", sql, "--param", "min=5")
            XCTAssertEqual(query.status, 0, query.stderr)
            XCTAssertEqual(Self.normalized(query.stdout, directory: dir.path), try String(contentsOfFile: Self.goldenDirectory + "/query.\(ext)", encoding: .utf8), format)
        }
    }

    /// --out publishes the file whole (nothing on stdout), refuses to overwrite without
    /// --force (exit 16), and leaves no temporary file behind on success or failure.
    func testOutWritesAFileDurablyAndRefusesToOverwrite() throws {
        let dir = TestDirectory("report-cli")
        let store = try Self.makeStore(dir.sub("store.db"), rows: String(contentsOfFile: Self.goldenDirectory + "/golden-rows.sql", encoding: .utf8))
        let out = dir.sub("reports/monthly.html")
        try FileManager.default.createDirectory(atPath: dir.sub("reports"), withIntermediateDirectories: true)
        let first = try report("monthly-expenses", "--store", store, "-f", "html", "--out", out)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(first.stdout, "")
        let written = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertEqual(Self.normalized(written, directory: dir.path), try String(contentsOfFile: Self.goldenDirectory + "/monthly-expenses.html", encoding: .utf8))
        let again = try report("monthly-expenses", "--store", store, "-f", "csv", "--out", out)
        XCTAssertEqual(again.status, 16, again.stderr)
        XCTAssertTrue(again.stderr.contains("exists") && again.stderr.contains("--force"), again.stderr)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), written, "the refused run left the file alone")
        let failing = try report("query", "--store", store, "--out", out, "--force", "SELECT abs(-9223372036854775807 - 1)")
        XCTAssertEqual(failing.status, 10, failing.stderr)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), written, "a failed report does not replace the file")
        let forced = try report("monthly-expenses", "--store", store, "-f", "csv", "--out", out, "--force")
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(try String(contentsOfFile: out, encoding: .utf8).hasPrefix("section,month,category,currency,merchant,rank,measure,value\r\n"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.sub("reports")), ["monthly.html"], "no temporary files left")
        XCTAssertEqual(try report("monthly-expenses", "--store", store, "--out", dir.sub("nowhere/x.csv")).status, 14)
    }

    /// Bad input of every kind: a clear message and the documented exit code.
    func testBadInputGetsAClearErrorAndItsExitCode() throws {
        let dir = TestDirectory("report-cli")
        let store = try Self.makeStore(dir.sub("store.db"), rows: String(contentsOfFile: Self.goldenDirectory + "/golden-rows.sql", encoding: .utf8))
        let cases: [([String], Int32, String)] = [
            (["monthly-expenses"], 64, "--store"),
            (["monthly-expenses", "--store", store, "--format", "xml"], 64, "--format must be one of"),
            (["monthly-expenses", "--store", store, "--from", "2024-13"], 64, "--from takes a month"),
            (["monthly-expenses", "--store", store, "--from", "2024-05", "--to", "2024-01"], 64, "--from 2024-05 is after --to 2024-01"),
            (["monthly-expenses", "--store", store, "--top", "0"], 64, "--top must be at least 1"),
            (["monthly-expenses", "--store", store, "--out-dir", dir.sub("csv")], 64, "--out-dir writes CSV files: add -f csv"),
            (["monthly-expenses", "--store", store, "-f", "csv", "--out-dir", dir.sub("csv"), "--out", dir.sub("x.csv")], 64, "give --out or --out-dir, not both"),
            (["monthly-expenses", "--store", store, "-f", "json", "--csv-comments"], 64, "apply to -f csv only"),
            (["monthly-expenses", "--store", store, "--max-lag", "soon"], 64, "--max-lag takes a duration"),
            (["monthly-expenses", "--store", store, "--max-lag", "15"], 64, "--max-lag takes a duration"),
            (["monthly-expenses", "--store", store, "--min-lsn", "5", "--wait", "forever"], 64, "--wait takes a duration"),
            (["monthly-expenses", "--store", store, "--table", "spending"], 64, "no table spending"),
            (["monthly-expenses", "--store", store, "--amount-column", "cents"], 64, "--amount-column"),
            (["monthly-expenses", "--store", dir.sub("missing")], 15, "no store could be opened"),
            (["monthly-expenses", "--store", store, "--max-lag", "1h"], 5, "staler than --max-lag"),
            (["query", "--store", store], 64, "give the SQL"),
            (["query", "--store", store, "SELECT 1", "--file", "x.sql"], 64, "give the SQL"),
            (["query", "--store", store, "--file", dir.sub("missing.sql")], 15, "missing.sql"),
            (["query", "--store", store, "SELECT :a"], 64, "no --param a="),
            (["query", "--store", store, "SELECT 1", "--param", "a=1"], 64, "--param a is not used"),
            (["query", "--store", store, "SELECT 1", "--param", "novalue"], 64, "--param takes name=value"),
            (["query", "--store", store, "SELECT :a", "--param", "a=1", "--param", ":a=2"], 64, "--param a is given twice"),
            (["query", "--store", store, "SELECT * FROM expenses WHERE id = ?"], 64, "positional"),
            (["query", "--store", store, "SELEKT 1"], 10, "SELEKT"),
            (["query", "--store", store, "SELECT nope FROM expenses"], 10, "no such column: nope"),
            (["query", "--store", store, "DELETE FROM expenses"], 64, "read-only"),
            (["query", "--store", store, "ATTACH '\(store)' AS again"], 64, "read-only"),
        ]
        let before = try modification(store)
        for (args, status, message) in cases {
            let r = try ToolRunner.run("report", args)
            XCTAssertEqual(r.status, status, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): expected “\(message)” in \(r.stderr)")
            if status != 0 { XCTAssertEqual(r.stdout, "", "\(args): nothing on stdout when refused") }
        }
        let after = try modification(store)
        XCTAssertEqual(after.0, before.0, "store bytes unchanged")
        XCTAssertEqual(after.1, before.1, "store modification time unchanged")
        // --help documents the exit codes.
        let help = try report("--help")
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("5  lag: further behind than --max-lag") && help.stdout.contains("64  usage error"), help.stdout)
    }

    /// --max-lag and --min-lsn on a real master and replica: the stamp names the master's
    /// source and the commit time `binlog-writer exec` printed; a report asked for a newer LSN
    /// waits until replica-apply brings it, and gives up with exit 5 after --wait.
    func testFreshnessOnARealReplica() throws {
        let p = try ReportPipeline("report-fresh")
        let first = try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-02', 'food', 'Edeka', 1250, 'EUR')")
        try p.rotate(); try p.ship(); try p.apply()
        let r = try report("monthly-expenses", "--store", p.replica, "--max-lag", "1h")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("data as of LSN \(first.lsn), committed \(first.commitTime) on source \(try p.sourceID()) epoch 1 ("), r.stdout)
        XCTAssertTrue(r.stdout.contains("2024-01  food      EUR           1  12.50"), r.stdout)
        let stale = try report("monthly-expenses", "--store", p.replica, "--max-lag", "1ms")
        XCTAssertEqual(stale.status, 5, stale.stderr)
        XCTAssertTrue(stale.stderr.contains("staler than --max-lag") && stale.stderr.contains("LSN \(first.lsn)"), stale.stderr)
        XCTAssertEqual(stale.stdout, "")

        // Read-your-writes: the write is acknowledged with an LSN; the report waits for it.
        let write = try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-03', 'food', 'Edeka', 750, 'EUR')")
        try p.rotate()
        let waiting = try ReportBackgroundTool("report", ["query", "--store", p.replica, "--min-lsn", String(write.lsn), "--wait", "30s", "-f", "csv",
                                                    "SELECT sum(amount_cents) AS total FROM expenses"])
        usleep(700_000)
        XCTAssertTrue(waiting.isRunning, "the report waits while the replica is behind")
        try p.ship(); try p.apply()
        let waited = waiting.finish()
        XCTAssertEqual(waited.status, 0, waited.stderr)
        XCTAssertTrue(waited.stderr.contains("data as of LSN \(write.lsn),") && waited.stdout == "total\r\n2000\r\n", waited.stdout + waited.stderr)
        let start = Date()
        let timeout = try report("monthly-expenses", "--store", p.replica, "--min-lsn", String(write.lsn + 100), "--wait", "1s")
        XCTAssertEqual(timeout.status, 5, timeout.stderr)
        XCTAssertTrue(timeout.stderr.contains("no store reached LSN \(write.lsn + 100) within 1 s"), timeout.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 1)
    }

    /// Several replicas: the freshest that meets --max-lag is used and named on stderr; a
    /// missing or dead replica, or one staler than --max-lag, is passed over with a note.
    func testSeveralStoresUseTheFreshestAndSayWhich() throws {
        let p = try ReportPipeline("report-many")
        let early = try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-02-01', 'rent', 'Acme', 100000, 'EUR')")
        let late = try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-02-02', 'food', 'Lidl', 1999, 'EUR')")
        try p.rotate(); try p.ship()
        let behind = try p.newReplica("behind")
        try p.ship(to: behind)
        try p.apply(behind, "--until-lsn", String(early.lsn))
        try p.apply()
        let dead = p.dir.sub("dead")
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", dead]).status, 0)
        try Data(repeating: 0x42, count: 4096).write(to: URL(fileURLWithPath: dead + "/store.db"))
        let missing = p.dir.sub("missing")
        let r = try report("monthly-expenses", "--store", behind, "--store", dead, "--store", missing, "--store", p.replica, "--max-lag", "1h", "-f", "csv")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("data as of LSN \(late.lsn),") && r.stdout.contains("by-month-category-and-currency,2024-02,food,EUR,,,total,19.99\r\n"), r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("report: using \(p.replica)/store.db (LSN \(late.lsn))"), r.stderr)
        XCTAssertTrue(r.stderr.contains("report: skipped \(dead)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("report: skipped \(missing)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("report: not used: \(behind)/store.db at LSN \(early.lsn)"), r.stderr)
        // A store of the same master further ahead but older than --max-lag is passed over;
        // without it, it wins. (Stores of different masters are refused: StoreConsistencyTests.)
        let ahead = try Self.makeStore(p.dir.sub("ahead.db"), lsn: 1_000_000)
        let source = try DatabaseQueue(path: p.replica + "/store.db").read { db in try String.fetchOne(db, sql: "SELECT source_id FROM _logship_position") }
        try DatabaseQueue(path: ahead).write { db in try db.execute(sql: "UPDATE _logship_position SET source_id = ?", arguments: [source]) }
        let lagging = try report("query", "--store", ahead, "--store", p.replica, "--max-lag", "1h", "SELECT 1 AS one")
        XCTAssertEqual(lagging.status, 0, lagging.stderr)
        XCTAssertTrue(lagging.stderr.contains("using \(p.replica)/store.db") && lagging.stderr.contains("not used: \(ahead) at LSN 1000000"), lagging.stderr)
        let noLimit = try report("query", "--store", ahead, "--store", p.replica, "SELECT 1 AS one")
        XCTAssertTrue(noLimit.stderr.contains("using \(ahead) (LSN 1000000)"), noLimit.stderr)
        // Every store dead: exit 15, each named.
        let none = try report("query", "--store", dead, "--store", missing, "SELECT 1")
        XCTAssertEqual(none.status, 15, none.stderr)
        XCTAssertTrue(none.stderr.contains(dead) && none.stderr.contains(missing), none.stderr)
    }

    /// A master directory (or its database) is refused with exit 64 unless --allow-master,
    /// and then the stamp says [MASTER]; the master's files are not changed either way.
    func testMasterIsRefusedUnlessAllowed() throws {
        let p = try ReportPipeline("report-master")
        _ = try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-03-01', 'food', 'Lidl', 100, 'EUR')")
        let database = p.master + "/master.db"
        let before = try modification(database)
        for target in [p.master, p.master + "/", database] {
            let r = try report("monthly-expenses", "--store", target)
            XCTAssertEqual(r.status, 64, "\(target): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("is a master: reports belong on replicas") && r.stderr.contains("--allow-master"), r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
        let allowed = try report("monthly-expenses", "--store", p.master, "--allow-master")
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertTrue(allowed.stdout.contains("[MASTER]") && allowed.stdout.contains("2024-03  food      EUR           1   1.00"), allowed.stdout)
        XCTAssertTrue(allowed.stderr.contains("warning: running on the master"), allowed.stderr)
        XCTAssertEqual(try modification(database).0, before.0)
    }

    /// Memory does not grow with the number of rows: peak RSS of `report query` over N and 4N
    /// rows (500,000 at 4N), to CSV and to JSON, read from /usr/bin/time (or /proc VmHWM),
    /// against a one-row query's peak (the binary, Foundation and SQLite's cache).
    func testLargeResultsStreamInBoundedMemory() throws {
        let dir = TestDirectory("report-stream")
        let n = 125_000
        let store = try Self.makeStore(dir.sub("store.db"), schema: "CREATE TABLE t (n INTEGER PRIMARY KEY, label TEXT, cents INTEGER);")
        let queue = try DatabaseQueue(path: store)
        try queue.write { db in
            try db.execute(sql: """
                WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?)
                INSERT INTO t SELECT n, 'row ' || n || ', "quoted"', n * 7 FROM c
                """, arguments: [4 * n])
        }
        try queue.close()
        for format in ["csv", "json"] {
            let baseline = try ReportMeasuredRun(["query", "--store", store, "-f", format, "SELECT * FROM t WHERE n = 1"])
            let small = try ReportMeasuredRun(["query", "--store", store, "-f", format, "SELECT * FROM t WHERE n <= \(n) ORDER BY n"])
            let large = try ReportMeasuredRun(["query", "--store", store, "-f", format, "SELECT * FROM t ORDER BY n"])
            for run in [baseline, small, large] { XCTAssertEqual(run.status, 0, run.stderr) }
            XCTAssertGreaterThanOrEqual(small.lines, n, format)
            XCTAssertGreaterThanOrEqual(large.lines, 4 * n, format)
            let message = "\(format): peak \(baseline.peakKB) KB for 1 row, \(small.peakKB) KB for \(n) rows (\(small.bytes / 1_000_000) MB out), "
                + "\(large.peakKB) KB for \(4 * n) rows (\(large.bytes / 1_000_000) MB out)"
            print(message)
            XCTAssertGreaterThan(baseline.peakKB, 0, "peak RSS was measured")
            XCTAssertLessThan(large.peakKB - small.peakKB, 4_000, "independent of the row count: " + message)
            XCTAssertLessThan((large.peakKB - baseline.peakKB) * 1024, large.bytes / 4, "far below what holding the rows would take: " + message)
        }
    }
}
