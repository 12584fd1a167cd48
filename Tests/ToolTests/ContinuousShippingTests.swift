import Foundation
import LogshipTestSupport
import XCTest

/// Issue 15 and 17, as a user runs them: `binlog-ship --follow` into a replica's inbox,
/// `replica-apply --follow` on it, and `replica-apply wait` for read-your-writes; kill -9 of
/// either follower at random moments under load loses nothing, leaves no gap and applies
/// nothing twice (the store is compared with an independent replay of the master's binlog).
final class ContinuousShippingTests: XCTestCase {
    /// A long-running tool, stopped by SIGTERM (or SIGKILL) by the test.
    final class Follower {
        let process = Process()
        let out = Pipe()
        /// stderr goes to a file, so that a test can read it while the tool runs.
        let errPath: String

        init(_ tool: String, _ arguments: [String], stderrIn dir: TestDirectory) throws {
            errPath = dir.sub("\(tool)-\(UUID().uuidString).stderr")
            FileManager.default.createFile(atPath: errPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: ToolRunner.path(tool))
            process.arguments = arguments
            process.standardOutput = out
            process.standardError = FileHandle(forWritingAtPath: errPath)
            try process.run()
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// SIGTERM, then the exit status and stderr (nil status if it did not stop within 20 s).
        func stop() -> (status: Int32?, stderr: String) {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill9(); return (nil, stderr) }
            return (process.terminationStatus, stderr)
        }

        var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
    }

    private func shipper(_ f: ReplicaCLIFixture) throws -> Follower {
        try Follower("binlog-ship", ["--source", f.master.path, "--target", f.inbox, "--follow", "--quiet"], stderrIn: f.dir)
    }

    private func applier(_ f: ReplicaCLIFixture) throws -> Follower {
        try Follower("replica-apply", [f.replica, "--follow", "--quiet"], stderrIn: f.dir)
    }

    private func wait(_ f: ReplicaCLIFixture, _ lsn: UInt64, timeout: String = "60s") throws -> ToolRunner.Result {
        try f.tool(["wait", f.replica, "--lsn", "\(lsn)", "--timeout", timeout])
    }

    func testFollowersShipAndApplyEachCommitAndWaitSeesIt() throws {
        let f = try ReplicaCLIFixture("follow-e2e", segmentSize: "64KiB")
        try f.runWorkload(50, seal: false)
        let ship = try shipper(f), apply = try applier(f)
        f.assertExit(try wait(f, f.master.lastLSN), 0, "the first passes ship and apply what the master held; shipper: \(ship.stderr); applier: \(apply.stderr)")
        // Commits one by one in the active segment: each is applied without a rotate or a cron run.
        for round in 0..<5 {
            try f.runWorkload(3, schema: false, seal: false)
            let r = try wait(f, f.master.lastLSN)
            f.assertExit(r, 0, "round \(round): LSN \(f.master.lastLSN) applied from the active segment")
            XCTAssertTrue(r.stdout.contains("applied: the store is at LSN"), r.stdout)
        }
        // A seal under the followers: the sealed segment supersedes the partial copy.
        try f.master.rotate()
        try f.runWorkload(20, schema: false, seal: false)
        f.assertExit(try wait(f, f.master.lastLSN), 0, "after a rotation")
        try f.assertStore(at: f.master.lastLSN)
        // Not there yet: exit 5 (lagging) at the timeout, naming where the store is.
        f.assertExit(try wait(f, f.master.lastLSN + 1000, timeout: "300ms"), 5, containing: ["is not applied", "LSN \(f.master.lastLSN)"])
        f.assertExit(try f.tool(["wait", f.replica, "--lsn", "1", "--timeout", "15"]), 64, containing: ["--timeout"])
        // A cron run beside the follower is refused (busy), not interleaved.
        let cron = try ToolRunner.run("binlog-ship", ["--source", f.master.path, "--target", f.inbox])
        XCTAssertEqual(cron.status, 12, cron.stderr)
        let s = ship.stop(), a = apply.stop()
        XCTAssertEqual(s.status, 0, "binlog-ship --follow stops cleanly on SIGTERM: \(s.stderr)")
        XCTAssertEqual(a.status, 0, "replica-apply --follow stops cleanly on SIGTERM: \(a.stderr)")
        // State a cron run continues from.
        try f.runWorkload(5, schema: false)
        let after = try ToolRunner.run("binlog-ship", ["--source", f.master.path, "--target", f.inbox, "--include-active"])
        XCTAssertEqual(after.status, 0, after.stderr)
        f.assertExit(try f.apply(), 0)
        try f.assertStore(at: f.master.lastLSN)
    }

    /// kill -9 of the follower shipper or applier at random moments while a writer commits:
    /// after each round, restarted followers bring the replica to the master's LSN with its
    /// exact tables. `tools/follow-torture` runs this for 50+ rounds.
    func testKillingTheFollowersAtRandomMomentsLosesNothing() throws {
        let rounds = Int(ProcessInfo.processInfo.environment["LOGSHIP_FOLLOW_ROUNDS"] ?? "") ?? 6
        // nonisolated(unsafe): while the writer thread runs the workload through `f`, this thread
        // reads only `f`'s paths (fixed at init); it reads the master's state after `done.wait()`.
        nonisolated(unsafe) let f = try ReplicaCLIFixture("follow-kill", segmentSize: "32KiB")
        var rng = SeededRandom(seed: f.seed)
        try f.runWorkload(20, seal: false)
        var ship = try shipper(f), apply = try applier(f)
        for round in 0..<rounds {
            // The writer commits in its own process while a follower is killed.
            let commits = Int.random(in: 20...80, using: &rng)
            let done = DispatchSemaphore(value: 0)
            let failure = FailureBox()
            Thread {
                do { try f.runWorkload(commits, schema: false, seal: false) } catch { failure.error = error }
                done.signal()
            }.start()
            usleep(UInt32.random(in: 0...300_000, using: &rng))
            let victim = Bool.random(using: &rng) ? "shipper" : "applier"
            // The fault fired: the victim was alive (following) when SIGKILL reached it.
            let target = victim == "shipper" ? ship : apply
            XCTAssertTrue(target.process.isRunning, "round \(round): the \(victim) had already exited: \(target.stderr); \(f.context)")
            if victim == "shipper" { ship.kill9(); ship = try shipper(f) } else { apply.kill9(); apply = try applier(f) }
            XCTAssertEqual(target.process.terminationReason, .uncaughtSignal, "round \(round): the \(victim) died of SIGKILL")
            done.wait()
            XCTAssertNil(failure.error, "round \(round): the writer failed; \(f.context)")
            if Int.random(in: 0..<3, using: &rng) == 0 { try f.master.rotate() }
            let r = try wait(f, f.master.lastLSN)
            f.assertExit(r, 0, "round \(round): after kill -9 of the \(victim), LSN \(f.master.lastLSN) was not applied")
            try f.assertStore(at: f.master.lastLSN, "round \(round), \(victim) killed")
        }
        XCTAssertEqual(ship.stop().status, 0)
        XCTAssertEqual(apply.stop().status, 0)
    }
}

private final class FailureBox: @unchecked Sendable {
    var error: Error?
}
