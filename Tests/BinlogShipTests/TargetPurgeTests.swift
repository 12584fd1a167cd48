import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import XCTest

/// `purge --in-target`: each target keeps what a restore of its own window's oldest moment needs
/// (issue 17, docs/OPERATIONS.md "Retention"), decided by the remote restore planner.
final class TargetPurgeTests: XCTestCase {
    let day: Int64 = 86_400_000_000

    /// Two directory targets a and b, four segments (commits on days 0…3, two a day: LSN 2d+1,
    /// 2d+2), snapshots at LSN 4 (day 1) and 6 (day 2) uploaded beside the segments of both.
    private func fixture() throws -> (ShipFixture, Int64) {
        let f = try ShipFixture()
        let start = f.master.clock
        for d in 0..<4 {
            f.master.clock = start + Int64(d) * day
            for _ in 0..<2 { try f.master.commit() }
            try f.master.seal()
        }
        try f.ship()
        for target in [f.a, f.b] {
            let snapshots = target + "/snapshots"
            try FileManager.default.createDirectory(atPath: snapshots, withIntermediateDirectories: true)
            for (lsn, d) in [(UInt64(4), Int64(1)), (6, 2)] {
                let key = String(format: "snapshot-%016llx.db", lsn)
                let meta = RemoteSnapshot(key: key, sourceID: f.master.sourceID, epoch: 1, lsn: lsn, commitTime: start + d * day + 60_000_000,
                                          bytes: 1, sha256: String(repeating: "0", count: 64))
                try Data([0]).write(to: URL(fileURLWithPath: snapshots + "/" + key))
                try JSONEncoder().encode(meta).write(to: URL(fileURLWithPath: snapshots + "/" + RemoteSnapshot.metadataKey(for: key)))
            }
        }
        return (f, start)
    }

