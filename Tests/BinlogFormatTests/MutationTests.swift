import BinlogFormat
import Foundation
import XCTest

/// Corruption made inside the test (docs/FORMAT.md §6): every byte flip and every truncation of a
/// sealed segment is reported as a FormatError that names the file and an offset; every truncation
/// of an active segment ends the log cleanly at a transaction boundary.
final class MutationTests: XCTestCase {
    private static let decodeKinds: Set<FormatError.Kind> = [.checksumMismatch, .corrupted, .truncated, .unsupported]
    /// Built once: the writer fsyncs, and only the bytes and boundaries are needed here.
    /// nonisolated(unsafe): XCTest runs this class's tests one at a time, on one thread.
    nonisolated(unsafe) private static var cachedGolden: BuiltSegment?
    private var dir: TemporaryDirectory!
    private var golden: BuiltSegment!
    private var scratch: [String: ScratchFile] = [:]

    override func setUpWithError() throws {
        dir = try TemporaryDirectory("mutation")
        if Self.cachedGolden == nil {
            let source = try TemporaryDirectory("mutation-source")
            Self.cachedGolden = try Golden.build(in: source.path)
        }
        golden = Self.cachedGolden
        XCTAssertLessThan(golden.bytes.count, 2048)
    }

    override func tearDown() {
        scratch = [:]
        dir = nil
        golden = nil
    }

    /// What reading `bytes` as `name` produced: the error, or the transactions and the reader.
    private func read(_ bytes: ArraySlice<UInt8>, as name: String) throws -> Result<([Transaction], SegmentReader), FormatError> {
        let path = dir.file(name)
        if scratch[name] == nil { scratch[name] = try ScratchFile(path: path) }
        try scratch[name]!.replace(with: Array(bytes))
        do {
            let (transactions, reader) = try readSegment(path)
            return .success((transactions, reader))
        } catch let e as FormatError {
            return .failure(e)
        }
    }

    private func describe(_ e: FormatError) -> String { "\(e.kind.rawValue) at \(e.offset.map(String.init) ?? "nil"): \(e.message)" }

    func testEveryByteFlipInASealedSegmentIsDetected() throws {
        let name = Golden.fileName
        var problems: [String] = []
        for offset in golden.bytes.indices {
            for mask: UInt8 in [0xFF, 0x01] {
                var bytes = golden.bytes
                bytes[offset] ^= mask
                switch try read(bytes[...], as: name) {
                case .success(let (transactions, _)):
                    problems.append("offset \(offset) ^ \(mask): read \(transactions.count) transactions without error")
                case .failure(let e):
                    if !Self.decodeKinds.contains(e.kind) { problems.append("offset \(offset) ^ \(mask): kind \(e.kind)") }
                    if e.offset == nil { problems.append("offset \(offset) ^ \(mask): no offset in \(describe(e))") }
                    if e.path == nil { problems.append("offset \(offset) ^ \(mask): no path in \(describe(e))") }
                }
            }
        }
        XCTAssertEqual(problems, [], "\(problems.count) undetected or badly reported flips, first: \(problems.prefix(10))")
    }

    /// The error points into the damaged structure: the header, the frame holding the flipped byte,
    /// or the footer.
    func testByteFlipErrorsPointAtTheDamagedStructure() throws {
        let footerAt = golden.bytes.count - SegmentFooter.size
        let spans = try frames(of: golden.bytes, dataEnd: footerAt)
        for offset in golden.bytes.indices {
            var bytes = golden.bytes
            bytes[offset] ^= 0x01
            guard case .failure(let e) = try read(bytes[...], as: Golden.fileName), let at = e.offset else { continue }
            if offset < SegmentHeader.size {
                XCTAssertLessThan(at, Int64(SegmentHeader.size), "flip at \(offset): \(describe(e))")
            } else if offset >= footerAt {
                XCTAssertGreaterThanOrEqual(at, Int64(footerAt), "flip at \(offset): \(describe(e))")
            } else if let span = spans.first(where: { $0.offset <= Int64(offset) && Int64(offset) < $0.end }) {
                XCTAssertTrue(span.offset <= at && at < span.end, "flip at \(offset) in the frame at \(span.offset)..<\(span.end): \(describe(e))")
            }
        }
    }

