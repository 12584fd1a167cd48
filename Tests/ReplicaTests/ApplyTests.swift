import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem
import LogshipTestSupport
import ReplicaStore
import XCTest

/// Applying shipped segments: the store equals the master at its position after every run,
/// nothing is applied twice, bounds are inclusive, partial copies of the active segment apply
/// their committed prefix.
final class ApplyTests: XCTestCase {
    func testApplyingEverythingGivesTheMastersTablesAndARerunAppliesNothing() throws {
        let f = try ReplicaFixture("apply-all")
        try f.runWorkload(1500, schemaChanges: true)
        XCTAssertGreaterThan(try f.shipAll().count, 3, "the workload should span several segments")
        let result = try f.apply()
        XCTAssertEqual(result.fromLSN, 0)
        XCTAssertEqual(result.toLSN, f.master.lastLSN)
        XCTAssertEqual(UInt64(result.transactions), f.master.lastLSN)
        XCTAssertEqual(result.stop, .caughtUp)
        XCTAssertEqual(result.lastCommitTime, f.master.commits.last?.commitTime)
        try f.assertStore(at: f.master.lastLSN)
        // The master's own database, read directly, is the same state.
        XCTAssertEqual(try TableDigest.digest(path: f.storePath), try TableDigest.digest(path: f.master.databasePath), f.context)

        // Shipping the same segments again (an idempotent shipper retrying) changes nothing.
        for s in try f.master.sealedSegments() { try Shipping.ship(s.path, to: f.inbox) }
        let again = try f.apply()
        XCTAssertEqual(again.transactions, 0)
        XCTAssertEqual(again.toLSN, f.master.lastLSN)
        try f.assertStore(at: f.master.lastLSN, "after a rerun")
    }

    /// `--cache-mib`: the store's connection applies with the page cache asked for (SQLite's
    /// default is 2,000 KiB), and the rows are the master's as with the default.
    func testApplyUsesThePageCacheAskedFor() throws {
        let f = try ReplicaFixture("apply-cache")
        try f.runWorkload(200)
        try f.shipAll()
        let r = try Replica.open(f.replicaPath)
        defer { r.close() }
        XCTAssertEqual(try r.read { try Int.fetchOne($0, sql: "PRAGMA cache_size") }, -2000)
        var options = Replica.ApplyOptions()
        options.cacheKiB = 64 * 1024
        _ = try r.applyAvailable(options)
        XCTAssertEqual(try r.read { try Int.fetchOne($0, sql: "PRAGMA cache_size") }, -65536)
        try f.assertStore(at: f.master.lastLSN)
    }

    func testShippingInStepsWithRandomBatchSizesEqualsTheMasterAfterEveryRun() throws {
        let f = try ReplicaFixture("apply-steps")
        var rng = SeededRandom(seed: f.seed)
        for step in 0..<5 {
            try f.runWorkload(300, schema: step == 0, schemaChanges: true)
            try f.shipAll()
            var options = Replica.ApplyOptions()
            options.batchTransactions = Int.random(in: 1...40, using: &rng)
            var committed: [UInt64] = []
            options.progress = { committed.append($0) }
            let before = try f.storeLSN()
            let result = try f.apply(options)
            XCTAssertEqual(result.fromLSN, before, "a run starts right after the stored position")
            XCTAssertEqual(committed.last, f.master.lastLSN)
            XCTAssertEqual(committed, committed.sorted(), "batches commit in LSN order")
            try f.assertStore(at: f.master.lastLSN, "step \(step), batch \(options.batchTransactions)")
        }
    }

    func testUntilLSNAndUntilTimeAreInclusive() throws {
        let f = try ReplicaFixture("apply-until")
        let commits = try f.runWorkload(400)
        try f.shipAll()
        let k = commits[150].lsn
        let a = try f.apply(Replica.ApplyOptions(untilLSN: k))
        XCTAssertEqual(a.toLSN, k, "--until-lsn applies LSN \(k) itself")
        XCTAssertEqual(a.stop, .untilLSN)
        try f.assertStore(at: k)
        let none = try f.apply(Replica.ApplyOptions(untilLSN: k))
        XCTAssertEqual(none.transactions, 0)
        XCTAssertEqual(none.stop, .untilLSN)

        // A commit whose successor committed strictly later, so a time maps to it alone.
        guard let j = (200..<commits.count - 1).first(where: { commits[$0].commitTime < commits[$0 + 1].commitTime }) else {
            return XCTFail("no two commits with distinct times; \(f.context)")
        }
        let t = commits[j].commitTime
        let exact = try f.apply(Replica.ApplyOptions(untilTime: t))
        XCTAssertEqual(exact.toLSN, commits[j].lsn, "--until-time applies the transaction committed exactly at T")
        XCTAssertEqual(exact.stop, .untilTime)
        try f.assertStore(at: commits[j].lsn)
        let justBefore = try f.apply(Replica.ApplyOptions(untilTime: commits[j + 1].commitTime - 1))
        XCTAssertEqual(justBefore.transactions, 0, "nothing committed after T is applied")
        XCTAssertEqual(try f.storeLSN(), commits[j].lsn)
        let rest = try f.apply()
        XCTAssertEqual(rest.toLSN, f.master.lastLSN)
        try f.assertStore(at: f.master.lastLSN)
    }

