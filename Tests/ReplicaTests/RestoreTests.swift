import BinlogFormat
import Foundation
import GRDB
import LogshipSystem
import LogshipTestSupport
import ReplicaStore
import XCTest

/// Snapshots and point-in-time restore against markers recorded on the master while a workload
/// ran: each marker is the master's own tables (TableDigest of master.db) right after an
/// acknowledged LSN, and the commit time of that LSN.
final class RestoreTests: XCTestCase {
    struct Marker {
        var lsn: UInt64
        var time: Int64
        /// Commit time of the next transaction (nil for the last marker).
        var nextTime: Int64?
        var digest: [String: String]
    }

    /// Runs `count` chunks of workload, recording a marker after each; chunks are a few
    /// milliseconds apart so that times between them fall between commits.
    private func recordMarkers(_ f: ReplicaFixture, count: Int) throws -> [Marker] {
        var rng = SeededRandom(seed: f.seed &+ 1)
        var markers: [Marker] = []
        for i in 0..<count {
            let commits = try f.master.exec((i == 0 ? ReplicaWorkload.schema : "") + f.workload.sql(transactions: Int.random(in: 40...160, using: &rng),
                                                                                                  schemaChanges: true))
            if !markers.isEmpty { markers[markers.count - 1].nextTime = commits.first?.commitTime }
            markers.append(Marker(lsn: commits.last!.lsn, time: commits.last!.commitTime, digest: try TableDigest.digest(path: f.master.databasePath)))
            usleep(UInt32.random(in: 3_000...8_000, using: &rng))
        }
        try f.master.rotate()
        return markers
    }

    private func restore(_ replica: String, _ target: Restore.Target, _ output: String) throws -> (Restore.Plan, [String: String]) {
        let plan = try Restore.plan(replica: replica, target: target)
        try Restore.execute(plan, output: output)
        defer { unlink(output) }
        return (plan, try TableDigest.digest(path: output))
    }

    /// Applies up to `lsn` and writes a snapshot there.
    private func snapshot(_ f: ReplicaFixture, at lsn: UInt64) throws -> Snapshot {
        try f.apply(Replica.ApplyOptions(untilLSN: lsn))
        let r = try Replica.open(f.replicaPath)
        defer { r.close() }
        let s = try r.snapshot().snapshot
        XCTAssertEqual(s.lsn, lsn)
        return s
    }

    func testRestoringToEveryMarkerByLSNAndByTimeGivesExactlyThatState() throws {
        let f = try ReplicaFixture("restore-markers")
        let markers = try recordMarkers(f, count: 16)
        try f.shipAll()
        let snapshots = [try snapshot(f, at: markers[4].lsn), try snapshot(f, at: markers[10].lsn)]
        XCTAssertEqual(try TableDigest.digest(path: snapshots[1].path), markers[10].digest, "a snapshot holds the store's state at its LSN")
        let out = f.dir.sub("restored.db")
        for (i, m) in markers.enumerated() {
            let (plan, digest) = try restore(f.replicaPath, .lsn(m.lsn), out)
            XCTAssertEqual(digest, m.digest, "restore to LSN \(m.lsn) (marker \(i)); \(f.context)")
            XCTAssertEqual(plan.snapshot?.lsn, snapshots.last { $0.lsn <= m.lsn }?.lsn, "the newest snapshot at or before the target is the start")
            XCTAssertEqual(plan.targetCommitTime, formatTimestamp(m.time))
            // By time: exactly the marker's commit time, and the last microsecond before the
            // next commit, both give the marker's state (the last LSN committed at or before T).
            var times = [m.time]
            if let next = m.nextTime { times.append(next - 1) }
            for t in times {
                let (byTime, d) = try restore(f.replicaPath, .time(t), out)
                XCTAssertEqual(byTime.targetLSN, m.lsn, "restore to \(formatTimestamp(t)) (marker \(i)); \(f.context)")
                XCTAssertEqual(d, m.digest, "restore to \(formatTimestamp(t)) (marker \(i)); \(f.context)")
            }
        }
        // Restoring from a snapshot plus later segments equals restoring from empty.
        let bare = f.dir.sub("bare")
        try ReplicaDirectory.initialize(at: bare)
        for s in try f.master.sealedSegments() { try Shipping.ship(s.path, to: bare + "/inbox") }
        for m in [markers[6], markers[13], markers.last!] {
            let (fromEmpty, a) = try restore(bare, .lsn(m.lsn), out)
            let (fromSnapshot, b) = try restore(f.replicaPath, .lsn(m.lsn), out)
            XCTAssertNil(fromEmpty.snapshot)
            XCTAssertNotNil(fromSnapshot.snapshot)
            XCTAssertEqual(a, b, "LSN \(m.lsn): snapshot + segments differs from a replay from empty; \(f.context)")
        }
    }

