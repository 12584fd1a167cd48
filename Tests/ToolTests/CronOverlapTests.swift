import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// Overlapping cron runs: each round the master commits more and the replica's inbox receives
/// it, then 2–8 `binlog-ship` runs (same source, two targets) and 2–8 `replica-apply` runs (same
/// replica) are released together (a barrier file they poll for); every other round the
/// holder of one lock is killed by SIGKILL while it works. Checks: exactly one run of each kind
/// does the round's work; every other one exits 12 at once or, started after the worker had
/// finished, finds nothing to do; nothing is shipped twice (each segment named in one "shipped"
/// line per target, ever) nor applied twice (the LSN ranges runs print are disjoint; a rerun
/// continues right after the store's position); no stale lock (the catch-up runs after the
/// round get the lock at once); the targets hold the master's segments and the replica equals
/// the master's own database (TableDigest) after every round.
/// LOGSHIP_OVERLAP_ROUNDS sets the rounds (default 8); `tools/torture cron-overlap` runs 500.
final class CronOverlapTests: XCTestCase {
    struct Figures {
        var runs = 0, busy = 0, idle = 0, killedHolding = 0, killRounds = 0
        var segmentsShipped = 0, transactionsApplied = 0
    }

    private var f: ReplicaCLIFixture!
    private var stateDir = ""
    private var targets: [String] = []
    private var shippedEver: Set<String> = []

    /// XCTest keeps test case objects until the process ends: drop the directory now, or it
    /// would stay in the temp directory.
    override func tearDown() {
        f = nil
        super.tearDown()
    }

    func testOverlappingShippersAndAppliersExactlyOneWorks() throws {
        var rng = SeededRandom()
        let seed = rng.seed
        let rounds = Int(ProcessInfo.processInfo.environment["LOGSHIP_OVERLAP_ROUNDS"] ?? "") ?? 8
        var figures = Figures()
        for round in 1...rounds {
            // A new master, replica and targets every 50 rounds: listing every segment is part of
            // each run, so one ever-growing chain would make rounds slower and slower.
            let fresh = (round - 1) % 50 == 0
            if fresh { try startOver(seed: seed &+ UInt64(round - 1)) }
            let context = "round \(round), seed \(seed) (rerun with LOGSHIP_SEED=\(seed))"
            try f.runWorkload(Int.random(in: 150...400, using: &rng), schema: fresh)
            try f.shipAll()
            let before = try f.storeLSN()
            let shippers = Int.random(in: 2...8, using: &rng), appliers = Int.random(in: 2...8, using: &rng)
            let go = f.dir.sub("go-\(round)")
            var runs: [BarrierRun] = []
            for _ in 0..<shippers { runs.append(try BarrierRun("binlog-ship", shipArguments(), barrier: go)) }
            // --batch 1: an fsync per transaction, so the worker holds the lock a while.
            for _ in 0..<appliers { runs.append(try BarrierRun("replica-apply", [f.replica, "--batch", "1"], barrier: go)) }
            FileManager.default.createFile(atPath: go, contents: nil)
            // Every other round: kill whoever holds a lock (the replica's, then the shipper's), while it works.
            var killed: Set<Int32> = []
            if round % 2 == 0 {
                let lock = round % 4 == 2 ? f.replica + "/lock" : stateDir + "/lock"
                if let holder = lockHolder(lock, among: runs) {
                    usleep(UInt32.random(in: 0...20_000, using: &rng))
                    if holder.process.isRunning { kill(holder.pid, SIGKILL); killed.insert(holder.pid); figures.killRounds += 1 }
                }
            }
            try check(runs, killed: killed, before: before, figures: &figures, context: context)
        }
        if rounds >= 2 { XCTAssertGreaterThan(figures.killedHolding, 0, "no run was killed holding a lock; seed \(seed)") }
        print("figures: cron-overlap: \(rounds) rounds, \(figures.runs) runs started together (2-8 shippers and 2-8 appliers a round); in every round "
              + "exactly one shipper and one applier did the work (but for the kind whose worker was killed), \(figures.busy) others exited 12 (busy) at once, \(figures.idle) started after the worker "
              + "had finished and found nothing to do; \(figures.killedHolding) killed by SIGKILL holding the lock (\(figures.killRounds) rounds with a kill); "
              + "\(figures.segmentsShipped) segment copies shipped once each, \(figures.transactionsApplied) transactions applied once each; no stale lock; seed \(seed) (rerun with LOGSHIP_SEED=\(seed))")
    }