    func testDelayAppliesOnlyTransactionsOlderThanTheDelay() throws {
        let f = try ReplicaFixture("apply-delay")
        let old = try f.runWorkload(200, seal: false)
        usleep(1_500_000)
        let recent = try f.runWorkload(100, schema: false)
        try f.shipAll()
        // A delay between the ages of the two groups, computed now: the old group is older
        // than it, the recent group younger.
        let now = microsecondsNow()
        let oldAge = Double(now - old.last!.commitTime) / 1e6, recentAge = Double(now - recent.first!.commitTime) / 1e6
        XCTAssertGreaterThan(oldAge - recentAge, 1.0)
        let result = try f.apply(Replica.ApplyOptions(delay: (oldAge + recentAge) / 2))
        XCTAssertEqual(result.stop, .delay)
        XCTAssertEqual(result.toLSN, old.last!.lsn, "a delayed replica stops before the first transaction younger than the delay")
        try f.assertStore(at: old.last!.lsn)
        XCTAssertEqual(try f.apply(Replica.ApplyOptions(delay: 0)).toLSN, f.master.lastLSN)
    }

    func testAPartialCopyOfTheActiveSegmentAppliesItsCommittedPrefixThenTheSealedSegmentTakesOver() throws {
        let f = try ReplicaFixture("apply-partial", segmentSize: "1MiB")
        try f.runWorkload(300, seal: false)
        let active = try BinlogDirectory(path: f.master.binlogPath).list().segments.last!
        XCTAssertTrue(active.name.isActive)
        let partialName = active.name.sealed.description + ".partial"

        // A copy cut inside a transaction: a torn tail, not corruption.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: active.path))
        var ends: [(lsn: UInt64, end: Int64)] = []
        let reader = try SegmentReader(path: active.path)
        while let tx = try reader.next(decode: false) { ends.append((tx.lsn, reader.offset)) }
        let cut = Int((ends[ends.count / 2].end + ends[ends.count / 2 + 1].end) / 2)
        let torn = f.dir.sub("torn")
        try bytes.prefix(cut).write(to: URL(fileURLWithPath: torn))
        try Shipping.ship(torn, to: f.inbox, as: partialName)
        let first = try f.apply()
        let expected = ends.last { $0.end <= Int64(cut) }!.lsn
        XCTAssertEqual(first.toLSN, expected, "every transaction complete before the cut, none after")
        XCTAssertEqual(first.incompleteTail, partialName)
        try f.assertStore(at: expected)

        // A newer partial copy, then more commits and the sealed segment beside the partial one.
        try Shipping.ship(active.path, to: f.inbox, as: partialName)
        XCTAssertEqual(try f.apply().toLSN, f.master.lastLSN)
        let applied = f.master.lastLSN
        try f.runWorkload(100, schema: false)
        try f.shipAll()
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.inbox + "/" + partialName), "the stale partial copy is still there")
        let last = try f.apply()
        XCTAssertEqual(last.fromLSN, applied)
        XCTAssertEqual(last.toLSN, f.master.lastLSN)
        try f.assertStore(at: f.master.lastLSN, "the sealed segment supersedes the partial copy without applying anything twice")
    }

    func testAFailedFirstTransactionLeavesNoPositionBehind() throws {
        // The source identity and position are written in the same SQLite transaction as the
        // first rows: a store that applied nothing claims no source and no LSN.
        let f = try ReplicaFixture("apply-first")
        try f.runWorkload(20)
        try f.shipAll()
        try tamper(f.storePath, "CREATE TABLE accounts (x)")   // the master's first DDL will clash
        expectReplicaError(.divergence, containing: ["LSN 1", "accounts"]) { try f.apply() }
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: f.storePath, configuration: config)
        defer { try? q.close() }
        XCTAssertFalse(try q.read { try $0.tableExists("_logship_position") }, "no position (and no source id) without applied rows")
        try tamper(f.storePath, "DROP TABLE accounts")
        XCTAssertEqual(try f.apply().toLSN, f.master.lastLSN)
        try f.assertStore(at: f.master.lastLSN)
    }

    func testAFailureInsideABatchKeepsEveryTransactionBeforeIt() throws {
        // Source transactions share a SQLite transaction (a batch); when one fails, the ones
        // before it in the same batch must still be applied, and nothing after it.
        let f = try ReplicaFixture("apply-mid-batch")
        try f.master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);" + (1...10).map { "INSERT INTO t (v) VALUES ('r\($0)');" }.joined())
        try f.master.rotate()
        try f.shipAll()
        try f.apply()
        let reader = try DatabaseQueue(path: f.storePath)
        let row5 = try reader.read { db in try Row.fetchOne(db, sql: "SELECT id, v FROM t WHERE id = 5") }!
        try reader.close()
        try tamper(f.storePath, "DELETE FROM t WHERE id = 5")
        let before = try f.master.exec((11...60).map { "INSERT INTO t (v) VALUES ('r\($0)');" }.joined())
        let failing = try f.master.exec("UPDATE t SET v = 'changed' WHERE id = 5;")[0].lsn
        try f.master.exec((61...70).map { "INSERT INTO t (v) VALUES ('r\($0)');" }.joined())
        try f.master.rotate()
        try f.shipAll()
        var committed: [UInt64] = []
        var options = Replica.ApplyOptions()
        options.progress = { committed.append($0) }
        expectReplicaError(.divergence, containing: ["LSN \(failing)", "table t", "id=5"]) { try f.apply(options) }
        XCTAssertEqual(try f.storeLSN(), before.last!.lsn, "the \(before.count) transactions before the failing one in its batch are applied")
        XCTAssertEqual(committed.last, before.last!.lsn)
        try tamper(f.storePath, "INSERT INTO t (id, v) VALUES (\(row5["id"] as Int64), '\(row5["v"] as String)')")
        try f.assertStore(at: before.last!.lsn, "repaired")
        XCTAssertEqual(try f.apply().toLSN, f.master.lastLSN)
        try f.assertStore(at: f.master.lastLSN)
    }
}
