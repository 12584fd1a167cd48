import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import XCTest

/// The master's wall clock jumping back and forth (a day back, hours ahead, seconds either way)
/// while clients write, through the LD_PRELOAD shim `tools/faults/clock.c`. The rule under test
/// (docs/REPLICA.md, "Time"): a commit time is the clock's reading, or the previous commit time
/// when the clock reads earlier, so commit times never go back; restore by LSN is exact; restore
/// and `--until-time` by time T give the state after the last transaction committed at or before
/// T; lag and age figures are never negative. Oracles: the commit times `exec` acknowledged, the
/// binlog read with BinlogFormat's reader, a replay of the binlog digested by TableDigest.
/// LOGSHIP_SKEW_CYCLES sets the cycles (default 6); `tools/torture clock-skew` runs 100.
final class ClockSkewTests: XCTestCase {
    private var dir: TestDirectory!
    private var master = ""
    private var replica = ""
    private var context = ""
    private var oracle: [UInt64: [String: String]] = [:]

    /// XCTest keeps test case objects until the process ends: drop the directory now, or it
    /// would stay in the temp directory.
    override func tearDown() {
        dir = nil
        oracle = [:]
        super.tearDown()
    }

    func testMasterClockJumpingBackAndForth() throws {
        var rng = SeededRandom()
        context = "seed \(rng.seed) (rerun with LOGSHIP_SEED=\(rng.seed))"
        let cycles = Int(ProcessInfo.processInfo.environment["LOGSHIP_SKEW_CYCLES"] ?? "") ?? 6
        dir = TestDirectory("clockskew")
        master = dir.sub("master")
        try MasterOracle.makeMaster(master)
        let clock = try SkewedClock(scratch: dir.path)
        let (acknowledged, jumps) = try writeWhileTheClockJumps(clock, cycles: cycles, rng: &rng)
        XCTAssertEqual(try tool("binlog-writer", ["rotate", master]).status, 0)
        let verify = try tool("binlog-writer", ["verify", master])
        XCTAssertEqual(verify.status, 0, "binlog-writer verify: \(verify.stdout) \(verify.stderr); \(context)")

        // On the master: what clients were told is what the binlog holds, and never goes back.
        let times = try binlogCommitTimes()
        for c in acknowledged { XCTAssertEqual(times[c.lsn], c.commitTime, "LSN \(c.lsn): acknowledged time differs from the binlog's; \(context)") }
        let lsns = times.keys.sorted()
        XCTAssertEqual(lsns, Array(1...UInt64(lsns.count)), context)
        var held = 0, leaps = 0
        for (a, b) in zip(lsns, lsns.dropFirst()) {
            XCTAssertGreaterThanOrEqual(times[b]!, times[a]!, "commit time of LSN \(b) goes back; \(context)")
            if times[b]! == times[a]! { held += 1 }
            if times[b]! - times[a]! > 30_000_000 { leaps += 1 }
        }
        // Prove the fault fired: the clock went back (commit times held) and ahead (leaps).
        XCTAssertGreaterThan(held, 0, "no commit time was held: the clock never read earlier than the last commit; \(context)")
        XCTAssertGreaterThan(leaps, 0, "no commit time leapt ahead: the clock shim had no effect; \(context)")

        try buildReplica(last: lsns.last!, rng: &rng)
        let byLSN = try restoreByLSN(last: lsns.last!, count: 4 + cycles / 10, rng: &rng)
        let byTime = try restoreByTime(times, count: 2 + cycles / 20, rng: &rng)
        try lagIsNeverNegative(clock, rng: &rng)
        print("figures: clock-skew: \(cycles) cycles, \(jumps.back + jumps.ahead) clock jumps while writing (\(jumps.back) back, up to a day; \(jumps.ahead) ahead), \(lsns.count) transactions, "
              + "\(held) commit times held at the previous one, \(leaps) leaps over 30 s; \(byLSN) restores by LSN exact, "
              + "\(byTime.restores) restores by time and \(byTime.untilTime) --until-time runs at the last LSN committed at or before T; no negative lag or age; \(context)")
    }

