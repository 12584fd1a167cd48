import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipSystem
import LogshipTestSupport
import XCTest

/// The whole shipping flow (ship, verify, status, check, purge, fencing) against targets that
/// are not directories: proof that it goes through `TargetStore` and nothing else.
final class MemoryTargetFlowTests: XCTestCase {
    /// A fake master shipping to two in-memory targets, m1 and m2.
    final class Fixture {
        let dir = TestDirectory("memory-flow")
        let master: FakeMaster
        let stores = ["m1": MemoryStore(name: "m1"), "m2": MemoryStore(name: "m2")]
        var config = ShipConfig()
        var m1: MemoryStore { stores["m1"]! }
        var m2: MemoryStore { stores["m2"]! }

        init() throws {
            master = try FakeMaster(root: dir.sub("master"))
            config.source = master.root
            config.targets = [ShipTarget(name: "m1", path: "m1"), ShipTarget(name: "m2", path: "m2")]
            let stores = self.stores
            config.openStore = { stores[$0.name]! }
        }

        @discardableResult
        func ship(includeActive: Bool = false) throws -> ShipReport {
            var c = config
            c.includeActive = includeActive
            return try Shipper(config: c).run()
        }

        func state() throws -> ShipState { try XCTUnwrap(try ShipState.load(directory: master.root + "/ship")) }

        /// The master's bytes of segment `sequence` (sealed).
        func sourceBytes(_ sequence: UInt64) throws -> [UInt8] { Array(try bytes(master.segmentPath(sequence))) }
    }

    func testShipVerifyStatusCheckAndPurgeRunAgainstMemoryTargets() throws {
        let f = try Fixture()
        try f.master.sealedSegments(3)
        try f.master.commit()
        let partial = TargetKeys.partialName(for: SegmentName(epoch: 1, sequence: 4))

        let report = try f.ship(includeActive: true)
        XCTAssertNil(report.worstKind, "\(report.failures)")
        for (store, result) in zip([f.m1, f.m2], report.targets) {
            XCTAssertEqual(result.shipped, [segmentName(1), segmentName(2), segmentName(3)])
            XCTAssertEqual(result.partial, partial)
            XCTAssertEqual(store.snapshot.keys.sorted(), [segmentName(1), segmentName(2), segmentName(3), partial])
            for s in [1, 2, 3] as [UInt64] { XCTAssertEqual(store.snapshot[segmentName(s)], try f.sourceBytes(s)) }
        }
        XCTAssertEqual(try f.state().targets["m1"]?.path, "memory://m1")

        let verified = try TargetVerification.run("m1", config: f.config)
        XCTAssertEqual(verified.outcome, .clean, verified.problem ?? "")
        XCTAssertEqual(verified.segments, 3)
        XCTAssertEqual(verified.partial, partial)
        XCTAssertEqual(verified.path, "memory://m1")

        let status = try ShipStatus.read(config: f.config)
        XCTAssertEqual(status.targets.map(\.name), ["m1", "m2"])
        XCTAssertEqual(status.targets.map(\.segmentsBehind), [0, 0])
        XCTAssertEqual(status.targets.map(\.lastSegment), [segmentName(3), segmentName(3)])
        XCTAssertEqual(status.targets.map(\.secondsBehind), [0, 0])
        XCTAssertEqual(status.targets.map(\.guarantees), [["conditional put"], ["conditional put"]], "the fake's capabilities")
        XCTAssertEqual(LagCheck.evaluate(status, maxLag: 3600).map(\.ok), [true, true])

        // The active segment is sealed and one more follows: the sealed copy replaces the partial.
        try f.master.seal()
        try f.master.sealedSegments(1)
        let second = try f.ship()
        XCTAssertNil(second.worstKind, "\(second.failures)")
        XCTAssertEqual(second.targets[0].shipped, [segmentName(4), segmentName(5)])
        XCTAssertEqual(second.targets[0].removed, [partial])
        XCTAssertNil(f.m1.snapshot[partial], "the partial is gone")

        let plan = try Purger.execute(config: f.config, retention: 0, now: f.master.clock + 86_400_000_000)
        XCTAssertEqual(plan.delete.map(\.name), (1...4).map { segmentName($0) }, plan.keptBecause ?? "")
        XCTAssertEqual(try ShipSource(path: f.master.root).list().sealed.map(\.name.description), [segmentName(5)])
        XCTAssertEqual(try TargetVerification.run("m2", config: f.config).outcome, .clean, "the targets keep what the source purged")
    }

