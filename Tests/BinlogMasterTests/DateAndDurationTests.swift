import BinlogFormat
import BinlogMaster
import Foundation
import LogshipSystem
import LogshipTestSupport
import XCTest

/// The master's API with commit times as `Date` and waits as `Duration` (issue 17): each agrees
/// with the raw microseconds and seconds it stands next to.
final class DateAndDurationTests: XCTestCase {
    func testCommitDatesAreTheBinlogsCommitTimes() throws {
        let f = try MasterFixture("dates-commit")
        XCTAssertNil(f.master.lastCommitDate, "nothing committed yet")
        try f.master.execute("CREATE TABLE t(x)")
        let commit = try XCTUnwrap(try f.master.execute("INSERT INTO t VALUES (1)").first)
        XCTAssertEqual(commit.commitDate, Date(binlogMicroseconds: commit.commitTime))
        XCTAssertEqual(commit.commitDate.binlogMicroseconds, commit.commitTime)
        XCTAssertEqual(f.master.lastCommitDate, commit.commitDate)
        let written = try f.master.write { tx in try tx.execute("INSERT INTO t VALUES (2)") }
        let second = try XCTUnwrap(written.commit)
        XCTAssertGreaterThanOrEqual(second.commitDate, commit.commitDate)
        // The binlog says the same, read back through the format's own types.
        XCTAssertEqual(try f.transaction(second.lsn).commitDate, second.commitDate)
        let sealed = try XCTUnwrap(try f.master.rotate(ifOlderThan: .zero))
        XCTAssertEqual(sealed.footer.lastCommitDate, second.commitDate)
        XCTAssertGreaterThanOrEqual(sealed.footer.sealedDate, second.commitDate)
    }

    func testDurationOptionsWaitForTheLockAsTheSecondsDo() throws {
        let f = try MasterFixture("dates-lock")
        expectMasterError(.busy, containing: ["pid \(getpid())"]) {
            try Master.open(f.path, options: Master.Options(lockTimeout: .milliseconds(50)))
        }
        expectMasterError(.busy) {
            try MasterDirectory(path: f.path).configureDigestMarkers(every: nil, interval: .seconds(90), lockTimeout: .zero)
        }
        try f.master.close()
        let identity = try MasterDirectory(path: f.path).configureDigestMarkers(every: nil, interval: .seconds(90), lockTimeout: .zero)
        XCTAssertEqual(identity.digestIntervalSeconds, 90)
        let reopened = try Master.open(f.path, options: Master.Options(lockTimeout: .seconds(1), digestInterval: .milliseconds(2500)))
        try reopened.close()
    }
}