    /// A footer that decodes to "corrupted" is reported as such when its magic is there, and as
    /// a truncation when it is not (docs/FORMAT.md §5 step 1). The check read a buffer pointer
    /// that had escaped `withUnsafeBytes` (a use-after-free AddressSanitizer found while fuzzing,
    /// tools/fuzz/crashers), so its answer depended on freed memory.
    func testADamagedFooterIsCorruptionWithItsMagicAndATruncationWithout() throws {
        let footerAt = golden.bytes.count - SegmentFooter.size
        var footer = try XCTUnwrap(golden.footer)
        footer.footerOffset += 1   // re-encoded with a matching checksum: only step 4 fails
        let misplaced = Array(golden.bytes[0..<footerAt]) + footer.encoded()
        guard case .failure(let e) = try read(misplaced[...], as: Golden.fileName) else { return XCTFail("a misplaced footer was accepted") }
        XCTAssertEqual(e.kind, .corrupted, describe(e))
        XCTAssertEqual(e.offset, Int64(footerAt + 48), describe(e))
        var noMagic = misplaced
        noMagic[footerAt] ^= 0xFF
        guard case .failure(let t) = try read(noMagic[...], as: Golden.fileName) else { return XCTFail("a footer without its magic was accepted") }
        XCTAssertEqual(t.kind, .truncated, describe(t))
        XCTAssertEqual(t.offset, Int64(footerAt), describe(t))
    }

    func testEveryTruncationOfASealedSegmentIsDetected() throws {
        var problems: [String] = []
        for length in 0..<golden.bytes.count {
            switch try read(golden.bytes[0..<length], as: Golden.fileName) {
            case .success(let (transactions, _)):
                problems.append("length \(length): read \(transactions.count) transactions without error")
            case .failure(let e):
                if !Self.decodeKinds.contains(e.kind) { problems.append("length \(length): kind \(e.kind)") }
                if e.offset == nil || e.path == nil { problems.append("length \(length): no offset or path in \(describe(e))") }
            }
        }
        XCTAssertEqual(problems, [], "first: \(problems.prefix(10))")
    }

    func testEveryTruncationOfAnActiveSegmentStopsAtATransactionBoundary() throws {
        let active = golden.bytes[0..<(golden.bytes.count - SegmentFooter.size)]
        let name = Golden.fileName + ".active"
        let boundaries = golden.boundaries
        XCTAssertEqual(boundaries.last, Int64(active.count))
        for length in 0...active.count {
            let result = try read(active[0..<length], as: name)
            if length < SegmentHeader.size {
                // The header is published whole (temp file, rename), so a shorter file is not a torn append.
                guard case .failure(let e) = result else { XCTFail("length \(length): a partial header was accepted"); continue }
                XCTAssertEqual(e.kind, .truncated, "length \(length)")
                XCTAssertNotNil(e.path)
                continue
            }
            guard case .success(let (transactions, reader)) = result else {
                if case .failure(let e) = result { XCTFail("length \(length): \(describe(e))") }
                continue
            }
            let complete = boundaries.lastIndex(where: { $0 <= Int64(length) })!
            let end = boundaries[complete]
            XCTAssertEqual(transactions, Array(Golden.transactions.prefix(complete)), "length \(length)")
            XCTAssertEqual(reader.offset, end, "length \(length)")
            XCTAssertEqual(reader.lastLSN, UInt64(complete), "length \(length)")
            XCTAssertEqual(reader.tornTailOffset, Int64(length) == end ? nil : end, "length \(length)")
            XCTAssertEqual(reader.checksumSoFar, Checksum.xxh3(Array(active[0..<Int(end)])), "length \(length): the running checksum rolls back")
            XCTAssertNil(reader.footer)
            XCTAssertNil(try reader.next(), "length \(length): the reader stays at the end")
        }
    }

