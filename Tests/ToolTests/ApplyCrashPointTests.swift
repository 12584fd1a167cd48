import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// kill -9 `replica-apply` at named crash points (`LOGSHIP_CRASH_AT`, see `CrashPoint`): before
/// a transaction's rows, after a batch's rows before its position, after the position before
/// COMMIT, after COMMIT, and in a snapshot's publish before and after the rename. Each cycle
/// proves the point was reached (stderr line, death by SIGKILL), then checks that the store is
/// exactly at the last committed batch (computed from the batch size and the hit), equals the
/// master at that LSN (a replay of the binlog, digested by TableDigest), and that a rerun
/// continues right after it: nothing applied twice, nothing skipped. Snapshots: never an
/// incomplete file under a snapshot name; a rerun publishes a valid one that restores exactly.
/// LOGSHIP_CRASHPOINT_CYCLES sets the cycles (default 12); `tools/torture apply-crash` runs 200.
final class ApplyCrashPointTests: XCTestCase {
    static let applyPoints = ["apply.before-rows", "apply.before-position", "apply.after-position", "apply.after-commit"]
    static let snapshotPoints = ["snapshot.before-rename", "snapshot.after-rename"]

    private var f: ReplicaCLIFixture!
    private var oracle: [UInt64: [String: String]] = [:]

    /// XCTest keeps test case objects until the process ends: drop the directory now, or it
    /// would stay in the temp directory.
    override func tearDown() {
        f = nil
        oracle = [:]
        super.tearDown()
    }

    func testKill9AtNamedCrashPoints() throws {
        f = try ReplicaCLIFixture("apply-crashpoint")
        var rng = SeededRandom(seed: f.seed)
        let cycles = Int(ProcessInfo.processInfo.environment["LOGSHIP_CRASHPOINT_CYCLES"] ?? "") ?? 12
        try f.runWorkload(3000, schemaChanges: true)
        let segments = try f.master.sealedSegments()
        let last = f.master.lastLSN
        var fired: [String: Int] = [:]
        var replicaCycles = 0
        for cycle in 1...cycles {
            let context = "cycle \(cycle), \(f.context)"
            // Points in turn, so that every point fires in a short run too.
            let all = Self.applyPoints + Self.snapshotPoints
            let point = all[(cycle - 1) % all.count]
            if try replicaCycles == 0 || last - f.storeLSN() < 200 {
                try f.newReplica("replica-\(cycle)")
                for s in segments { try Shipping.ship(s.path, to: f.inbox) }
                replicaCycles = 0
            }
            replicaCycles = (replicaCycles + 1) % 10
            if Self.snapshotPoints.contains(point) {
                try snapshotCycle(point, last: last, rng: &rng, context: context)
            } else {
                try applyCycle(point, last: last, rng: &rng, context: context)
            }
            fired[point, default: 0] += 1
        }
        print("figures: apply-crash points: \(cycles) cycles, each killed by SIGKILL at its point: "
              + fired.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
              + "; every store at the exact batch boundary, equal to the master there, reruns continued right after; \(f.context)")
    }

