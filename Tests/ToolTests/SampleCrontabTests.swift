import Foundation
import LogshipTestSupport
import XCTest

/// samples/crontab cannot rot: every job line is parsed as cron would, its paths are mapped into
/// a temp directory, and its command runs with /bin/sh against the built tools, in file order,
/// as a minute of cron would run them. A healthy chain raises no alert and brings both replicas
/// to the master's state; a gap in one replica's inbox raises exactly that replica's alerts.
final class SampleCrontabTests: XCTestCase {
    struct Job {
        var line: Int
        var schedule: [String]
        var command: String
    }

    /// The crontab's job lines and its environment assignments.
    static func parse(_ text: String) -> (environment: [String: String], jobs: [Job]) {
        var environment: [String: String] = [:]
        var jobs: [Job] = []
        for (index, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true).map(String.init)
            if fields.count == 1, let eq = line.firstIndex(of: "=") {
                environment[String(line[..<eq])] = String(line[line.index(after: eq)...])
                continue
            }
            jobs.append(Job(line: index + 1, schedule: Array(fields.prefix(5)),
                            command: fields.count == 6 ? fields[5].trimmingCharacters(in: .whitespaces) : ""))
        }
        return (environment, jobs)
    }

    /// A cron time field: `*`, numbers, ranges, lists and steps.
    static func isCronField(_ field: String) -> Bool {
        field.range(of: #"^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,[0-9]+(-[0-9]+)?)*$"#, options: .regularExpression) != nil
    }

    func testTheCrontabIsWellFormed() throws {
        let (environment, jobs) = Self.parse(try String(contentsOfFile: SampleSetup.sample("crontab"), encoding: .utf8))
        XCTAssertEqual(environment["SHELL"], "/bin/sh")
        XCTAssertNotNil(environment["PATH"], "cron's default PATH lacks /usr/local/bin, where the tools are installed")
        XCTAssertGreaterThanOrEqual(jobs.count, 10)
        for job in jobs {
            XCTAssertEqual(job.schedule.count, 5, "line \(job.line)")
            XCTAssertTrue(job.schedule.allSatisfy(Self.isCronField), "line \(job.line): \(job.schedule)")
            XCTAssertFalse(job.command.isEmpty, "line \(job.line)")
            XCTAssertFalse(job.command.contains("%"), "line \(job.line): cron turns an unescaped % into a newline")
            // Each tool's own --quiet (or --out, or --prometheus into a file) keeps cron mail for problems, not a redirect.
            XCTAssertFalse(job.command.contains("/dev/null"), "line \(job.line): use the tool's --quiet")
            XCTAssertTrue(["--quiet", "--out", "--prometheus"].contains { job.command.contains($0) }, "line \(job.line): a cron job needs --quiet")
        }
        // The whole chain is there: rotate, ship, apply, snapshot, report, check, verify, purge.
        let all = jobs.map(\.command).joined(separator: "\n")
        for piece in ["binlog-writer rotate", "binlog-ship --config", "replica-apply /srv/replica-a", "replica-apply /srv/replica-b",
                      "replica-apply snapshot", "report monthly-expenses", "report query", "binlog-ship check", "replica-apply check",
                      "binlog-ship purge", "binlog-writer verify", "binlog-ship verify", "--prometheus"] {
            XCTAssertTrue(all.contains(piece), "samples/crontab has no \(piece) job")
        }
    }

    func testEveryCrontabLineRunsAgainstTheBuiltTools() throws {
        let setup = try SampleSetup("crontab")
        try setup.createMasterAndReplicas(segmentSize: "16KiB")   // the load seals segments: minute 1 ships some
        let jobs = Self.parse(try String(contentsOfFile: SampleSetup.sample("crontab"), encoding: .utf8)).jobs
        let path = setup.stubs + ":" + ToolRunner.productsDirectory + ":/usr/bin:/bin"
        for job in jobs { assertPathsMapped(setup.substitute(job.command), setup, line: job.line) }

        // Minute 1: the sealed segments ship and apply; the active one waits for its 5 minutes.
        for (job, r) in try runAll(jobs, setup, path: path) {
            XCTAssertEqual(r.status, 0, "line \(job.line): \(job.command)\nstdout: \(r.stdout)\nstderr: \(r.stderr)")
            XCTAssertEqual(r.stdout + r.stderr, "", "line \(job.line) printed something, so cron would mail on a healthy run")
        }
        XCTAssertEqual(setup.alertLines(), [], "a healthy chain raises no alert")

        // Five minutes later, rotate seals the rest: the next minute brings both replicas to the master.
        try setup.tool("binlog-writer", ["rotate", setup.master])
        for (job, r) in try runAll(jobs, setup, path: path) {
            XCTAssertEqual(r.status, 0, "line \(job.line): \(job.command)\nstderr: \(r.stderr)")
        }
        XCTAssertEqual(setup.alertLines(), [])
        try assertOutputs(setup)

        // A segment lost from replica A's inbox: A stops at the gap (exit 2) and its alerts fire; B's do not.
        try breakReplicaA(setup)
        let results = try runAll(jobs, setup, path: path)
        for (job, r) in results {
            let expected: Int32 = job.command.hasPrefix("replica-apply /srv/replica-a ") ? 2 : 0
            XCTAssertEqual(r.status, expected, "line \(job.line): \(job.command)\nstderr: \(r.stderr)")
        }
        let alerts = setup.alertLines()
        XCTAssertTrue(alerts.contains { $0.contains("replica-a lags or is stuck") }, "\(alerts)")
        XCTAssertTrue(alerts.contains { $0.contains("target a failed verify") }, "\(alerts)")
        XCTAssertFalse(alerts.contains { $0.contains("replica-b") || $0.contains("target b") || $0.contains("shipping") }, "\(alerts)")
    }

    /// Runs every job once, in file order, with its paths mapped into the test directory.
    private func runAll(_ jobs: [Job], _ setup: SampleSetup, path: String) throws -> [(Job, ToolRunner.Result)] {
        try jobs.map { job in (job, try setup.shell(setup.substitute(job.command), path: path)) }
    }

    /// Every absolute path in a mapped command is inside the test directory (or /dev/null), so
    /// a job can never touch the machine's real /srv or /etc.
    private func assertPathsMapped(_ command: String, _ setup: SampleSetup, line: Int) {
        for word in command.split(whereSeparator: { $0 == " " || $0 == "\"" }) where word.hasPrefix("/") {
            XCTAssertTrue(word.hasPrefix(setup.root + "/") || word == "/dev/null", "line \(line): \(word) is not mapped; extend SampleSetup.pathMap")
        }
    }

    /// After a healthy minute: replicas equal the master, and the report, metrics and snapshot are there.
    private func assertOutputs(_ setup: SampleSetup) throws {
        let last = try setup.masterLastLSN()
        let masterTables = try TableDigest.digest(path: setup.master + "/master.db")
        for name in ["a", "b"] {
            XCTAssertEqual(try appliedLSN(ofStore: setup.replica(name) + "/store.db"), last, "replica \(name)")
            XCTAssertEqual(try TableDigest.digest(path: setup.replica(name) + "/store.db"), masterTables, "replica \(name) differs from the master")
            let prom = try String(contentsOfFile: setup.root + "/textfile/logship-replica-\(name).prom", encoding: .utf8)
            XCTAssertTrue(prom.contains("logship_replica_applied_lsn{replica=\"\(setup.replica(name))\"} \(last)\n"), prom)
        }
        let master = try String(contentsOfFile: setup.root + "/textfile/logship-master.prom", encoding: .utf8)
        XCTAssertTrue(master.contains("logship_master_last_lsn{master=\"\(setup.master)\"} \(last)\n"), master)
        let shipping = try String(contentsOfFile: setup.root + "/textfile/logship-ship.prom", encoding: .utf8)
        for target in ["a", "b"] {
            XCTAssertTrue(shipping.contains("logship_ship_behind_lsns{source=\"\(setup.master)/binlog\",target=\"\(target)\"} 0\n"), shipping)
        }
        let html = try String(contentsOfFile: setup.root + "/srv/www/expenses.html", encoding: .utf8)
        XCTAssertTrue(html.contains("LSN \(last)"), "the report's freshness stamp names the applied LSN")
        let csv = try String(contentsOfFile: setup.root + "/srv/www/top-merchants.csv", encoding: .utf8)
        XCTAssertTrue(csv.contains("merchant,expenses,total,first_seen,last_seen\r\n"), csv)
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: setup.replica("a") + "/snapshots")
        XCTAssertTrue(snapshots.contains(String(format: "snapshot-%016llx.db", last)), "\(snapshots)")
    }

    /// Commits enough on the master to seal several segments, ships them, and deletes the first
    /// new one from replica A's inbox before A applies it.
    private func breakReplicaA(_ setup: SampleSetup) throws {
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: setup.replica("a") + "/inbox"))
        // Four transactions of about 500 rows each: every one fills a 16 KiB segment, which seals.
        let copy = "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency, note) "
            + "SELECT spent_at, category, merchant, amount_cents + 1, currency, hex(randomblob(40)) FROM expenses WHERE id % 4 = "
        try setup.tool("binlog-writer", ["exec", setup.master, (0..<4).map { copy + "\($0) AND id <= 2001;" }.joined(separator: "\n")])
        try setup.tool("binlog-writer", ["rotate", setup.master])
        try setup.tool("binlog-ship", ["--config", setup.root + "/etc/logship/ship.yml", "--quiet"])
        let new = try FileManager.default.contentsOfDirectory(atPath: setup.replica("a") + "/inbox").filter { !before.contains($0) }.sorted()
        XCTAssertGreaterThanOrEqual(new.count, 2, "the insert should fill several 16 KiB segments: \(new)")
        try FileManager.default.removeItem(atPath: setup.replica("a") + "/inbox/" + new[0])
    }
}
