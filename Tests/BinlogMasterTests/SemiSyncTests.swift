@testable import BinlogMaster
import Foundation
import GRDB
import LogshipSystem
import LogshipTestSupport
import XCTest

/// Semi-synchronous acknowledgement (issue 15): with `Options.semiSync` a commit returns only
/// once N targets reported its LSN in `acks/`; at the timeout, fallback `wait` fails the call
/// (the transaction stays committed) and `async` degrades, in status and metrics, until the
/// targets catch up. The acks are written here as `binlog-ship --follow` writes them
/// (`SyncAcks.write`); ToolTests' SemiSyncKillTests runs the real follower.
final class SemiSyncTests: XCTestCase {
    private func fixture(_ label: String) throws -> MasterFixture {
        let f = try MasterFixture(label)
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        return f
    }

    private func options(_ replicas: Int, _ timeout: Duration, _ fallback: Master.SemiSync.Fallback) -> Master.Options {
        Master.Options(semiSync: Master.SemiSync(replicas: replicas, timeout: timeout, fallback: fallback))
    }

    private func ack(_ f: MasterFixture, _ target: String, _ lsn: UInt64) throws {
        try SyncAcks.write(SyncAcks.Ack(target: target, sourceID: f.master.identity.sourceID.uuidString, lsn: lsn, at: formatTimestamp(microsecondsNow())),
                           master: f.path)
    }

    private func rows(_ m: Master) throws -> Int { try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t")! } }

    /// Two replicas asked: none, then one ack is not enough (exit 5 after the timeout, the row
    /// committed and still there after a reopen); two acks are.
    func testACommitNeedsNAcksAndFallbackWaitFailsWithoutUndoingIt() throws {
        let f = try fixture("semisync-n")
        let m = try f.reopen(options: options(2, .milliseconds(100), .wait))
        XCTAssertTrue(FileManager.default.fileExists(atPath: SyncAcks.directory(master: f.path)), "the master makes acks/ for the followers")
        XCTAssertThrowsError(try m.execute("INSERT INTO t VALUES (1, 'none')")) { error in
            guard let e = error as? MasterError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.kind, .unacknowledged)
            XCTAssertEqual(ExitStatus(error), .lagging, "exit 5")
            XCTAssertTrue(e.message.contains("LSN 2 is committed and durable on the master"), e.message)
            XCTAssertTrue(e.message.contains("no target has reported"), e.message)
        }
        XCTAssertEqual(m.lastLSN, 2)
        XCTAssertEqual(try rows(m), 1, "not acknowledged is not undone")

        try ack(f, "a", 3)
        XCTAssertThrowsError(try m.execute("INSERT INTO t VALUES (2, 'one ack')")) { error in
            XCTAssertTrue("\(error)".contains("a at LSN 3"), "\(error)")
        }
        try ack(f, "b", 4)
        try ack(f, "a", 4)
        let commits = try m.execute("INSERT INTO t VALUES (3, 'two acks')")
        XCTAssertEqual(commits.map(\.lsn), [4])
        XCTAssertEqual(m.semiSyncStatistics, Master.SemiSyncStatistics(acknowledged: 1, timeouts: 2, degradedCommits: 0, degraded: false))

        let again = try f.reopen()
        XCTAssertEqual(try rows(again), 3)
        XCTAssertEqual(again.lastLSN, 4)
    }

    /// The wait is woken by the ack file appearing (inotify), whatever the timeout.
    func testTheWaitEndsWhenTheAckArrives() throws {
        let f = try fixture("semisync-wake")
        let m = try f.reopen(options: options(1, .seconds(120), .wait))
        let done = DispatchSemaphore(value: 0)
        let outcome = Box()
        Thread {
            outcome.result = Result { try m.execute("INSERT INTO t VALUES (1, 'x')") }
            done.signal()
        }.start()
        // The commit is durable in the binlog (the reader sees LSN 2) before any ack exists.
        while (try? MasterStatus.read(f.path).lastLSN) != 2 { usleep(2_000) }
        XCTAssertNil(outcome.result, "acknowledged before any target reported")
        try ack(f, "nas", 2)
        done.wait()
        XCTAssertEqual(try outcome.result?.get().map(\.lsn), [2])
        XCTAssertEqual(m.semiSyncStatistics?.acknowledged, 1)
    }

