import BinlogFormat
import Foundation
import XCTest

/// docs/FORMAT.md §6 "Reading while the master writes": a lock-free reader of the active
/// segment must tell the master's work (a seal that cuts the preallocated zeros and writes the
/// footer, a rename to `.binlog`) from damage; damage itself stays corruption (issue 12).
final class ConcurrentSealTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory("concurrent-seal") }
    override func tearDown() { dir = nil }

    /// An active segment as the master leaves it: transactions, then preallocated zeros.
    private func activeWriter(transactions: Int) throws -> SegmentWriter {
        let writer = try SegmentWriter.create(directory: dir.path, header: Sample.header())
        writer.preallocationStep = 64 << 10
        for tx in Sample.transactions(firstLSN: 1, count: transactions) {
            try writer.append(lsn: tx.lsn, commitTime: tx.commitTime, events: tx.events)
        }
        try writer.sync()
        return writer
    }

    /// The reader opened the active file (its size then included 64 KiB of zeros) and the
    /// master sealed it before the reader reached the end: the footer where the zeros were was
    /// read as a frame ("bad frame magic", exit 3). Now the reader sees the seal and checks the
    /// segment as sealed, footer and checksum included.
    func testASealUnderTheReaderIsFollowedNotReportedAsDamage() throws {
        let writer = try activeWriter(transactions: 5)
        let reader = try SegmentReader(path: writer.path)
        XCTAssertEqual(reader.fileSize, 64 << 10, "the reader opened the file with its preallocated zeros")
        XCTAssertEqual(try reader.next()?.lsn, 1)
        try writer.seal()
        var lsns: [UInt64] = [1]
        while let tx = try reader.next() { lsns.append(tx.lsn) }
        XCTAssertEqual(lsns, [1, 2, 3, 4, 5])
        XCTAssertTrue(reader.isSealed, "the footer the seal wrote was read and checked")
        XCTAssertNil(reader.tornTailOffset)
    }

    /// The directory listing named `…binlog.active`; the master renamed it before the open
    /// ("unable to open: No such file or directory"). The sealed file is read instead.
    func testAnActiveSegmentRenamedBeforeTheOpenIsReadSealed() throws {
        let writer = try activeWriter(transactions: 3)
        let activePath = writer.path
        try writer.seal()
        let reader = try SegmentReader(path: activePath)
        XCTAssertEqual(reader.path, dir.file(writer.name.sealed.description))
        XCTAssertEqual(try reader.verifyAll(), 3)
        XCTAssertTrue(reader.isSealed)
        // A partial copy replaced by its sealed segment is followed the same way.
        let partial = try SegmentReader(path: dir.file(writer.name.partialFileName))
        XCTAssertEqual(try partial.verifyAll(), 3)
        // Anything else missing is still an error.
        // (an I/O error of the OS layer since the file helpers moved to LogshipSystem: exit 14 as before)
        XCTAssertThrowsError(try SegmentReader(path: dir.file(SegmentName(epoch: 1, sequence: 9, isActive: true).description))) { error in
            XCTAssertEqual((error as? SystemError)?.kind, .io, "\(error)")
            XCTAssertEqual(ExitStatus(error), .ioError)
        }
    }

    /// A directory listing taken while the active segment was sealed lists it under its sealed name.
    func testAListingFollowsTheRenameOfTheActiveSegment() throws {
        let writer = try activeWriter(transactions: 3)
        try writer.seal()
        let report = try BinlogDirectory(path: dir.path).verify()
        XCTAssertEqual(report.outcome, .clean)
        XCTAssertEqual(report.transactions, 3)
    }

    /// A damaged frame in the active segment with committed frames after it is corruption, read
    /// twice or not; in a sealed segment, any damaged frame is.
    func testDamageBeforeLaterFramesIsStillCorruption() throws {
        let writer = try activeWriter(transactions: 5)
        var bytes = try readBytes(writer.path)
        let second = Int(SegmentHeader.size) + 60   // inside the first frame's payload
        bytes[second] ^= 0xFF
        let copy = dir.file("copy")
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false)
        let damaged = copy + "/" + writer.name.description
        try writeBytes(bytes, to: damaged)
        let e = expectFormatError { _ = try SegmentReader(path: damaged).verifyAll() }
        XCTAssertEqual(e?.kind, .checksumMismatch)
        XCTAssertEqual(e?.path, damaged)

        try writer.seal()
        var sealed = try readBytes(dir.file(writer.name.sealed.description))
        sealed[second] ^= 0xFF
        let sealedCopy = copy + "/" + writer.name.sealed.description
        try writeBytes(sealed, to: sealedCopy)
        let s = expectFormatError { _ = try SegmentReader(path: sealedCopy).verifyAll() }
        XCTAssertEqual(s?.kind, .checksumMismatch)
    }
}
