import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
@testable import ReplicaStore
import XCTest

/// Issue 14, step 6: apply must apply the bytes whose signature it checked. A segment replaced in
/// the inbox between the signature check and the read that applies (a rename over it, as a
/// shipper publishes) must not be applied unverified. Before the fix, apply opened the file by
/// name a second time and applied the replacement.
final class SignedApplySameBytesTests: XCTestCase {
    override func tearDown() {
        InboxReplaySource.afterCheck = nil
    }

    func testASegmentReplacedAfterItsSignatureCheckIsNotWhatIsApplied() throws {
        let dir = TestDirectory("signed-same-bytes")
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
        // The forgery: the value changed, every checksum recomputed, the old signature kept.
        var forged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let at = try XCTUnwrap((0..<(forged.count - 7)).first { Array(forged[$0..<($0 + 7)]) == Array("genuine".utf8) })
        forged.replaceSubrange(at..<(at + 7), with: Array("forged!".utf8))
        SegmentSurgery.repairSignedChecksums(&forged)
        var swapped = false
        InboxReplaySource.afterCheck = { p in
            guard p == path, !swapped else { return }
            swapped = true
            try? Data(forged).write(to: URL(fileURLWithPath: p + ".swap"))
            rename(p + ".swap", p)
        }
        let r = try Replica.open(replica)
        defer { r.close() }
        _ = try r.applyAvailable(Replica.ApplyOptions())
        XCTAssertTrue(swapped, "the hook ran between check and read")
        let value = try DatabaseQueue(path: replica + "/store.db").read { try String.fetchOne($0, sql: "SELECT v FROM t WHERE id = 1") }
        XCTAssertEqual(value, "genuine", "apply read the file it had checked, not the one put in its place")
    }
}
