import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// A replica's store on a small file system filled to 100% at a random point while
/// `replica-apply` works, `LOGSHIP_DISKFULL_CYCLES` times: exit 13, the store at a batch boundary
/// holding exactly the master's tables at the LSN it claims, no snapshot half written, and the
/// next run after space is freed catches up. Fails on the code before the fix of
/// ApplyRun.commit (a batch SQLite rolled back by itself got its position written alone).
final class DiskFullStoreApplyTests: XCTestCase {
    func testFullStoreStopsApplyWithExit13AtABatchBoundaryAndTheNextRunCatchesUp() throws {
        let cycles = SmallFileSystem.cycles
        let f = try ReplicaCLIFixture("full-store")
        var rng = SeededRandom(seed: f.seed)
        let fs = try SmallFileSystem(f.dir, megabytes: 2 + cycles)
        let replica = fs.path + "/replica"
        f.assertExit(try f.tool(["init", replica, "--inbox", f.inbox]), 0)
        let store = replica + "/store.db"
        var fills = 0, stoppedMidRun = 0
        for cycle in 0..<cycles {
            try f.runWorkload(1500, schema: cycle == 0)
            try f.shipAll()
            let before = try appliedLSN(ofStore: store)
            // Every other cycle: small batches and more room, so that some commit before the disk fills.
            let small = cycle % 2 == 0
            try fs.fill(leaving: Int64.random(in: 0...((small ? 384 : 96) << 10), using: &rng))
            let r = try f.tool([replica, "--quiet"] + (small ? ["--batch", "100"] : []))
            f.assertExit(r, 13, containing: ["full"], "cycle \(cycle): applying into a full store")
            fills += 1
            if before > 0 {
                // A snapshot cannot be written either, and leaves nothing under a snapshot name.
                let snapshot = try f.tool(["snapshot", replica])
                f.assertExit(snapshot, 13, containing: ["full"], "cycle \(cycle): snapshot on a full disk")
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: replica + "/snapshots").filter { !$0.hasPrefix(".") }, [], f.context)
            }
            try fs.free()
            // At a batch boundary: the store holds exactly the master's tables at the LSN it claims
            // (read once space is back: SQLite cannot open a WAL database on a full disk).
            let at = try appliedLSN(ofStore: store)
            XCTAssertGreaterThanOrEqual(at, before, f.context)
            if at > before { stoppedMidRun += 1 }
            if FileManager.default.fileExists(atPath: store) {
                XCTAssertEqual(try TableDigest.digest(path: store), try f.master.digest(at: at, scratch: f.dir), "cycle \(cycle) at LSN \(at); \(f.context)")
            }
            f.assertExit(try f.tool([replica, "--quiet"]), 0, "cycle \(cycle): after freeing space")
            XCTAssertEqual(try appliedLSN(ofStore: store), f.master.lastLSN, f.context)
            XCTAssertEqual(try TableDigest.digest(path: store), try f.master.digest(at: f.master.lastLSN, scratch: f.dir), "cycle \(cycle); \(f.context)")
        }
        print("figures: disk-full place=store fills=\(fills) stopped-after-applying-some=\(stoppedMidRun) failed-checks=\(testRun?.totalFailureCount ?? 0) seed=\(f.seed)")
    }
}