    func testTargetsOutsideTheRecoverableWindowFailAndNameIt() throws {
        let f = try ReplicaFixture("restore-window")
        let markers = try recordMarkers(f, count: 10)
        try f.shipAll()
        let out = f.dir.sub("restored.db")
        let last = markers.last!
        let window = "the recoverable window is LSN 0…\(last.lsn)"
        expectReplicaError(.gap, containing: [window], "after the latest LSN") { try Restore.plan(replica: f.replicaPath, target: .lsn(last.lsn + 1)) }
        expectReplicaError(.gap, containing: [window, formatTimestamp(last.time)], "after the latest time") {
            try Restore.plan(replica: f.replicaPath, target: .time(last.time + 1))
        }
        // Before the first commit: no time says the master existed, so nothing is restored by
        // time (never a silent empty database); --to-lsn 0 asks for the empty state.
        let firstCommit = f.master.commits[0].commitTime
        expectReplicaError(.gap, containing: [window, formatTimestamp(firstCommit)], "before the first commit") {
            try Restore.plan(replica: f.replicaPath, target: .time(firstCommit - 1))
        }
        XCTAssertEqual(try Restore.plan(replica: f.replicaPath, target: .time(firstCommit)).targetLSN,
                       f.master.commits.last { $0.commitTime == firstCommit }!.lsn)
        XCTAssertEqual(try Restore.plan(replica: f.replicaPath, target: .lsn(0)).targetLSN, 0)

        // With the oldest segments purged, the window starts at the oldest snapshot.
        let snap = try snapshot(f, at: markers[5].lsn)
        let segments = try f.master.sealedSegments()
        var purged = 0
        for s in segments where s.lastLSN <= snap.lsn { try FileManager.default.removeItem(atPath: f.inbox + "/" + s.name); purged += 1 }
        XCTAssertGreaterThan(purged, 0, "the test needs segments wholly before the snapshot")
        let narrowed = "the recoverable window is LSN \(snap.lsn)…\(last.lsn)"
        expectReplicaError(.gap, containing: [narrowed], "before the oldest snapshot") { try Restore.plan(replica: f.replicaPath, target: .lsn(markers[2].lsn)) }
        expectReplicaError(.gap, containing: [narrowed, formatTimestamp(snap.commitTime)], "a time before the oldest snapshot") {
            try Restore.plan(replica: f.replicaPath, target: .time(markers[2].time))
        }
        let (plan, d) = try restore(f.replicaPath, .lsn(markers[7].lsn), out)
        XCTAssertEqual(plan.snapshot?.lsn, snap.lsn)
        XCTAssertEqual(d, markers[7].digest)
        let (atSnapshot, d2) = try restore(f.replicaPath, .time(markers[5].time), out)
        XCTAssertEqual(atSnapshot.targetLSN, snap.lsn)
        XCTAssertEqual(d2, markers[5].digest)
    }

    func testRestoreOnTheCommandLineDryRunForceAndExitCodes() throws {
        let f = try ReplicaFixture("restore-cli")
        let markers = try recordMarkers(f, count: 6)
        try f.shipAll()
        let out = f.dir.sub("out.db")
        func run(_ args: String...) throws -> ToolRunner.Result { try ToolRunner.run("replica-apply", ["restore", f.replicaPath] + args) }
        func listing(_ path: String) throws -> [String] {
            try FileManager.default.subpathsOfDirectory(atPath: path).sorted().map { p in
                let a = try FileManager.default.attributesOfItem(atPath: path + "/" + p)
                return "\(p) \(a[.size] ?? 0) \((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
            }
        }
        let before = try listing(f.replicaPath)
        let dry = try run("--to-lsn", "\(markers[3].lsn)", "--dry-run", "-o", out)
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("target      LSN \(markers[3].lsn), committed \(formatTimestamp(markers[3].time))"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("start from  an empty database"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("replay      \(markers[3].lsn) transactions"), dry.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "--dry-run writes nothing")
        XCTAssertEqual(try listing(f.replicaPath), before, "--dry-run changes nothing in the replica")
        let json = try run("--to-time", formatTimestamp(markers[2].time), "--dry-run", "--json")
        let plan = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(plan["targetLSN"] as? Int, Int(markers[2].lsn))

        let r = try run("--to-lsn", "\(markers[3].lsn)", "-o", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try TableDigest.digest(path: out), markers[3].digest)
        XCTAssertEqual(try ReplicaFixture.readLSN(out), markers[3].lsn, "the restored database carries its position")
        let refused = try run("--to-lsn", "\(markers[4].lsn)", "-o", out)
        XCTAssertEqual(refused.status, 16, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--force"), refused.stderr)
        XCTAssertEqual(try TableDigest.digest(path: out), markers[3].digest, "a refused restore leaves the file alone")

        // --force replaces the file, and a stale WAL beside it (left by whoever had it open) is
        // not replayed into the restored database.
        let q = try DatabaseQueue(path: out)
        try q.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "DELETE FROM accounts; CREATE TABLE stale (x)")
        }
        let staleWAL = try Data(contentsOf: URL(fileURLWithPath: out + "-wal"))
        try q.close()
        try staleWAL.write(to: URL(fileURLWithPath: out + "-wal"))
        let forced = try run("--to-lsn", "\(markers[4].lsn)", "-o", out, "--force")
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try TableDigest.digest(path: out), markers[4].digest, "the restored database, not a stale WAL")