    /// A preallocated or zero-filled tail after the last commit ends the log like a torn frame.
    func testZeroFilledTailOfAnActiveSegmentIsATornTail() throws {
        let active = Array(golden.bytes[0..<(golden.bytes.count - SegmentFooter.size)])
        for cut in golden.boundaries.dropFirst() {
            for extra in [1, 39, 40, 41, 4096] {
                let bytes = active[0..<Int(cut)] + [UInt8](repeating: 0, count: extra)
                guard case .success(let (transactions, reader)) = try read(bytes, as: Golden.fileName + ".active") else {
                    XCTFail("cut \(cut) + \(extra) zeros did not read"); continue
                }
                XCTAssertEqual(transactions.count, golden.boundaries.firstIndex(of: cut)!)
                XCTAssertEqual(reader.tornTailOffset, cut)
            }
        }
    }

    /// A crash while the footer is being written (§7) leaves part of a footer after the last frame of
    /// the active segment: that is a torn tail, and every transaction before it is intact.
    func testPartialFooterOnAnActiveSegmentIsATornTail() throws {
        let active = Array(golden.bytes[0..<(golden.bytes.count - SegmentFooter.size)])
        let footer = Array(golden.bytes[(golden.bytes.count - SegmentFooter.size)...])
        for length in 1..<SegmentFooter.size {
            guard case .success(let (transactions, reader)) = try read((active + footer[0..<length])[...], as: Golden.fileName + ".active") else {
                XCTFail("footer prefix of \(length) bytes did not read"); continue
            }
            XCTAssertEqual(transactions, Golden.transactions, "footer prefix of \(length) bytes")
            XCTAssertEqual(reader.tornTailOffset, Int64(active.count), "footer prefix of \(length) bytes")
            XCTAssertFalse(reader.isSealed)
        }
    }

    /// A crash after the footer reached the disk but before the rename (§7) leaves a sealed
    /// segment under its active name: the reader finds the footer and verifies it.
    func testSealedSegmentUnderItsActiveNameReadsAsSealed() throws {
        guard case .success(let (transactions, reader)) = try read(golden.bytes[...], as: Golden.fileName + ".active") else {
            return XCTFail("did not read")
        }
        XCTAssertEqual(transactions, Golden.transactions)
        XCTAssertTrue(reader.isSealed)
        XCTAssertEqual(reader.footer, golden.footer)
        XCTAssertNil(reader.tornTailOffset)
        // Damage to the data is then corruption, not a torn tail.
        var bytes = golden.bytes
        bytes[Int(golden.boundaries[4]) - 1] ^= 0x01
        guard case .failure(let e) = try read(bytes[...], as: Golden.fileName + ".active") else { return XCTFail("flip went unnoticed") }
        XCTAssertEqual(e.kind, .checksumMismatch)
    }

    /// Whatever a flip in an active segment does, the reader never hands out altered data:
    /// it throws, or it yields an unaltered prefix of what was written.
    func testByteFlipsInAnActiveSegmentNeverYieldAlteredTransactions() throws {
        let active = golden.bytes[0..<(golden.bytes.count - SegmentFooter.size)]
        for offset in active.indices {
            for mask: UInt8 in [0xFF, 0x01] {
                var bytes = Array(active)
                bytes[offset] ^= mask
                if case .success(let (transactions, reader)) = try read(bytes[...], as: Golden.fileName + ".active") {
                    XCTAssertEqual(transactions, Array(Golden.transactions.prefix(transactions.count)), "flip at \(offset) ^ \(mask)")
                    XCTAssertLessThan(transactions.count, Golden.transactions.count, "flip at \(offset) ^ \(mask) went unnoticed")
                    XCTAssertNotNil(reader.tornTailOffset, "flip at \(offset) ^ \(mask)")
                }
            }
        }
    }

