import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// Every kind of bad segment in a replica's inbox, through the built `replica-apply`: the
/// documented exit code (gap 2, corruption 3), the file and offset or LSN range in the message,
/// the store left exactly at the last good transaction before the problem (position and
/// tables), and nothing lost: once the good segment is shipped, the same replica catches up.
final class ReplicaBadSegmentTests: XCTestCase {
    private struct Segment {
        var name: String
        var path: String
        var firstLSN: UInt64
        var lastLSN: UInt64
    }

    /// A master with several sealed segments; `bad` is the third, `before` the last LSN before it.
    private func makeMaster(_ label: String) throws -> (ReplicaCLIFixture, [Segment]) {
        let f = try ReplicaCLIFixture(label)
        try f.runWorkload(1200)
        let segments = try f.master.sealedSegments().map { Segment(name: $0.name, path: $0.path, firstLSN: $0.firstLSN, lastLSN: $0.lastLSN) }
        XCTAssertGreaterThanOrEqual(segments.count, 5, "the workload should span at least five segments; \(f.context)")
        return (f, segments)
    }

    /// Ships every segment into a fresh replica, substituting `replace` for some names.
    private func freshReplica(_ f: ReplicaCLIFixture, _ segments: [Segment], name: String,
                              replace: [String: String] = [:], skip: Set<String> = []) throws {
        try f.newReplica(name)
        for s in segments where !skip.contains(s.name) {
            try Shipping.ship(replace[s.name] ?? s.path, to: f.inbox, as: s.name)
        }
    }

    /// After the failure: ship the good segments again and check the replica catches up.
    private func repairAndCatchUp(_ f: ReplicaCLIFixture, _ segments: [Segment], _ what: String) throws {
        for s in segments { try Shipping.ship(s.path, to: f.inbox, as: s.name) }
        let r = try f.apply()
        f.assertExit(r, 0, "\(what): rerun after repair")
        try f.assertStore(at: f.master.lastLSN, "\(what): caught up after repair")
    }

    func testFlippedBytesStopBeforeTheDamagedTransactionWithExit3() throws {
        let (f, segments) = try makeMaster("bad-flip")
        var rng = SeededRandom(seed: f.seed)
        let bad = segments[2]
        let original = try Data(contentsOf: URL(fileURLWithPath: bad.path))
        // Where each transaction of the segment ends, read from the intact file.
        var spans: [(lsn: UInt64, start: Int64, end: Int64)] = []
        let reader = try SegmentReader(path: bad.path)
        var start = Int64(SegmentHeader.size)
        while let tx = try reader.next(decode: false) { spans.append((tx.lsn, start, reader.offset)); start = reader.offset }
        let dataEnd = Int(start)
        // The header, the footer, and random offsets among the frames.
        var offsets = [Int.random(in: 0..<SegmentHeader.size, using: &rng), Int.random(in: dataEnd..<original.count, using: &rng)]
        for _ in 0..<5 { offsets.append(Int.random(in: SegmentHeader.size..<dataEnd, using: &rng)) }
        for (i, offset) in offsets.enumerated() {
            var bytes = original
            bytes[offset] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            let damaged = f.dir.sub("flipped-\(i)")
            try bytes.write(to: URL(fileURLWithPath: damaged))
            try freshReplica(f, segments, name: "flip-\(i)", replace: [bad.name: damaged])
            let r = try f.apply()
            let what = "byte \(offset) of \(bad.name) flipped"
            f.assertExit(r, 3, containing: [bad.name, "offset "], what)
            // A damaged header or footer refuses the whole segment; a damaged frame stops
            // before the transaction it belongs to.
            let expected = spans.first { $0.start <= Int64(offset) && Int64(offset) < $0.end }.map { $0.lsn - 1 } ?? (bad.firstLSN - 1)
            try f.assertStore(at: expected, what)
            let again = try f.apply()
            f.assertExit(again, 3, containing: [bad.name], "\(what): a rerun stops at the same place")
            XCTAssertEqual(try f.storeLSN(), expected, what)
            if i < 3 { try repairAndCatchUp(f, segments, what) }
        }
    }

    func testATruncatedSegmentIsRefusedWholeWithExit3AndEverythingBeforeItApplies() throws {
        let (f, segments) = try makeMaster("bad-truncated")
        var rng = SeededRandom(seed: f.seed)
        let bad = segments[2]
        let original = try Data(contentsOf: URL(fileURLWithPath: bad.path))
        for (i, length) in [0, 50, Int.random(in: 80..<original.count - 96, using: &rng), original.count - 1].enumerated() {
            let cut = f.dir.sub("truncated-\(i)")
            try original.prefix(length).write(to: URL(fileURLWithPath: cut))
            try freshReplica(f, segments, name: "cut-\(i)", replace: [bad.name: cut])
            let r = try f.apply()
            let what = "\(bad.name) truncated to \(length) of \(original.count) bytes"
            f.assertExit(r, 3, containing: [bad.name, "offset "], what)
            try f.assertStore(at: bad.firstLSN - 1, what)
            if i == 2 { try repairAndCatchUp(f, segments, what) }
        }
    }

