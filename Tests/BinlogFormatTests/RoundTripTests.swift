import BinlogFormat
import Foundation
import XCTest

/// SegmentWriter.create + append + seal, then SegmentReader: everything written reads back exactly.
final class RoundTripTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory("roundtrip") }
    override func tearDown() { dir = nil }

    /// Writes, seals, reads back, and checks the reader's and footer's counters against what was written.
    @discardableResult
    private func roundTrip(_ transactions: [Transaction], header: SegmentHeader = Sample.header(), chunkSize: Int = 1 << 20,
                           compress: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> BuiltSegment {
        let built = try buildSegment(in: dir.path, header: header, transactions: transactions, chunkSize: chunkSize,
                                     compress: compress, sealedAt: Sample.t0 + 999_000_000)
        let (read, reader) = try readSegment(built.path)
        XCTAssertEqual(read.count, transactions.count, file: file, line: line)
        for (got, want) in zip(read, transactions) { XCTAssertEqual(got, want, "LSN \(want.lsn)", file: file, line: line) }
        let footer = try XCTUnwrap(reader.footer, file: file, line: line)
        XCTAssertTrue(reader.isSealed, file: file, line: line)
        XCTAssertNil(reader.tornTailOffset, file: file, line: line)
        XCTAssertEqual(footer, built.footer, file: file, line: line)
        XCTAssertEqual(footer.transactionCount, UInt64(transactions.count), file: file, line: line)
        XCTAssertEqual(footer.eventCount, UInt64(transactions.reduce(0) { $0 + $1.events.count }), file: file, line: line)
        XCTAssertEqual(footer.lastLSN, transactions.last.map(\.lsn) ?? header.firstLSN - 1, file: file, line: line)
        if let last = transactions.last { XCTAssertEqual(footer.lastCommitTime, last.commitTime, file: file, line: line) }
        XCTAssertEqual(footer.footerOffset, UInt64(built.bytes.count - SegmentFooter.size), file: file, line: line)
        XCTAssertEqual(footer.previousChecksum, header.previousChecksum, file: file, line: line)
        XCTAssertEqual(footer.sealedAt, Sample.t0 + 999_000_000, file: file, line: line)
        let dataEnd = built.bytes.count - SegmentFooter.size
        XCTAssertEqual(footer.segmentChecksum, Checksum.xxh3(Array(built.bytes[0..<dataEnd])), file: file, line: line)
        XCTAssertEqual(footer.frameCount, UInt64(try frames(of: built.bytes, dataEnd: dataEnd).count), file: file, line: line)
        XCTAssertEqual(reader.offset, Int64(dataEnd), file: file, line: line)
        XCTAssertEqual(reader.frameCount, footer.frameCount, file: file, line: line)
        XCTAssertEqual(built.boundaries.last, Int64(dataEnd), file: file, line: line)
        XCTAssertEqual(built.path, dir.file(SegmentName(epoch: header.epoch, sequence: header.sequence).description), file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: built.path + ".active"), "the active name is gone after sealing", file: file, line: line)
        return built
    }

    static let interestingValues: [Value] = [
        .null,
        .integer(0), .integer(1), .integer(-1), .integer(63), .integer(64), .integer(-64), .integer(-65),
        .integer(Int64(Int32.max)), .integer(Int64(Int32.min)), .integer(.max), .integer(.min), .integer(.max - 1), .integer(.min + 1),
        .real(0.0), .real(-0.0), .real(1.5), .real(-2.25e300), .real(.leastNonzeroMagnitude), .real(.greatestFiniteMagnitude),
        .real(.infinity), .real(-.infinity), .real(.nan), .real(Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)),
        .real(Double(bitPattern: 0x7FF0_0000_0000_0001)), .real(Double(bitPattern: 0xFFF8_0000_0000_0000)),
        .text(""), .text("plain ascii"), .text("héllo wörld, 日本語, emoji 🎉, RTL שלום"),
        .text(Data([0xFF, 0xFE, 0xC3, 0x28, 0x80, 0xED, 0xA0, 0x80])),   // invalid UTF-8 kept as bytes
        .text(Data([0x61, 0x00, 0x62])),                                   // embedded NUL
        .text(String(repeating: "long text ", count: 2_000)),
        .blob(Data()), .blob(Data(0...255)), .blob(Data(repeating: 0, count: 1_000)),
        .text(Data([1, 2, 3])), .blob(Data([1, 2, 3])),                    // same bytes, different types
    ]

    func testEveryValueTypeRoundTripsExactly() throws {
        for compress in [true, false] {
            let events = Self.interestingValues.enumerated().map { i, v in
                Event.insert(table: Sample.cells, rowid: Int64(i + 1), values: [v])
            }
            let built = try roundTrip([Transaction(lsn: 1, commitTime: Sample.t0, events: events)], compress: compress)
            let (read, _) = try readSegment(built.path)
            // Equality on Value compares REAL bit patterns; check them here explicitly too.
            for (event, want) in zip(read[0].events, Self.interestingValues) {
                guard case .insert(_, _, let values) = event, values.count == 1 else { return XCTFail("not an insert: \(event)") }
                switch (values[0], want) {
                case (.real(let a), .real(let b)): XCTAssertEqual(a.bitPattern, b.bitPattern)
                case (.text(let a), .text(let b)), (.blob(let a), .blob(let b)): XCTAssertEqual(a, b)
                case (.integer(let a), .integer(let b)): XCTAssertEqual(a, b)
                case (.null, .null): break
                default: XCTFail("\(values[0]) read back for \(want)")
                }
            }
            try FileManager.default.removeItem(atPath: built.path)
        }
    }

    func testFiftyMebibyteBlobsRoundTripCompressedAndStored() throws {
        let size = 50 * 1024 * 1024
        var pattern = Data(count: size)
        pattern.withUnsafeMutableBytes { raw in
            let block = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 5) }
            for start in stride(from: 0, to: size, by: 4096) {
                raw.baseAddress!.advanced(by: start).copyMemory(from: block, byteCount: min(4096, size - start))
            }
        }
        var noise = Data(count: size)
        var rng = SeededGenerator(seed: 0xB10B)
        noise.withUnsafeMutableBytes { raw in
            for i in 0..<(size / 8) { raw.storeBytes(of: rng.next(), toByteOffset: i * 8, as: UInt64.self) }
        }
        let transactions = [
            Transaction(lsn: 1, commitTime: Sample.t0, events: [.insert(table: Sample.items, rowid: 1, values: [.integer(1), .text("big"), .null, .blob(pattern)])]),
            Transaction(lsn: 2, commitTime: Sample.t0, events: [.insert(table: Sample.items, rowid: 2, values: [.integer(2), .text("noise"), .null, .blob(noise)])]),
        ]
        let built = try roundTrip(transactions)
        let spans = try frames(of: built.bytes, dataEnd: built.bytes.count - SegmentFooter.size)
        XCTAssertEqual(spans.count, 2)
        XCTAssertTrue(spans[0].header.flags.contains(.lz4), "a repetitive blob is stored compressed")
        XCTAssertLessThan(spans[0].header.storedLength, UInt32(size / 10))
        XCTAssertFalse(spans[1].header.flags.contains(.lz4), "incompressible data is stored as it is")
        XCTAssertEqual(spans[1].header.storedLength, spans[1].header.rawLength)
        XCTAssertGreaterThan(spans[1].header.rawLength, UInt32(size))
    }

    func testEveryEventKindRoundTripsForRowidAndWithoutRowidTables() throws {
        let a: [Value] = [.integer(1), .text("apple"), .real(0.5), .blob(Data([1, 2]))]
        let a2: [Value] = [.integer(1), .text("apple"), .real(0.75), .blob(Data([1, 2]))]
        let moved: [Value] = [.integer(100), .text("apple"), .real(0.75), .null]
        let tag: [Value] = [.integer(1), .text("fruit"), .text("generated")]
        let tag2: [Value] = [.integer(1), .text("red"), .text("generated")]
        let events: [Event] = [
            .ddl(sql: "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL, photo BLOB)"),
            .ddl(sql: "CREATE TABLE tags(item INTEGER, tag TEXT, label TEXT GENERATED ALWAYS AS (tag || '!'), PRIMARY KEY(item, tag)) WITHOUT ROWID"),
            .insert(table: Sample.items, rowid: 1, values: a),
            .update(table: Sample.items, oldRowid: 1, newRowid: 1, old: a, new: a2),
            .update(table: Sample.items, oldRowid: 1, newRowid: 100, old: a2, new: moved),      // rowid change
            .insert(table: Sample.items, rowid: .min, values: [.integer(.min), .null, .null, .null]),
            .insert(table: Sample.items, rowid: .max, values: [.integer(.max), .null, .null, .null]),
            .delete(table: Sample.items, rowid: 100, old: moved),
            .insert(table: Sample.tags, rowid: nil, values: tag),
            .update(table: Sample.tags, oldRowid: nil, newRowid: nil, old: tag, new: tag2),
            .delete(table: Sample.tags, rowid: nil, old: tag2),
            .insert(table: Sample.items, rowid: 7, values: [.integer(7)]),                     // fewer values than columns
            .ddl(sql: "DROP TABLE tags -- ünïcödé"),
            .ddl(sql: ""),
        ]
        for compress in [true, false] {
            let built = try roundTrip([Transaction(lsn: 1, commitTime: Sample.t0, events: events)], compress: compress)
            try FileManager.default.removeItem(atPath: built.path)
        }
        // The same events spread over transactions, one event each.
        let spread = events.enumerated().map { Transaction(lsn: UInt64($0.offset + 1), commitTime: Sample.t0 + Int64($0.offset), events: [$0.element]) }
        try roundTrip(spread)
    }

    func testMultiFrameTransactionsWithSmallChunkSize() throws {
        let events = (1...60).map { Sample.item(Int64($0), "row \($0) " + String(repeating: "x", count: $0)) }
        let transactions = [
            Transaction(lsn: 1, commitTime: Sample.t0, events: Array(events[0..<40])),
            Transaction(lsn: 2, commitTime: Sample.t0 + 1, events: [events[40]]),
            Transaction(lsn: 3, commitTime: Sample.t0 + 1, events: Array(events[41...])),
            Transaction(lsn: 4, commitTime: Sample.t0 + 2, events: []),
        ]
        for compress in [true, false] {
            let built = try roundTrip(transactions, chunkSize: 64, compress: compress)
            let spans = try frames(of: built.bytes, dataEnd: built.bytes.count - SegmentFooter.size)
            var byLSN: [UInt64: [FrameSpan]] = [:]
            for s in spans { byLSN[s.header.lsn, default: []].append(s) }
            XCTAssertGreaterThan(byLSN[1]!.count, 10, "40 events of > 64 bytes make many frames")
            XCTAssertEqual(byLSN[2]!.count, 1)
            XCTAssertEqual(byLSN[4]!.count, 1, "an empty transaction is one empty frame")
            XCTAssertEqual(byLSN[4]![0].header.rawLength, 0)
            for (lsn, group) in byLSN {
                for (i, s) in group.enumerated() {
                    XCTAssertEqual(s.header.flags.contains(.first), i == 0, "LSN \(lsn) frame \(i)")
                    XCTAssertEqual(s.header.flags.contains(.commit), i == group.count - 1, "LSN \(lsn) frame \(i)")
                    XCTAssertEqual(s.header.commitTime, transactions[Int(lsn) - 1].commitTime)
                }
            }
            XCTAssertEqual(spans.map(\.header.lsn), spans.map(\.header.lsn).sorted(), "frames appear in LSN order")
            try FileManager.default.removeItem(atPath: built.path)
        }
    }

    func testSeveralRandomTransactionsRoundTrip() throws {
        let seed = testSeed(default: 0xF0_0D_5EED)
        var rng = SeededGenerator(seed: seed)
        var transactions: [Transaction] = []
        var time = Sample.t0
        for lsn in UInt64(1)...40 {
            time += Int64.random(in: 0...2_000_000, using: &rng)
            let events = (0..<Int.random(in: 0...12, using: &rng)).map { _ in randomEvent(&rng) }
            transactions.append(Transaction(lsn: lsn, commitTime: time, events: events))
        }
        let chunk = [64, 300, 1 << 20].randomElement(using: &rng)!
        do {
            try roundTrip(transactions, header: Sample.header(firstLSN: 1), chunkSize: chunk)
        } catch {
            XCTFail("seed \(seed): \(error)")
        }
        if testRun?.failureCount ?? 0 > 0 { print("testSeveralRandomTransactionsRoundTrip failed with LOGSHIP_SEED=\(seed)") }
    }

    /// A reader passing transactions to reach a position (`skimThroughLSN`, a replica's store
    /// LSN) returns them without events but keeps their table descriptors, so what follows decodes
    /// exactly as in a full read, and the footer's event count still checks.
    func testSkimmedTransactionsKeepTheirDescriptorsAndTheirCount() throws {
        let seed = testSeed(default: 0x5C1_3EED)
        var rng = SeededGenerator(seed: seed)
        var time = Sample.t0
        let transactions = (UInt64(1)...30).map { lsn -> Transaction in
            time += 1_000
            return Transaction(lsn: lsn, commitTime: time, events: (0..<Int.random(in: 1...8, using: &rng)).map { _ in randomEvent(&rng) })
        }
        let built = try buildSegment(in: dir.path, header: Sample.header(firstLSN: 1), transactions: transactions,
                                     chunkSize: [64, 1 << 20].randomElement(using: &rng)!, compress: true, sealedAt: Sample.t0 + 999_000_000)
        for through in [0, 1, 17, 29, 30, 31] as [UInt64] {
            let reader = try SegmentReader(path: built.path)
            reader.skimThroughLSN = through
            var read: [Transaction] = []
            while let tx = try reader.next() { read.append(tx) }
            XCTAssertEqual(read.map(\.lsn), transactions.map(\.lsn), "seed \(seed)")
            for (got, want) in zip(read, transactions) {
                XCTAssertEqual(got.events, want.lsn <= through ? [] : want.events, "LSN \(want.lsn), skim through \(through), seed \(seed)")
            }
            XCTAssertEqual(reader.eventCount, UInt64(transactions.reduce(0) { $0 + $1.events.count }), "seed \(seed)")
            XCTAssertTrue(reader.isSealed)
        }
    }

    private func randomValue(_ rng: inout SeededGenerator) -> Value {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return .null
        case 1: return .integer(Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng))
        case 2: return .real(Double(bitPattern: rng.next()))
        case 3: return .text(Data((0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        case 4: return .blob(Data((0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...3, using: &rng) }))
        default: return Self.interestingValues.randomElement(using: &rng)!
        }
    }

    private func randomEvent(_ rng: inout SeededGenerator) -> Event {
        let table = [Sample.items, Sample.itemsWithNote, Sample.tags].randomElement(using: &rng)!
        let row = { (rng: inout SeededGenerator) in (0..<table.columns.count).map { _ in self.randomValue(&rng) } }
        let rowid = { (rng: inout SeededGenerator) -> Int64? in table.withoutRowid ? nil : Int64(bitPattern: rng.next()) }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return .insert(table: table, rowid: rowid(&rng), values: row(&rng))
        case 1: return .update(table: table, oldRowid: rowid(&rng), newRowid: rowid(&rng), old: row(&rng), new: row(&rng))
        case 2: return .delete(table: table, rowid: rowid(&rng), old: row(&rng))
        default: return .ddl(sql: "ALTER TABLE \(table.name) ADD COLUMN c\(rng.next() % 100)")
        }
    }

    /// §4.2: a descriptor binds for the rest of the segment; a changed table gets a new descriptor
    /// mid-segment, and events before and after the change decode with the right one.
    func testTableDescriptorChangingMidSegment() throws {
        let before: [Value] = [.integer(1), .text("a"), .real(1), .null]
        let after: [Value] = before + [.text("note")]
        let renamedColumn = TableDescriptor(name: "items", columns: Sample.items.columns.map {
            ColumnDescriptor(name: $0.name == "price" ? "cost" : $0.name, declaredType: $0.declaredType, primaryKeyPosition: $0.primaryKeyPosition)
        })
        let transactions = [
            Transaction(lsn: 1, commitTime: Sample.t0, events: [.insert(table: Sample.items, rowid: 1, values: before)]),
            Transaction(lsn: 2, commitTime: Sample.t0 + 1, events: [
                .ddl(sql: "ALTER TABLE items ADD COLUMN note TEXT"),
                .update(table: Sample.itemsWithNote, oldRowid: 1, newRowid: 1, old: before + [.null], new: after),
            ]),
            Transaction(lsn: 3, commitTime: Sample.t0 + 2, events: [.insert(table: Sample.itemsWithNote, rowid: 2, values: after)]),
            // Changed twice within one transaction, and back to an earlier shape.
            Transaction(lsn: 4, commitTime: Sample.t0 + 3, events: [
                .insert(table: renamedColumn, rowid: 3, values: before),
                .delete(table: Sample.items, rowid: 3, old: before),
                .insert(table: Sample.itemsWithNote, rowid: 4, values: after),
                .insert(table: Sample.tags, rowid: nil, values: [.integer(4), .text("t"), .null]),
            ]),
        ]
        for chunk in [48, 1 << 20] {
            let built = try roundTrip(transactions, chunkSize: chunk)
            let (read, _) = try readSegment(built.path)
            XCTAssertEqual(read.flatMap(\.events).compactMap { event -> Int? in
                if case .insert(let t, _, _) = event { return t.columns.count } else { return nil }
            }, [4, 5, 4, 5, 3])
            try FileManager.default.removeItem(atPath: built.path)
        }
    }

    /// A reopened writer starts a fresh table map and rebinds ids already used earlier in the segment (§4.2).
    func testReopenedWriterRebindsTableIDsAndStillDecodes() throws {
        let first = [Transaction(lsn: 1, commitTime: Sample.t0, events: [
            Sample.item(1, "a"),
            .insert(table: Sample.tags, rowid: nil, values: [.integer(1), .text("x"), .null]),
        ])]
        let built = try buildSegment(in: dir.path, header: Sample.header(), transactions: first)
        let reader = try SegmentReader(path: built.path)
        try reader.verifyAll()
        let writer = try SegmentWriter.reopen(directory: dir.path, verified: reader, eventCount: reader.eventCount)
        let second = Transaction(lsn: 2, commitTime: Sample.t0 + 5, events: [
            .insert(table: Sample.tags, rowid: nil, values: [.integer(2), .text("y"), .null]),   // now id 1
            Sample.item(2, "b"),                                                                 // now id 2
        ])
        try writer.append(lsn: 2, commitTime: second.commitTime, events: second.events)
        _ = try writer.seal(now: Sample.t0 + 10)
        let (read, _) = try readSegment(dir.file("00000001-0000000000000001.binlog"))
        XCTAssertEqual(read, first + [second])
    }

    func testActiveSegmentReadsWithoutFooter() throws {
        let transactions = Sample.transactions(firstLSN: 5, count: 3)
        let built = try buildSegment(in: dir.path, header: Sample.header(firstLSN: 5), transactions: transactions)
        XCTAssertTrue(built.path.hasSuffix(".binlog.active"))
        let (read, reader) = try readSegment(built.path)
        XCTAssertEqual(read, transactions)
        XCTAssertNil(reader.footer)
        XCTAssertNil(reader.tornTailOffset)
        XCTAssertEqual(reader.lastLSN, 7)
        XCTAssertEqual(reader.offset, Int64(built.bytes.count))
        XCTAssertEqual(reader.checksumSoFar, Checksum.xxh3(built.bytes))
    }

    func testSegmentsAreNeverOverwritten() throws {
        _ = try buildSegment(in: dir.path, header: Sample.header(), transactions: [], sealedAt: nil)
        let e = expectFormatError { _ = try SegmentWriter.create(directory: self.dir.path, header: Sample.header()) }
        XCTAssertEqual(e?.kind, .invalidArgument)
    }

    /// A sealed segment with no transactions (its footer carries the header's creation time as
    /// its last commit time) reads back as empty.
    func testEmptySegmentSealsAndReadsBack() throws {
        let header = Sample.header(sequence: 2, firstLSN: 10)
        let built = try buildSegment(in: dir.path, header: header, transactions: [], sealedAt: Sample.t0 + 1)
        XCTAssertEqual(built.bytes.count, SegmentHeader.size + SegmentFooter.size)
        XCTAssertEqual(built.footer?.lastLSN, 9)
        XCTAssertEqual(built.footer?.transactionCount, 0)
        do {
            let (read, reader) = try readSegment(built.path)
            XCTAssertEqual(read, [])
            XCTAssertEqual(reader.lastLSN, 9)
        } catch {
            XCTFail("an empty sealed segment does not read back: \(error)")
        }
    }

    /// An UPDATE's before and after images of a row with a 520 MB value (within SQLite's limits)
    /// fit one frame: FrameHeader.maxRawLength allows two maximal row images, and the writer
    /// refuses anything larger rather than write a frame the reader rejects.
    /// Needs about 8 GB of memory: runs only with LOGSHIP_HEAVY_TESTS=1.
    func testUpdateOfARowWithAHugeValueReadsBack() throws {
        guard ProcessInfo.processInfo.environment["LOGSHIP_HEAVY_TESTS"] == "1" else {
            throw XCTSkip("set LOGSHIP_HEAVY_TESTS=1 to run (about 8 GB of memory)")
        }
        let old = Data(repeating: 0x61, count: 520_000_000)
        let new = Data(repeating: 0x62, count: 520_000_000)
        let events: [Event] = [.update(table: Sample.cells, oldRowid: 1, newRowid: 1, old: [.blob(old)], new: [.blob(new)])]
        let built = try buildSegment(in: dir.path, header: Sample.header(), transactions: [Transaction(lsn: 1, commitTime: Sample.t0, events: events)])
        let (read, reader) = try readSegment(built.path, decode: false)
        XCTAssertEqual(read.count, 1, "torn tail reported: \(reader.tornTailReason ?? "none")")
    }

    /// After seal() the writer refuses appends: a sealed segment is immutable.
    func testAppendAfterSealIsRefused() throws {
        let writer = try SegmentWriter.create(directory: dir.path, header: Sample.header())
        try writer.append(lsn: 1, commitTime: Sample.t0, events: [Sample.item(1, "a")])
        _ = try writer.seal(now: Sample.t0 + 1)
        let sealed = dir.file("00000001-0000000000000001.binlog")
        XCTAssertThrowsError(try writer.append(lsn: 2, commitTime: Sample.t0 + 2, events: [Sample.item(2, "b")]),
                             "a sealed segment accepted an append")
        XCTAssertNoThrow(try readSegment(sealed), "the sealed segment was damaged by an append after seal")
    }
}
