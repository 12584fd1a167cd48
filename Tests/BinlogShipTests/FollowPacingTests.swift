@testable import BinlogShip
import Foundation
import LogshipSystem
import XCTest

/// `Shipper.follow`'s pacing on a real loop: a pass that shipped something is followed by the
/// next no sooner than `passInterval` later (with `passBatch` 1, whatever the rate), except while
/// the master runs with semi-sync, whose commits each wait for the follower's pass.
final class FollowPacingTests: XCTestCase {
    /// Follows `f`'s master; after each pass that shipped something the master commits one more
    /// transaction (the follower is woken for it at once). Returns when each of the first
    /// `passes` shipping passes reported.
    private func shippingPassTimes(_ f: ShipFixture, interval: Double, passes: Int) throws -> [Date] {
        try f.master.commit(bytes: 200)
        var config = f.config
        config.includeActive = true   // as `binlog-ship --follow` sets it
        var options = Shipper.FollowOptions()
        options.passInterval = interval
        options.passBatch = 1
        var times: [Date] = []
        var shippedLSN: UInt64 = 0
        options.shouldStop = { times.count >= passes }
        try Shipper(config: config).follow(options) { report in
            XCTAssertNil(report.worstKind, "\(report.failures)")
            let lsn = report.targets.compactMap(\.durableLSN).max() ?? 0
            guard lsn > shippedLSN else { return }
            shippedLSN = lsn
            times.append(Date())
            try f.master.commit(bytes: 200)
        }
        return times
    }

    func testShippingPassesAreSpacedByThePassInterval() throws {
        let f = try ShipFixture(targets: ["a"])
        let times = try shippingPassTimes(f, interval: 0.5, passes: 4)
        for (a, b) in zip(times, times.dropFirst()) {
            XCTAssertGreaterThanOrEqual(b.timeIntervalSince(a), 0.45, "\(times)")
        }
    }

    /// Before, the pacing held every semi-sync commit of a busy master up to the interval (eight
    /// writers through `serve`: 2,959 commits/s against 4,809 with `--pass-interval 0`).
    func testAMasterWaitingForAcknowledgementsIsNotKeptWaitingByThePacing() throws {
        let f = try ShipFixture(targets: ["a"])
        // What a writer running with --sync-replicas leaves in its directory.
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: SyncAcks.settingsPath(master: f.master.root)))
        let started = Date()
        let times = try shippingPassTimes(f, interval: 0.5, passes: 4)
        for (a, b) in zip(times, times.dropFirst()) {
            XCTAssertLessThan(b.timeIntervalSince(a), 0.4, "\(times)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5, "four passes without the 0.5 s waits between them")
    }
}
