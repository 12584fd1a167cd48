import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// The suite's own oracles must fail with a message, never take the test process down.
final class TestSupportTests: XCTestCase {
    /// `ToolMaster.digest` replays the binlog from LSN 1 into an empty database; a binlog whose
    /// first segments were purged cannot give the master's tables, and says so. (It used to crash
    /// the test process: an UPDATE of a row the replay never inserted, inside an open BEGIN.)
    func testDigestOfAPurgedBinlogThrowsInsteadOfCrashing() throws {
        let dir = TestDirectory("support-purged")
        let m = try ToolMaster(dir, segmentSize: "4KiB")
        _ = try m.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        _ = try m.exec(String(repeating: "INSERT INTO t (v) VALUES (hex(randomblob(1500)));\n", count: 4))
        let last = try m.exec("UPDATE t SET v = 'changed' WHERE id = 1").last!.lsn
        let segments = try BinlogDirectory(path: m.binlogPath).list().segments.filter { !$0.name.isActive }
        XCTAssertGreaterThan(segments.count, 1)
        try FileManager.default.removeItem(atPath: segments[0].path)
        XCTAssertThrowsError(try m.digest(at: last, scratch: dir)) { error in
            XCTAssertTrue("\(error)".contains("LSN"), "\(error)")
        }
    }

    /// The digest at LSN 0 (a store that was killed before its first commit) is the empty
    /// database. It used to throw "the binlog begins at LSN …" on the second segment, because
    /// nothing had been applied from the first (ReplicaPowerLossTests failed on it twice in CI).
    func testDigestAtLSNZeroOfAManySegmentBinlogIsTheEmptyDatabase() throws {
        let dir = TestDirectory("support-lsn-zero")
        let m = try ToolMaster(dir, segmentSize: "4KiB")
        _ = try m.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        _ = try m.exec(String(repeating: "INSERT INTO t (v) VALUES (hex(randomblob(1500)));\n", count: 4))
        try m.rotate()
        XCTAssertGreaterThan(try m.sealedSegments().count, 1)
        XCTAssertEqual(try m.digest(at: 0, scratch: dir), [:])
        let first = try m.sealedSegments()[0]
        XCTAssertEqual(try m.digest(at: first.lastLSN, scratch: dir).keys.sorted(), ["t"])
    }
}
