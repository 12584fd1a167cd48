import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import ReplicaStore
import XCTest

/// The replica's API with commit times as `Date` and waits as `Duration` (issue 17): each agrees
/// with the raw microseconds and seconds it stands next to.
final class DateAndDurationTests: XCTestCase {
    func testUntilDateIsInclusiveAndEveryCommitDateNamesTheSameTransaction() throws {
        let f = try ReplicaFixture("dates-until")
        let commits = try f.runWorkload(120)
        try f.shipAll()
        // A commit whose successor committed strictly later, so a time maps to it alone.
        guard let j = (20..<commits.count - 1).first(where: { commits[$0].commitTime < commits[$0 + 1].commitTime }) else {
            return XCTFail("no two commits with distinct times; \(f.context)")
        }
        let date = Date(binlogMicroseconds: commits[j].commitTime)
        let exact = try f.apply(Replica.ApplyOptions(untilDate: date))
        XCTAssertEqual(exact.toLSN, commits[j].lsn, "untilDate applies the transaction committed exactly then; \(f.context)")
        XCTAssertEqual(exact.stop, .untilTime)
        XCTAssertEqual(exact.lastCommitDate, date)
        var options = Replica.ApplyOptions()
        options.untilDate = Date(binlogMicroseconds: commits[j + 1].commitTime - 1)
        XCTAssertEqual(options.untilTime, commits[j + 1].commitTime - 1)
        XCTAssertEqual(try f.apply(options).transactions, 0, "nothing committed after untilDate is applied; \(f.context)")

        let status = try ReplicaStatus.read(f.replicaPath)
        XCTAssertEqual(status.appliedLSN, commits[j].lsn)
        XCTAssertEqual(status.appliedCommitDate, date)
        let snapshot = try Snapshot.take(replica: f.replicaPath, lockTimeout: .seconds(5)).snapshot
        XCTAssertEqual(snapshot.lsn, commits[j].lsn)
        XCTAssertEqual(snapshot.commitDate, date)
    }

    func testDurationWaitsAreTheSecondsTheyStandFor() throws {
        let f = try ReplicaFixture("dates-wait")
        let commits = try f.runWorkload(10)
        try f.shipAll()
        let held = try Replica.open(f.replicaPath, lockTimeout: .zero)
        expectReplicaError(.busy, f.context) { try Replica.open(f.replicaPath, lockTimeout: .milliseconds(50)) }
        _ = try held.applyAvailable(Replica.ApplyOptions())
        held.close()
        let last = try XCTUnwrap(commits.last)
        let position = try Replica.waitUntilApplied(last.lsn, replica: f.replicaPath, timeout: .zero)
        XCTAssertEqual(position?.lsn, last.lsn)
        expectReplicaError(.lagging, containing: ["LSN \(last.lsn + 1) is not applied", "store is at LSN \(last.lsn)"], f.context) {
            try Replica.waitUntilApplied(last.lsn + 1, replica: f.replicaPath, timeout: .milliseconds(100))
        }
    }

    func testStateDatesAndTheDurationFollowAgreeWithTheirRawValues() throws {
        let f = try ReplicaFixture("dates-follow")
        let commits = try f.runWorkload(15)
        try f.shipAll()
        let replica = try Replica.open(f.replicaPath, lockTimeout: .seconds(1))
        var passes: [Replica.ApplyResult] = []
        var options = Replica.ApplyOptions()
        options.shouldStop = { passes.count >= 2 }
        let started = Date()
        try replica.follow(options, pollInterval: .milliseconds(200)) { passes.append($0) }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(passes.count, 2, "stopped after the second pass; \(f.context)")
        XCTAssertEqual(passes.first?.toLSN, commits.last?.lsn, "the first pass applies everything shipped")
        XCTAssertEqual(passes.last?.transactions, 0)
        XCTAssertGreaterThanOrEqual(elapsed, 0.15, "the idle pass waited the 200 ms poll interval, not 0")
        try ReplicaState.record(replica.directory, error: "a test error", exitCode: 3)
        try ReplicaState.record(replica.directory, error: nil, exitCode: 0)
        replica.close()
        let state = ReplicaState.read(try ReplicaDirectory.open(f.replicaPath))
        let run = try XCTUnwrap(state.lastRunAt), success = try XCTUnwrap(state.lastSuccessAt), failure = try XCTUnwrap(state.lastErrorAt)
        XCTAssertEqual(state.lastRunDate?.binlogMicroseconds, run)
        XCTAssertEqual(state.lastSuccessDate?.binlogMicroseconds, success)
        XCTAssertEqual(state.lastErrorDate?.binlogMicroseconds, failure)
        XCTAssertLessThanOrEqual(failure, success)
        XCTAssertLessThan(abs(Date().timeIntervalSince(try XCTUnwrap(state.lastRunDate))), 60, "a run recorded just now is dated now")
    }
}
