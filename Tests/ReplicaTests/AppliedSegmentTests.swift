import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import ReplicaStore
import XCTest

/// A substituted segment is found by a replica that already applied it, not only by a fresh one
/// (issue 12): the store keeps the segment it applied last, with its checksums, in the same
/// transaction as its position, and the next run checks the hash-chain link against it.
final class AppliedSegmentTests: XCTestCase {
    /// The master's sealed segments (three or more), after a workload and a rotate per batch.
    private func segments(_ f: ReplicaFixture) throws -> [(name: String, path: String, firstLSN: UInt64, lastLSN: UInt64)] {
        for i in 0..<3 { try f.runWorkload(40, schema: i == 0) }
        let s = try f.master.sealedSegments()
        XCTAssertGreaterThanOrEqual(s.count, 3)
        return s
    }

    /// `path`'s bytes with another creation time and every checksum recomputed: a segment that
    /// verifies on its own, holds the same LSNs, and is not the master's (its checksum differs).
    private func substitute(_ path: String) throws -> [UInt8] {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        SegmentSurgery.put(&bytes, 56, SegmentSurgery.u64(bytes, 56) &+ 1)
        SegmentSurgery.repairChecksums(&bytes)
        return bytes
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        unlink(path)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func testASubstitutedSegmentAppliedLastIsFoundWhenTheNextGenuineSegmentArrives() throws {
        let f = try ReplicaFixture("applied-segment-next")
        let s = try segments(f)
        try Shipping.ship(s[0].path, to: f.inbox)
        let forged = f.inbox + "/" + s[1].name
        try write(try substitute(s[1].path), to: forged)
        XCTAssertEqual(try f.apply().toLSN, s[1].lastLSN, "a substituted last segment cannot be told from the master's yet")
        try Shipping.ship(s[2].path, to: f.inbox)
        expectReplicaError(.corruption, containing: ["hash chain broken across runs", s[2].name, s[1].name], f.context) { try f.apply() }
        XCTAssertEqual(try f.storeLSN(), s[1].lastLSN, "nothing after the substituted segment is applied")
        let status = try ReplicaStatus.read(f.replicaPath)
        XCTAssertTrue(status.inboxProblem?.contains("hash chain broken across runs") ?? false, "status says it too: \(String(describing: status.inboxProblem))")
    }

    func testASubstitutedSegmentReplacedByTheGenuineOneIsFoundByTheStoreThatAppliedIt() throws {
        let f = try ReplicaFixture("applied-segment-replaced")
        let s = try segments(f)
        try Shipping.ship(s[0].path, to: f.inbox)
        let forged = f.inbox + "/" + s[1].name
        try write(try substitute(s[1].path), to: forged)
        try f.apply()
        // The inbox is made whole with the master's own segments: every link in it holds, but
        // the store's rows came from the substituted copy.
        unlink(forged)
        try Shipping.shipAll(f.master, to: f.inbox)
        expectReplicaError(.corruption, containing: ["\(s[1].name) is not the segment this store applied"], f.context) { try f.apply() }
        XCTAssertEqual(try f.storeLSN(), s[1].lastLSN)

        // A snapshot carries the record, and so does a copy restored from it.
        let snapshot = try Snapshot.take(replica: f.replicaPath).snapshot
        let recorded = try record(f.storePath)
        XCTAssertEqual(recorded?.fileName, s[1].name)
        XCTAssertEqual(try record(snapshot.path), recorded)
        // A restore continuing that snapshot with the genuine segments is refused too.
        let out = f.dir.sub("restored.db")
        let plan = try Restore.plan(replica: f.replicaPath, target: .lsn(s[2].lastLSN))
        XCTAssertEqual(plan.snapshot?.path, snapshot.path)
        expectReplicaError(.corruption, containing: ["\(s[1].name) is not the segment this store applied"], f.context) {
            try Restore.execute(plan, output: out)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is published")
    }

    func testTheRecordFollowsEveryBatchAndARestoredCopyCarriesIt() throws {
        let f = try ReplicaFixture("applied-segment-record")
        let s = try segments(f)
        try f.shipAll()
        var options = Replica.ApplyOptions()
        options.batchTransactions = 7
        try f.apply(options)
        try f.assertStore(at: s.last!.lastLSN)
        let last = try record(f.storePath)
        let reader = try SegmentReader(path: s.last!.path)
        XCTAssertEqual(last, AppliedSegment(fileName: s.last!.name, header: reader.header, footer: reader.footer))
        let out = f.dir.sub("restored.db")
        let plan = try Restore.plan(replica: f.replicaPath, target: .lsn(s[1].lastLSN))
        _ = try Restore.execute(plan, output: out)
        XCTAssertEqual(try record(out)?.fileName, s[1].name)
        XCTAssertNotNil(try record(out)?.checksum)
    }

    private func record(_ path: String) throws -> AppliedSegment? {
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: path, configuration: config)
        defer { try? q.close() }
        return try q.read { db in try AppliedSegment.read(db) }
    }
}
