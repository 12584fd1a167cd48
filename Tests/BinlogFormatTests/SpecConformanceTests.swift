import BinlogFormat
import Foundation
import XCTest

/// Segments built byte by byte from docs/FORMAT.md, independently of the writer, read by the
/// real reader: the spec and the code describe the same bytes. Also the bounds every decoder
/// applies to declared lengths and counts before it trusts them.
final class SpecConformanceTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory("spec") }
    override func tearDown() { dir = nil }

    // MARK: Hand encoders, written from the spec tables.

    /// §2: the 80-byte segment header.
    static func header(source: UUID = Sample.sourceA, version: UInt16 = 1, size: UInt16 = 80, flags: UInt32 = 0, epoch: UInt32 = 1,
                       sequence: UInt64 = 1, firstLSN: UInt64 = 1, createdAt: Int64 = Sample.t0, previous: UInt64 = 0) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array("LSHPBLOG".utf8))
        w.u16(version); w.u16(size); w.u32(flags)
        let u = source.uuid
        w.raw([u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15])
        w.u32(epoch); w.u32(0)
        w.u64(sequence); w.u64(firstLSN); w.i64(createdAt); w.u64(previous)
        w.u64(Checksum.xxh3(w.bytes))
        return w.bytes
    }

    /// §3: a frame header and its stored payload.
    static func frame(flags: UInt8 = 0b011, lsn: UInt64, time: Int64 = Sample.t0, payload: [UInt8], rawLength: UInt32? = nil,
                      kind: UInt8 = 1, reserved: UInt16 = 0) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array("LSFR".utf8))
        w.u8(kind); w.u8(flags); w.u16(reserved)
        w.u64(lsn); w.i64(time)
        w.u32(UInt32(payload.count)); w.u32(rawLength ?? UInt32(payload.count))
        w.u64(Checksum.xxh3(w.bytes + payload))
        w.raw(payload)
        return w.bytes
    }

    /// §5: the 96-byte footer for `data` (header plus frames).
    static func footer(for data: [UInt8], lastLSN: UInt64, lastTime: Int64, transactions: UInt64, events: UInt64, frames: UInt64,
                       previous: UInt64 = 0, sealedAt: Int64 = Sample.t0 + 60_000_000, reserved: UInt64 = 0) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array("LSFT".utf8)); w.u32(0)
        w.u64(lastLSN); w.i64(lastTime); w.u64(transactions); w.u64(events); w.u64(frames)
        w.u64(UInt64(data.count)); w.u64(Checksum.xxh3(data)); w.u64(previous); w.i64(sealedAt); w.u64(reserved)
        w.u64(Checksum.xxh3(w.bytes))
        return w.bytes
    }

    /// §4.2: a TABLE event.
    static func tableEvent(id: UInt64, _ t: TableDescriptor, into w: inout ByteWriter) {
        w.u8(1); w.uvarint(id); w.string(t.name); w.u8(t.withoutRowid ? 1 : 0)
        w.uvarint(UInt64(t.columns.count))
        for c in t.columns {
            w.string(c.name); w.string(c.declaredType); w.uvarint(UInt64(c.primaryKeyPosition)); w.u8(c.isGenerated ? 1 : 0)
        }
    }

    // MARK: Layout.

    func testHeaderEncodingMatchesSpecTable() throws {
        let h = SegmentHeader(sourceID: Sample.sourceB, epoch: 7, sequence: 0x1234, firstLSN: 99, createdAt: -5, previousChecksum: 0xFEDC_BA98_7654_3210)
        let bytes = Self.header(source: Sample.sourceB, epoch: 7, sequence: 0x1234, firstLSN: 99, createdAt: -5, previous: 0xFEDC_BA98_7654_3210)
        XCTAssertEqual(h.encoded(), bytes)
        XCTAssertEqual(bytes.count, SegmentHeader.size)
        XCTAssertEqual(try bytes.withUnsafeBytes { try SegmentHeader.decode($0) }, h)
    }

    func testFooterEncodingMatchesSpecTable() throws {
        let data = Self.header() + Self.frame(lsn: 1, payload: [5, 0])
        let f = SegmentFooter(lastLSN: 1, lastCommitTime: Sample.t0, transactionCount: 1, eventCount: 1, frameCount: 1,
                              footerOffset: UInt64(data.count), segmentChecksum: Checksum.xxh3(data), previousChecksum: 0, sealedAt: Sample.t0 + 60_000_000)
        let bytes = Self.footer(for: data, lastLSN: 1, lastTime: Sample.t0, transactions: 1, events: 1, frames: 1)
        XCTAssertEqual(f.encoded(), bytes)
        XCTAssertEqual(try bytes.withUnsafeBytes { try SegmentFooter.decode($0, offset: Int64(data.count)) }, f)
    }

    func testFrameHeaderEncodingMatchesSpecTable() throws {
        let payload: [UInt8] = [5, 3, 0x61, 0x62, 0x63]
        var h = FrameHeader(flags: [.first, .commit], lsn: 42, commitTime: Sample.t0, storedLength: 5, rawLength: 5)
        let encoded = payload.withUnsafeBytes { h.encode(payload: $0) }
        XCTAssertEqual(encoded + payload, Self.frame(flags: 3, lsn: 42, payload: payload))
    }

    /// Every event type, value tag and a rebound table id, encoded by hand, read by the real reader.
    func testHandBuiltSealedSegmentDecodes() throws {
        let a = TableDescriptor(name: "a", columns: [ColumnDescriptor(name: "id", declaredType: "INTEGER", primaryKeyPosition: 1),
                                                     ColumnDescriptor(name: "v", declaredType: "")])
        let b = TableDescriptor(name: "b", columns: [ColumnDescriptor(name: "k", declaredType: "TEXT", primaryKeyPosition: 1),
                                                     ColumnDescriptor(name: "g", declaredType: "INT", isGenerated: true)], withoutRowid: true)
        var p1 = ByteWriter()
        Self.tableEvent(id: 1, a, into: &p1)
        p1.raw([2, 1, 0x04, 2, 1, 0x04, 3, 3, 0x68, 0x69, 0x21])           // INSERT a rowid 2 [2, 'hi!']
        var p2 = ByteWriter()
        p2.raw([3, 1, 0x04, 0x06, 2, 1, 0x04, 0, 2, 1, 0x06, 2])            // UPDATE a rowid 2→3 [2, NULL] → [3, REAL …]
        p2.u64(Double(-0.0).bitPattern)
        Self.tableEvent(id: 1, b, into: &p2)                                   // id 1 rebound to b
        p2.raw([2, 1, 2, 4, 2, 0xFF, 0x00, 0])                                // INSERT b [X'FF00', NULL]
        p2.raw([4, 1, 1, 3, 1, 0x80])                                         // DELETE b [text 0x80 (invalid UTF-8)]
        p2.raw([5, 4]); p2.raw(Array("DROP".utf8))                            // DDL
        var data = Self.header()
        data += Self.frame(flags: 0b001, lsn: 1, time: Sample.t0 + 1, payload: p1.bytes)
        data += Self.frame(flags: 0b010, lsn: 1, time: Sample.t0 + 1, payload: p2.bytes)
        data += Self.frame(flags: 0b011, lsn: 2, time: Sample.t0 + 1, payload: [])
        let file = data + Self.footer(for: data, lastLSN: 2, lastTime: Sample.t0 + 1, transactions: 2, events: 5, frames: 3)
        let path = dir.file("00000001-0000000000000001.binlog")
        try writeBytes(file, to: path)
        let (read, reader) = try readSegment(path)
        XCTAssertTrue(reader.isSealed)
        XCTAssertEqual(read, [
            Transaction(lsn: 1, commitTime: Sample.t0 + 1, events: [
                .insert(table: a, rowid: 2, values: [.integer(2), .text("hi!")]),
                .update(table: a, oldRowid: 2, newRowid: 3, old: [.integer(2), .null], new: [.integer(3), .real(-0.0)]),
                .insert(table: b, rowid: nil, values: [.blob(Data([0xFF, 0x00])), .null]),
                .delete(table: b, rowid: nil, old: [.text(Data([0x80]))]),
                .ddl(sql: "DROP"),
            ]),
            Transaction(lsn: 2, commitTime: Sample.t0 + 1, events: []),
        ])
        if case .update(_, _, _, _, let new) = read[0].events[1], case .real(let r) = new[1] {
            XCTAssertEqual(r.bitPattern, Double(-0.0).bitPattern)
        } else {
            XCTFail("update did not decode")
        }
    }

    func testLZ4FrameIsABareBlock() throws {
        var payload = ByteWriter()
        for _ in 0..<50 { payload.raw([5, 10]); payload.raw(Array("SELECT 1;;".utf8)) }
        var compressed: [UInt8] = []
        XCTAssertTrue(payload.bytes.withUnsafeBytes { LZ4.compress($0, into: &compressed) })
        var data = Self.header()
        data += Self.frame(flags: 0b111, lsn: 1, payload: compressed, rawLength: UInt32(payload.count))
        let path = dir.file("00000001-0000000000000001.binlog.active")
        try writeBytes(data, to: path)
        let (read, _) = try readSegment(path)
        XCTAssertEqual(read.first?.events.count, 50)
        XCTAssertEqual(read.first?.events.first, .ddl(sql: "SELECT 1;;"))
    }

    // MARK: Bounds on what a frame declares.

    /// A frame with a valid checksum whose payload declares absurd lengths or counts is corruption,
    /// thrown before anything of that size is allocated, even as the last frame of an active segment.
    func testAbsurdDeclarationsInsideAValidFrameAreCorruption() throws {
        let t = Sample.cells
        var described = ByteWriter()
        Self.tableEvent(id: 1, t, into: &described)
        var cases: [(String, [UInt8])] = []
        func add(_ name: String, _ build: (inout ByteWriter) -> Void) {
            var w = described
            build(&w)
            cases.append((name, w.bytes))
        }
        add("blob of 2^62 bytes") { w in w.raw([2, 1, 2, 1, 4]); w.uvarint(1 << 62) }
        add("text of UInt64.max bytes") { w in w.raw([2, 1, 2, 1, 3]); w.uvarint(.max) }
        add("blob one byte past the end") { w in w.raw([2, 1, 2, 1, 4, 3, 0xAA, 0xBB]) }
        add("more values than columns") { w in w.raw([2, 1, 2, 2, 0, 0]) }
        add("a billion values") { w in w.raw([2, 1, 2]); w.uvarint(1_000_000_000) }
        add("a billion columns") { w in w.raw([1, 2, 1, 0x74, 0]); w.uvarint(1_000_000_000) }
        add("zero columns") { w in w.raw([1, 2, 1, 0x74, 0, 0]) }
        add("columns beyond the payload") { w in w.raw([1, 2, 1, 0x74, 0, 100, 1, 0x63, 0, 0, 0]) }
        add("key position beyond column count") { w in w.raw([1, 2, 1, 0x74, 0, 1, 1, 0x63, 0, 2, 0]) }
        add("unknown column flag") { w in w.raw([1, 2, 1, 0x74, 0, 1, 1, 0x63, 0, 0, 2]) }
        add("unknown table flag") { w in w.raw([1, 2, 1, 0x74, 2, 1, 1, 0x63, 0, 0, 0]) }
        add("table name not UTF-8") { w in w.raw([1, 2, 1, 0xFF, 0, 1, 1, 0x63, 0, 0, 0]) }
        add("undescribed table id") { w in w.raw([2, 9, 2, 0]) }
        add("unknown event type") { w in w.raw([6]) }
        add("event type 0") { w in w.raw([0]) }
        add("unknown value tag") { w in w.raw([2, 1, 2, 1, 5]) }
        add("varint of 11 bytes") { w in w.raw([2, 1] + [UInt8](repeating: 0x80, count: 10) + [0]) }
        add("truncated real") { w in w.raw([2, 1, 2, 1, 2, 0, 0, 0]) }
        add("DDL of 2^40 bytes") { w in w.raw([5]); w.uvarint(1 << 40) }
        add("DDL not UTF-8") { w in w.raw([5, 1, 0xC0]) }
        for (name, payload) in cases {
            for compress in [false, true] {
                var stored = payload
                var flags: UInt8 = 0b011
                if compress {
                    var out: [UInt8] = []
                    guard payload.withUnsafeBytes({ LZ4.compress($0, into: &out) }) else { continue }
                    stored = out
                    flags |= 0b100
                }
                let path = dir.file("00000001-0000000000000001.binlog.active")
                try writeBytes(Self.header() + Self.frame(flags: flags, lsn: 1, payload: stored, rawLength: UInt32(payload.count)), to: path)
                let e = expectFormatError(name) { _ = try readSegment(path) }
                XCTAssertEqual(e?.kind, .corrupted, name)
                XCTAssertNotNil(e?.offset, name)
                XCTAssertEqual(e?.path, path, name)
                if let offset = e?.offset { XCTAssertGreaterThanOrEqual(offset, Int64(SegmentHeader.size), name) }
            }
        }
    }

    func testFrameHeaderDeclarationsAreBoundedBeforeThePayloadIsRead() throws {
        func decode(_ bytes: [UInt8]) throws -> FrameHeader {
            try bytes.withUnsafeBytes { try FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<FrameHeader.size]), offset: 80) }
        }
        func header(flags: UInt8 = 3, lsn: UInt64 = 1, stored: UInt32, raw: UInt32, kind: UInt8 = 1, reserved: UInt16 = 0, magic: String = "LSFR") -> [UInt8] {
            var w = ByteWriter()
            w.raw(Array(magic.utf8)); w.u8(kind); w.u8(flags); w.u16(reserved); w.u64(lsn); w.i64(0); w.u32(stored); w.u32(raw); w.u64(0)
            return w.bytes
        }
        let bad: [(String, [UInt8])] = [
            ("4 GiB stored and raw", header(stored: .max, raw: .max)),
            ("raw beyond the format bound", header(stored: UInt32(FrameHeader.maxRawLength + 1), raw: UInt32(FrameHeader.maxRawLength + 1))),
            ("LZ4 stored larger than raw", header(flags: 7, stored: 100, raw: 10)),
            ("LZ4 beyond 255:1", header(flags: 7, stored: 10, raw: 10 * 255 + 17)),
            ("stored differs from raw without LZ4", header(stored: 10, raw: 11)),
            ("LSN 0", header(lsn: 0, stored: 0, raw: 0)),
            ("unknown flag", header(flags: 0b1011, stored: 0, raw: 0)),
            ("unknown kind", header(stored: 0, raw: 0, kind: 2)),
            ("reserved not zero", header(stored: 0, raw: 0, reserved: 1)),
            ("bad magic", header(stored: 0, raw: 0, magic: "LSFX")),
        ]
        for (name, bytes) in bad {
            let e = expectFormatError(name) { _ = try decode(bytes) }
            XCTAssertEqual(e?.kind, .corrupted, name)
            XCTAssertNotNil(e?.offset, name)
        }
        XCTAssertEqual(try decode(header(flags: 7, stored: 10, raw: 10 * 255 + 16)).rawLength, 2566)
        XCTAssertEqual(try decode(header(stored: 1_001_048_576, raw: 1_001_048_576)).storedLength, 1_001_048_576)
        XCTAssertEqual(try decode(header(flags: 0, stored: 0, raw: 0)).flags, [])
        let short = header(stored: 0, raw: 0)
        let e = expectFormatError { _ = try short.withUnsafeBytes { try FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<39]), offset: 80) } }
        XCTAssertEqual(e?.kind, .truncated)
    }

    func testHeaderVersionFlagsAndSizeAreUnsupportedNotCorrupt() {
        for (name, bytes, kind) in [
            ("version 5 (4 is the encrypted version)", Self.header(version: 5), FormatError.Kind.unsupported),
            ("flags 1 in version 3 (encryption is version 4)", Self.header(version: 3, flags: 1), .unsupported),
            ("flags 2 in version 4", Self.header(version: 4, flags: 2), .unsupported),
            ("version 0", Self.header(version: 0), .unsupported),
            ("header size 96", Self.header(size: 96), .unsupported),
            ("flags 1", Self.header(flags: 1), .unsupported),
            ("epoch 0", Self.header(epoch: 0), .corrupted),
            ("sequence 0", Self.header(sequence: 0), .corrupted),
            ("first LSN 0", Self.header(firstLSN: 0), .corrupted),
        ] {
            let e = expectFormatError(name) { _ = try bytes.withUnsafeBytes { try SegmentHeader.decode($0) } }
            XCTAssertEqual(e?.kind, kind, name)
            XCTAssertNotNil(e?.offset, name)
        }
    }

    func testFooterReservedFieldMustBeZero() {
        let data = Self.header() + Self.frame(lsn: 1, payload: [5, 0])
        let bytes = Self.footer(for: data, lastLSN: 1, lastTime: Sample.t0, transactions: 1, events: 1, frames: 1, reserved: 1)
        let e = expectFormatError { _ = try bytes.withUnsafeBytes { try SegmentFooter.decode($0, offset: Int64(data.count)) } }
        XCTAssertEqual(e?.kind, .unsupported)
    }

    func testFooterMustSitWhereItSaysItDoes() throws {
        let data = Self.header() + Self.frame(lsn: 1, payload: [5, 0])
        let bytes = Self.footer(for: data, lastLSN: 1, lastTime: Sample.t0, transactions: 1, events: 1, frames: 1)
        let e = expectFormatError { _ = try bytes.withUnsafeBytes { try SegmentFooter.decode($0, offset: Int64(data.count) + 1) } }
        XCTAssertEqual(e?.kind, .corrupted)
    }

    /// §6: footer counters are checked against the data (a footer recomputed by hand with a wrong count).
    func testFooterThatDisagreesWithTheDataIsCorruption() throws {
        let data = Self.header() + Self.frame(lsn: 1, payload: [5, 0])
        let path = dir.file("00000001-0000000000000001.binlog")
        for (name, footer) in [
            ("transaction count", Self.footer(for: data, lastLSN: 1, lastTime: Sample.t0, transactions: 2, events: 1, frames: 1)),
            ("last LSN", Self.footer(for: data, lastLSN: 2, lastTime: Sample.t0, transactions: 1, events: 1, frames: 1)),
            ("frame count", Self.footer(for: data, lastLSN: 1, lastTime: Sample.t0, transactions: 1, events: 1, frames: 2)),
            ("last commit time", Self.footer(for: data, lastLSN: 1, lastTime: Sample.t0 + 1, transactions: 1, events: 1, frames: 1)),
            ("previous checksum", Self.footer(for: data, lastLSN: 1, lastTime: Sample.t0, transactions: 1, events: 1, frames: 1, previous: 1)),
        ] {
            try writeBytes(data + footer, to: path)
            let e = expectFormatError(name) { _ = try readSegment(path) }
            XCTAssertEqual(e?.kind, .corrupted, name)
            XCTAssertNotNil(e?.offset, name)
        }
    }

    func testFrameSequenceRulesInsideASegment() throws {
        let ddl: [UInt8] = [5, 0]
        let cases: [(String, [UInt8])] = [
            ("LSN skips", Self.frame(lsn: 1, payload: ddl) + Self.frame(lsn: 3, payload: ddl)),
            ("LSN repeats", Self.frame(lsn: 1, payload: ddl) + Self.frame(lsn: 1, payload: ddl)),
            ("first LSN is not the header's", Self.frame(lsn: 2, payload: ddl)),
            ("continuation without a first frame", Self.frame(flags: 0b010, lsn: 1, payload: ddl)),
            ("new transaction before commit", Self.frame(flags: 0b001, lsn: 1, payload: ddl) + Self.frame(lsn: 2, payload: ddl)),
            ("continuation with another LSN", Self.frame(flags: 0b001, lsn: 1, payload: ddl) + Self.frame(flags: 0b010, lsn: 2, payload: ddl)),
            ("continuation with another time", Self.frame(flags: 0b001, lsn: 1, payload: ddl) + Self.frame(flags: 0b010, lsn: 1, time: Sample.t0 + 1, payload: ddl)),
            ("commit time goes back", Self.frame(lsn: 1, payload: ddl) + Self.frame(lsn: 2, time: Sample.t0 - 1, payload: ddl)),
        ]
        for (name, frames) in cases {
            for active in [true, false] {
                let path = dir.file("00000001-0000000000000001.binlog" + (active ? ".active" : ""))
                let data = Self.header() + frames
                try writeBytes(active ? data : data + Self.footer(for: data, lastLSN: 2, lastTime: Sample.t0, transactions: 2, events: 2, frames: 2), to: path)
                let e = expectFormatError("\(name), active \(active)") { _ = try readSegment(path) }
                XCTAssertEqual(e?.kind, .corrupted, "\(name), active \(active)")
                XCTAssertEqual(e?.path, path)
                try FileManager.default.removeItem(atPath: path)
            }
        }
    }

    func testFileNameMustAgreeWithHeader() throws {
        let path = dir.file("00000001-0000000000000002.binlog.active")
        try writeBytes(Self.header(sequence: 1), to: path)
        let e = expectFormatError { _ = try SegmentReader(path: path) }
        XCTAssertEqual(e?.kind, .corrupted)
        XCTAssertEqual(e?.offset, 32)
        XCTAssertNotNil(e?.hint)
        let other = dir.file("00000002-0000000000000001.binlog.active")
        try writeBytes(Self.header(epoch: 1), to: other)
        XCTAssertEqual(expectFormatError { _ = try SegmentReader(path: other) }?.kind, .corrupted)
    }

    func testNotASegmentAtAll() throws {
        let path = dir.file("00000001-0000000000000001.binlog.active")
        try writeBytes(Array("SQLite format 3\0".utf8) + [UInt8](repeating: 0, count: 200), to: path)
        let e = expectFormatError { _ = try SegmentReader(path: path) }
        XCTAssertEqual(e?.kind, .corrupted)
        XCTAssertEqual(e?.offset, 0)
        XCTAssertEqual(e?.path, path)
    }

    /// Corruption never crashes: a segment whose header says first LSN UInt64.max, holding a
    /// committed frame for that LSN and then another frame, is corruption (LSN arithmetic is
    /// checked, in SegmentReader.checkSequence and BinlogDirectory.checkLink alike).
    func testLSNOverflowIsCorruptionNotACrash() throws {
        let path = dir.file("00000001-0000000000000001.binlog.active")
        try writeBytes(Self.header(firstLSN: .max) + Self.frame(lsn: .max, payload: []) + Self.frame(lsn: 1, payload: []), to: path)
        let e = expectFormatError { _ = try readSegment(path) }
        XCTAssertEqual(e?.kind, .corrupted)
    }
}
