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
        Restore.afterPlan = nil
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

    /// The snapshot a restore starts from: `plan` checks its signature, and `execute` used to
    /// copy it by name with SQLite's backup, so a snapshot replaced in between (its rows edited,
    /// the position kept, the old .sig left) was restored as genuine: the content check starts
    /// from the snapshot's own rows. Now execute checks the signature over the bytes it copies.
    func testASnapshotReplacedAfterThePlanIsRefusedAndNothingIsWritten() throws {
        let s = try SignedForgery("signed-restore-snapshot")
        let applied = try ToolRunner.run("replica-apply", [s.replica])
        XCTAssertEqual(applied.status, 0, applied.stderr)
        let taken = try ToolRunner.run("replica-apply", ["snapshot", s.replica])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let plan = try Restore.plan(replica: s.replica, target: .latest)
        let snapshot = try XCTUnwrap(plan.snapshot, "the restore starts from the snapshot")
        XCTAssertTrue(plan.segments.isEmpty)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshot.path)))
        let at = try XCTUnwrap((0..<(bytes.count - 7)).first { Array(bytes[$0..<($0 + 7)]) == Array("genuine".utf8) })
        bytes.replaceSubrange(at..<(at + 7), with: Array("forged!".utf8))

        // Replaced between the plan and the copy: refused, nothing published.
        var swapped = false
        Restore.afterPlan = { p in
            guard p == snapshot.path, !swapped else { return }
            swapped = true
            try? s.swap(p, with: bytes)
        }
        let output = s.dir.sub("restored.db")
        XCTAssertThrowsError(try Restore.execute(plan, output: output)) { error in
            XCTAssertTrue("\(error)".contains("SHA-256"), "\(error)")
        }
        XCTAssertTrue(swapped, "the hook ran")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "nothing published")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: s.dir.path).filter { $0.contains("restored") }, [], "no temp file left")

        // The snapshot put back, the same plan restores the genuine rows.
        Restore.afterPlan = nil
        bytes.replaceSubrange(at..<(at + 7), with: Array("genuine".utf8))
        try s.swap(snapshot.path, with: bytes)
        _ = try Restore.execute(plan, output: output)
        let value = try DatabaseQueue(path: output).read { try String.fetchOne($0, sql: "SELECT v FROM t WHERE id = 1") }
        XCTAssertEqual(value, "genuine")
    }
}