    func testASegmentFromAnotherMasterIsRefusedWithExit3NamingItsSource() throws {
        let (f, segments) = try makeMaster("bad-foreign")
        let other = try ToolMaster(f.dir, name: "other-master", segmentSize: "16KiB")
        var otherWorkload = ReplicaWorkload(seed: f.seed)
        try other.exec(ReplicaWorkload.schema + otherWorkload.sql(transactions: 1200))
        try other.rotate()
        let foreign = try other.sealedSegments()
        let bad = segments[2]
        let otherSource = try SegmentReader(path: foreign[2].path).header.sourceID
        try freshReplica(f, segments, name: "foreign", replace: [bad.name: foreign[2].path])
        let r = try f.apply()
        f.assertExit(r, 3, containing: [bad.name, "source", otherSource.uuidString], "segment 3 of another master")
        try f.assertStore(at: bad.firstLSN - 1, "foreign segment")
        try repairAndCatchUp(f, segments, "foreign segment")

        // A store that follows one master refuses a whole inbox of another's segments.
        try f.newReplica("foreign-store")
        try Shipping.ship(segments[0].path, to: f.inbox)
        f.assertExit(try f.apply(), 0)
        for s in foreign.dropFirst() { try Shipping.ship(s.path, to: f.inbox) }
        let all = try f.apply()
        f.assertExit(all, 3, containing: ["source", otherSource.uuidString], "inbox of another master")
        try f.assertStore(at: segments[0].lastLSN, "inbox of another master")
    }

    func testAMissingMiddleSegmentIsAGapWithExit2NamingTheLSNsThenAppliesOnceShipped() throws {
        let (f, segments) = try makeMaster("bad-missing")
        let missing = segments[2]
        try freshReplica(f, segments, name: "missing", skip: [missing.name])
        let r = try f.apply()
        f.assertExit(r, 2, containing: ["LSNs \(missing.firstLSN)…\(missing.lastLSN)", segments[3].name], "segment 3 not shipped")
        try f.assertStore(at: missing.firstLSN - 1, "missing segment")
        let status = try f.tool(["status", f.replica])
        XCTAssertTrue(status.stdout.contains("\(missing.firstLSN)…\(missing.lastLSN)"), "status names the gap: \(status.stdout)")
        // Shipped late (out of order): nothing was skipped, the replica continues from the gap.
        try Shipping.ship(missing.path, to: f.inbox)
        let rerun = try f.apply()
        f.assertExit(rerun, 0)
        XCTAssertTrue(rerun.stdout.contains("applied LSN \(missing.firstLSN)…\(f.master.lastLSN)"), rerun.stdout)
        try f.assertStore(at: f.master.lastLSN)

        // The inbox starting after the store's position: a gap too, before anything is applied.
        try freshReplica(f, segments, name: "late-start", skip: [segments[0].name])
        f.assertExit(try f.apply(), 2, containing: ["LSNs 1…\(segments[0].lastLSN)", segments[1].name], "first segment missing")
        XCTAssertEqual(try f.storeLSN(), 0)
    }

    func testDuplicatedSegmentsApplyNothingTwiceOrAreRefusedWithExit3() throws {
        let (f, segments) = try makeMaster("bad-duplicate")
        try freshReplica(f, segments, name: "dup")
        f.assertExit(try f.apply(), 0)
        // The same segment shipped again under its own name: nothing to do.
        try Shipping.ship(segments[2].path, to: f.inbox)
        let again = try f.apply()
        f.assertExit(again, 0)
        XCTAssertTrue(again.stdout.contains("nothing to apply"), again.stdout)
        try f.assertStore(at: f.master.lastLSN)

        // A copy of segment 3 under segment 4's name: its header says otherwise.
        try freshReplica(f, segments, name: "dup-renamed", replace: [segments[3].name: segments[2].path])
        let renamed = try f.apply()
        f.assertExit(renamed, 3, containing: [segments[3].name, "offset "], "segment 3 shipped as segment 4")
        try f.assertStore(at: segments[2].lastLSN, "segment 3 shipped as segment 4")
        try repairAndCatchUp(f, segments, "segment 3 shipped as segment 4")
    }

    func testAnOverlappingSegmentIsRefusedWithExit3() throws {
        let (f, segments) = try makeMaster("bad-overlap")
        let prev = segments[2], next = segments[3]
        // A well-formed, correctly chained segment 4 that starts two LSNs too early.
        let prevFooter = try SegmentReader(path: prev.path).footer!
        let source = try SegmentReader(path: prev.path)
        var txs: [Transaction] = []
        while let tx = try source.next() { txs.append(tx) }
        let forge = f.dir.sub("forge")
        try FileManager.default.createDirectory(atPath: forge, withIntermediateDirectories: true)
        let header = SegmentHeader(sourceID: source.header.sourceID, epoch: source.header.epoch, sequence: source.header.sequence + 1,
                                   firstLSN: prev.lastLSN - 1, createdAt: txs.last!.commitTime, previousChecksum: prevFooter.segmentChecksum)
        let writer = try SegmentWriter.create(directory: forge, header: header)
        for (i, tx) in txs.suffix(2).enumerated() { try writer.append(lsn: prev.lastLSN - 1 + UInt64(i), commitTime: tx.commitTime, events: tx.events) }
        try writer.append(lsn: prev.lastLSN + 1, commitTime: txs.last!.commitTime, events: txs.last!.events)
        try writer.seal()
        try freshReplica(f, segments, name: "overlap", replace: [next.name: forge + "/" + next.name])
        let r = try f.apply()
        f.assertExit(r, 3, containing: [next.name, "overlapping"], "segment 4 overlaps segment 3")
        try f.assertStore(at: prev.lastLSN, "overlapping segment")
        try repairAndCatchUp(f, segments, "overlapping segment")
    }
}