    /// `rotate --if-older-than` (the cron line that bounds how long data stays unshipped) seals
    /// a segment started while the clock was ahead, once the clock is back: its age is unknown,
    /// and waiting for the clock to catch up held it back for as long as the clock had been ahead.
    func testRotateIfOlderThanSealsASegmentStartedBeforeTheClockWentBack() throws {
        dir = TestDirectory("clockskew-rotate")
        master = dir.sub("master")
        try MasterOracle.makeMaster(master)
        let clock = try SkewedClock(scratch: dir.path)
        XCTAssertEqual(try tool("binlog-writer", ["rotate", master]).status, 0)
        try clock.set(86_400 * 1_000_000)
        XCTAssertEqual(try tool("binlog-writer", ["exec", master, "INSERT INTO u (k, v) VALUES (1000, 1)"], environment: clock.environment).status, 0)
        try clock.set(0)
        XCTAssertEqual(try tool("binlog-writer", ["exec", master, "INSERT INTO u (k, v) VALUES (1001, 1)"]).status, 0)
        let r = try tool("binlog-writer", ["rotate", master, "--if-older-than", "5m"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.hasPrefix("nothing to seal"), "a segment started a day ahead waits a day to be sealed: \(r.stdout)")
        // A segment started at the right time still waits for its age.
        XCTAssertEqual(try tool("binlog-writer", ["exec", master, "INSERT INTO u (k, v) VALUES (1002, 1)"]).status, 0)
        XCTAssertTrue(try tool("binlog-writer", ["rotate", master, "--if-older-than", "5m"]).stdout.hasPrefix("nothing to seal"))
    }

    /// Runs `cycles` exec clients under the clock shim, moving the clock before and while each writes.
    private func writeWhileTheClockJumps(_ clock: SkewedClock, cycles: Int, rng: inout SeededRandom) throws -> ([ToolMaster.Commit], (back: Int, ahead: Int)) {
        // The clock either leaps past every reading so far (by a minute to 20 minutes) or
        // jumps back (up to a day); the first cycle leaps and the second jumps back.
        var ahead: Int64 = 0
        var jumps = (back: 0, ahead: 0)
        func jump(_ leap: Bool) throws {
            if leap { jumps.ahead += 1 } else { jumps.back += 1 }
            if leap {
                ahead += Int64.random(in: 60_000_000...1_200_000_000, using: &rng)
                try clock.set(ahead)
            } else {
                try clock.set(Int64.random(in: -86_400_000_000...(ahead - 1_000_000), using: &rng))
            }
        }
        var acknowledged: [ToolMaster.Commit] = []
        for cycle in 1...cycles {
            try jump(cycle == 1 ? true : cycle == 2 ? false : Bool.random(using: &rng))
            let script = TaggedScript(prefix: "c\(cycle)", count: Int.random(in: 30...80, using: &rng), maxPayload: 200, rng: &rng)
            let client = try WriterClient(master: master, script: script, file: dir.sub("script.sql"), environment: clock.environment)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                client.waitForAcknowledgements(Int.random(in: 1..<script.statements.count, using: &rng))
                try jump(Bool.random(using: &rng))
            }
            let (_, tags) = client.finish()
            XCTAssertEqual(tags.count, script.statements.count, "exec under a moving clock acknowledged every transaction; \(context)")
            acknowledged += try client.printedCommits()
            if Bool.random(using: &rng) {
                // A seal, and a new segment created, under the moved clock.
                XCTAssertEqual(try tool("binlog-writer", ["rotate", master], environment: clock.environment).status, 0, context)
            }
        }
        try clock.set(0)
        return (acknowledged, jumps)
    }

    /// LSN → commit time of every transaction in the master's binlog (BinlogFormat's reader).
    private func binlogCommitTimes() throws -> [UInt64: Int64] {
        var result: [UInt64: Int64] = [:]
        for entry in try BinlogDirectory(path: master + "/binlog").list().segments {
            let reader = try SegmentReader(path: entry.path)
            while let tx = try reader.next(decode: false) { result[tx.lsn] = tx.commitTime }
        }
        return result
    }

