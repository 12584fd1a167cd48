import BinlogFormat
import Foundation
import XCTest

/// docs/FORMAT.md §12: the master's committed mark.
final class CommitMarkTests: XCTestCase {
    func testEncodingRoundTripsAndEveryByteChangeIsRefused() {
        let mark = CommitMark(epoch: 3, sequence: 0x2a, lastLSN: 1_000_001, durableLSN: 999_999)
        let bytes = mark.encoded()
        XCTAssertEqual(bytes.count, CommitMark.size)
        XCTAssertEqual(Array(bytes[0..<8]), Array("LSCMARK1".utf8))
        XCTAssertEqual(CommitMark.decode(bytes), mark)
        for i in bytes.indices {
            var changed = bytes
            changed[i] ^= 0x10
            XCTAssertNil(CommitMark.decode(changed), "byte \(i) changed")
        }
        XCTAssertNil(CommitMark.decode(Array(bytes.dropLast())), "short")
    }

    func testADurableLSNBeyondTheCommittedOneIsClampedWhenWrittenAndRefusedWhenRead() {
        XCTAssertEqual(CommitMark(epoch: 1, sequence: 1, lastLSN: 5, durableLSN: 9).durableLSN, 5)
        // A file claiming durable 9 of committed 5 (written by something else) is no mark.
        var w = ByteWriter()
        w.raw(Array("LSCMARK1".utf8)); w.u64(1); w.u64(1); w.u64(5); w.u64(9)
        w.u64(Checksum.xxh3(w.bytes))
        XCTAssertNil(CommitMark.decode(w.bytes))
    }

    func testLimitsForTheNamedALaterAndAnEarlierSegment() {
        let mark = CommitMark(epoch: 2, sequence: 7, lastLSN: 120, durableLSN: 110)
        let named = SegmentName(epoch: 2, sequence: 7, isActive: true)
        XCTAssertEqual(mark.committedLimit(for: named, firstLSN: 100), 120)
        XCTAssertEqual(mark.durableLimit(for: named, firstLSN: 100), 110)
        // The master moved on to segment 8: segment 7 is whole (it was sealed after its last commit).
        let older = SegmentName(epoch: 2, sequence: 6, isActive: true)
        XCTAssertEqual(mark.committedLimit(for: older, firstLSN: 80), .max)
        XCTAssertEqual(mark.durableLimit(for: older, firstLSN: 80), .max)
        XCTAssertEqual(mark.committedLimit(for: SegmentName(epoch: 1, sequence: 40, isActive: true), firstLSN: 50), .max, "an older epoch")
        // A new segment the mark does not name yet: nothing of it is committed.
        XCTAssertEqual(mark.committedLimit(for: SegmentName(epoch: 2, sequence: 8, isActive: true), firstLSN: 121), 120)
        XCTAssertEqual(mark.committedLimit(for: SegmentName(epoch: 3, sequence: 1, isActive: true), firstLSN: 121), 120)
    }

    func testReadingAMissingAndADamagedMark() throws {
        let dir = try TemporaryDirectory("commit-mark")
        XCTAssertEqual(CommitMark.read(binlogDirectory: dir.path), .missing)
        let mark = CommitMark(epoch: 1, sequence: 2, lastLSN: 3, durableLSN: 3)
        try CommitMarkWriter(binlogDirectory: dir.path).publish(mark)
        XCTAssertEqual(CommitMark.read(binlogDirectory: dir.path), .mark(mark))
        try Data("not a mark".utf8).write(to: URL(fileURLWithPath: CommitMark.path(binlogDirectory: dir.path)))
        XCTAssertEqual(CommitMark.read(binlogDirectory: dir.path), .damaged)
    }
}
