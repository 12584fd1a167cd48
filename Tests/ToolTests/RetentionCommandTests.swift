import Foundation
import LogshipSystem
import LogshipTestSupport
import XCTest

/// `replica-apply prune` as an operator runs it: a master writing on days 0, 5 and 10 (its clock
/// moved by the `SkewedClock` shim), a snapshot after each day, then prune "on day 12" (the
/// prune process under the shim too) with a 4-day window and 3 daily snapshots: the dry run
/// says what would go and why the rest stays, `--confirm` deletes exactly that, restores inside
/// the window still work, and the policy also comes from logship.yml's `retention:` section.
final class RetentionCommandTests: XCTestCase {
    static let day: Int64 = 86_400_000_000

    func testPruneDryRunConfirmJSONAndTheRetentionSection() throws {
        let f = try ReplicaCLIFixture("retention-cli", segmentSize: "4KiB")
        let clock = try SkewedClock(scratch: f.dir.path)
        f.master.environment = clock.environment
        var snapshots: [String] = [], lastLSNs: [UInt64] = [], segmentsByDay: [[String]] = []
        for (i, d) in [0, 5, 10].enumerated() {
            try clock.set(Int64(d) * Self.day)
            try f.master.exec((i == 0 ? ReplicaWorkload.schema : "") + f.workload.sql(transactions: 8))
            try f.master.rotate()
            segmentsByDay.append(try f.shipAll())
            XCTAssertEqual(try f.apply("--quiet").status, 0)
            XCTAssertEqual(try f.tool(["snapshot", f.replica, "--quiet"]).status, 0)
            snapshots.append(Self.snapshotName(f.master.lastLSN))
            lastLSNs.append(f.master.lastLSN)
        }
        try clock.set(12 * Self.day)
        func prune(_ args: [String], environment extra: [String: String] = [:]) throws -> ToolRunner.Result {
            try ToolRunner.run("replica-apply", ["prune", f.replica] + args, environment: clock.environment.merging(extra) { _, new in new })
        }
        let files = { (try FileManager.default.contentsOfDirectory(atPath: f.replica + "/snapshots")).filter { $0.hasSuffix(".db") }.sorted() }
        let inbox = { (try FileManager.default.contentsOfDirectory(atPath: f.inbox)).filter { $0.hasSuffix(".binlog") }.sorted() }
        let before = (try files(), try inbox())

        // Dry run: what goes, why each thing stays; nothing deleted.
        let dry = try prune(["--window", "4d", "--daily", "3"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssert(dry.stdout.contains("would delete \(snapshots[0])"), dry.stdout)
        XCTAssert(dry.stdout.contains("keeping \(snapshots[1]) (LSN \(lastLSNs[1])"), dry.stdout)
        XCTAssert(dry.stdout.contains("starts the restore of the window's oldest moment"), dry.stdout)
        XCTAssert(dry.stdout.contains("keeping \(snapshots[2])") && dry.stdout.contains(": daily "), dry.stdout)
        for name in segmentsByDay[0] + segmentsByDay[1] { XCTAssert(dry.stdout.contains("would delete inbox/\(name)"), "\(name): \(dry.stdout)") }
        XCTAssert(dry.stdout.contains("keeping \(segmentsByDay[2].count) inbox segment(s)"), dry.stdout)
        XCTAssert(dry.stdout.contains("dry run: nothing deleted"), dry.stdout)
        XCTAssertEqual(try files(), before.0)
        XCTAssertEqual(try inbox(), before.1)

        // The same policy from logship.yml's retention section (and a flag winning over it).
        let yml = f.dir.sub("logship.yml")
        try "retention:\n  window: 4d\n  daily: 3\n  pins: [\(snapshots[0])]\n".write(toFile: yml, atomically: true, encoding: .utf8)
        let fromFile = try prune([], environment: ["LOGSHIP_CONFIG": yml])
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        XCTAssert(fromFile.stdout.contains("keeping \(snapshots[0])") && fromFile.stdout.contains("pinned"), fromFile.stdout)
        XCTAssertEqual(fromFile.stdout.components(separatedBy: "would delete inbox/").count - 1, segmentsByDay[0].count + segmentsByDay[1].count)
        // The replica's own policy in a `replicas:` section wins over the `retention:` section
        // (whose 20-day window would keep every segment); another replica's entry is not used.
        let perReplica = f.dir.sub("per-replica.yml")
        try """
            retention:
              window: 20d
            replicas:
              other:
                path: \(f.dir.sub("other-replica"))
                retention: {window: 1d}
              this:
                path: \(f.replica)/
                retention: {window: 4d, daily: 3, pins: [\(snapshots[0])]}

            """.write(toFile: perReplica, atomically: true, encoding: .utf8)
        let fromEntry = try prune([], environment: ["LOGSHIP_CONFIG": perReplica])
        XCTAssertEqual(fromEntry.status, 0, fromEntry.stderr)
        // The same plan (but the window's start, which moves with the clock between the runs).
        let plan = { (s: String) in s.replacingOccurrences(of: "since [^ ]+|moment \\([^,]+", with: "…", options: .regularExpression) }
        XCTAssertEqual(plan(fromEntry.stdout), plan(fromFile.stdout))
        let overridden = try prune(["--window", "20d"], environment: ["LOGSHIP_CONFIG": yml])
        XCTAssertEqual(overridden.status, 0, overridden.stderr)
        XCTAssertFalse(overridden.stdout.contains("would delete inbox/"), "a 20-day window reaches back before everything: \(overridden.stdout)")

        // JSON: the documented keys.
        let json = try prune(["--window", "4d", "--daily", "3", "--json"])
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], json.stdout)
        XCTAssertEqual(Set(o.keys), ["confirmed", "now", "windowStart", "anchorLSN", "snapshots", "deleteSegments", "keptSegments", "segmentsKeptBecause", "unmatchedPins", "remoteSnapshots"])
        XCTAssertTrue(o["remoteSnapshots"] is NSNull, "null without --remote")
        XCTAssertEqual(o["anchorLSN"] as? Int, Int(lastLSNs[1]))
        let first = try XCTUnwrap((o["snapshots"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(first.keys), ["path", "lsn", "commitTime", "delete", "keptBecause"])

        // --confirm with a pin: exactly the dry run's deletions, minus the pinned snapshot.
        let done = try prune(["--window", "4d", "--daily", "3", "--pin", snapshots[0], "--confirm"])
        XCTAssertEqual(done.status, 0, done.stderr)
        XCTAssertEqual(try files(), snapshots.sorted())
        XCTAssertEqual(try inbox(), segmentsByDay[2].sorted())
        // Inside the window (day 9: the state after day 5) restores; the middle of day 5, before the
        // window, no longer does (exit 2): its segments went. The pinned day-0 snapshot still restores at its own LSN.
        let inside = formatTimestamp(f.master.commits.last!.commitTime - Self.day)
        let ok = try f.tool(["restore", f.replica, "--to-time", inside, "--dry-run"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssert(ok.stdout.contains("LSN \(lastLSNs[1])"), ok.stdout)
        let outside = formatTimestamp(try XCTUnwrap(f.master.commits.first { $0.lsn == lastLSNs[0] + 2 }).commitTime)
        XCTAssertEqual(try f.tool(["restore", f.replica, "--to-time", outside, "--dry-run"]).status, 2)
        XCTAssertEqual(try f.tool(["restore", f.replica, "--to-lsn", String(lastLSNs[0]), "--dry-run"]).status, 0)
        // Apply goes on from the trimmed inbox.
        try clock.set(13 * Self.day)
        _ = try f.master.exec(f.workload.sql(transactions: 3))
        try f.master.rotate()
        try f.shipAll()
        XCTAssertEqual(try f.apply("--quiet").status, 0)
        try f.assertStore(at: f.master.lastLSN)

        // Bad input: a window without a unit, no policy at all (exit 64).
        for args in [["--window", "15"], [String]()] {
            let r = try prune(args, environment: ["LOGSHIP_CONFIG": ""])
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
        }
    }

    /// `replicas: {NAME: {path, prune: auto, retention}}`: `replica-apply --follow` prunes by the
    /// replica's own policy between passes (with `prune --confirm`'s rules), while a cron prune
    /// beside it still exits 12; the follower keeps applying and stops cleanly on SIGTERM.
    func testFollowerPrunesByTheReplicasOwnPolicy() throws {
        let f = try ReplicaCLIFixture("retention-follow", segmentSize: "4KiB")
        let clock = try SkewedClock(scratch: f.dir.path)
        f.master.environment = clock.environment
        var snapshots: [String] = [], segmentsByDay: [[String]] = []
        for (i, d) in [0, 5, 10].enumerated() {
            try clock.set(Int64(d) * Self.day)
            try f.master.exec((i == 0 ? ReplicaWorkload.schema : "") + f.workload.sql(transactions: 8))
            try f.master.rotate()
            segmentsByDay.append(try f.shipAll())
            XCTAssertEqual(try f.apply("--quiet").status, 0)
            XCTAssertEqual(try f.tool(["snapshot", f.replica, "--quiet"]).status, 0)
            snapshots.append(Self.snapshotName(f.master.lastLSN))
        }
        try clock.set(12 * Self.day)
        let yml = f.dir.sub("logship.yml")
        try "replicas:\n  this:\n    path: \(f.replica)\n    prune: auto\n    retention: {window: 4d, daily: 3}\n".write(toFile: yml, atomically: true, encoding: .utf8)
        var env = clock.environment
        env["LOGSHIP_CONFIG"] = yml
        let follower = try FollowMetricsTests.Background("replica-apply", [f.replica, "--follow", "--quiet"], environment: env)
        let files = { (try FileManager.default.contentsOfDirectory(atPath: f.replica + "/snapshots")).filter { $0.hasSuffix(".db") }.sorted() }
        let inbox = { (try FileManager.default.contentsOfDirectory(atPath: f.inbox)).filter { $0.hasSuffix(".binlog") }.sorted() }
        var pruned = false
        for _ in 0..<400 where !pruned {   // bounded wait for the first pass's prune (no timing asserted)
            pruned = try files() == Array(snapshots.dropFirst()).sorted() && inbox() == segmentsByDay[2].sorted()
            if !pruned { usleep(50_000) }
        }
        XCTAssertTrue(pruned, "snapshots \((try? files()) ?? []), inbox \((try? inbox()) ?? [])")
        // A cron prune beside it: the follower holds the replica's lock (exit 12).
        let cron = try ToolRunner.run("replica-apply", ["prune", f.replica, "--window", "4d", "--confirm"], environment: env)
        XCTAssertEqual(cron.status, 12, cron.stderr)
        // The follower still applies what arrives.
        try clock.set(13 * Self.day)
        _ = try f.master.exec(f.workload.sql(transactions: 3))
        try f.master.rotate()
        try f.shipAll()
        var caughtUp = false
        for _ in 0..<400 where !caughtUp {
            caughtUp = (try? f.storeLSN()) == f.master.lastLSN
            if !caughtUp { usleep(50_000) }
        }
        XCTAssertTrue(caughtUp, "the follower stopped applying")
        let (status, stderr) = follower.stop()
        XCTAssertEqual(status, 0, stderr)
        XCTAssertFalse(stderr.contains("unable to prune"), stderr)
        try f.assertStore(at: f.master.lastLSN)
    }

    static func snapshotName(_ lsn: UInt64) -> String {
        let h = String(lsn, radix: 16)
        return "snapshot-" + String(repeating: "0", count: 16 - h.count) + h + ".db"
    }
}
