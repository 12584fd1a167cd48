import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import ReplicaStore
import XCTest

/// The retention guarantee as a property: a master writes over simulated weeks (its clock moved
/// by the `SkewedClock` shim), the replica applies and takes snapshots at random moments, and
/// pruning runs with random policies and a random "now". After every `--confirm` prune, every
/// time inside every window guaranteed since (random times, the window's start, each commit
/// time inside it) restores to exactly the master's tables at the last commit at or before that
/// time (TableDigest of a fresh replay of the master's own binlog, an independent path), and
/// apply goes on from the trimmed inbox. A time before the window restores exactly or fails
/// with a gap, never to another state. `LOGSHIP_RETENTION_DAYS` runs a longer history and
/// checks every commit time inside the window (tools/retention-torture).
final class RetentionPropertyTests: XCTestCase {
    static let day: Int64 = 86_400_000_000

    func testEveryTimeInsideTheWindowRestoresExactlyAfterAnyPruning() throws {
        let f = try ReplicaFixture("retention-property", segmentSize: "4KiB")
        var rng = SeededRandom(seed: f.seed &+ 7)
        let clock = try SkewedClock(scratch: f.dir.path)
        f.master.environment = clock.environment
        let long = Int(ProcessInfo.processInfo.environment["LOGSHIP_RETENTION_DAYS"] ?? "")
        let days = long ?? 24
        var offset: Int64 = 0, now: Int64 = 0
        var guaranteedFrom = Int64.min   // the latest window start so far: later ones only move it forward
        var digests: [UInt64: [String: String]] = [:]
        var pinned: Set<String> = []
        var prunes = 0, restores = 0, deletedSnapshots = 0, deletedSegments = 0, refused = 0
        func expected(_ lsn: UInt64) throws -> [String: String] {
            if let d = digests[lsn] { return d }
            let d = try f.master.digest(at: lsn, scratch: f.dir)
            digests[lsn] = d
            return d
        }
        var day = 0
        while day < days {
            day += Int.random(in: 1...3, using: &rng)
            offset = Int64(day) * Self.day + Int64.random(in: 0..<Self.day, using: &rng)
            try clock.set(offset)
            _ = try f.master.exec((f.master.commits.isEmpty ? ReplicaWorkload.schema : "")
                                  + f.workload.sql(transactions: Int.random(in: 1...6, using: &rng), schemaChanges: Bool.random(using: &rng)))
            if Int.random(in: 0..<10, using: &rng) < 7 { try f.master.rotate() }
            try f.shipAll()
            let shipped = try f.master.sealedSegments().last?.lastLSN ?? 0
            // Snapshots at random positions: apply part of what arrived first, now and then.
            if shipped > 0, Int.random(in: 0..<10, using: &rng) < 5 {
                let store = try f.storeLSN()
                let upTo = UInt64.random(in: max(store, 1)...shipped, using: &rng)
                try f.apply(Replica.ApplyOptions(untilLSN: upTo))
                let snap = try ReplicaStore.Snapshot.take(replica: f.replicaPath).snapshot
                if Int.random(in: 0..<4, using: &rng) == 0 { pinned.insert((snap.path as NSString).lastPathComponent) }
            }
            try f.apply()
            guard shipped > 0, Int.random(in: 0..<10, using: &rng) < 4 else { continue }
            // A prune with a random policy at a random "now" (never before the last commit).
            let lastTime = f.master.commits.last!.commitTime
            now = max(now, lastTime) + Int64.random(in: 0...(2 * Self.day), using: &rng)
            let window = Int64.random(in: (Self.day / 2)...(8 * Self.day), using: &rng)
            let policy = RetentionPolicy(window: window, daily: Int.random(in: 0...3, using: &rng), weekly: Int.random(in: 0...2, using: &rng),
                                         monthly: Int.random(in: 0...1, using: &rng), pins: Array(pinned))
            let plan = try Prune.execute(replica: f.replicaPath, policy: policy, now: now)
            prunes += 1
            deletedSnapshots += plan.snapshots.filter(\.delete).count
            deletedSegments += plan.deleteSegments.count
            let left = Set(ReplicaStore.Snapshot.list(try ReplicaDirectory.open(f.replicaPath)).map { ($0.path as NSString).lastPathComponent })
            XCTAssert(pinned.isSubset(of: left), "pinned snapshots stay; \(f.context)")
            guaranteedFrom = max(guaranteedFrom, now - window)
            // Times to check: the window's start, commits inside it (all of them in the long run),
            // random times; and times before the window, which restore exactly or fail with a gap.
            let restorable = f.master.commits.filter { $0.lsn <= shipped }
            guard let newest = restorable.last?.commitTime, newest >= guaranteedFrom else { continue }
            let inside = restorable.map(\.commitTime).filter { $0 >= guaranteedFrom }
            var times = [guaranteedFrom] + (long == nil ? Array(inside.shuffled(using: &rng).prefix(2)) : inside)
            times += (0..<2).map { _ in Int64.random(in: guaranteedFrom...newest, using: &rng) }
            let first = restorable[0].commitTime
            var before = first < guaranteedFrom ? (0..<2).map { _ in Int64.random(in: first..<guaranteedFrom, using: &rng) } : []
            // The commit right after each snapshot left before the window: its segment may be gone.
            for snap in ReplicaStore.Snapshot.list(try ReplicaDirectory.open(f.replicaPath)) {
                if let next = restorable.first(where: { $0.lsn == snap.lsn + 1 }), next.commitTime < guaranteedFrom { before.append(next.commitTime) }
            }
            for t in Set(times + before).sorted() {
                guard let target = restorable.last(where: { $0.commitTime <= t }) else { continue }   // before the first commit
                let what = "time \(formatTimestamp(t)) (LSN \(target.lsn)) after prune \(prunes) at \(formatTimestamp(now)), window from \(formatTimestamp(guaranteedFrom)); \(f.context)"
                let p: Restore.Plan
                do { p = try Restore.plan(replica: f.replicaPath, target: .time(t)) } catch {
                    if t < guaranteedFrom {
                        XCTAssertEqual((error as? ReplicaError)?.kind, .gap, "before the window a time restores exactly or not at all: \(what): \(error)")
                        refused += 1
                        continue
                    }
                    XCTFail("unrestorable \(what): \(error)"); return
                }
                XCTAssertEqual(p.targetLSN, target.lsn, what)
                let out = f.dir.sub("restored-\(restores).db")
                try Restore.execute(p, output: out)
                XCTAssertEqual(try TableDigest.digest(path: out), try expected(target.lsn), what)
                unlink(out)
                restores += 1
            }
        }
        try f.apply()
        try f.assertStore(at: try f.master.sealedSegments().last?.lastLSN ?? 0, "apply goes on after pruning")
        XCTAssertGreaterThan(prunes, 0, f.context)
        print("retention property: \(days) days, \(f.master.commits.count) commits, \(prunes) prunes deleted \(deletedSnapshots) snapshots and \(deletedSegments) segments, \(restores) restores checked, \(refused) times before the window refused; \(f.context)")
    }
}