    /// kill -9 while a new replica's store is being created: no store is left (only a temp file),
    /// so read-only openers (status, report) see a replica that has applied nothing instead of
    /// failing on a hot rollback journal; the rerun creates the store and applies everything.
    func testKill9WhileCreatingTheStore() throws {
        f = try ReplicaCLIFixture("store-crashpoint")
        try f.runWorkload(200)
        try f.shipAll()
        try runToCrash(["replica-apply", f.replica], point: "store.before-rename", hit: 1, context: f.context)
        let left = try FileManager.default.contentsOfDirectory(atPath: f.replica)
        XCTAssertFalse(left.contains { $0.hasPrefix("store.db") }, "a store after a crash while creating it: \(left); \(f.context)")
        XCTAssertTrue(left.contains { $0.hasPrefix(".tmp-") }, "the killed run's temp store: \(left); \(f.context)")
        let status = try f.tool(["status", f.replica, "--json"])
        XCTAssertEqual(status.status, 0, "status after the crash: \(status.stderr); \(f.context)")
        let rerun = try f.apply()
        XCTAssertEqual(rerun.status, 0, "rerun: \(rerun.stderr); \(f.context)")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: f.replica).contains { $0.hasPrefix(".tmp-") && $0.contains("-store.db") },
                       "the rerun removed the temp store; \(f.context)")
        try f.assertStore(at: f.master.lastLSN, "after the rerun")
    }

    /// One kill at an apply point, the position it must leave, and a rerun.
    private func applyCycle(_ point: String, last: UInt64, rng: inout SeededRandom, context: String) throws {
        let before = try f.storeLSN()
        let batch = Int.random(in: 1...20, using: &rng)
        let remaining = Int(last - before)
        let hits = point == "apply.before-rows" ? min(remaining, 400) : max(1, min(remaining / batch, 40))
        let hit = Int.random(in: 1...hits, using: &rng)
        let expected: UInt64
        switch point {
        case "apply.before-rows": expected = before + UInt64((hit - 1) / batch * batch)
        case "apply.after-commit": expected = before + UInt64(hit * batch)
        default: expected = before + UInt64((hit - 1) * batch)   // the hit-th batch is lost whole
        }
        try runToCrash(["replica-apply", f.replica, "--batch", "\(batch)"], point: point, hit: hit, context: context)
        XCTAssertEqual(try f.storeLSN(), expected, "\(point) hit \(hit) with --batch \(batch) from LSN \(before); \(context)")
        try assertStore(at: expected, "after kill -9 at \(point); \(context)")

        let target = min(last, expected + UInt64.random(in: 1...150, using: &rng))
        let rerun = try f.apply("--until-lsn", "\(target)")
        XCTAssertEqual(rerun.status, 0, "rerun after \(point): \(rerun.stderr); \(context)")
        XCTAssertTrue(rerun.stdout.hasPrefix("applied LSN \(expected + 1)…\(target) (\(target - expected) transactions"),
                      "the rerun must continue right after LSN \(expected): \(rerun.stdout); \(context)")
        try assertStore(at: target, "after the rerun; \(context)")
    }

    /// One kill inside a snapshot's publish, the files it may leave, and a rerun.
    private func snapshotCycle(_ point: String, last: UInt64, rng: inout SeededRandom, context: String) throws {
        // Apply a little first, so the snapshot's LSN is new and the publish path runs.
        let target = min(last, (try f.storeLSN()) + UInt64.random(in: 1...150, using: &rng))
        XCTAssertEqual(try f.apply("--until-lsn", "\(target)").status, 0, context)
        let snapshots = f.replica + "/snapshots"
        let name = "snapshot-" + String(format: "%016llx", target) + ".db"
        try runToCrash(["replica-apply", "snapshot", f.replica], point: point, hit: 1, context: context)
        let left = try FileManager.default.contentsOfDirectory(atPath: snapshots)
        if point == "snapshot.before-rename" {
            XCTAssertFalse(left.contains(name), "a snapshot under its name before the rename: \(left); \(context)")
            XCTAssertTrue(left.contains { $0.hasPrefix(".tmp-") }, "the killed run's temp file: \(left); \(context)")
        } else {
            XCTAssertTrue(left.contains(name), "\(name) after the rename: \(left); \(context)")
            try assertSnapshot(snapshots + "/" + name, at: target, context: context)
        }
        let rerun = try f.tool(["snapshot", f.replica])
        XCTAssertEqual(rerun.status, 0, "snapshot rerun after \(point): \(rerun.stderr); \(context)")
        let after = try FileManager.default.contentsOfDirectory(atPath: snapshots)
        XCTAssertFalse(after.contains { $0.hasPrefix(".tmp-") && !$0.hasSuffix(".lock") }, "temp files left after the rerun: \(after); \(context)")
        try assertSnapshot(snapshots + "/" + name, at: target, context: context)
        let out = f.dir.sub("restored-\(UUID().uuidString).db")
        defer { unlink(out) }
        let restore = try f.tool(["restore", f.replica, "--to-lsn", "\(target)", "-o", out])
        XCTAssertEqual(restore.status, 0, "restore from the snapshot: \(restore.stderr); \(context)")
        XCTAssertTrue(restore.stdout.contains("start from  snapshot"), "restore started from the snapshot: \(restore.stdout); \(context)")
        XCTAssertEqual(try TableDigest.digest(path: out), try digest(at: target), "restored at \(target); \(context)")
    }

    /// Runs a tool with `LOGSHIP_CRASH_AT=point:hit`; asserts it died by SIGKILL at that point.
    private func runToCrash(_ command: [String], point: String, hit: Int, context: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.path(command[0]))
        process.arguments = Array(command.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env["LOGSHIP_CRASH_AT"] = "\(point):\(hit)"
        process.environment = env
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertTrue(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL,
                      "\(command.joined(separator: " ")) was not killed at \(point):\(hit) (exit \(process.terminationStatus)): \(stderr); \(context)")
        XCTAssertTrue(stderr.contains("crash point \(point) reached (hit \(hit))"), "no crash point line: \(stderr); \(context)")
    }

    private func digest(at lsn: UInt64) throws -> [String: String] {
        if let d = oracle[lsn] { return d }
        let d = try f.master.digest(at: lsn, scratch: f.dir)
        oracle[lsn] = d
        return d
    }

    private func assertStore(at lsn: UInt64, _ message: String) throws {
        XCTAssertEqual(try f.storeLSN(), lsn, message)
        XCTAssertEqual(try TableDigest.digest(path: f.store), try digest(at: lsn), "store differs from the master at LSN \(lsn); \(message)")
    }

    private func assertSnapshot(_ path: String, at lsn: UInt64, context: String) throws {
        XCTAssertEqual(try appliedLSN(ofStore: path), lsn, "snapshot position; \(context)")
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: path, configuration: config)
        XCTAssertEqual(try q.read { try String.fetchOne($0, sql: "PRAGMA quick_check") }, "ok", "snapshot quick_check; \(context)")
        try q.close()
        XCTAssertEqual(try TableDigest.digest(path: path), try digest(at: lsn), "snapshot content at \(lsn); \(context)")
    }
}
