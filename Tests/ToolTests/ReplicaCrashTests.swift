import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// kill -9 `replica-apply` at random moments while it applies a large inbox, then rerun it:
/// the rerun continues right after the stored position (nothing applied twice, nothing
/// skipped), and every table equals the master's at the applied LSN (a fresh replay of the
/// master's binlog up to that LSN, digested by TableDigest). The fault is proven to have fired
/// mid-work in most cycles: killed by the signal after its first batch, the inbox not finished.
/// LOGSHIP_REPLICA_CRASH_CYCLES sets the number of cycles (default 50).
final class ReplicaCrashTests: XCTestCase {
    func testKill9DuringApplyThenRerunGivesTheMastersStateAtTheAppliedLSN() throws {
        let f = try ReplicaCLIFixture("replica-crash")
        var rng = SeededRandom(seed: f.seed)
        let cycles = Int(ProcessInfo.processInfo.environment["LOGSHIP_REPLICA_CRASH_CYCLES"] ?? "") ?? 50
        try f.runWorkload(6000, schemaChanges: true)
        let segments = try f.master.sealedSegments()
        let last = f.master.lastLSN
        // Replicas are replaced every few cycles, so each one starts from an empty store with
        // the whole inbox ahead of it, and the oracle replays stay short.
        let cyclesPerReplica = 10
        var killed = 0, midWork = 0, reruns = 0
        var oracle: [UInt64: [String: String]] = [:]
        for cycle in 1...cycles {
            if (cycle - 1) % cyclesPerReplica == 0 {
                try f.newReplica("replica-\(cycle)")
                for s in segments { try Shipping.ship(s.path, to: f.inbox) }
            }
            let context = "cycle \(cycle), \(f.context)"
            let before = try f.storeLSN()

            let process = Process()
            process.executableURL = URL(fileURLWithPath: ToolRunner.path("replica-apply"))
            process.arguments = [f.replica, "--batch", "\(Int.random(in: 1...4, using: &rng))"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The kill follows apply's progress rather than the clock, so that it lands mid-work
            // on a loaded machine too (where a fixed delay often ended before the first batch):
            // wait for the first committed batch, then up to 40 ms more.
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning, try f.storeLSN() == before, Date() < deadline { usleep(2_000) }
            usleep(UInt32.random(in: 0...40_000, using: &rng))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let afterKill = try f.storeLSN()
            XCTAssertGreaterThanOrEqual(afterKill, before, "the position went back; \(context)")
            if process.terminationReason == .uncaughtSignal {
                killed += 1
                if afterKill > before && afterKill < last { midWork += 1 }
            }

            // Rerun, to a random bound a little further on.
            let target = min(last, afterKill + UInt64.random(in: 0...150, using: &rng))
            let rerun = try f.apply("--until-lsn", "\(target)")
            XCTAssertEqual(rerun.status, 0, "rerun after kill -9: \(rerun.stderr); \(context)")
            if target > afterKill {
                reruns += 1
                XCTAssertTrue(rerun.stdout.hasPrefix("applied LSN \(afterKill + 1)…\(target) (\(target - afterKill) transactions"),
                              "the rerun must continue right after the stored LSN \(afterKill): \(rerun.stdout); \(context)")
            }
            let position = try f.storeLSN()
            XCTAssertEqual(position, target, context)
            if oracle[position] == nil { oracle[position] = try f.master.digest(at: position, scratch: f.dir) }
            XCTAssertEqual(try TableDigest.digest(path: f.store), oracle[position]!,
                           "store differs from the master at LSN \(position) after kill -9 at \(afterKill) and a rerun; \(context)")
        }
        XCTAssertGreaterThan(midWork, cycles / 2, "only \(midWork) of \(cycles) runs were killed mid-work (\(killed) by the signal); \(f.context)")
        XCTAssertGreaterThan(reruns, cycles / 2, "reruns applied something in only \(reruns) cycles; \(f.context)")
        print("figures: apply-crash random moments (ReplicaCrashTests): \(cycles) cycles, \(killed) killed by SIGKILL, \(midWork) mid-work, \(reruns) reruns that applied; \(f.context)")
    }
}
