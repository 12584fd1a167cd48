import BinlogFormat
import Foundation
import XCTest

/// The version-1 golden segment: a small, fully deterministic sealed segment whose bytes are
/// pinned. A layout change fails these tests; it needs a format version bump and new golden files
/// (set LOGSHIP_UPDATE_GOLDEN=1 to rewrite the fixture, then update the pinned literals).
enum Golden {
    static let header = SegmentHeader(sourceID: Sample.sourceA, epoch: 1, sequence: 1, firstLSN: 1,
                                      createdAt: Sample.t0, previousChecksum: 0)
    static let sealedAt: Int64 = Sample.t0 + 60_000_000
    /// Small enough that a single transaction spans several frames.
    static let chunkSize = 256
    static let fileName = "00000001-0000000000000001.binlog"

    /// The committed fixture, found next to this source file so Package.swift needs no resources.
    static var fixturePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/golden-v1/\(fileName)").path
    }

    static let transactions: [Transaction] = [
        Transaction(lsn: 1, commitTime: Sample.t0 + 1_000_000, events: [
            .ddl(sql: "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL, photo BLOB)"),
            .ddl(sql: "CREATE TABLE tags(item INTEGER, tag TEXT, label TEXT GENERATED ALWAYS AS (upper(tag)), PRIMARY KEY(item, tag)) WITHOUT ROWID"),
        ]),
        Transaction(lsn: 2, commitTime: Sample.t0 + 2_000_000, events: [
            .insert(table: Sample.items, rowid: 1, values: [.integer(1), .text("apple"), .real(0.5), .blob(Data([0, 1, 2, 3]))]),
            .insert(table: Sample.items, rowid: 2, values: [.integer(2), .text("banana"), .real(0.25), .null]),
            .insert(table: Sample.items, rowid: 3, values: [.integer(3), .text(Data([0xC3, 0x28])), .real(-0.0), .blob(Data())]),
            .insert(table: Sample.tags, rowid: nil, values: [.integer(1), .text("fruit"), .text("FRUIT")]),
            .insert(table: Sample.tags, rowid: nil, values: [.integer(2), .text("fruit"), .text("FRUIT")]),
        ]),
        Transaction(lsn: 3, commitTime: Sample.t0 + 3_000_000, events: [
            .update(table: Sample.items, oldRowid: 1, newRowid: 1,
                    old: [.integer(1), .text("apple"), .real(0.5), .blob(Data([0, 1, 2, 3]))],
                    new: [.integer(1), .text("apple"), .real(0.75), .blob(Data([0, 1, 2, 3]))]),
            .update(table: Sample.items, oldRowid: 2, newRowid: 20,
                    old: [.integer(2), .text("banana"), .real(0.25), .null],
                    new: [.integer(20), .text("banana"), .real(0.25), .null]),
            .update(table: Sample.tags, oldRowid: nil, newRowid: nil,
                    old: [.integer(2), .text("fruit"), .text("FRUIT")], new: [.integer(2), .text("yellow"), .text("YELLOW")]),
            .delete(table: Sample.tags, rowid: nil, old: [.integer(1), .text("fruit"), .text("FRUIT")]),
            .delete(table: Sample.items, rowid: 3, old: [.integer(3), .text(Data([0xC3, 0x28])), .real(-0.0), .blob(Data())]),
        ]),
        Transaction(lsn: 4, commitTime: Sample.t0 + 3_000_000, events: (4...15).map { i in
            .insert(table: Sample.items, rowid: Int64(i), values: [
                .integer(Int64(i)), .text("row \(i): the quick brown fox jumps over the lazy dog"), .real(Double(i) * 1.5), .null,
            ])
        }),
    ]

    static func build(in directory: String) throws -> BuiltSegment {
        try buildSegment(in: directory, header: header, transactions: transactions, chunkSize: chunkSize, compress: true, sealedAt: sealedAt)
    }

    // Pinned once from the writer's output; a change here is a format change.
    static let length = 1_273
    static let checksum: UInt64 = 0x6DBB_D4F9_1F1D_B1A9
}

final class GoldenSegmentTests: XCTestCase {
    func testGoldenSegmentBytesArePinned() throws {
        let dir = try TemporaryDirectory("golden")
        let built = try Golden.build(in: dir.path)
        let checksum = Checksum.xxh3(built.bytes)
        if ProcessInfo.processInfo.environment["LOGSHIP_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(atPath: (Golden.fixturePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try writeBytes(built.bytes, to: Golden.fixturePath)
            print("golden segment rewritten: length \(built.bytes.count), checksum 0x\(String(checksum, radix: 16))")
        }
        XCTAssertEqual(built.bytes.count, Golden.length, "golden segment length changed: this is a format change")
        XCTAssertEqual(checksum, Golden.checksum, "golden segment XXH3 is 0x\(String(checksum, radix: 16)): this is a format change")
        XCTAssertLessThan(built.bytes.count, 2048, "the mutation tests flip every byte of this segment")
    }