    /// In an active segment, a frame header that fails to decode (bad magic, unknown flag,
    /// non-zero reserved field) while complete, committed frames follow it is corruption, not a
    /// torn tail: treating it as one would drop acknowledged transactions. Only a frame that runs
    /// to the end of the file, a partial footer, or zeros may end the log.
    func testActiveSegmentBadFrameHeaderBeforeCommittedFramesIsCorruption() throws {
        let active = Array(golden.bytes[0..<(golden.bytes.count - SegmentFooter.size)])
        let second = Int(golden.boundaries[1])   // the first frame of LSN 2; LSNs 2...4 follow intact
        for (field, delta, mask) in [("magic", 0, UInt8(0xFF)), ("kind", 4, 0x02), ("flags", 5, 0x80), ("reserved", 6, 0x01)] {
            var bytes = active
            bytes[second + delta] ^= mask
            switch try read(bytes[...], as: Golden.fileName + ".active") {
            case .success(let (transactions, reader)):
                XCTFail("\(field) damaged mid-file: read \(transactions.count) of 4 transactions and stopped with a torn tail at \(reader.tornTailOffset.map(String.init) ?? "nil") instead of reporting corruption")
            case .failure(let e):
                XCTAssertEqual(e.kind, .corrupted, field)
                // The offset names the damaged field inside that frame's header.
                XCTAssertEqual(e.offset, Int64(second + (delta >= 4 ? 4 : 0)), field)
            }
        }
    }

    /// A damaged frame with more data after it is corruption in an active segment too.
    func testActiveSegmentChecksumMismatchBeforeCommittedFramesIsCorruption() throws {
        let active = Array(golden.bytes[0..<(golden.bytes.count - SegmentFooter.size)])
        let second = Int(golden.boundaries[1])
        var bytes = active
        bytes[second + FrameHeader.size] ^= 0x01   // first payload byte of LSN 2
        guard case .failure(let e) = try read(bytes[...], as: Golden.fileName + ".active") else { return XCTFail("flip went unnoticed") }
        XCTAssertEqual(e.kind, .checksumMismatch)
        XCTAssertEqual(e.offset, Int64(second))
    }

    /// After a torn tail, the writer reopens at the last commit, cuts the tail and carries on.
    func testReopenAfterTornTailCutsTheTailAndAppends() throws {
        let active = golden.bytes[0..<(golden.bytes.count - SegmentFooter.size)]
        let cut = Int(golden.boundaries[3]) + 50   // inside LSN 4
        let path = dir.file(Golden.fileName + ".active")
        try writeBytes(active[0..<cut], to: path)
        let reader = try SegmentReader(path: path)
        try reader.verifyAll()
        XCTAssertEqual(reader.tornTailOffset, golden.boundaries[3])
        let writer = try SegmentWriter.reopen(directory: dir.path, verified: reader, eventCount: reader.eventCount, chunkSize: Golden.chunkSize)
        XCTAssertEqual(writer.length, golden.boundaries[3])
        let last = Golden.transactions[3]
        try writer.append(lsn: last.lsn, commitTime: last.commitTime, events: last.events)
        _ = try writer.seal(now: Golden.sealedAt)
        let (transactions, _) = try readSegment(dir.file(Golden.fileName))
        XCTAssertEqual(transactions, Golden.transactions)
    }
}

/// One file rewritten in place for each mutation: only the bytes that differ from the last
/// version are written, and shrinking is an ftruncate. Rewriting whole files (truncate to zero,
/// write) makes ext4 flush each one on close, which turns thousands of cases into minutes.
final class ScratchFile {
    let path: String
    private let file: FileDescriptor
    private var current: [UInt8] = []

    init(path: String) throws {
        self.path = path
        file = try FileDescriptor(path: path, flags: O_RDWR | O_CREAT | O_TRUNC)
    }

    func replace(with bytes: [UInt8]) throws {
        let common = min(current.count, bytes.count)
        var first = 0
        while first < common && current[first] == bytes[first] { first += 1 }
        var end = common
        while end > first && current[end - 1] == bytes[end - 1] { end -= 1 }
        if bytes.count > current.count { end = bytes.count }
        if first < end { try bytes[first..<end].withUnsafeBytes { try file.write($0, at: Int64(first)) } }
        if bytes.count < current.count { try file.truncate(to: Int64(bytes.count)) }
        current = bytes
    }
}