    /// Fallback async: the timed-out commit is acknowledged, the master is degraded (status,
    /// JSON, Prometheus, and the next writer), later commits do not wait, and an ack of the
    /// latest LSN makes it synchronous again.
    func testFallbackAsyncDegradesShowsItAndRecovers() throws {
        let f = try fixture("semisync-async")
        var m = try f.reopen(options: options(1, .milliseconds(100), .async))
        XCTAssertEqual(try m.execute("INSERT INTO t VALUES (1, 'x')").map(\.lsn), [2])
        XCTAssertEqual(m.semiSyncStatistics?.degraded, true)
        var status = try MasterStatus.read(f.path)
        XCTAssertEqual(status.semiSync?.settings.degraded, true)
        XCTAssertEqual(status.semiSync?.settings.degradedAtLSN, 2)
        XCTAssertEqual(status.semiSync?.settings.replicas, 1)
        XCTAssertTrue(status.prometheus.contains("logship_master_semisync_degraded{master=\"\(f.path)\"} 1"), status.prometheus)

        XCTAssertEqual(try m.execute("INSERT INTO t VALUES (2, 'y')").map(\.lsn), [3])
        XCTAssertEqual(m.semiSyncStatistics?.degradedCommits, 2)
        XCTAssertEqual(m.semiSyncStatistics?.timeouts, 1, "degraded commits do not wait")

        m = try f.reopen(options: options(1, .milliseconds(100), .async))
        XCTAssertEqual(m.semiSyncStatistics?.degraded, true, "the next writer starts degraded")

        try ack(f, "nas", 4)
        XCTAssertEqual(try m.execute("INSERT INTO t VALUES (3, 'z')").map(\.lsn), [4])
        XCTAssertEqual(m.semiSyncStatistics?.degraded, false, "the target caught up")
        status = try MasterStatus.read(f.path)
        XCTAssertEqual(status.semiSync?.settings.degraded, false)
        XCTAssertNotNil(status.semiSync?.settings.recoveredAt)
        XCTAssertEqual(status.semiSync?.acknowledgedLSN, 4)
        XCTAssertEqual(status.semiSync?.acks.map(\.target), ["nas"])
        XCTAssertTrue(status.prometheus.contains("logship_master_semisync_degraded{master=\"\(f.path)\"} 0"), status.prometheus)

        _ = try f.reopen()
        XCTAssertNil(try MasterStatus.read(f.path).semiSync, "a writer without semi-sync clears the record")
    }

    /// An ack from another history (an LSN this master never committed) counts for nothing.
    func testAnAckPastTheMastersLSNIsIgnored() throws {
        let f = try fixture("semisync-stale")
        try FileManager.default.createDirectory(atPath: SyncAcks.directory(master: f.path), withIntermediateDirectories: false)
        try ack(f, "old", 1000)
        let m = try f.reopen(options: options(1, .milliseconds(100), .wait))
        XCTAssertThrowsError(try m.execute("INSERT INTO t VALUES (1, 'x')"))
        try ack(f, "other-master", 3)
        var foreign = try XCTUnwrap(SyncAcks.read(master: f.path, sourceID: m.identity.sourceID.uuidString).first { $0.target == "other-master" })
        foreign.sourceID = UUID().uuidString
        try SyncAcks.write(foreign, master: f.path)
        XCTAssertThrowsError(try m.execute("INSERT INTO t VALUES (2, 'y')"), "another source's ack counts for nothing")
    }

    /// `executeGrouped` (the server's path) never runs a committed but unacknowledged unit again.
    func testGroupedExecuteDoesNotRerunAnUnacknowledgedCommit() throws {
        let f = try fixture("semisync-grouped")
        let m = try f.reopen(options: options(1, .milliseconds(100), .wait))
        XCTAssertThrowsError(try m.executeGrouped("INSERT INTO t(v) VALUES ('once'); INSERT INTO t(v) VALUES ('after');")) { error in
            XCTAssertEqual((error as? MasterError)?.kind, .unacknowledged, "\(error)")
        }
        XCTAssertEqual(try m.read { db in try String.fetchAll(db, sql: "SELECT v FROM t ORDER BY id") }, ["once"])
    }

    /// Group commit keeps working: eight threads commit while a stand-in follower acknowledges
    /// whatever is in the binlog; every commit succeeds, and there is at most one wait per group.
    func testConcurrentWritersWaitOncePerGroup() throws {
        let f = try fixture("semisync-group")
        let m = try f.reopen(options: options(1, .seconds(120), .wait))
        let stop = Box()
        // The thread takes the path and the source ID (Sendable), not the fixture or the test case (Swift 6).
        let path = f.path, sourceID = f.master.identity.sourceID.uuidString
        let follower = Thread {
            var last: UInt64 = 0
            while stop.result == nil {
                if let lsn = try? MasterStatus.read(path).lastLSN, lsn > last {
                    try? SyncAcks.write(SyncAcks.Ack(target: "nas", sourceID: sourceID, lsn: lsn, at: formatTimestamp(microsecondsNow())), master: path)
                    last = lsn
                } else { usleep(1_000) }
            }
        }
        follower.start()
        let group = DispatchGroup()
        let failures = Box()
        for w in 0..<8 {
            group.enter()
            Thread {
                for i in 0..<20 {
                    do { _ = try m.write { tx in try tx.execute("INSERT INTO t(v) VALUES (?)", arguments: ["w\(w)-\(i)"]) } } catch { failures.result = .failure(error) }
                }
                group.leave()
            }.start()
        }
        group.wait()
        stop.result = .success([])
        if case .failure(let e)? = failures.result { XCTFail("\(e)") }
        XCTAssertEqual(try rows(m), 160)
        XCTAssertEqual(m.lastLSN, 161)
        let s = try XCTUnwrap(m.semiSyncStatistics)
        XCTAssertEqual(s.timeouts, 0)
        XCTAssertLessThanOrEqual(s.acknowledged, m.groupStatistics.groups, "one wait per group at most")
    }
}

private final class Box: @unchecked Sendable {
    var result: Result<[Master.CommitInfo], Error>?
}
