import Foundation
import LogshipTestSupport
import XCTest

/// Pointing `replica-apply` at a master's data directory suggested `replica-apply init` on that
/// same directory, which init then refused (it takes only a new or empty directory); the same
/// for `binlog-writer` pointed at a replica (issue 17). The hint now follows what the directory
/// holds, and the command it suggests is one that works.
final class WrongDirectoryHintTests: XCTestCase {
    func testReplicaApplyOnAMasterSuggestsANewDirectoryNotInitOnTheMaster() throws {
        let dir = TestDirectory("wrong-dir")
        let master = dir.sub("master")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", master]).status, 0)
        let r = try ToolRunner.run("replica-apply", ["status", master])
        XCTAssertEqual(r.status, 15, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(master) is a master data directory"), r.stderr)
        XCTAssertFalse(r.stderr.contains("replica-apply init \(master)"), "suggests what init refuses: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("binlog-ship --source \(master) --target NEW_DIR/inbox"), r.stderr)
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", dir.sub("NEW_DIR")]).status, 0, "the suggested init works")
    }

    func testBinlogWriterOnAReplicaSuggestsPromotion() throws {
        let dir = TestDirectory("wrong-dir")
        let replica = dir.sub("replica")
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", replica]).status, 0)
        let r = try ToolRunner.run("binlog-writer", ["exec", replica, "SELECT 1"])
        XCTAssertEqual(r.status, 15, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(replica) is a replica directory"), r.stderr)
        XCTAssertTrue(r.stderr.contains("replica-apply promote \(replica) --to NEW_DIR"), r.stderr)
        XCTAssertFalse(r.stderr.contains("binlog-writer init \(replica)"), r.stderr)
    }

    func testAnotherNonEmptyDirectoryGetsCheckThePathAndAnEmptyDirectoryGetsInit() throws {
        let dir = TestDirectory("wrong-dir")
        let other = dir.sub("photos")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try "x".write(toFile: other + "/a.jpg", atomically: true, encoding: .utf8)
        for (tool, args) in [("replica-apply", ["status", other]), ("binlog-writer", ["status", other])] {
            let r = try ToolRunner.run(tool, args)
            XCTAssertEqual(r.status, 15, r.stderr)
            XCTAssertTrue(r.stderr.contains("check the path; a new"), "\(tool): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("init \(other)"), "\(tool): \(r.stderr)")
        }
        let empty = dir.sub("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        XCTAssertTrue(try ToolRunner.run("replica-apply", ["status", empty]).stderr.contains("replica-apply init \(empty)"))
        XCTAssertTrue(try ToolRunner.run("binlog-writer", ["status", empty]).stderr.contains("binlog-writer init \(empty)"))
    }
}
