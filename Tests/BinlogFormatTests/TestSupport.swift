import BinlogFormat
import Foundation
import XCTest

/// A directory under the system temp directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = "binlogformat") throws {
        path = NSTemporaryDirectory() + "/\(label)-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// SplitMix64: a tiny deterministic generator, so every randomized test replays from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed for randomized tests: `LOGSHIP_SEED` when set (to replay a failure), else a fixed one.
func testSeed(default value: UInt64) -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["LOGSHIP_SEED"], let seed = UInt64(text) { return seed }
    return value
}

func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Replaces the file at `path` with `bytes`, without fsync: the mutation tests write thousands of files.
func writeBytes<C: Collection>(_ bytes: C, to path: String) throws where C.Element == UInt8 {
    let file = try FileDescriptor(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC)
    try Array(bytes).withUnsafeBytes { try file.write($0, at: 0) }
}

/// A segment written through `SegmentWriter`, with the file offsets where each transaction ends.
struct BuiltSegment {
    var path: String
    var bytes: [UInt8]
    /// `boundaries[0]` is the end of the header; `boundaries[i]` the end of transaction i.
    var boundaries: [Int64]
    var footer: SegmentFooter?
}

/// Writes `transactions` into a new segment in `directory`, sealing it when `sealedAt` is given.
func buildSegment(in directory: String, header: SegmentHeader, transactions: [Transaction], chunkSize: Int = 1 << 20,
                  compress: Bool = true, sealedAt: Int64? = nil) throws -> BuiltSegment {
    let writer = try SegmentWriter.create(directory: directory, header: header, chunkSize: chunkSize)
    writer.compress = compress
    var boundaries = [writer.length]
    for tx in transactions {
        try writer.append(lsn: tx.lsn, commitTime: tx.commitTime, events: tx.events, digest: tx.digest)
        boundaries.append(writer.length)
    }
    try writer.sync()
    var path = writer.path
    var footer: SegmentFooter?
    if let sealedAt {
        footer = try writer.seal(now: sealedAt)
        path = directory + "/" + writer.name.sealed.description
    }
    return BuiltSegment(path: path, bytes: try readBytes(path), boundaries: boundaries, footer: footer)
}

/// Every transaction of the segment at `path`, read and verified to the end, and the reader.
func readSegment(_ path: String, decode: Bool = true) throws -> (transactions: [Transaction], reader: SegmentReader) {
    let reader = try SegmentReader(path: path)
    var transactions: [Transaction] = []
    while let tx = try reader.next(decode: decode) { transactions.append(tx) }
    return (transactions, reader)
}

/// Runs `body` and returns the `FormatError` it threw; records a failure if it threw nothing or something else.
func expectFormatError(_ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line,
                       _ body: () throws -> Void) -> FormatError? {
    do {
        try body()
        XCTFail("expected a FormatError, nothing was thrown. \(message())", file: file, line: line)
    } catch let e as FormatError {
        return e
    } catch {
        XCTFail("expected a FormatError, got \(error). \(message())", file: file, line: line)
    }
    return nil
}

/// One frame of a segment file as the spec lays it out (docs/FORMAT.md §3).
struct FrameSpan {
    var offset: Int64
    var header: FrameHeader
    var end: Int64
}

/// Walks the frames between the header and `dataEnd` with the public frame decoder.
func frames(of bytes: [UInt8], dataEnd: Int) throws -> [FrameSpan] {
    var spans: [FrameSpan] = []
    var at = SegmentHeader.size
    while at < dataEnd {
        let header = try bytes.withUnsafeBytes {
            try FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[at..<min(at + FrameHeader.size, dataEnd)]), offset: Int64(at))
        }
        let end = at + FrameHeader.size + Int(header.storedLength)
        spans.append(FrameSpan(offset: Int64(at), header: header, end: Int64(end)))
        at = end
    }
    return spans
}

/// Tables and rows shared by the tests.
enum Sample {
    static let sourceA = UUID(uuidString: "5B1D0C3A-7E2F-4A61-9C84-1F0E2D3C4B5A")!
    static let sourceB = UUID(uuidString: "C0FFEE00-0000-4000-8000-0000000000B2")!
    /// 2024-06-01T00:00:00Z in microseconds.
    static let t0: Int64 = 1_717_200_000_000_000

    static let items = TableDescriptor(name: "items", columns: [
        ColumnDescriptor(name: "id", declaredType: "INTEGER", primaryKeyPosition: 1),
        ColumnDescriptor(name: "name", declaredType: "TEXT"),
        ColumnDescriptor(name: "price", declaredType: "REAL"),
        ColumnDescriptor(name: "photo", declaredType: "BLOB"),
    ])

    /// `items` after `ALTER TABLE items ADD COLUMN note TEXT`.
    static let itemsWithNote = TableDescriptor(name: "items", columns: items.columns + [
        ColumnDescriptor(name: "note", declaredType: "TEXT"),
    ])

    static let tags = TableDescriptor(name: "tags", columns: [
        ColumnDescriptor(name: "item", declaredType: "INTEGER", primaryKeyPosition: 1),
        ColumnDescriptor(name: "tag", declaredType: "TEXT", primaryKeyPosition: 2),
        ColumnDescriptor(name: "label", declaredType: "TEXT", isGenerated: true),
    ], withoutRowid: true)

    /// A one-column table for value round trips.
    static let cells = TableDescriptor(name: "cells", columns: [ColumnDescriptor(name: "v", declaredType: "")])

    static func header(source: UUID = sourceA, epoch: UInt32 = 1, sequence: UInt64 = 1, firstLSN: UInt64 = 1,
                       createdAt: Int64 = t0, previous: UInt64 = 0) -> SegmentHeader {
        SegmentHeader(sourceID: source, epoch: epoch, sequence: sequence, firstLSN: firstLSN, createdAt: createdAt, previousChecksum: previous)
    }

    static func item(_ id: Int64, _ name: String, salt: Int = 0) -> Event {
        .insert(table: items, rowid: id, values: [.integer(id), .text(name), .real(Double(id) + 0.5 + Double(salt)), .null])
    }

    /// `count` small transactions starting at `firstLSN`; `salt` changes their content but not their shape.
    static func transactions(firstLSN: UInt64, count: Int, salt: Int = 0, start: Int64 = t0) -> [Transaction] {
        (0..<count).map { i in
            let lsn = firstLSN + UInt64(i)
            return Transaction(lsn: lsn, commitTime: start + Int64(lsn) * 1_000, events: [item(Int64(lsn), "item \(lsn)", salt: salt)])
        }
    }
}
