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
        let s = try SignedForgery("signed-same-bytes")
        let (replica, path, forged) = (s.replica, s.segment, s.forged)
        var swapped = false
        InboxReplaySource.afterCheck = { p in
            guard p == path, !swapped else { return }
            swapped = true
            try? s.swap(p, with: forged)
        }
        let r = try Replica.open(replica)
        defer { r.close() }
        _ = try r.applyAvailable(Replica.ApplyOptions())
        XCTAssertTrue(swapped, "the hook ran between check and read")
        let value = try DatabaseQueue(path: replica + "/store.db").read { try String.fetchOne($0, sql: "SELECT v FROM t WHERE id = 1") }
        XCTAssertEqual(value, "genuine", "apply read the file it had checked, not the one put in its place")
    }
}

/// A replica that requires signatures, with one signed segment in its inbox holding the row
/// (1, 'genuine'), and a forgery of that segment: the value changed to 'forged!', every checksum
/// recomputed, the old signature kept (what a tamperer without the key can make).
struct SignedForgery {
    let dir: TestDirectory
    let replica: String
    /// The segment's path in the inbox.
    let segment: String
    let forged: [UInt8]

    init(_ label: String) throws {
        dir = TestDirectory(label)
        let master = try ToolMaster(dir)
        let keygen = try ToolRunner.run("binlog-writer", ["keygen", master.path])
        XCTAssertEqual(keygen.status, 0, keygen.stderr)
        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'genuine');")
        try master.rotate()
        replica = dir.sub("replica")
        try ReplicaDirectory.initialize(at: replica, verifyKeys: [master.path + "/signing.pub"])
        let shipped = try Shipping.shipAll(master, to: replica + "/inbox")
        XCTAssertEqual(shipped.count, 1)
        segment = replica + "/inbox/" + shipped[0]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        let at = try XCTUnwrap((0..<(bytes.count - 7)).first { Array(bytes[$0..<($0 + 7)]) == Array("genuine".utf8) })
        bytes.replaceSubrange(at..<(at + 7), with: Array("forged!".utf8))
        SegmentSurgery.repairSignedChecksums(&bytes)
        forged = bytes
    }

    /// Puts `bytes` in place of `path` by a rename, as a shipper publishes.
    func swap(_ path: String, with bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + ".swap"))
        XCTAssertEqual(rename(path + ".swap", path), 0)
    }
}
