@testable import BinlogShip
import Foundation
import LogshipSystem
import XCTest

/// The shipping API with times as `Date` and spans as `Duration` (issue 17): each overload plans
/// exactly what the raw seconds and microseconds beside it plan.
final class ShipDateAndDurationTests: XCTestCase {
    private let daySeconds: Int64 = 86_400

    func testDurationPurgePlansEqualTheSecondsPlansForEveryWindow() throws {
        let f = try ShipFixture()
        let start = f.master.clock
        let day = daySeconds * 1_000_000
        for d in 0..<4 {
            f.master.clock = start + Int64(d) * day
            for _ in 0..<2 { try f.master.commit() }
            try f.master.seal()
        }
        try f.ship()
        let now = start + 3 * day + day / 2
        let nowDate = Date(binlogMicroseconds: now)
        XCTAssertEqual(nowDate.binlogMicroseconds, now)
        var deletedSomewhere = false
        for (retentionHours, windowHours) in [(0, 36), (0, 6), (0, 72), (82, 6), (36, nil)] as [(Int64, Int64?)] {
            let raw = try Purger.plan(config: f.config, retention: Double(retentionHours * 3600),
                                      window: windowHours.map { Double($0 * 3600) }, now: now)
            let typed = try Purger.plan(config: f.config, retention: .seconds(retentionHours * 3600),
                                        window: windowHours.map { .seconds($0 * 3600) }, now: nowDate)
            XCTAssertEqual(typed.delete.map(\.name), raw.delete.map(\.name), "retention \(retentionHours) h, window \(windowHours.map(String.init) ?? "none") h")
            XCTAssertEqual(typed.keptBecause, raw.keptBecause)
            deletedSomewhere = deletedSomewhere || !raw.delete.isEmpty
        }
        XCTAssertTrue(deletedSomewhere, "the cases include a plan that deletes something")
        let done = try Purger.execute(config: f.config, retention: .zero, window: .seconds(36 * 3600), lockTimeout: .seconds(1), now: nowDate)
        XCTAssertEqual(done.delete.count, 1)
    }

    func testDatesOfRemoteSnapshotsAndSpansAreTheirMicroseconds() {
        let micros: Int64 = 1_764_547_200_123_456   // 2025-12-01 00:00:00.123456 UTC
        let snapshot = RemoteSnapshot(key: "snapshot-1.db", sourceID: UUID(), epoch: 1, lsn: 7, commitTime: micros, bytes: 1, sha256: "")
        XCTAssertEqual(snapshot.commitDate.binlogMicroseconds, micros)
        XCTAssertEqual(snapshot.commitDate.timeIntervalSince1970, 1_764_547_200.123456, accuracy: 1e-6)
        if case .time(let t) = RemoteRestorePlan.Goal.date(snapshot.commitDate) { XCTAssertEqual(t, micros) } else { XCTFail("a date goal is a time goal") }
        var status = RemoteSourceStatus(location: "s3://b/p")
        XCTAssertNil(status.newestCommitDate)
        status.oldestNotFetchedCommitTime = micros
        XCTAssertEqual(status.oldestNotFetchedCommitDate?.binlogMicroseconds, micros)
    }
}
