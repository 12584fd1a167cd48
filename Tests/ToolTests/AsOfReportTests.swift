import Foundation
import LogshipTestSupport
import XCTest

/// `report … --as-of-lsn/--as-of-time` and `report verify`, through the built tools on a real
/// master → inbox → replica pipeline (docs/REPORTS.md, "As-of reports").
final class AsOfReportTests: XCTestCase {
    private func report(_ args: [String], environment: [String: String]? = nil) throws -> ToolRunner.Result {
        try ToolRunner.run("report", args, environment: environment)
    }

    private func insert(_ p: ReportPipeline, _ rows: [(String, String, Int)]) throws -> ReportPipeline.Commit {
        let values = rows.map { "('\($0.0)', '\($0.1)', 'Shop', \($0.2), 'EUR')" }.joined(separator: ", ")
        return try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES \(values)")
    }

    /// Three commits in three segments, applied, with a snapshot after the first, so a restore
    /// starts from the snapshot and replays inbox segments.
    private func pipeline(_ label: String) throws -> (ReportPipeline, [ReportPipeline.Commit]) {
        let p = try ReportPipeline(label)
        var commits: [ReportPipeline.Commit] = []
        commits.append(try insert(p, [("2024-01-02", "food", 1250), ("2024-01-09", "rent", 90000)]))
        try p.rotate(); try p.ship(); try p.apply()
        try ReportPipeline.check(ToolRunner.run("replica-apply", ["snapshot", p.replica]))
        commits.append(try insert(p, [("2024-02-03", "food", 700), ("2024-01-20", "food", 55)]))
        try p.rotate(); try p.ship(); try p.apply()
        commits.append(try p.exec("UPDATE expenses SET amount_cents = amount_cents + 1 WHERE category = 'food'"))
        try p.rotate(); try p.ship(); try p.apply()
        return (p, commits)
    }

    private func sections(_ json: String) throws -> NSArray {
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return (doc?["sections"] as? NSArray) ?? []
    }

    /// An as-of report by LSN, and by the commit time of that LSN, has the figures of a report
    /// on a copy restored by hand with `replica-apply restore`, and a stamp that says "as of".
    func testAsOfEqualsAReportOnARestoredCopy() throws {
        let (p, commits) = try pipeline("asof-equal")
        let middle = commits[1]
        let restored = p.dir.sub("by-hand.db")
        try ReportPipeline.check(ToolRunner.run("replica-apply", ["restore", p.replica, "--to-lsn", String(middle.lsn), "--output", restored]))
        let byHand = try report(["monthly-expenses", "--store", restored, "-f", "json"])
        XCTAssertEqual(byHand.status, 0, byHand.stderr)
        let byLSN = try report(["monthly-expenses", "--store", p.replica, "--as-of-lsn", String(middle.lsn), "-f", "json"])
        XCTAssertEqual(byLSN.status, 0, byLSN.stderr)
        XCTAssertEqual(try sections(byLSN.stdout), try sections(byHand.stdout))
        XCTAssertNotEqual(try sections(byLSN.stdout), try sections(try report(["monthly-expenses", "--store", p.replica, "-f", "json"]).stdout),
                          "the latest data differs, so the comparison can fail")
        let byTime = try report(["monthly-expenses", "--store", p.replica, "--as-of-time", middle.commitTime, "-f", "json"])
        XCTAssertEqual(byTime.status, 0, byTime.stderr)
        XCTAssertEqual(byTime.stdout, byLSN.stdout, "the time resolves to the same LSN, and the stamp names only the LSN")

        let table = try report(["monthly-expenses", "--store", p.replica, "--as-of-lsn", String(middle.lsn)])
        let replica = URL(fileURLWithPath: p.replica).standardizedFileURL.path
        XCTAssertTrue(table.stdout.contains("data as of LSN \(middle.lsn) (commit time \(middle.commitTime)) on source \(try p.sourceID()) epoch 1, restored from replica \(replica) [AS OF]"), table.stdout)
        XCTAssertFalse(table.stdout.contains("reported at"), table.stdout)
        let doc = try JSONSerialization.jsonObject(with: Data(byLSN.stdout.utf8)) as? [String: Any]
        let freshness = doc?["freshness"] as? [String: Any]
        XCTAssertEqual(freshness?["asOfReplica"] as? String, replica)
        XCTAssertNil(freshness?["reportedAt"])
        XCTAssertNil(freshness?["ageSeconds"])

        let query = try report(["query", "--store", p.replica, "--as-of-lsn", String(commits[0].lsn), "-f", "csv", "SELECT count(*) AS n, sum(amount_cents) AS s FROM expenses"])
        XCTAssertEqual(query.status, 0, query.stderr)
        XCTAssertEqual(query.stdout, "n,s\r\n2,91250\r\n")
    }

