import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// A power loss under `binlog-ship` (two targets, state directory beside them, all under the
/// shim of `PowerLoss`; kernel copies count as writes): after the cut, every file under a
/// segment name is the master's segment byte for byte, the segments are in order without holes,
/// and a rerun, with the state as the cut left it, completes every target. The state must never
/// claim a segment that a target lost (a rerun would then refuse the target).
/// Cycles: LOGSHIP_POWERLOSS_CYCLES / 2 (default 3).
final class ShipPowerLossTests: XCTestCase {
    func testPowerLossWhileShipping() throws {
        var rng = SeededRandom()
        let context = "seed \(rng.seed) (rerun with LOGSHIP_SEED=\(rng.seed))"
        let cycles = max(1, (Int(ProcessInfo.processInfo.environment["LOGSHIP_POWERLOSS_CYCLES"] ?? "") ?? 6) / 2)
        let dir = TestDirectory("ship-powerloss")
        let master = dir.sub("master")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", master, "--segment-size", "64KiB"]).status, 0)
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);\n" + String(repeating: "INSERT INTO t (v) VALUES (randomblob(20000));\n", count: 80)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", master, sql, "--sync-binlog", "0"]).status, 0)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["rotate", master]).status, 0)
        let sealed = try FileManager.default.contentsOfDirectory(atPath: master + "/binlog").filter { $0.hasSuffix(".binlog") }.sorted()
        var dropped = PowerLoss.Dropped(), cutsThatDropped = 0, incompleteAfterCut = 0
        for cycle in 1...cycles {
            let ctx = "cycle \(cycle), \(context)"
            let root = dir.sub("ship-\(cycle)")
            let targets = [root + "/a", root + "/b"]
            for t in targets { try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true) }
            let flags = ["--source", master, "--state-dir", root + "/state", "--target", "a=" + targets[0], "--target", "b=" + targets[1]]
            let power = try PowerLoss(root: root, scratch: dir.path)
            for _ in 0..<2 {   // two runs, two cuts: the second resumes what the first left
                let process = Process()
                process.executableURL = URL(fileURLWithPath: ToolRunner.path("binlog-ship"))
                process.arguments = flags
                process.environment = power.environment
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                usleep(UInt32.random(in: 10_000...300_000, using: &rng))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let cut = Bool.random(using: &rng) ? try power.cut() : try power.cut(keepingPrefixes: &rng)
                dropped += cut
                if cut.writes + cut.sizeChanges + cut.creations + cut.renames > 0 { cutsThatDropped += 1 }
                for t in targets where try check(t, master: master, sealed: sealed, context: ctx) < sealed.count { incompleteAfterCut += 1 }
            }
            let rerun = try ToolRunner.run("binlog-ship", flags)
            XCTAssertEqual(rerun.status, 0, "rerun after the cut: \(rerun.stdout) \(rerun.stderr); \(ctx)")
            for t in targets { XCTAssertEqual(try check(t, master: master, sealed: sealed, context: ctx), sealed.count, "\(t) complete after the rerun; \(ctx)") }
        }
        XCTAssertGreaterThan(cutsThatDropped, 0, "no cut dropped anything; \(context)")
        print("figures: power-loss ship: \(cycles) cycles, \(2 * cycles) cuts (\(cutsThatDropped) dropped data: \(dropped)), \(incompleteAfterCut) targets left incomplete by a cut; "
              + "never a partial file under a segment name, every target complete after a rerun; \(context)")
    }

    /// The number of segments `target` holds; each must be the master's, in order, without holes.
    private func check(_ target: String, master: String, sealed: [String], context: String) throws -> Int {
        let names = try FileManager.default.contentsOfDirectory(atPath: target).filter { SegmentName.parse($0) != nil }.sorted()
        XCTAssertEqual(names, Array(sealed.prefix(names.count)), "segments in order without holes in \(target); \(context)")
        for n in names {
            XCTAssertEqual(FileManager.default.contents(atPath: target + "/" + n), FileManager.default.contents(atPath: master + "/binlog/" + n),
                           "\(n) in \(target) is not the master's segment after the cut; \(context)")
        }
        return names.count
    }
}
