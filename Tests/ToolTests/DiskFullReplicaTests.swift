import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// A replica's inbox (a `binlog-ship` target) on a small file system filled to 100% at a random
/// point while the shipper copies (`LOGSHIP_DISKFULL_CYCLES` times), and a replica's store on a
/// full file system when apply creates it and under a snapshot: exit 13 with a message that says
/// so, nothing partial under a segment or snapshot name, nothing lost (every shipped file equals
/// the master's; the store equals the master), and the next run after space is freed catches up.
/// Needs root to mount a tmpfs; skipped elsewhere, saying why.
final class DiskFullReplicaTests: XCTestCase {
    func testFullInboxStopsShippingWithExit13AndTheNextRunCatchesUp() throws {
        let cycles = SmallFileSystem.cycles
        let f = try ReplicaCLIFixture("full-inbox")
        var rng = SeededRandom(seed: f.seed)
        let fs = try SmallFileSystem(f.dir, megabytes: 1 + cycles)
        let inbox = fs.path + "/inbox"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try f.runWorkload(0)
        var fills = 0
        for cycle in 0..<cycles {
            // More than fits in what is left: ~600 KiB of new segments against at most 256 KiB free.
            try f.master.exec((0..<30).map { _ in "INSERT INTO ledger (account, amount, memo) VALUES (1, 1, randomblob(20000));" }.joined(separator: "\n"))
            try f.master.rotate()
            try fs.fill(leaving: Int64.random(in: 0...(256 << 10), using: &rng))
            let r = try ToolRunner.run("binlog-ship", ["--source", f.master.path, "--target", "inbox=" + inbox])
            f.assertExit(r, 13, containing: ["No space left"], "cycle \(cycle): shipping into a full inbox")
            fills += 1
            try assertInboxHoldsOnlyWholeSegments(inbox, f, "cycle \(cycle), full")
            try fs.free()
            f.assertExit(try ToolRunner.run("binlog-ship", ["--source", f.master.path, "--target", "inbox=" + inbox]), 0, "cycle \(cycle): after freeing space")
            try assertInboxHoldsOnlyWholeSegments(inbox, f, "cycle \(cycle), freed")
            XCTAssertEqual(Set(try f.master.sealedSegments().map(\.name)), Set(try FileManager.default.contentsOfDirectory(atPath: inbox)), f.context)
        }
        // The shipped history applies whole: nothing the master acknowledged was lost on the way.
        let replica = f.dir.sub("replica-of-full-inbox")
        f.assertExit(try f.tool(["init", replica, "--inbox", inbox]), 0)
        f.assertExit(try f.tool([replica]), 0)
        XCTAssertEqual(try appliedLSN(ofStore: replica + "/store.db"), f.master.lastLSN, f.context)
        XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), try f.master.digest(at: f.master.lastLSN, scratch: f.dir), f.context)
        print("figures: disk-full place=inbox fills=\(fills) failed-checks=\(testRun?.totalFailureCount ?? 0) seed=\(f.seed)")
    }

    /// The store's file system full when apply creates the store, and under a snapshot: exit 13,
    /// no snapshot file left, and both work once space is back.
    func testFullStoreFileSystemRefusesApplyAndSnapshotWithExit13ThenBothWork() throws {
        let f = try ReplicaCLIFixture("full-store")
        let fs = try SmallFileSystem(f.dir, megabytes: 2)
        let replica = fs.path + "/replica"
        f.assertExit(try f.tool(["init", replica, "--inbox", f.inbox]), 0)
        try f.runWorkload(300)
        try f.shipAll()
        let store = replica + "/store.db"
        try fs.fill(leaving: 0)
        f.assertExit(try f.tool([replica]), 13, containing: ["full"], "apply on a full file system")
        try fs.free()
        f.assertExit(try f.tool([replica]), 0, "apply once space is back")
        XCTAssertEqual(try appliedLSN(ofStore: store), f.master.lastLSN, f.context)
        XCTAssertEqual(try TableDigest.digest(path: store), try f.master.digest(at: f.master.lastLSN, scratch: f.dir), f.context)

        // Less room than the copy needs, so that it fails at different points: the backup, or the
        // checkpoint when the copy leaves WAL mode (which SQLite reports as an I/O error).
        let storeBytes = try FileManager.default.attributesOfItem(atPath: store)[.size] as? Int64 ?? 0
        for leave in [0, storeBytes / 4, storeBytes / 2, storeBytes * 3 / 4] {
            try fs.fill(leaving: leave)
            f.assertExit(try f.tool(["snapshot", replica]), 13, containing: ["full"], "snapshot with \(leave) of \(storeBytes) bytes free")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: replica + "/snapshots").filter { !$0.hasPrefix(".") }, [], f.context)
            try fs.free()
        }
        f.assertExit(try f.tool(["snapshot", replica]), 0, "snapshot once space is back")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: replica + "/snapshots").filter { !$0.hasPrefix(".") },
                       [String(format: "snapshot-%016llx.db", f.master.lastLSN)], f.context)
    }

    /// Every file in `inbox` is a segment name and byte for byte the master's segment.
    private func assertInboxHoldsOnlyWholeSegments(_ inbox: String, _ f: ReplicaCLIFixture, _ what: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: inbox) {
            guard SegmentName.parse(name) != nil else { XCTFail("\(what): \(name) left in the inbox; \(f.context)"); continue }
            let shipped = try Data(contentsOf: URL(fileURLWithPath: inbox + "/" + name))
            XCTAssertEqual(shipped, try Data(contentsOf: URL(fileURLWithPath: f.master.binlogPath + "/" + name)), "\(what): \(name) differs; \(f.context)")
        }
    }
}
