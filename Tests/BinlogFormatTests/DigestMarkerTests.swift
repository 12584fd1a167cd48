import BinlogFormat
import Foundation
import XCTest

/// The version-2 golden segment: version 1 plus digest markers (docs/FORMAT.md §4.4, Appendix B).
/// Uncompressed, so the marker bytes can be read in a hex dump. The golden-v1 fixture stays as it
/// was and readable (GoldenSegmentTests). LOGSHIP_UPDATE_GOLDEN=1 rewrites this fixture.
enum GoldenV2 {
    static var header: SegmentHeader {
        var h = SegmentHeader(sourceID: Sample.sourceA, epoch: 1, sequence: 1, firstLSN: 1, createdAt: Sample.t0, previousChecksum: 0)
        h.version = SegmentHeader.digestVersion
        return h
    }
    static let sealedAt: Int64 = Sample.t0 + 60_000_000
    static let fileName = "00000001-0000000000000001.binlog"

    static var fixturePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/golden-v2/\(fileName)").path
    }

    /// The digests are fixed numbers: the format carries them, readers that apply compare them.
    static let afterInsert = DigestMarker(tables: [
        .init(name: "items", rows: 2, sum: 0x0123_4567_89AB_CDEF),
        .init(name: "empty", rows: 0, sum: 0),
    ])

    static let transactions: [Transaction] = [
        Transaction(lsn: 1, commitTime: Sample.t0 + 1_000_000, events: [
            .ddl(sql: "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL, photo BLOB)"),
        ]),
        Transaction(lsn: 2, commitTime: Sample.t0 + 2_000_000, events: [
            .insert(table: Sample.items, rowid: 1, values: [.integer(1), .text("apple"), .real(0.5), .null]),
            .insert(table: Sample.items, rowid: 2, values: [.integer(2), .text("pear"), .real(0.25), .null]),
        ], digest: afterInsert),
        // A marker-only transaction, as `rotate` writes: its own LSN, no events.
        Transaction(lsn: 3, commitTime: Sample.t0 + 3_000_000, events: [], digest: afterInsert),
    ]

    static func build(in directory: String) throws -> BuiltSegment {
        try buildSegment(in: directory, header: header, transactions: transactions, compress: false, sealedAt: sealedAt)
    }

    // Pinned once from the writer's output; a change here is a format change.
    static let length = 545
    static let checksum: UInt64 = 0xF1AB_EED9_9C0A_E790
}

final class DigestMarkerTests: XCTestCase {
    func testGoldenV2BytesArePinnedAndTheFixtureMatches() throws {
        let dir = try TemporaryDirectory("golden-v2")
        let built = try GoldenV2.build(in: dir.path)
        let checksum = Checksum.xxh3(built.bytes)
        if ProcessInfo.processInfo.environment["LOGSHIP_UPDATE_GOLDEN"] == "1" {
            try writeBytes(built.bytes, to: GoldenV2.fixturePath)
            print("golden v2 segment rewritten: length \(built.bytes.count), checksum 0x\(String(checksum, radix: 16))")
        }
        XCTAssertEqual(built.bytes.count, GoldenV2.length, "golden v2 segment length changed: this is a format change")
        XCTAssertEqual(checksum, GoldenV2.checksum, "golden v2 segment XXH3 is 0x\(String(checksum, radix: 16)): this is a format change")
        XCTAssertEqual(try readBytes(GoldenV2.fixturePath), built.bytes, "writer output differs from the committed golden-v2 fixture")
    }

    func testGoldenV2DecodesWithItsMarkers() throws {
        let (read, reader) = try readSegment(GoldenV2.fixturePath)
        XCTAssertEqual(read, GoldenV2.transactions)
        XCTAssertEqual(reader.header.version, 2)
        XCTAssertEqual(read[1].digest?.tables.map(\.name), ["empty", "items"], "tables are kept in name order")
        let footer = try XCTUnwrap(reader.footer)
        XCTAssertEqual(footer.transactionCount, 3)
        XCTAssertEqual(footer.eventCount, 3, "markers are not counted as events")
    }

    /// The marker event laid out as §4.4 says, found in the raw (uncompressed) payload of LSN 3.
    func testMarkerBytesMatchTheSpec() throws {
        let bytes = try readBytes(GoldenV2.fixturePath)
        var expected: [UInt8] = [6, 2]
        expected += [5] + Array("empty".utf8) + [0] + [UInt8](repeating: 0, count: 8)
        expected += [5] + Array("items".utf8) + [2] + [0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01]
        let spans = try frames(of: bytes, dataEnd: bytes.count - SegmentFooter.size)
        let last = try XCTUnwrap(spans.last)
        XCTAssertEqual(last.header.lsn, 3)
        XCTAssertEqual(Array(bytes[Int(last.offset) + FrameHeader.size..<Int(last.end)]), expected, "LSN 3's payload is the marker alone")
        XCTAssertEqual(bytes[8], 2, "format version 2")
    }

    func testVersion1FixtureStillReadsAndTakesNoMarker() throws {
        let (read, _) = try readSegment(Golden.fixturePath)
        XCTAssertTrue(read.allSatisfy { $0.digest == nil })
        let dir = try TemporaryDirectory("v1-marker")
        let writer = try SegmentWriter.create(directory: dir.path, header: Sample.header())
        let e = expectFormatError { try writer.append(lsn: 1, commitTime: Sample.t0, events: [], digest: GoldenV2.afterInsert) }
        XCTAssertEqual(e?.kind, .invalidArgument)
        XCTAssertEqual(writer.transactionCount, 0)
    }