    private func segments(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".binlog") }.sorted()
    }

    func testEachTargetKeepsWhatItsOwnWindowNeedsAndNothingTheMasterStillHolds() throws {
        let (f, start) = try fixture()
        let now = start + 3 * day + day / 2
        // The master still holds every segment: nothing goes, and the plan says to purge it first.
        var plan = try TargetPurger.plan(config: f.config, target: "a", window: 86_400, now: now)
        XCTAssertEqual(plan.delete.map(\.key), [])
        XCTAssertTrue(plan.keptBecause?.contains("the master still holds \(segmentName(1))") ?? false, plan.keptBecause ?? "")

        XCTAssertEqual(try Purger.execute(config: f.config, retention: 0, now: now).delete.count, 3)
        // a: a 1-day window starts at day 2 12:00; its restore starts from the LSN 6 snapshot.
        plan = try TargetPurger.plan(config: f.config, target: "a", window: 86_400, now: now)
        XCTAssertEqual(plan.anchorLSN, 6)
        XCTAssertEqual(plan.delete.map(\.key), [1, 2, 3].map(segmentName))
        XCTAssertTrue(plan.keptBecause?.contains("newest segment") ?? false, plan.keptBecause ?? "")
        // b: a 2-day window starts at day 1 12:00: from the LSN 4 snapshot, segment 3 is needed.
        plan = try TargetPurger.plan(config: f.config, target: "b", window: 2 * 86_400, now: now)
        XCTAssertEqual(plan.anchorLSN, 4)
        XCTAssertEqual(plan.delete.map(\.key), [1, 2].map(segmentName))
        XCTAssertTrue(plan.keptBecause?.contains("\(segmentName(3)) (LSN 5…6) is needed by a restore") ?? false, plan.keptBecause ?? "")
        // A window reaching back before every snapshot starts from the empty database: all stay.
        plan = try TargetPurger.plan(config: f.config, target: "b", window: 5 * 86_400, now: now)
        XCTAssertEqual(plan.anchorLSN, 0)
        XCTAssertEqual(plan.delete.count, 0)
        XCTAssertTrue(plan.keptBecause?.contains("the empty database") ?? false, plan.keptBecause ?? "")
        // A window after the newest commit keeps what a restore of the latest state needs.
        plan = try TargetPurger.plan(config: f.config, target: "b", window: 3600, now: now)
        XCTAssertEqual(plan.delete.map(\.key), [1, 2, 3].map(segmentName))
        XCTAssertThrowsError(try TargetPurger.plan(config: f.config, target: "c", window: 3600, now: now)) { error in
            XCTAssertTrue("\(error)".contains("no target has that name"), "\(error)")
        }

        // Planning deleted nothing; execute deletes exactly each plan, per target.
        XCTAssertEqual(try segments(f.a).count, 4)
        XCTAssertEqual(try TargetPurger.execute(config: f.config, target: "a", window: 86_400, now: now).delete.count, 3)
        XCTAssertEqual(try TargetPurger.execute(config: f.config, target: "b", window: 2 * 86_400, now: now).delete.count, 2)
        XCTAssertEqual(try segments(f.a), [segmentName(4)])
        XCTAssertEqual(try segments(f.b), [segmentName(3), segmentName(4)])
        // Every moment inside each window still restores from its target.
        for (target, window) in [(f.a, Int64(1)), (f.b, 2)] {
            let planner = RemoteRestorePlan(segments: DirectoryStore(target: ShipTarget(path: target)),
                                            snapshots: RemoteSnapshots(store: DirectoryStore(target: ShipTarget(path: target + "/snapshots"))))
            var t = now - window * day
            while t < start + 3 * day + 60_000_000 {
                XCTAssertNoThrow(try planner.select(.time(t)), "\(target) at \(formatTimestamp(t))")
                t += day / 8
            }
            XCTAssertNoThrow(try planner.select(.latest))
        }
        // Shipping goes on after both purges.
        try f.master.commit()
        try f.master.seal()
        XCTAssertNil(try f.ship().worstKind)
        XCTAssertEqual(try segments(f.a), [segmentName(4), segmentName(5)])
    }

    /// The property (seeded; the seed is printed on failure): after any sequence of purges of a
    /// target with random windows at increasing times, interleaved with new segments and new
    /// snapshots, every moment at or after the latest of the windows' starts still has a restore
    /// plan whose segments are all in the target, and so does the latest state.
    func testAnySequenceOfPurgesKeepsEveryMomentOfTheWindowsRestorable() throws {
        var rng = SeededRandom()
        let context = "seed \(rng.seed) (rerun with LOGSHIP_SEED=\(rng.seed))"
        let f = try ShipFixture(targets: ["a"], seed: rng.seed)
        let store = DirectoryStore(target: ShipTarget(path: f.a))
        let snapshots = f.a + "/snapshots"
        try FileManager.default.createDirectory(atPath: snapshots, withIntermediateDirectories: true)
        let planner = RemoteRestorePlan(segments: store, snapshots: RemoteSnapshots(store: DirectoryStore(target: ShipTarget(path: snapshots))))
        let hour: Int64 = 3_600_000_000
        var clock = f.master.clock, floor = Int64.min, deleted = 0
        var commits: [(lsn: UInt64, time: Int64)] = []
        for round in 0..<12 {
            // A few segments of a few commits, hours apart.
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    clock += Int64(rng.next() % 6 + 1) * hour
                    f.master.clock = clock
                    try f.master.commit(bytes: 200)
                    commits.append((f.master.lastLSN, clock))
                }
                try f.master.seal()
            }
            try f.ship()
            // Sometimes a snapshot of the state at some commit (its metadata is what the planner reads).
            if rng.next() % 2 == 0, let c = commits.dropFirst(commits.count / 2).randomElement(using: &rng) {
                let key = String(format: "snapshot-%016llx.db", c.lsn)
                try Data([0]).write(to: URL(fileURLWithPath: snapshots + "/" + key))
                try JSONEncoder().encode(RemoteSnapshot(key: key, sourceID: f.master.sourceID, epoch: 1, lsn: c.lsn, commitTime: c.time, bytes: 1,
                                                        sha256: String(repeating: "0", count: 64)))
                    .write(to: URL(fileURLWithPath: snapshots + "/" + RemoteSnapshot.metadataKey(for: key)))
            }
            // The master first (its newest sealed segment stays), then the target with a random window.
            let now = clock + Int64(rng.next() % 12) * hour
            _ = try Purger.execute(config: f.config, retention: 0, now: now)
            let window = Double(rng.next() % 120 + 1) * 3600
            let plan = try TargetPurger.execute(config: f.config, target: "a", window: window, now: now)
            floor = max(floor, now - Int64(window * 1e6))
            deleted += plan.delete.count
            let held = Set(try store.list().map(\.key))
            for c in commits where c.time >= floor {
                let selection: RemoteRestorePlan.Selection
                do { selection = try planner.select(.time(c.time)) } catch {
                    return XCTFail("round \(round), LSN \(c.lsn) no longer restores: \(error); \(context)")
                }
                XCTAssertTrue(selection.segments.allSatisfy { held.contains($0.key) }, "round \(round), LSN \(c.lsn): \(context)")
                if selection.snapshot == nil {
                    XCTAssertEqual(selection.segments.first?.firstLSN, 1, "round \(round), LSN \(c.lsn): no start: \(context)")
                }
            }
            XCTAssertEqual((try? planner.select(.latest))?.targetLSN, commits.last?.lsn, "round \(round): \(context)")
            XCTAssertTrue(plan.delete.allSatisfy { !held.contains($0.key) }, context)
        }
        print("TargetPurgeTests: \(deleted) segments purged in 12 rounds, \(context)")
    }
}