    /// A publish that fails stops that target only; the rerun ships it the rest, nothing twice.
    func testAFailedPutStopsOneTargetAndARerunCompletesIt() throws {
        let f = try Fixture()
        try f.master.sealedSegments(3)
        f.m1.inject { $0.failPublish = [2] }
        let report = try f.ship()
        XCTAssertEqual(report.targets[0].error?.kind, .io)
        XCTAssertTrue(report.targets[0].error?.message.contains("injected fault (publish 2)") ?? false, "\(report.failures)")
        XCTAssertEqual(report.targets[0].shipped, [segmentName(1)])
        XCTAssertEqual(f.m1.snapshot.keys.sorted(), [segmentName(1)], "nothing of segment 2 is visible")
        XCTAssertEqual(report.targets[1].shipped, [segmentName(1), segmentName(2), segmentName(3)], "the other target goes on")
        XCTAssertEqual(try f.state().targets["m1"]?.lastSegment, segmentName(1))

        let plan = try Purger.plan(config: f.config, retention: 0, now: f.master.clock + 86_400_000_000)
        XCTAssertEqual(plan.delete.map(\.name), [segmentName(1)])
        XCTAssertEqual(plan.keptBecause, "target m1 has not received \(segmentName(2)) yet (it holds up to \(segmentName(1)))")

        let rerun = try f.ship()
        XCTAssertNil(rerun.worstKind, "\(rerun.failures)")
        XCTAssertEqual(rerun.targets[0].shipped, [segmentName(2), segmentName(3)])
        XCTAssertEqual(rerun.targets[1].shipped, [])
        XCTAssertEqual(try f.state().targets["m1"]?.segmentsShipped, 3)
    }

    /// The next segments are staged (an object store's parts sent) while the one before is
    /// published, up to the run's budget (small segments here): publishing segment 1 waits for
    /// segment 3's stage, which a run that staged only one segment ahead, or only after
    /// publishing, would never give. Publication stays in order.
    func testTheNextSegmentsAreStagedWhileTheOneBeforeIsPublished() throws {
        let f = try Fixture()
        try f.master.sealedSegments(4)
        f.m1.inject { $0.publishWaitsForStage = (segmentName(1), segmentName(3)) }
        let report = try f.ship()
        XCTAssertNil(report.worstKind, "\(report.failures)")
        XCTAssertEqual(report.targets[0].shipped, (1...4).map { segmentName($0) })
        let publishes = f.m1.events.filter { $0.hasPrefix("publish ") }
        XCTAssertEqual(publishes, (1...4).map { "publish " + segmentName($0) }, "published in order")
        for n: UInt64 in 1...4 {
            XCTAssertEqual(try f.m1.read(segmentName(n)), try f.sourceBytes(n))
        }
    }

    /// Publishing segment 1 fails after segments 2 and 3 were staged: their staged uploads are
    /// dropped, never published, and a rerun ships them.
    func testStagedSegmentsAreDroppedWhenTheOneBeforeFails() throws {
        let f = try Fixture()
        try f.master.sealedSegments(3)
        f.m1.inject {
            $0.publishWaitsForStage = (segmentName(1), segmentName(3))
            $0.failPublish = [1]
        }
        let report = try f.ship()
        XCTAssertEqual(report.targets[0].error?.kind, .io, "\(report.failures)")
        XCTAssertEqual(report.targets[0].shipped, [])
        XCTAssertEqual(f.m1.snapshot.keys.sorted(), [], "nothing visible")
        for n: UInt64 in 2...3 {
            XCTAssertTrue(f.m1.events.contains("drop staged " + segmentName(n)), "\(f.m1.events)")
            XCTAssertFalse(f.m1.events.contains("publish " + segmentName(n)), "\(f.m1.events)")
        }
        XCTAssertEqual(report.targets[1].shipped, [segmentName(1), segmentName(2), segmentName(3)], "the other target goes on")
        f.m1.inject { $0.publishWaitsForStage = nil }
        let rerun = try f.ship()
        XCTAssertNil(rerun.worstKind, "\(rerun.failures)")
        XCTAssertEqual(rerun.targets[0].shipped, [segmentName(1), segmentName(2), segmentName(3)])
    }

    /// A store that keeps other bytes than it was given is caught by the read-back, before publication.
    func testAStoreThatCorruptsAnUploadNeverShowsIt() throws {
        let f = try Fixture()
        try f.master.sealedSegments(2)
        f.m1.inject { $0.corruptUpload = [segmentName(2)] }
        let report = try f.ship()
        XCTAssertEqual(report.targets[0].error?.kind, .corruption)
        XCTAssertTrue(report.targets[0].error?.message.contains("copy reads back differently") ?? false, "\(report.failures)")
        XCTAssertEqual(f.m1.snapshot.keys.sorted(), [segmentName(1)])
        XCTAssertNil(report.targets[1].error)
    }