        // Without --force, a WAL left at the path by a database since deleted is refused too.
        let orphan = f.dir.sub("orphan.db")
        try staleWAL.write(to: URL(fileURLWithPath: orphan + "-wal"))
        let orphaned = try run("--to-lsn", "\(markers[2].lsn)", "-o", orphan)
        XCTAssertEqual(orphaned.status, 16, orphaned.stderr)
        XCTAssertTrue(orphaned.stderr.contains(orphan + "-wal"), orphaned.stderr)
        XCTAssertEqual(try run("--to-lsn", "\(markers[2].lsn)", "-o", orphan, "--force").status, 0)
        XCTAssertEqual(try TableDigest.digest(path: orphan), markers[2].digest)

        let outside = try run("--to-lsn", "\(markers.last!.lsn + 5)", "-o", f.dir.sub("never.db"))
        XCTAssertEqual(outside.status, 2)
        XCTAssertTrue(outside.stderr.contains("the recoverable window is LSN 0…\(markers.last!.lsn)"), outside.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.dir.sub("never.db")))
        let early = try run("--to-time", "2020-01-01T00:00:00Z", "-o", f.dir.sub("never.db"))
        XCTAssertEqual(early.status, 2, "a time before the master existed never falls back to anything: \(early.stdout) \(early.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.dir.sub("never.db")))
    }

    func testSnapshotsAreConsistentNamedByLSNAndKeptWithRetention() throws {
        let f = try ReplicaFixture("snapshots")
        let markers = try recordMarkers(f, count: 5)
        try f.shipAll()
        var made: [String] = []
        for m in markers.prefix(4) {
            try f.apply(Replica.ApplyOptions(untilLSN: m.lsn))
            let r = try ToolRunner.run("replica-apply", ["snapshot", f.replicaPath, "--keep", "2"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let name = String(format: "snapshot-%016llx.db", m.lsn)
            XCTAssertTrue(r.stdout.hasPrefix("wrote \(f.replicaPath)/snapshots/\(name) at LSN \(m.lsn)"), r.stdout)
            made.append(name)
            XCTAssertEqual(try TableDigest.digest(path: f.replicaPath + "/snapshots/" + name), m.digest)
        }
        let kept = try FileManager.default.contentsOfDirectory(atPath: f.replicaPath + "/snapshots").filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(kept, Array(made.suffix(2)), "--keep 2 keeps the two newest")
        let again = try ToolRunner.run("replica-apply", ["snapshot", f.replicaPath])
        XCTAssertTrue(again.stdout.hasPrefix("already have"), again.stdout)
        let status = try JSONSerialization.jsonObject(with: Data(try ToolRunner.run("replica-apply", ["status", f.replicaPath, "--json"]).stdout.utf8)) as! [String: Any]
        XCTAssertEqual((status["snapshots"] as? [Any])?.count, 2)
    }

    func testASnapshotOfAnotherMasterIsNeverAStartingPoint() throws {
        // A snapshot copied in from another master's replica, at an LSN this inbox continues:
        // applying this master's transactions on top of it would give a plausible database
        // (same schema, row counts consistent) that is nobody's state.
        let f = try ReplicaFixture("restore-foreign-snapshot")
        let markers = try recordMarkers(f, count: 6)
        try f.shipAll()
        let other = try ReplicaFixture("restore-foreign-other", seed: f.seed)
        let otherMarkers = try recordMarkers(other, count: 6)
        try other.shipAll()
        let foreign = try snapshot(other, at: otherMarkers[2].lsn)
        let copied = f.replicaPath + "/snapshots/" + (foreign.path as NSString).lastPathComponent
        try FileManager.default.createDirectory(atPath: f.replicaPath + "/snapshots", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: foreign.path, toPath: copied)
        let target = markers.first { $0.lsn > foreign.lsn }!
        let (plan, digest) = try restore(f.replicaPath, .lsn(target.lsn), f.dir.sub("out.db"))
        XCTAssertNil(plan.snapshot, "the other master's snapshot (LSN \(foreign.lsn)) must not be used")
        XCTAssertEqual(digest, target.digest)
    }
}
