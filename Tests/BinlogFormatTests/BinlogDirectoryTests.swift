import BinlogFormat
import Foundation
import XCTest

/// docs/FORMAT.md §9: a directory of chained segments; a missing segment is a gap, anything
/// else wrong between segments is corruption.
final class BinlogDirectoryTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory("directory") }
    override func tearDown() { dir = nil }

    static let perSegment = 3

    /// Segment `sequence` of a chain: LSNs follow on from the previous segment, and the header
    /// carries the previous segment's checksum.
    @discardableResult
    private func writeSegment(in directory: String, source: UUID = Sample.sourceA, sequence: UInt64, previous: SegmentFooter?,
                              salt: Int = 0, seal: Bool = true) throws -> BuiltSegment {
        let firstLSN = (previous?.lastLSN ?? 0) + 1
        let start = Sample.t0 + Int64(sequence) * 1_000_000
        let header = Sample.header(source: source, sequence: sequence, firstLSN: firstLSN, createdAt: start, previous: previous?.segmentChecksum ?? 0)
        return try buildSegment(in: directory, header: header,
                                transactions: Sample.transactions(firstLSN: firstLSN, count: Self.perSegment, salt: salt, start: start),
                                sealedAt: seal ? start + 500_000 : nil)
    }

    /// Three sealed segments chained by checksum.
    private func writeChain(in directory: String, source: UUID = Sample.sourceA) throws -> [BuiltSegment] {
        var segments: [BuiltSegment] = []
        for sequence in UInt64(1)...3 {
            segments.append(try writeSegment(in: directory, source: source, sequence: sequence, previous: segments.last?.footer))
        }
        return segments
    }

    func testCleanChainOfThreeSealedSegments() throws {
        let chain = try writeChain(in: dir.path)
        XCTAssertEqual(try SegmentReader(path: chain[1].path).header.previousChecksum, chain[0].footer?.segmentChecksum)
        XCTAssertEqual(try SegmentReader(path: chain[2].path).header.firstLSN, 7)
        try writeBytes(Array("not a segment".utf8), to: dir.file("README"))
        try writeBytes([1, 2, 3], to: dir.file(".tmp-1-2-00000001-0000000000000004.binlog"))
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .clean, report.problem.map(String.init(describing:)) ?? "")
        XCTAssertNil(report.problem)
        XCTAssertEqual(report.segmentsChecked, 3)
        XCTAssertEqual(report.sealedSegments, 3)
        XCTAssertNil(report.activeSegment)
        XCTAssertEqual(report.firstLSN, 1)
        XCTAssertEqual(report.lastLSN, 9)
        XCTAssertEqual(report.transactions, 9)
        XCTAssertEqual(report.sourceID, Sample.sourceA)
        XCTAssertEqual(report.bytes, Int64(chain.reduce(0) { $0 + $1.bytes.count }))
        XCTAssertEqual(report.warnings, ["ignored README: not a segment name"], "temp files are skipped silently")
        XCTAssertEqual(try BinlogDirectory(path: dir.path).list().segments.map(\.name.sequence), [1, 2, 3])
        XCTAssertEqual(try BinlogDirectory(path: dir.path).verify(decode: false).outcome, .clean)
        XCTAssertEqual(try BinlogDirectory(path: dir.path).verify(expectedSource: Sample.sourceA).outcome, .clean)
    }

    func testChainEndingInAnActiveSegmentIsClean() throws {
        let chain = try writeChain(in: dir.path)
        let active = try writeSegment(in: dir.path, sequence: 4, previous: chain[2].footer, seal: false)
        // A torn tail in the active segment is a warning, not a problem.
        try writeBytes(active.bytes + [0x4C, 0x53], to: active.path)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .clean)
        XCTAssertEqual(report.activeSegment, "00000001-0000000000000004.binlog.active")
        XCTAssertEqual(report.sealedSegments, 3)
        XCTAssertEqual(report.lastLSN, 12)
        XCTAssertEqual(report.warnings.count, 1)
    }

    /// `<sealed name>.partial` files (binlog-ship --include-active) are partial copies of an
    /// active segment: reported as such, outside the chain, never as unrecognized names.
    func testPartialCopiesAreReportedAsSuchAndNotAsUnknownNames() throws {
        let chain = try writeChain(in: dir.path)
        let elsewhere = try TemporaryDirectory("directory-active")
        let active = try writeSegment(in: elsewhere.path, sequence: 4, previous: chain[2].footer, seal: false)
        let partial = SegmentName(epoch: 1, sequence: 4).partialFileName
        try writeBytes(active.bytes, to: dir.file(partial))
        try writeBytes(Array(chain[1].bytes.prefix(200)), to: dir.file(SegmentName(epoch: 1, sequence: 2).partialFileName))
        for odd in ["00000001-000000000000000A.binlog.partial", "00000001-0000000000000004.binlog.active.partial", "notes.partial"] {
            try writeBytes([0], to: dir.file(odd))
        }
        let listing = try BinlogDirectory(path: dir.path).list()
        XCTAssertEqual(listing.segments.map(\.name.sequence), [1, 2, 3])
        XCTAssertEqual(listing.partials.map(\.name), [SegmentName(epoch: 1, sequence: 2), SegmentName(epoch: 1, sequence: 4)])
        XCTAssertEqual(listing.partials.last?.path, dir.file(partial))
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .clean, report.problem.map(String.init(describing:)) ?? "")
        XCTAssertEqual(report.segmentsChecked, 3, "a partial copy is not part of the chain")
        XCTAssertEqual(report.lastLSN, 9)
        XCTAssertEqual(report.partialCopies, [
            .init(fileName: "00000001-0000000000000002.binlog.partial", segment: SegmentName(epoch: 1, sequence: 2), superseded: true),
            .init(fileName: partial, segment: SegmentName(epoch: 1, sequence: 4), superseded: false),
        ])
        XCTAssertEqual(report.warnings, ["ignored 00000001-0000000000000004.binlog.active.partial: not a segment name",
                                         "ignored 00000001-000000000000000A.binlog.partial: not a segment name",
                                         "ignored notes.partial: not a segment name"])
    }

    func testMissingMiddleSegmentIsAGap() throws {
        let chain = try writeChain(in: dir.path)
        try FileManager.default.removeItem(atPath: chain[1].path)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .gap)
        XCTAssertEqual(report.problem?.kind, .gap)
        XCTAssertEqual(report.problem?.path, chain[2].path)
        XCTAssertNotNil(report.problem?.hint)
        XCTAssertEqual(report.lastLSN, 3, "the intact range ends before the gap")
        XCTAssertEqual(report.segmentsChecked, 1)
    }

    func testMissingLSNsBetweenConsecutiveSegmentsAreAGap() throws {
        let first = try writeSegment(in: dir.path, sequence: 1, previous: nil)
        var skipped = first.footer!
        skipped.lastLSN += 2
        try writeSegment(in: dir.path, sequence: 2, previous: skipped)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .gap)
        XCTAssertEqual(report.problem?.kind, .gap)
    }

    func testOverlappingLSNsAreCorruption() throws {
        let first = try writeSegment(in: dir.path, sequence: 1, previous: nil)
        var overlapping = first.footer!
        overlapping.lastLSN -= 1
        try writeSegment(in: dir.path, sequence: 2, previous: overlapping)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .corruption)
    }

    func testSegmentFromAnotherSourceIsCorruption() throws {
        let chain = try writeChain(in: dir.path)
        let elsewhere = try TemporaryDirectory("directory-other")
        let foreign = try writeChain(in: elsewhere.path, source: Sample.sourceB)
        try FileManager.default.removeItem(atPath: chain[1].path)
        try FileManager.default.copyItem(atPath: foreign[1].path, toPath: chain[1].path)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .corruption)
        XCTAssertEqual(report.problem?.kind, .corrupted)
        XCTAssertEqual(report.problem?.path, chain[1].path)
        XCTAssertTrue(report.problem?.message.contains("source") ?? false, report.problem?.message ?? "")
        XCTAssertEqual(report.lastLSN, 3)
        // The whole directory from another source, when the caller names the expected one.
        let other = try BinlogDirectory(path: elsewhere.path).verify(expectedSource: Sample.sourceA)
        XCTAssertEqual(other.outcome, .corruption)
        XCTAssertEqual(other.problem?.path, foreign[0].path)
    }

    func testSubstitutedSegmentBreaksTheHashChain() throws {
        let chain = try writeChain(in: dir.path)
        // Same sequence, same LSN range, same link to segment 1, different content.
        let elsewhere = try TemporaryDirectory("directory-substitute")
        let substitute = try writeSegment(in: elsewhere.path, sequence: 2, previous: chain[0].footer, salt: 1)
        XCTAssertNotEqual(substitute.footer?.segmentChecksum, chain[1].footer?.segmentChecksum)
        XCTAssertEqual(try readSegment(substitute.path).transactions.count, Self.perSegment, "the substitute is a valid segment on its own")
        try writeBytes(substitute.bytes, to: chain[1].path)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .corruption)
        XCTAssertEqual(report.problem?.kind, .corrupted)
        XCTAssertTrue(report.problem?.message.contains("hash chain") ?? false, report.problem?.message ?? "")
        XCTAssertEqual(report.problem?.path, chain[2].path, "the break shows at the segment after the substitute")
        XCTAssertEqual(report.problem?.offset, 64)
    }

    func testSegmentNotLinkedToItsPredecessorBreaksTheHashChain() throws {
        let first = try writeSegment(in: dir.path, sequence: 1, previous: nil)
        var unlinked = first.footer!
        unlinked.segmentChecksum ^= 1
        try writeSegment(in: dir.path, sequence: 2, previous: unlinked)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .corruption)
        XCTAssertTrue(report.problem?.message.contains("hash chain") ?? false)
    }

    func testCorruptSegmentInTheChainIsCorruption() throws {
        let chain = try writeChain(in: dir.path)
        var bytes = chain[1].bytes
        bytes[SegmentHeader.size + FrameHeader.size] ^= 0x20
        try writeBytes(bytes, to: chain[1].path)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .corruption)
        XCTAssertEqual(report.problem?.kind, .checksumMismatch)
        XCTAssertEqual(report.problem?.path, chain[1].path)
    }

    func testActiveSegmentBeforeTheLastIsCorruption() throws {
        let first = try writeSegment(in: dir.path, sequence: 1, previous: nil, seal: false)
        var footer = SegmentFooter(lastLSN: 3, lastCommitTime: 0, transactionCount: 3, eventCount: 3, frameCount: 3,
                                   footerOffset: 0, segmentChecksum: Checksum.xxh3(first.bytes), previousChecksum: 0, sealedAt: 0)
        footer.footerOffset = UInt64(first.bytes.count)
        try writeSegment(in: dir.path, sequence: 2, previous: footer)
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .corruption)
    }

    /// A segment present both sealed and under its active name (a shipped partial copy that the
    /// sealed segment replaced) is not a gap: the sealed copy supersedes the active one, which
    /// verify skips with a note (docs/FORMAT.md §9).
    func testSealedAndActiveCopiesOfOneSegmentAreNotAGap() throws {
        let first = try writeSegment(in: dir.path, sequence: 1, previous: nil)
        try writeBytes(first.bytes.dropLast(SegmentFooter.size), to: first.path + ".active")
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .clean, report.problem?.message ?? "")
        XCTAssertEqual(report.segmentsChecked, 1)
        XCTAssertTrue(report.warnings.contains { $0.contains("superseded") }, "\(report.warnings)")
    }

    func testMissingDirectoryIsAnInvalidArgument() {
        let e = expectFormatError { _ = try BinlogDirectory(path: self.dir.file("nope")).verify() }
        XCTAssertEqual(e?.kind, .invalidArgument)
    }
}
