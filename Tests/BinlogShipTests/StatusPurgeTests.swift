import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipSystem
import LogshipTestSupport
import XCTest

/// status, check --max-lag and purge, with commit and seal times the test controls.
final class StatusPurgeTests: XCTestCase {
    let minute: Int64 = 60_000_000
    let day: Int64 = 86_400_000_000

    func testStatusTellsHowFarEachTargetIsBehind() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(2)             // LSN 1…6, a minute apart
        try f.ship()
        try f.master.sealedSegments(2)             // LSN 7…12
        try f.master.commit()                      // LSN 13, active
        let s = try ShipStatus.read(config: f.config)
        XCTAssertEqual(s.lastLSN, 13)
        XCTAssertEqual(s.sealedSegments, 4)
        XCTAssertEqual(s.activeSegment, SegmentName(epoch: 1, sequence: 5, isActive: true).description)
        let a = try XCTUnwrap(s.targets.first { $0.name == "a" })
        XCTAssertEqual(a.lastSegment, segmentName(2))
        XCTAssertEqual(a.segmentsBehind, 2)
        XCTAssertEqual(a.lsnsBehind, 7)
        XCTAssertEqual(a.secondsBehind, 7 * 60, "commit time of LSN 13 minus that of LSN 6")
        let unshipped = try [3, 4].map { try FileDescriptor(path: f.master.segmentPath($0), flags: O_RDONLY).size() }.reduce(0, +)
        XCTAssertEqual(a.bytesBehind, unshipped + s.activeCommittedBytes)
        XCTAssertNotNil(a.lastSuccessAt)
        XCTAssertEqual(a.guarantees, ["conditional put", "durable publish"], "a directory's capabilities")

