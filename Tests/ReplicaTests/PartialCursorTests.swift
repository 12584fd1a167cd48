import BinlogFormat
import Foundation
import LogshipTestSupport
import ReplicaStore
import XCTest

/// Issue 15: a follower applying a partial copy that `binlog-ship --follow` appends to in place
/// reads only the frames it has not seen. Counted, not timed: each pass's `bytesRead` stays
/// within the bytes appended since the last pass (plus a constant), while a one-shot run on the
/// same copy reads all of it; and the store still equals the master.
final class PartialCursorTests: XCTestCase {
    /// Where each complete transaction of the master's active segment ends.
    private func transactionEnds(_ f: ReplicaFixture) throws -> (path: String, partialName: String, ends: [Int64]) {
        let active = try XCTUnwrap(try BinlogDirectory(path: f.master.binlogPath).list().segments.last)
        XCTAssertTrue(active.name.isActive, "the workload left an active segment")
        let reader = try SegmentReader(path: active.path)
        var ends: [Int64] = []
        while try reader.next(decode: false) != nil { ends.append(reader.offset) }
        return (active.path, active.name.sealed.description + ".partial", ends)
    }

    /// Appends the master's bytes `from..<to` to the partial copy, in place (same inode), as
    /// `ActiveTail` does.
    private func append(_ source: String, _ partial: String, from: Int64, to: Int64) throws {
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
        try input.seek(toOffset: UInt64(from))
        let bytes = try XCTUnwrap(try input.read(upToCount: Int(to - from)))
        try input.close()
        if !FileManager.default.fileExists(atPath: partial) { FileManager.default.createFile(atPath: partial, contents: nil) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
        try out.seekToEnd()
        try out.write(contentsOf: bytes)
        try out.close()
    }

    func testAFollowingApplierReadsOnlyTheFramesAppendedSinceItsLastPass() throws {
        let f = try ReplicaFixture("partial-cursor", segmentSize: "8MiB")
        var random = SeededRandom(seed: f.seed)
        try f.runWorkload(200, seal: false)
        var (activePath, partialName, ends) = try transactionEnds(f)
        let partial = f.inbox + "/" + partialName
        try append(activePath, partial, from: 0, to: ends.last!)
        var shipped = ends.last!

        let replica = try Replica.open(f.replicaPath)
        defer { replica.close() }
        var options = Replica.ApplyOptions()
        options.partialCursor = PartialCursor()
        let first = try replica.applyAvailable(options)
        XCTAssertEqual(first.toLSN, f.master.lastLSN)
        XCTAssertGreaterThanOrEqual(first.bytesRead, shipped, "the first pass reads the copy once; \(f.context)")

        for pass in 0..<12 {
            try f.runWorkload(Int.random(in: 5...40, using: &random), schema: false, seal: false)
            (activePath, partialName, ends) = try transactionEnds(f)
            let end = ends.last!
            // Now and then the append is torn (a frame cut in two, as a kill -9 of the shipper
            // or a read during the write leaves it): the complete ones apply, the cut one waits.
            let cut = Bool.random(using: &random) && end - shipped > 64 ? shipped + (end - shipped) / 2 : end
            try append(activePath, partial, from: shipped, to: cut)
            let r = try replica.applyAvailable(options)
            let appended = cut - shipped
            XCTAssertLessThanOrEqual(r.bytesRead, appended + 4096,
                                     "pass \(pass): read \(r.bytesRead) bytes for \(appended) appended (the copy holds \(cut)); \(f.context)")
            if cut < end {
                XCTAssertEqual(r.incompleteTail, partialName)
                try append(activePath, partial, from: cut, to: end)
                let rest = try replica.applyAvailable(options)
                XCTAssertLessThanOrEqual(rest.bytesRead, end - shipped + 4096, "pass \(pass), after the torn append was completed; \(f.context)")
            }
            shipped = end
            try f.assertStore(at: f.master.lastLSN, "pass \(pass)")
        }
        // A one-shot run (no cursor) reads the whole copy to find the same nothing-new.
        let oneShot = try replica.applyAvailable(Replica.ApplyOptions())
        XCTAssertEqual(oneShot.transactions, 0)
        XCTAssertGreaterThanOrEqual(oneShot.bytesRead, shipped, "a one-shot run reads the copy from its first frame")
        let idle = try replica.applyAvailable(options)
        XCTAssertEqual(idle.transactions, 0)
        XCTAssertLessThanOrEqual(idle.bytesRead, 4096, "an idle pass with the cursor reads (almost) nothing; \(f.context)")
    }

    /// The copy replaced by a new file (a cron run's or a full run's publish renames over it),
    /// even one that is not a prefix of the old: the cursor does not follow the old file; the
    /// pass reads the new one from the start, and the sealed segment then takes over.
    func testAReplacedPartialCopyIsReadFromTheStartAndTheSealedSegmentTakesOver() throws {
        let f = try ReplicaFixture("partial-cursor-replaced", segmentSize: "8MiB")
        try f.runWorkload(100, seal: false)
        var (activePath, partialName, ends) = try transactionEnds(f)
        let partial = f.inbox + "/" + partialName
        try append(activePath, partial, from: 0, to: ends[ends.count / 2])
        let replica = try Replica.open(f.replicaPath)
        defer { replica.close() }
        var options = Replica.ApplyOptions()
        options.partialCursor = PartialCursor()
        _ = try replica.applyAvailable(options)
        try f.runWorkload(30, schema: false, seal: false)
        (activePath, partialName, ends) = try transactionEnds(f)
        try Shipping.ship(activePath, to: f.inbox, as: partialName)   // a new inode, renamed over the copy
        let r = try replica.applyAvailable(options)
        XCTAssertEqual(r.toLSN, f.master.lastLSN)
        XCTAssertGreaterThanOrEqual(r.bytesRead, ends.last!, "a replaced copy is read from its first frame")
        try f.assertStore(at: f.master.lastLSN)
        try f.runWorkload(10, schema: false)   // sealed
        try f.shipAll()
        XCTAssertEqual(try replica.applyAvailable(options).toLSN, f.master.lastLSN)
        try f.assertStore(at: f.master.lastLSN, "the sealed segment took over from the partial copy")
    }
}
