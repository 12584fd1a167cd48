import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// kill -9 `binlog-ship` at random moments while it copies, then check every target against
/// an oracle that shares no code with shipping: the master's own files, compared byte for byte,
/// and BinlogFormat's reader. Never a partial or foreign file under a segment name, segments in
/// order without holes, a partial copy that is a clean prefix of the active segment; and a rerun
/// completes every target. The long version: tools/ship-torture (LOGSHIP_SHIP_CRASH_CYCLES=300).
final class ShipCrashTests: XCTestCase {
    struct Evidence {
        var kills = 0
        var killedBySignal = 0
        var killedMidWork = 0
        var tempFilesSeen = 0
    }

    func testKill9DuringCopyLeavesNothingPartialUnderASegmentNameAndARerunCompletes() throws {
        continueAfterFailure = false
        var rng = SeededRandom()
        let seed = rng.seed
        let cycles = Int(ProcessInfo.processInfo.environment["LOGSHIP_SHIP_CRASH_CYCLES"] ?? "") ?? 30
        let dir = TestDirectory("shipcrash")
        let master = dir.sub("master")
        try makeMaster(master)
        let sealed = try FileManager.default.contentsOfDirectory(atPath: master + "/binlog").filter { $0.hasSuffix(".binlog") }.sorted()
        XCTAssertGreaterThan(sealed.count, 20, "enough segments that a kill lands during a copy")

        // Time whole runs (the fastest of three), so kills are spread over the time a run takes;
        // the window then adapts: it shrinks when runs finish before the kill (a loaded machine
        // got faster) and grows back when they are killed.
        var fastest = Double.infinity
        for attempt in 0..<3 {
            let timing = try runOnce(dir, label: "timing\(attempt)", master: master)
            let started = Date()
            XCTAssertEqual(try ToolRunner.run("binlog-ship", timing.flags).status, 0)
            fastest = min(fastest, Date().timeIntervalSince(started))
        }
        let measured = max(20_000, UInt32(fastest * 1_000_000))
        var window = measured

        var evidence = Evidence()
        for cycle in 1...cycles {
            let context = "cycle \(cycle), seed \(seed) (rerun with LOGSHIP_SEED=\(seed))"
            let run = try runOnce(dir, label: "c\(cycle)", master: master)
            for attempt in 0..<2 {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: ToolRunner.path("binlog-ship"))
                process.arguments = run.flags
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                // The second run resumes what the first began, so it has less to do.
                usleep(UInt32.random(in: 1_000...max(2_000, attempt == 0 ? window : window / 2), using: &rng))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                evidence.kills += 1
                if process.terminationReason == .uncaughtSignal {
                    evidence.killedBySignal += 1
                    window = min(2 * measured, window + window / 10)
                } else {
                    window = max(5_000, window * 7 / 10)
                }
                var complete = true
                for target in run.targets {
                    let seen = try checkInvariants(target, master: master, sealed: sealed, context: context)
                    evidence.tempFilesSeen += seen.temps
                    complete = complete && seen.sealed == sealed.count
                }
                if process.terminationReason == .uncaughtSignal && !complete { evidence.killedMidWork += 1 }
            }
            let rerun = try ToolRunner.run("binlog-ship", run.flags)
            XCTAssertEqual(rerun.status, 0, "rerun after kill -9: \(rerun.stderr); \(context)")
            for target in run.targets {
                let seen = try checkInvariants(target, master: master, sealed: sealed, context: context)
                XCTAssertEqual(seen.sealed, sealed.count, "the rerun completed \(target); \(context)")
                XCTAssertEqual(seen.temps, 0, "the rerun removed the temp files of killed runs; \(context)")
                XCTAssertTrue(seen.partial, "the rerun shipped the active segment's partial copy; \(context)")
            }
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run.state + "/state.json"))) as? [String: Any]
            let targets = state?["targets"] as? [String: [String: Any]]
            XCTAssertEqual(targets?["a"]?["lastSegment"] as? String, sealed.last, "state survives kill -9; \(context)")
        }
        // Prove the fault fired: runs died by the signal, most of them before they were done.
        XCTAssertGreaterThanOrEqual(evidence.killedMidWork, cycles / 2, "kills that left a target incomplete: \(evidence.killedMidWork) of \(evidence.kills); seed \(seed)")
        XCTAssertGreaterThan(evidence.tempFilesSeen, 0, "no kill ever landed during a copy; seed \(seed)")
        print("figures: ship-crash (ShipCrashTests): \(cycles) cycles, \(evidence.kills) kills (\(evidence.killedBySignal) still running, \(evidence.killedMidWork) mid-work, \(evidence.tempFilesSeen) temp files left by them), a run took \(measured / 1000) ms; seed \(seed)")
    }

    /// A master with ~40 sealed segments of 128 KiB of incompressible rows, and an active one.
    private func makeMaster(_ master: String) throws {
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", master, "--segment-size", "128KiB"]).status, 0)
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);\n" + String(repeating: "INSERT INTO t (v) VALUES (randomblob(40000));\n", count: 130)
        let script = master + "-rows.sql"
        try sql.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try ToolRunner.run("binlog-writer", ["exec", master, "--file", script])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    private func runOnce(_ dir: TestDirectory, label: String, master: String) throws -> (flags: [String], targets: [String], state: String) {
        let targets = [dir.sub("\(label)-a"), dir.sub("\(label)-b")]
        for t in targets { try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true) }
        let state = dir.sub("\(label)-state")
        return (["--source", master, "--state-dir", state, "--target", "a=" + targets[0], "--target", "b=" + targets[1], "--include-active"], targets, state)
    }

    /// Checks one target against the master's files; returns how many sealed segments it holds,
    /// how many temp files a killed run left, and whether it holds a partial copy.
    private func checkInvariants(_ target: String, master: String, sealed: [String], context: String) throws -> (sealed: Int, temps: Int, partial: Bool) {
        var names: [String] = []
        var temps = 0
        var partial = false
        for file in try FileManager.default.contentsOfDirectory(atPath: target).sorted() {
            let path = target + "/" + file
            if file.hasPrefix(".tmp-") {
                temps += 1
            } else if let name = SegmentName.parse(file) {
                XCTAssertFalse(name.isActive, "an active name in a target: \(file); \(context)")
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), try Data(contentsOf: URL(fileURLWithPath: master + "/binlog/" + file)),
                               "\(file) in \(target) is not the master's segment; \(context)")
                names.append(file)
            } else if file.hasSuffix(".binlog.partial") {
                let active = master + "/binlog/" + file.dropLast(".partial".count) + ".active"
                let copy = try Data(contentsOf: URL(fileURLWithPath: path))
                XCTAssertEqual(copy, try Data(contentsOf: URL(fileURLWithPath: active)).prefix(copy.count), "\(file) is not a prefix of the active segment; \(context)")
                let reader = try SegmentReader(path: path)
                XCTAssertGreaterThan(try reader.verifyAll(), 0, context)
                XCTAssertNil(reader.tornTailOffset, "\(file) ends inside a transaction; \(context)")
                partial = true
            } else {
                XCTFail("unexpected file \(file) in \(target); \(context)")
            }
        }
        XCTAssertEqual(names, Array(sealed.prefix(names.count)), "segments in order, without holes, in \(target); \(context)")
        return (names.count, temps, partial)
    }
}