        // With the partial shipped, only the sealed segments are behind in LSNs.
        try f.ship(includeActive: true)
        let caughtUp = try XCTUnwrap(try ShipStatus.read(config: f.config).targets.first { $0.name == "b" })
        XCTAssertEqual(caughtUp.lsnsBehind, 0)
        XCTAssertEqual(caughtUp.secondsBehind, 0)
        XCTAssertEqual(caughtUp.partial, segmentName(5) + ".partial")
        XCTAssertEqual(caughtUp.bytesBehind, 0)
    }

    func testCheckFailsOnLagAndOnASilentCron() throws {
        let f = try ShipFixture()
        XCTAssertEqual(LagCheck.evaluate(try ShipStatus.read(config: f.config), maxLag: 900).map(\.ok), [false, false], "never shipped")
        try f.master.sealedSegments(2)
        try f.ship()
        try f.master.sealedSegments(1)             // three transactions, three minutes later
        let status = try ShipStatus.read(config: f.config)
        let success = try XCTUnwrap(status.targets[0].lastSuccessAt.flatMap(parseTimestamp))
        XCTAssertEqual(LagCheck.evaluate(status, maxLag: 900, now: success + minute).map(\.ok), [true, true])
        let behind = LagCheck.evaluate(status, maxLag: 120, now: success + minute)
        XCTAssertEqual(behind.map(\.ok), [false, false])
        XCTAssertTrue(behind[0].reason.contains("3m00s behind"), behind[0].reason)
        let silent = LagCheck.evaluate(status, maxLag: 900, now: success + 20 * minute)
        XCTAssertEqual(silent.map(\.ok), [false, false])
        XCTAssertTrue(silent[0].reason.contains("no successful run for 20m00s"), silent[0].reason)
    }

    /// Four segments sealed a day apart, shipped to a and b.
    private func purgeFixture() throws -> (ShipFixture, Int64) {
        let f = try ShipFixture()
        let start = f.master.clock
        for d in 0..<4 {
            for _ in 0..<2 { try f.master.commit() }
            try f.master.seal(at: start + Int64(d) * day)
        }
        try f.ship()
        return (f, start)
    }

    func testPurgeDeletesOnlyOldSegmentsEveryTargetHoldsAndNeverTheNewest() throws {
        let (f, start) = try purgeFixture()
        let plan = try Purger.plan(config: f.config, retention: 1.5 * 86_400, now: start + 3 * day + day / 4)
        XCTAssertEqual(plan.delete.map(\.name), [segmentName(1), segmentName(2)])
        XCTAssertTrue(plan.keptBecause?.contains("within the retention") ?? false, plan.keptBecause ?? "")
        XCTAssertEqual(plan.kept, 2)
        let all = try Purger.plan(config: f.config, retention: 0, now: start + 10 * day)
        XCTAssertEqual(all.delete.map(\.name), [1, 2, 3].map(segmentName), "the newest sealed segment always stays")
        XCTAssertTrue(all.keptBecause?.contains("newest sealed") ?? false)
        XCTAssertEqual(try segmentFiles(f.master.binlog).count, 4, "planning deletes nothing")

        let done = try Purger.execute(config: f.config, retention: 1.5 * 86_400, now: start + 3 * day + day / 4)
        XCTAssertEqual(done.delete.count, 2)
        XCTAssertEqual(try segmentFiles(f.master.binlog).sorted(), [segmentName(3), segmentName(4)])
        XCTAssertEqual(try BinlogDirectory(path: f.master.binlog).verify().outcome, .clean)
        try f.master.sealedSegments(1)
        XCTAssertNil(try f.ship().worstKind, "shipping goes on after a purge")
    }

    /// `purge --window`: a segment stays while it, or the segment after it, holds a commit inside
    /// the window (the one before the window's first commit holds the state at its start).
    func testPurgeWindowKeepsTheSegmentsThatHoldTheWindowAndTheStateAtItsStart() throws {
        let f = try ShipFixture()
        let start = f.master.clock
        for d in 0..<4 {
            f.master.clock = start + Int64(d) * day   // commits at +d days and +d days 1 minute
            for _ in 0..<2 { try f.master.commit() }
            try f.master.seal()
        }
        try f.ship()
        let now = start + 3 * day + day / 2
        var plan = try Purger.plan(config: f.config, retention: 0, window: 1.5 * 86_400, now: now)   // window from start + 2d
        XCTAssertEqual(plan.delete.map(\.name), [segmentName(1)])
        XCTAssertTrue(plan.keptBecause?.contains("\(segmentName(2)) holds the state at the window's start") ?? false, plan.keptBecause ?? "")
        plan = try Purger.plan(config: f.config, retention: 0, window: 0.25 * 86_400, now: now)      // from start + 3d 6h: after every commit
        XCTAssertEqual(plan.delete.map(\.name), [1, 2, 3].map(segmentName), "the newest sealed segment holds the state at the window's start")
        plan = try Purger.plan(config: f.config, retention: 0, window: 3 * 86_400, now: now)         // from start + 12h
        XCTAssertEqual(plan.delete.map(\.name), [])
        XCTAssertTrue(plan.keptBecause?.contains("holds the state at the window's start") ?? false, plan.keptBecause ?? "")
        plan = try Purger.plan(config: f.config, retention: 0, window: 4 * 86_400, now: now)
        XCTAssertTrue(plan.keptBecause?.contains("\(segmentName(1)) holds commits up to") ?? false, plan.keptBecause ?? "")
        // The seal-age rule still applies beside the window.
        plan = try Purger.plan(config: f.config, retention: 3.4 * 86_400, window: 0.25 * 86_400, now: now)
        XCTAssertEqual(plan.delete.map(\.name), [segmentName(1)])
        XCTAssertEqual(try Purger.execute(config: f.config, retention: 0, window: 1.5 * 86_400, now: now).delete.map(\.name), [segmentName(1)])
        XCTAssertEqual(try segmentFiles(f.master.binlog).sorted(), [2, 3, 4].map(segmentName))
    }

    func testPurgeKeepsWhatAnyTargetLacksOrHoldsDifferently() throws {
        let (f, start) = try purgeFixture()
        let late = start + 10 * day
        try FileManager.default.removeItem(atPath: f.b + "/" + segmentName(2))
        var plan = try Purger.plan(config: f.config, retention: 0, now: late)
        XCTAssertEqual(plan.delete.map(\.name), [segmentName(1)], "a prefix only: 3 stays because 2 stays")
        XCTAssertTrue(plan.keptBecause?.contains("target b no longer has \(segmentName(2))") ?? false, plan.keptBecause ?? "")

        try flipByte(f.a + "/" + segmentName(1), at: Int(try FileDescriptor(path: f.a + "/" + segmentName(1), flags: O_RDONLY).size()) - 50)
        plan = try Purger.plan(config: f.config, retention: 0, now: late)
        XCTAssertEqual(plan.delete.count, 0)
        XCTAssertTrue(plan.keptBecause?.contains("differs") ?? false, plan.keptBecause ?? "")

        var withNewTarget = f.config
        try FileManager.default.createDirectory(atPath: f.dir.sub("c"), withIntermediateDirectories: false)
        withNewTarget.targets.append(ShipTarget(name: "c", path: f.dir.sub("c")))
        plan = try Purger.plan(config: withNewTarget, retention: 0, now: late)
        XCTAssertTrue(plan.keptBecause?.contains("target") ?? false)

        var withoutB = f.config
        withoutB.targets.removeLast()
        plan = try Purger.plan(config: withoutB, retention: 0, now: late)
        XCTAssertEqual(plan.delete.count, 0)
        XCTAssertTrue(plan.keptBecause?.contains("target b has shipping state but is not configured") ?? false, plan.keptBecause ?? "")
    }

    func testPurgeBeforeAnyShippingKeepsEverything() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(3)
        let plan = try Purger.plan(config: f.config, retention: 0)
        XCTAssertEqual(plan.delete.count, 0)
        XCTAssertTrue(plan.keptBecause?.contains("nothing has been shipped") ?? false)
    }
}

/// The segment files of a binlog directory (not the master's committed mark), sorted.
private func segmentFiles(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != CommitMark.fileName }.sorted()
}