    /// A replica shipped by binlog-ship, applied halfway, snapshotted, then applied to the end.
    private func buildReplica(last: UInt64, rng: inout SeededRandom) throws {
        replica = dir.sub("replica")
        XCTAssertEqual(try tool("replica-apply", ["init", replica]).status, 0)
        try ship()
        let middle = UInt64.random(in: 1...last, using: &rng)
        XCTAssertEqual(try tool("replica-apply", [replica, "--until-lsn", "\(middle)"]).status, 0, context)
        XCTAssertEqual(try tool("replica-apply", ["snapshot", replica]).status, 0, context)
        XCTAssertEqual(try tool("replica-apply", [replica]).status, 0, context)
        XCTAssertEqual(try appliedLSN(ofStore: replica + "/store.db"), last, context)
        XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), try TableDigest.digest(path: master + "/master.db"), "replica differs from the master; \(context)")
    }

    private func ship() throws {
        let r = try tool("binlog-ship", ["--source", master, "--state-dir", dir.sub("ship"), "--target", "r=" + replica + "/inbox"])
        XCTAssertEqual(r.status, 0, "binlog-ship: \(r.stderr); \(context)")
    }

    /// Restores to random LSNs: each equals a replay of the binlog to that LSN.
    private func restoreByLSN(last: UInt64, count: Int, rng: inout SeededRandom) throws -> Int {
        let targets = [1, last] + (0..<count).map { _ in UInt64.random(in: 1...last, using: &rng) }
        for lsn in targets {
            let out = try restore(["--to-lsn", "\(lsn)"], expect: 0)
            XCTAssertEqual(try appliedLSN(ofStore: out), lsn, context)
            XCTAssertEqual(try TableDigest.digest(path: out), try digest(at: lsn), "restore --to-lsn \(lsn); \(context)")
        }
        return targets.count
    }

    /// Restores to times at, just before and just after commit times (held ones included), and
    /// outside the window; applies a fresh replica --until-time T; both must stop at the last
    /// LSN committed at or before T.
    private func restoreByTime(_ times: [UInt64: Int64], count: Int, rng: inout SeededRandom) throws -> (restores: Int, untilTime: Int) {
        let byLSN = times.sorted { $0.key < $1.key }
        let heldTimes = Set(zip(byLSN, byLSN.dropFirst()).filter { $0.0.value == $0.1.value }.map { $0.0.value })
        var picks = Array(heldTimes.shuffled(using: &rng).prefix(count))
        picks += (0..<count).map { _ in byLSN[Int.random(in: 0..<byLSN.count, using: &rng)].value }
        var targets = picks.flatMap { [$0 - 1, $0, $0 + 1] }
        targets += [byLSN.first!.value - 1, byLSN.last!.value + 1_000_000]
        var restored = 0, until = 0
        for t in targets {
            let expected = byLSN.last { $0.value <= t }?.key
            // Outside the window (before the first commit, after the last): exit 2, nothing written.
            let isOutside = expected == nil || t > byLSN.last!.value
            let out = try restore(["--to-time", formatTimestamp(t)], expect: isOutside ? 2 : 0)
            guard let expected, !isOutside else { continue }
            restored += 1
            XCTAssertEqual(try appliedLSN(ofStore: out), expected, "restore --to-time \(formatTimestamp(t)); \(context)")
            XCTAssertEqual(try TableDigest.digest(path: out), try digest(at: expected), "restore --to-time \(formatTimestamp(t)); \(context)")
            if until < 2 {
                let fresh = dir.sub("until-\(until)")
                XCTAssertEqual(try tool("replica-apply", ["init", fresh, "--inbox", replica + "/inbox"]).status, 0, context)
                let r = try tool("replica-apply", [fresh, "--until-time", formatTimestamp(t)])
                XCTAssertEqual(r.status, 0, "--until-time: \(r.stderr); \(context)")
                XCTAssertEqual(try appliedLSN(ofStore: fresh + "/store.db"), expected, "apply --until-time \(formatTimestamp(t)); \(context)")
                until += 1
            }
        }
        return (restored, until)
    }

    /// With commit times ahead of the reader's clock (the master's clock ahead, or the
    /// replica's behind), every lag and age figure is 0, never negative.
    private func lagIsNeverNegative(_ clock: SkewedClock, rng: inout SeededRandom) throws {
        try clock.set(3 * 3600 * 1_000_000)
        let future = TaggedScript(prefix: "future", count: 5, maxPayload: 10, rng: &rng)
        let client = try WriterClient(master: master, script: future, file: dir.sub("future.sql"), environment: clock.environment)
        _ = client.finish()
        XCTAssertEqual(try tool("binlog-writer", ["rotate", master], environment: clock.environment).status, 0)
        try ship()
        try clock.set(-86_400 * 1_000_000)
        for env in [nil, clock.environment] {   // the replica's own clock right, then a day behind
            let status = try tool("replica-apply", ["status", replica, "--json"], environment: env)
            let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
            let lag = json?["lagSeconds"] as? Double
            XCTAssertNotNil(lag, "status --json: \(status.stdout); \(context)")
            XCTAssertGreaterThanOrEqual(lag ?? -1, 0, "negative lag with pending transactions from the future; \(context)")
            XCTAssertNil(status.stdout.range(of: #":\s*-[0-9]"#, options: .regularExpression), "a negative figure: \(status.stdout); \(context)")
            let check = try tool("replica-apply", ["check", replica, "--max-lag", "10m"], environment: env)
            XCTAssertEqual(check.status, 0, "check with transactions from the future pending: \(check.stdout) \(check.stderr); \(context)")
        }
        XCTAssertEqual(try tool("replica-apply", [replica]).status, 0, context)
        for env in [nil, clock.environment] {
            let report = try tool("report", ["query", "--store", replica, "-f", "json", "SELECT count(*) AS n FROM tags"], environment: env)
            XCTAssertEqual(report.status, 0, "report: \(report.stderr); \(context)")
            let json = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any]
            let age = (json?["freshness"] as? [String: Any])?["ageSeconds"] as? Double
            XCTAssertNotNil(age, "report json: \(report.stdout); \(context)")
            XCTAssertGreaterThanOrEqual(age ?? -1, 0, "negative age of data committed in the future; \(context)")
            let status = try tool("binlog-ship", ["status", "--source", master, "--state-dir", dir.sub("ship"), "--target", "r=" + replica + "/inbox", "--json"], environment: env)
            XCTAssertEqual(status.status, 0, "binlog-ship status: \(status.stderr); \(context)")
            XCTAssertNil(status.stdout.range(of: #":\s*-[0-9]"#, options: .regularExpression), "binlog-ship status shows a negative figure: \(status.stdout); \(context)")
        }
        try clock.set(0)
    }

    private func restore(_ target: [String], expect status: Int32) throws -> String {
        let out = dir.sub("restored-\(UUID().uuidString).db")
        let r = try tool("replica-apply", ["restore", replica] + target + ["-o", out])
        XCTAssertEqual(r.status, status, "restore \(target.joined(separator: " ")): \(r.stdout) \(r.stderr); \(context)")
        return out
    }

    private func digest(at lsn: UInt64) throws -> [String: String] {
        if let d = oracle[lsn] { return d }
        let file = dir.sub("oracle-\(lsn).db")
        defer { for s in ["", "-wal", "-shm"] { unlink(file + s) } }
        XCTAssertEqual(try BinlogReplay.replay(binlog: master + "/binlog", into: file, upTo: lsn), lsn, context)
        oracle[lsn] = try TableDigest.digest(path: file)
        return oracle[lsn]!
    }

    private func tool(_ name: String, _ args: [String], environment: [String: String]? = nil) throws -> ToolRunner.Result {
        try ToolRunner.run(name, args, environment: environment)
    }
}