    func testWriterReproducesTheCommittedFixture() throws {
        let dir = try TemporaryDirectory("golden")
        let built = try Golden.build(in: dir.path)
        let fixture = try readBytes(Golden.fixturePath)
        XCTAssertEqual(fixture.count, Golden.length)
        XCTAssertEqual(Checksum.xxh3(fixture), Golden.checksum)
        XCTAssertEqual(built.bytes.count, fixture.count)
        if let i = zip(built.bytes, fixture).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            XCTFail("writer output differs from the committed golden fixture at offset \(i)")
        }
    }

    func testCommittedFixtureDecodesToTheExpectedEvents() throws {
        let (read, reader) = try readSegment(Golden.fixturePath)
        XCTAssertEqual(read, Golden.transactions)
        XCTAssertEqual(reader.header, Golden.header)
        let footer = try XCTUnwrap(reader.footer)
        XCTAssertEqual(footer.lastLSN, 4)
        XCTAssertEqual(footer.lastCommitTime, Sample.t0 + 3_000_000)
        XCTAssertEqual(footer.transactionCount, 4)
        XCTAssertEqual(footer.eventCount, 24)
        XCTAssertEqual(footer.sealedAt, Golden.sealedAt)
        XCTAssertEqual(footer.previousChecksum, 0)
        XCTAssertEqual(footer.footerOffset, UInt64(Golden.length - SegmentFooter.size))
        XCTAssertEqual(reader.frameCount, footer.frameCount)
    }

    /// The fixture read with the spec alone: fixed offsets of header, frames and footer (§2, §3, §5).
    func testCommittedFixtureLayoutMatchesTheSpec() throws {
        let bytes = try readBytes(Golden.fixturePath)
        func u16(_ at: Int) -> UInt64 { UInt64(bytes[at]) | UInt64(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt64 { (0..<4).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        XCTAssertEqual(Array(bytes[0..<8]), Array("LSHPBLOG".utf8))
        XCTAssertEqual(u16(8), 1)
        XCTAssertEqual(u16(10), 80)
        XCTAssertEqual(u32(12), 0)
        XCTAssertEqual(UUID(uuid: (bytes[16], bytes[17], bytes[18], bytes[19], bytes[20], bytes[21], bytes[22], bytes[23],
                                   bytes[24], bytes[25], bytes[26], bytes[27], bytes[28], bytes[29], bytes[30], bytes[31])), Sample.sourceA)
        XCTAssertEqual(bytes[16], 0x5B, "the UUID is stored in its canonical (big-endian text) byte order")
        XCTAssertEqual(u32(32), 1)
        XCTAssertEqual(u32(36), 0)
        XCTAssertEqual(u64(40), 1)
        XCTAssertEqual(u64(48), 1)
        XCTAssertEqual(Int64(bitPattern: u64(56)), Sample.t0)
        XCTAssertEqual(u64(64), 0)
        XCTAssertEqual(u64(72), Checksum.xxh3(Array(bytes[0..<72])))

        let footerAt = bytes.count - 96
        XCTAssertEqual(Array(bytes[footerAt..<footerAt + 4]), Array("LSFT".utf8))
        XCTAssertEqual(u32(footerAt + 4), 0)
        XCTAssertEqual(u64(footerAt + 48), UInt64(footerAt))
        XCTAssertEqual(u64(footerAt + 56), Checksum.xxh3(Array(bytes[0..<footerAt])))
        XCTAssertEqual(u64(footerAt + 88), Checksum.xxh3(Array(bytes[footerAt..<footerAt + 88])))

        var at = 80
        var lsns: [UInt64] = []
        var sawLZ4 = false
        var framesOfLSN4 = 0
        while at < footerAt {
            XCTAssertEqual(Array(bytes[at..<at + 4]), Array("LSFR".utf8), "frame at \(at)")
            XCTAssertEqual(bytes[at + 4], 1)
            XCTAssertEqual(u16(at + 6), 0)
            let stored = Int(u32(at + 24))
            XCTAssertEqual(u64(at + 32), Checksum.xxh3(Array(bytes[at..<at + 32] + bytes[at + 40..<at + 40 + stored])), "frame at \(at)")
            sawLZ4 = sawLZ4 || bytes[at + 5] & 4 != 0
            lsns.append(u64(at + 8))
            if u64(at + 8) == 4 { framesOfLSN4 += 1 }
            at += 40 + stored
        }
        XCTAssertEqual(at, footerAt)
        XCTAssertEqual(Set(lsns), [1, 2, 3, 4])
        XCTAssertEqual(UInt64(lsns.count), u64(footerAt + 40), "footer frame count")
        XCTAssertTrue(sawLZ4, "the golden segment exercises LZ4 frames")
        XCTAssertGreaterThan(framesOfLSN4, 1, "the golden segment exercises multi-frame transactions")
    }
}
