import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
@testable import ReplicaStore
import XCTest

/// Issue 14: `restore` on a replica that requires signatures must restore the bytes whose
/// signature it checked. `Restore.plan` checks every segment; a segment replaced in the inbox
/// after that (before `execute`, or between execute's own check and its read) used to be
/// replayed unverified, because execute opened it by name again.
final class SignedRestoreSameBytesTests: XCTestCase {
    override func tearDown() {
        PlanReplaySource.afterCheck = nil
    }

    /// A signed master, one shipped segment, and a forgery of it: the value changed, every
    /// checksum recomputed, the old signature kept.
    private func setUp(_ label: String) throws -> (dir: TestDirectory, replica: String, segment: String, forged: [UInt8]) {
        let dir = TestDirectory(label)
        let master = try ToolMaster(dir)
        let keygen = try ToolRunner.run("binlog-writer", ["keygen", master.path])
        XCTAssertEqual(keygen.status, 0, keygen.stderr)
        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'genuine');")
        try master.rotate()
        let replica = dir.sub("replica")
        try ReplicaDirectory.initialize(at: replica, verifyKeys: [master.path + "/signing.pub"])
        let shipped = try Shipping.shipAll(master, to: replica + "/inbox")
        XCTAssertEqual(shipped.count, 1)
        let path = replica + "/inbox/" + shipped[0]
        var forged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let at = try XCTUnwrap((0..<(forged.count - 7)).first { Array(forged[$0..<($0 + 7)]) == Array("genuine".utf8) })
        forged.replaceSubrange(at..<(at + 7), with: Array("forged!".utf8))
        SegmentSurgery.repairSignedChecksums(&forged)
        return (dir, replica, path, forged)
    }

    private func swap(_ path: String, with bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + ".swap"))
        XCTAssertEqual(rename(path + ".swap", path), 0)
    }

    func testASegmentReplacedAfterThePlanIsRefusedAndNothingIsWritten() throws {
        let s = try setUp("signed-restore-plan")
        let plan = try Restore.plan(replica: s.replica, target: .latest)
        XCTAssertEqual(plan.segments.count, 1)
        try swap(s.segment, with: s.forged)
        let output = s.dir.sub("restored.db")
        XCTAssertThrowsError(try Restore.execute(plan, output: output)) { error in
            XCTAssertTrue("\(error)".contains("signature"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "nothing published")
    }

    func testASegmentReplacedAfterExecutesCheckIsNotWhatIsRestored() throws {
        let s = try setUp("signed-restore-read")
        let plan = try Restore.plan(replica: s.replica, target: .latest)
        var swapped = false
        PlanReplaySource.afterCheck = { p in
            guard p == s.segment, !swapped else { return }
            swapped = true
            try? self.swap(p, with: s.forged)
        }
        let output = s.dir.sub("restored.db")
        _ = try Restore.execute(plan, output: output)
        XCTAssertTrue(swapped, "the hook ran between check and read")
        let value = try DatabaseQueue(path: output).read { try String.fetchOne($0, sql: "SELECT v FROM t WHERE id = 1") }
        XCTAssertEqual(value, "genuine", "restore read the file it had checked, not the one put in its place")
    }
}
