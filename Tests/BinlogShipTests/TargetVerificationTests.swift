import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import XCTest

/// `verify TARGET`: intact, behind (not shipped yet), lost, corrupt, and the partial copy.
final class TargetVerificationTests: XCTestCase {
    func testAnIntactTargetThatIsBehindIsClean() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(3)
        try f.master.commit()
        try f.ship(includeActive: true)
        try f.master.sealedSegments(2)
        let v = try TargetVerification.run("a", config: f.config)
        XCTAssertEqual(v.outcome, .clean, v.problem ?? "")
        XCTAssertEqual(v.segments, 3)
        XCTAssertEqual(v.lastLSN, 9)
        XCTAssertEqual(v.partial, segmentName(4) + ".partial")
        XCTAssertEqual(v.notShippedYet, [4, 5].map(segmentName))
        XCTAssertEqual(v.lost, [])
        XCTAssertEqual(v.warnings, [], "the partial is understood, not an unknown name")
        // By directory, without a source: the target alone.
        XCTAssertEqual(try TargetVerification.run(f.b, config: ShipConfig()).outcome, .clean)
    }

    func testAMissingSegmentTheTargetWasShippedIsLost() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(4)
        try f.ship()
        try FileManager.default.removeItem(atPath: f.a + "/" + segmentName(2))
        var v = try TargetVerification.run("a", config: f.config)
        XCTAssertEqual(v.outcome, .lost)
        XCTAssertEqual(v.lost, [segmentName(2)])
        XCTAssertEqual(v.notShippedYet, [])

        try FileManager.default.removeItem(atPath: f.b + "/" + segmentName(4))
        v = try TargetVerification.run("b", config: f.config)
        XCTAssertEqual(v.outcome, .lost, "the state says 4 was shipped")
        XCTAssertEqual(v.lost, [segmentName(4)])
        XCTAssertEqual(v.notShippedYet, [])
    }

    func testCorruptionInATargetNamesFileAndOffset() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(3)
        try f.ship()
        let victim = f.b + "/" + segmentName(2)
        try flipByte(victim, at: 400)
        let v = try TargetVerification.run("b", config: f.config)
        XCTAssertEqual(v.outcome, .corruption)
        XCTAssertEqual(v.file, victim)
        XCTAssertNotNil(v.offset)
    }

    func testAPartialCopyThatEndsInsideATransactionIsCorruption() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(1)
        try f.master.commit()
        try f.master.commit()
        try f.ship(includeActive: true)
        let partial = f.a + "/" + segmentName(2) + ".partial"
        let d = try bytes(partial)
        try d.prefix(d.count - 10).write(to: URL(fileURLWithPath: partial))
        let v = try TargetVerification.run("a", config: f.config)
        XCTAssertEqual(v.outcome, .corruption)
        XCTAssertEqual(v.file, partial)
    }
}