    func testUnknownVersionIsUnsupported() throws {
        var h = GoldenV2.header
        h.version = 5
        let e = expectFormatError { _ = try h.encoded().withUnsafeBytes { try SegmentHeader.decode($0) } }
        XCTAssertEqual(e?.kind, .unsupported)
        XCTAssertEqual(e?.offset, 8)
        XCTAssertTrue(e?.message.contains("reads versions 1 to 4") ?? false, e?.message ?? "")
    }

    /// A version-1 segment whose frames hold a marker (the header's version forged from 2 to 1).
    func testMarkerInAVersion1SegmentIsCorruption() throws {
        let dir = try TemporaryDirectory("v1-forged")
        var h = GoldenV2.header
        let writer = try SegmentWriter.create(directory: dir.path, header: h)
        writer.compress = false
        try writer.append(lsn: 1, commitTime: Sample.t0, events: [], digest: GoldenV2.afterInsert)
        try writer.sync()
        var bytes = try readBytes(writer.path)
        h.version = 1
        bytes.replaceSubrange(0..<SegmentHeader.size, with: h.encoded())
        try writeBytes(bytes, to: writer.path)
        let e = expectFormatError { _ = try readSegment(writer.path) }
        XCTAssertEqual(e?.kind, .corrupted)
        XCTAssertEqual(e?.offset, Int64(SegmentHeader.size + FrameHeader.size))
        XCTAssertTrue(e?.message.contains("version-1 segment") ?? false, e?.message ?? "")
    }

    func testEventAfterAMarkerIsCorruption() throws {
        var payload: [UInt8] = [6, 0]
        payload += [5, 4] + Array("DROP".utf8)
        let e = decode(payload)
        XCTAssertEqual(e?.kind, .corrupted)
        XCTAssertEqual(e?.offset, 1002)
        XCTAssertTrue(e?.message.contains("follows the transaction's digest marker") ?? false, e?.message ?? "")
        XCTAssertEqual(decode([6, 0, 6, 0])?.kind, .corrupted, "a second marker")
    }

    func testMarkerTablesOutOfOrderOrTwiceAreCorruption() throws {
        func table(_ name: String) -> [UInt8] { [UInt8(name.utf8.count)] + Array(name.utf8) + [1] + [UInt8](repeating: 7, count: 8) }
        XCTAssertNil(decode([6, 2] + table("a") + table("b")))
        XCTAssertTrue(decode([6, 2] + table("b") + table("a"))?.message.contains("out of order or twice") ?? false)
        XCTAssertTrue(decode([6, 2] + table("a") + table("a"))?.message.contains("out of order or twice") ?? false)
        XCTAssertEqual(decode([6, 200] + table("a"))?.kind, .corrupted, "a count beyond the bytes")
        XCTAssertEqual(decode([6, 1, 1, 0x61, 1] + [UInt8](repeating: 0, count: 7))?.kind, .corrupted, "a digest cut short: the payload ends inside the event")
    }

    /// Markers ride in transactions that also span several (compressed) frames.
    func testRoundTripAcrossFramesAndCompression() throws {
        let dir = try TemporaryDirectory("marker-roundtrip")
        let many = (1...40).map { Sample.item(Int64($0), String(repeating: "x", count: 30)) }
        let marker = DigestMarker(tables: (0..<50).map { .init(name: "t\($0)", rows: UInt64($0) * 1_000_003, sum: UInt64.max - UInt64($0)) })
        let txs = [
            Transaction(lsn: 1, commitTime: Sample.t0, events: many, digest: marker),
            Transaction(lsn: 2, commitTime: Sample.t0, events: [Sample.item(99, "after")]),
            Transaction(lsn: 3, commitTime: Sample.t0 + 1, events: [], digest: DigestMarker(tables: [])),
        ]
        let built = try buildSegment(in: dir.path, header: GoldenV2.header, transactions: txs, chunkSize: 256, compress: true, sealedAt: Sample.t0 + 2)
        let (read, reader) = try readSegment(built.path)
        XCTAssertEqual(read, txs)
        XCTAssertGreaterThan(reader.frameCount, 4)
        XCTAssertEqual(try readSegment(built.path, decode: false).transactions.map(\.lsn), [1, 2, 3])
    }

    /// As for version 1 (MutationTests): every single-byte change of the sealed v2 golden is
    /// detected, markers included.
    func testEveryByteFlipOfTheV2GoldenIsDetected() throws {
        let golden = try readBytes(GoldenV2.fixturePath)
        let dir = try TemporaryDirectory("golden-v2-flips")
        let path = dir.file(GoldenV2.fileName)
        for i in golden.indices {
            var bytes = golden
            bytes[i] ^= 0x5A
            try writeBytes(bytes, to: path)
            do {
                _ = try readSegment(path)
                XCTFail("a flip at offset \(i) went unnoticed")
            } catch is FormatError {
            }
        }
    }

    private func decode(_ payload: [UInt8]) -> FormatError? {
        var decoder = TransactionDecoder()
        decoder.allowsDigest = true
        var events: [Event] = []
        var digest: DigestMarker?
        do {
            try payload.withUnsafeBytes { try decoder.decode($0, offset: 1000, into: &events, digest: &digest) }
            return nil
        } catch let e as FormatError {
            return e
        } catch {
            XCTFail("\(error)")
            return nil
        }
    }
}
