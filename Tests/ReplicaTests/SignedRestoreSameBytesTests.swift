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

    func testASegmentReplacedAfterThePlanIsRefusedAndNothingIsWritten() throws {
        let s = try SignedForgery("signed-restore-plan")
        let plan = try Restore.plan(replica: s.replica, target: .latest)
        XCTAssertEqual(plan.segments.count, 1)
        try s.swap(s.segment, with: s.forged)
        let output = s.dir.sub("restored.db")
        XCTAssertThrowsError(try Restore.execute(plan, output: output)) { error in
            XCTAssertTrue("\(error)".contains("signature"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "nothing published")
    }

    func testASegmentReplacedAfterExecutesCheckIsNotWhatIsRestored() throws {
        let s = try SignedForgery("signed-restore-read")
        let plan = try Restore.plan(replica: s.replica, target: .latest)
        var swapped = false
        PlanReplaySource.afterCheck = { p in
            guard p == s.segment, !swapped else { return }
            swapped = true
            try? s.swap(p, with: s.forged)
        }
        let output = s.dir.sub("restored.db")
        _ = try Restore.execute(plan, output: output)
        XCTAssertTrue(swapped, "the hook ran between check and read")
        let value = try DatabaseQueue(path: output).read { try String.fetchOne($0, sql: "SELECT v FROM t WHERE id = 1") }
        XCTAssertEqual(value, "genuine", "restore read the file it had checked, not the one put in its place")
    }
}