    /// The same as-of command gives the same bytes later, after more data arrived and time
    /// passed; the temporary copy is gone after a run, and after a failed one.
    func testSameBytesLaterAndNoCopyLeftBehind() throws {
        let (p, commits) = try pipeline("asof-same")
        let tmp = p.dir.sub("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let env = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { $1 }
        let runs = ["table", "html", "markdown", "json", "csv"].map { format in
            ["monthly-expenses", "--store", p.replica, "--as-of-lsn", String(commits[1].lsn), "-f", format] + (format == "csv" ? ["--csv-comments"] : [])
        }
        let first = try runs.map { try report($0, environment: env) }
        for r in first { XCTAssertEqual(r.status, 0, r.stderr) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [])
        sleep(1)
        _ = try insert(p, [("2024-01-05", "food", 99)])
        try p.rotate(); try p.ship(); try p.apply()
        for (args, earlier) in zip(runs, first) {
            let later = try report(args, environment: env)
            XCTAssertEqual(later.status, 0, later.stderr)
            XCTAssertEqual(later.stdout, earlier.stdout, args.joined(separator: " "))
        }
        let failing = try report(["query", "--store", p.replica, "--as-of-lsn", String(commits[0].lsn), "SELECT nope FROM expenses"], environment: env)
        XCTAssertEqual(failing.status, 10, failing.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [], "the copy is removed after an error too")
    }

    /// An LSN or a time outside the recoverable window fails with restore's code (2) and the
    /// window in the message; flags that make no sense for pinned data are usage errors.
    func testOutsideTheWindowAndRefusedFlags() throws {
        let (p, commits) = try pipeline("asof-window")
        let last = commits[2].lsn
        let beyond = try report(["monthly-expenses", "--store", p.replica, "--as-of-lsn", String(last + 5)])
        XCTAssertEqual(beyond.status, 2, beyond.stderr)
        XCTAssertTrue(beyond.stderr.contains("LSN \(last + 5) cannot be restored: the recoverable window is LSN 0…\(last)"), beyond.stderr)
        XCTAssertEqual(beyond.stdout, "")
        let early = try report(["monthly-expenses", "--store", p.replica, "--as-of-time", "2001-01-01T00:00:00Z"])
        XCTAssertEqual(early.status, 2, early.stderr)
        XCTAssertTrue(early.stderr.contains("is before the earliest restorable commit: the recoverable window is LSN 0…\(last)"), early.stderr)
        let late = try report(["monthly-expenses", "--store", p.replica, "--as-of-time", "2099-01-01T00:00:00Z"])
        XCTAssertEqual(late.status, 2, late.stderr)
        XCTAssertTrue(late.stderr.contains("no restorable transaction is known to be the last before 2099-01-01"), late.stderr)
        let lag = try report(["monthly-expenses", "--store", p.replica, "--as-of-lsn", "1", "--max-lag", "1h"])
        XCTAssertEqual(lag.status, 64, lag.stderr)
        XCTAssertTrue(lag.stderr.contains("--max-lag and --min-lsn do not apply to an as-of report"), lag.stderr)
        let both = try report(["monthly-expenses", "--store", p.replica, "--as-of-lsn", "1", "--as-of-time", commits[0].commitTime])
        XCTAssertEqual(both.status, 64, both.stderr)
        XCTAssertTrue(both.stderr.contains("give --as-of-lsn or --as-of-time, not both"), both.stderr)
    }

    /// `report verify` re-runs a report from its stamp: exit 0 when it matches; exit 4 naming the
    /// first differing byte when the file was changed; exit 15 without a stamp.
    func testVerifyMatchesAndCatchesATamperedFile() throws {
        let (p, commits) = try pipeline("asof-verify")
        var rng = SeededRandom()
        let seed = rng.seed
        let work = p.dir.sub("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // A relative --store and --as-of-time: the stamp pins both (absolute path, resolved LSN).
        let relative = "../replica"
        let out = work + "/expenses.html"
        let made = try ToolRunner.runProcess(ToolRunner.path("report"), ["monthly-expenses", "--store", relative, "--as-of-time", commits[1].commitTime,
                                                                        "-f", "html", "--out", "expenses.html"], directory: work)
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertEqual(made.stdout + made.stderr, "", "a report to --out prints nothing")
        let stamp = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + ".stamp.json"))) as? [String: Any]
        XCTAssertEqual(stamp?["arguments"] as? [String], ["--store", URL(fileURLWithPath: p.replica).standardizedFileURL.path, "-f", "html", "--as-of-lsn", String(commits[1].lsn)])
        XCTAssertEqual(stamp?["lsn"] as? Int, Int(commits[1].lsn))

        _ = try insert(p, [("2024-01-30", "food", 1)])
        try p.rotate(); try p.ship(); try p.apply()
        let ok = try report(["verify", out])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.hasPrefix("\(out) matches a re-run at LSN \(commits[1].lsn) (commit time \(commits[1].commitTime))"), ok.stdout)

        var bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        let offset = Int.random(in: 0..<bytes.count, using: &rng)
        bytes[offset] = bytes[offset] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
        try bytes.write(to: URL(fileURLWithPath: out))
        let bad = try report(["verify", out])
        XCTAssertEqual(bad.status, 4, "seed \(seed): " + bad.stderr)
        XCTAssertTrue(bad.stderr.contains("does not match a re-run at LSN \(commits[1].lsn)") && bad.stderr.contains("first difference at byte \(offset) "), "seed \(seed): " + bad.stderr)

        try FileManager.default.removeItem(atPath: out + ".stamp.json")
        let none = try report(["verify", out])
        XCTAssertEqual(none.status, 15, none.stderr)
        XCTAssertTrue(none.stderr.contains("no stamp \(out).stamp.json beside it"), none.stderr)
    }
}