    /// A new master (its workload seeded with `seed`), replica, targets and ship state.
    private func startOver(seed: UInt64) throws {
        f = try ReplicaCLIFixture("overlap", seed: seed)
        stateDir = f.dir.sub("ship-state")
        targets = [f.dir.sub("target-a"), f.dir.sub("target-b")]
        for t in targets { try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true) }
        shippedEver = []
    }

    private func shipArguments() -> [String] { ["--source", f.master.path, "--state-dir", stateDir, "--target", "a=" + targets[0], "--target", "b=" + targets[1]] }

    /// The run holding `lock` (its pid is in the lock file and it is still running).
    private func lockHolder(_ lock: String, among runs: [BarrierRun]) -> BarrierRun? {
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: lock, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               let run = runs.first(where: { $0.pid == pid && $0.process.isRunning }) { return run }
            usleep(1_000)
        }
        return nil
    }

    private func check(_ runs: [BarrierRun], killed: Set<Int32>, before: UInt64, figures: inout Figures, context: String) throws {
        var workers: [String: Int] = [:]
        var ranges: [ClosedRange<UInt64>] = []
        for run in runs {
            let (status, signaled, stdout, stderr) = run.finish()
            figures.runs += 1
            if signaled {
                XCTAssertTrue(killed.contains(run.pid), "\(run.tool) died by a signal nobody sent; \(context)")
                XCTAssertEqual(status, SIGKILL, context)
                figures.killedHolding += 1
                continue
            }
            if status == 12 { figures.busy += 1; continue }
            XCTAssertEqual(status, 0, "\(run.tool): \(stdout) \(stderr); \(context)")
            let worked = run.tool == "binlog-ship" ? recordShipped(stdout, &figures, context) : appliedRange(stdout).map { ranges.append($0) } != nil
            if worked { workers[run.tool, default: 0] += 1 } else { figures.idle += 1 }
        }
        // A killed worker's work may be finished by a run after it: two workers of that kind.
        let killedTools = Set(runs.filter { killed.contains($0.pid) }.map(\.tool))
        for tool in ["binlog-ship", "replica-apply"] where !killedTools.contains(tool) {
            XCTAssertEqual(workers[tool], 1, "\(tool) runs that did the round's work; \(context)")
        }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertGreaterThan(b.lowerBound, a.upperBound, "LSNs applied twice: \(ranges); \(context)") }
        // A killed applier may have committed batches first; the next one starts after them.
        if let first = ranges.first, !killedTools.contains("replica-apply") { XCTAssertEqual(first.lowerBound, before + 1, "the applier starts right after the position; \(context)") }
        if let first = ranges.first { XCTAssertGreaterThan(first.lowerBound, before, "LSNs applied again; \(context)") }
        figures.transactionsApplied += ranges.map { $0.count }.reduce(0, +)

        // Catch-up runs: the lock is free at once (not stale), and everything arrives once.
        let ship = try ToolRunner.run("binlog-ship", shipArguments())
        XCTAssertEqual(ship.status, 0, "catch-up ship: \(ship.stderr); \(context)")
        _ = recordShipped(ship.stdout, &figures, context)
        let sealed = try f.master.sealedSegments().map(\.name)
        for t in targets {
            let names = try FileManager.default.contentsOfDirectory(atPath: t).filter { !$0.hasPrefix(".") }.sorted()
            XCTAssertEqual(names, sealed, "target \(t) holds the master's segments; \(context)")
            for n in names { XCTAssertEqual(FileManager.default.contents(atPath: t + "/" + n), FileManager.default.contents(atPath: f.master.binlogPath + "/" + n), "\(n); \(context)") }
        }
        let position = try f.storeLSN()
        let apply = try f.apply()
        XCTAssertEqual(apply.status, 0, "catch-up apply: \(apply.stderr); \(context)")
        if let r = appliedRange(apply.stdout) {
            XCTAssertEqual(r.lowerBound, position + 1, "the catch-up continues right after the store's position; \(context)")
            figures.transactionsApplied += r.count
        }
        XCTAssertEqual(try f.storeLSN(), f.master.lastLSN, context)
        XCTAssertEqual(try TableDigest.digest(path: f.store), try TableDigest.digest(path: f.master.databasePath), "replica differs from the master; \(context)")
    }

    /// Records the "<target>: shipped <file>" lines of a run; true when it shipped anything.
    private func recordShipped(_ stdout: String, _ figures: inout Figures, _ context: String) -> Bool {
        var any = false
        for line in stdout.split(separator: "\n") where line.contains(": shipped ") {
            let target = line.prefix { $0 != ":" }
            let name = line.components(separatedBy: ": shipped ")[1].prefix { $0 != " " }
            let key = "\(target)/\(name)"
            XCTAssertFalse(shippedEver.contains(key), "\(name) shipped twice to \(target); \(context)")
            shippedEver.insert(key)
            figures.segmentsShipped += 1
            any = true
        }
        return any
    }

    /// "applied LSN a…b (…" → a...b.
    private func appliedRange(_ stdout: String) -> ClosedRange<UInt64>? {
        guard let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("applied LSN ") }) else { return nil }
        let bounds = line.dropFirst("applied LSN ".count).prefix { $0 != " " }.split(separator: "…").compactMap { UInt64($0) }
        return bounds.count == 2 ? bounds[0]...bounds[1] : nil
    }
}

/// A tool run that waits, in a shell polling every 2 ms, for a barrier file, then execs the
/// tool: runs created one after another start within a few milliseconds of each other.
final class BarrierRun {
    let tool: String
    let process = Process()
    private let out = Pipe(), err = Pipe()
    private let outBox = OutputBox(), errBox = OutputBox()
    private let done = DispatchGroup()

    init(_ tool: String, _ arguments: [String], barrier: String) throws {
        self.tool = tool
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "while [ ! -e \"$0\" ]; do sleep 0.002; done; exec \"$@\"", barrier, ToolRunner.path(tool)] + arguments
        process.standardOutput = out
        process.standardError = err
        try process.run()
        for (pipe, box) in [(out, outBox), (err, errBox)] {
            let handle = pipe.fileHandleForReading
            done.enter()
            DispatchQueue.global().async { [done] in
                while case let chunk = handle.availableData, !chunk.isEmpty { box.append(chunk) }
                done.leave()
            }
        }
    }

    /// The tool's pid (the shell execs it, so the pid stays).
    var pid: Int32 { process.processIdentifier }

    func finish() -> (status: Int32, signaled: Bool, stdout: String, stderr: String) {
        process.waitUntilExit()
        done.wait()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal,
                String(decoding: outBox.snapshot(), as: UTF8.self), String(decoding: errBox.snapshot(), as: UTF8.self))
    }
}