    /// An object under a segment's key with other bytes is a conflict; it is never overwritten.
    func testAConflictingObjectIsReportedAndKept() throws {
        let f = try Fixture()
        try f.master.sealedSegments(2)
        var other = try f.sourceBytes(1)
        other[300] ^= 0x40
        try f.m1.put(segmentName(1), other)
        let report = try f.ship()
        let e = try XCTUnwrap(report.targets[0].error)
        XCTAssertEqual(e.kind, .corruption)
        XCTAssertEqual(e.offset, 300)
        XCTAssertEqual(e.path, "memory://m1/" + segmentName(1))
        XCTAssertEqual(f.m1.snapshot[segmentName(1)], other, "nothing was overwritten")
        let v = try TargetVerification.run("m1", config: f.config)
        XCTAssertEqual(v.outcome, .corruption)
        XCTAssertEqual(v.file, "memory://m1/" + segmentName(1), "the object, not the scratch copy verify read")
        // The target's own check finds the frame holding byte 300 (same size and footer as the source's).
        XCTAssertLessThanOrEqual(try XCTUnwrap(v.offset), 300)
    }

    /// A target that lost a segment it was given fails the next run (not found) and verify calls it lost.
    func testATargetThatLostASegmentIsNotFoundAndLost() throws {
        let f = try Fixture()
        try f.master.sealedSegments(3)
        try f.ship()
        try f.m1.delete(segmentName(3))
        let report = try f.ship()
        XCTAssertEqual(report.targets[0].error?.kind, .notFound)
        XCTAssertTrue(report.targets[0].error?.message.contains("no longer holds \(segmentName(3))") ?? false, "\(report.failures)")
        let v = try TargetVerification.run("m1", config: f.config)
        XCTAssertEqual(v.outcome, .lost)
        XCTAssertEqual(v.lost, [segmentName(3)])
        let plan = try Purger.plan(config: f.config, retention: 0, now: f.master.clock + 86_400_000_000)
        XCTAssertEqual(plan.delete.map(\.name), [segmentName(1), segmentName(2)])

        f.m2.inject { $0.unreachable = true }
        let unreachable = try f.ship()
        XCTAssertEqual(unreachable.targets[1].error?.kind, .notFound)
    }

    /// Fencing through the store: a target holding a newer epoch's history takes nothing of
    /// epoch 1 past its fork point.
    func testAFencedMemoryTargetRefusesSegmentsPastTheForkPoint() throws {
        let f = try Fixture()
        try f.master.sealedSegments(2)
        let fence = EpochHistory(sourceID: f.master.sourceID, epochs: [.init(epoch: 1, firstLSN: 1, lastLSN: 3, startedAt: "2026-01-01T00:00:00Z"),
                                                                        .init(epoch: 2, firstLSN: 4, startedAt: "2026-01-02T00:00:00Z")])
        try f.m1.publish(fence)
        let report = try f.ship()
        XCTAssertEqual(report.targets[0].shipped, [segmentName(1)], "LSNs 1…3 are before the fork point")
        XCTAssertEqual(report.targets[0].error?.kind, .splitBrain)
        XCTAssertTrue(report.targets[0].error?.message.contains("fenced by epoch 2") ?? false, "\(report.failures)")
        XCTAssertEqual(report.targets[1].shipped, [segmentName(1), segmentName(2)])
        XCTAssertEqual(try f.m1.newestHistory(), fence)
    }

    /// UndoneFramesTests' opening master against object targets: a partial object shipped while
    /// no master ran holds a transaction beyond the mark the dead master left; a run while the
    /// next master holds its lock and has not yet written its mark leaves the object as it is
    /// (before, it was replaced by the shorter prefix and the run reported a divergence).
    func testAPartialObjectAheadOfAnOpeningMastersMarkIsLeftAsItIs() throws {
        let f = try Fixture()
        for _ in 0..<3 { try f.master.commit() }
        XCTAssertNil(try f.ship(includeActive: true).worstKind)
        let partial = TargetKeys.partialName(for: SegmentName(epoch: 1, sequence: 1))
        let shipped = try XCTUnwrap(f.m1.snapshot[partial])
        try CommitMarkWriter(binlogDirectory: f.master.binlog).publish(CommitMark(epoch: 1, sequence: 1, lastLSN: 2, durableLSN: 2))
        let opening = try DirectoryLock(path: f.master.root + "/lock", timeout: 1)
        defer { opening.release() }
        let report = try f.ship(includeActive: true)
        XCTAssertNil(report.worstKind, "\(report.failures) \(report.targets.flatMap(\.warnings))")
        for store in [f.m1, f.m2] {
            XCTAssertEqual(store.snapshot[partial], shipped, "\(store.name): the partial keeps LSN 3")
        }
    }
}
