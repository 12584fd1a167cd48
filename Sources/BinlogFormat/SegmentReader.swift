import Crypto
import Foundation
import LogshipSystem

/// Reads one segment file front to back, verifying as it goes (docs/FORMAT.md §6):
/// the header checksum, each frame's checksum before decompressing it, LSN continuity,
/// and for sealed segments the footer and the checksum of the whole segment.
///
/// A transaction is yielded only after its commit frame has been verified: a reader never
/// sees part of one. In an active segment an incomplete or torn tail ends the log
/// (`tornTailOffset`); anywhere else, and in any sealed segment, a bad frame is corruption.
///
/// Readers take no lock, so the master may append, undo or seal while one reads (§6 "Reading
/// while the master writes"): the reader reads up to the size the file had when opened, takes a
/// frame it cannot verify with only zeros or the end of that size after it for "not yet written",
/// reads a frame once more (after checking the file's size and footer again) before it calls it
/// damaged, and follows the file when it is sealed (renamed) under it.
public final class SegmentReader {
    /// The file read: the path given, or the sealed segment's when the active file (or its
    /// partial copy) named was sealed and renamed before it could be opened.
    public let path: String
    public let header: SegmentHeader
    /// The file's size when opened (taken again when an active segment changes under the reader).
    public private(set) var fileSize: Int64
    /// True when the file carries a valid footer (sealed, or sealed but not yet renamed).
    public private(set) var footer: SegmentFooter?
    /// For an active segment: where an incomplete tail begins, once the reader reached it.
    public private(set) var tornTailOffset: Int64?
    public private(set) var tornTailReason: String?
    /// True when the tail beyond the committed data is only zeros: space the writer
    /// preallocated (or the file system zero-filled), not a torn write.
    public private(set) var tornTailIsZeros = false

    /// Where the next transaction begins (the end of the last complete one).
    public private(set) var offset: Int64
    public private(set) var lastLSN: UInt64
    public private(set) var lastCommitTime: Int64 = 0
    public private(set) var transactionCount: UInt64 = 0
    public private(set) var eventCount: UInt64 = 0
    public private(set) var frameCount: UInt64 = 0
    /// Checksum of bytes 0..<offset, for the footer and the hash chain.
    public var checksumSoFar: UInt64 { running.digest }
    /// SHA-256 of bytes 0..<offset, once the reader reached the end of the data (version 3 and
    /// later only): what a segment's signature covers (SegmentSignature).
    public private(set) var contentSHA256: [UInt8]?
    /// Where the data ends: the footer's offset in a sealed segment.
    public var dataEndOffset: Int64 { dataEnd }
    /// Bytes this reader has read from the file so far (header, footer, frames, tail scans):
    /// what shows that a follower resuming an active segment or a partial copy reads only what
    /// is new (`resume`).
    public private(set) var bytesRead: Int64 = 0

    private let file: FileDescriptor
    private let expectFooter: Bool
    private var decoder = TransactionDecoder()
    private var running = StreamingChecksum()
    /// For version 3 and later: SHA-256 of the bytes verified so far.
    private var strong: SHA256?
    private var footerSize: Int { SegmentFooter.size(forVersion: header.version) }
    private var finished = false
    /// True while every transaction so far was read with `decode: true` (event counts are known).
    private var decodedEvents = true
    /// Transactions at or below this LSN are skimmed by `next(decode: true)`: their frames are
    /// verified and their table descriptors read (later frames refer to them), but no events
    /// are built and they come back with none. A replica reaching its store's position in a
    /// segment sets it: building the rows it passes cost about 0.7 ms per 1,000-row transaction,
    /// up to a second per run at a position deep in a 64 MiB segment.
    public var skimThroughLSN: UInt64 = 0
    private var dataEnd: Int64
    /// File bytes read ahead of the frames (see `read(at:count:)`).
    private var readAhead: (offset: Int64, bytes: [UInt8])?
    /// The frame offset already read a second time after it failed (`damaged`): a frame is
    /// given one more chance, not more.
    private var rereadAt: Int64?

    /// Opens `path`; a `.binlog` name must carry a footer, a `.binlog.active` one may not yet.
    public convenience init(path given: String) throws {
        let (file, path) = try Self.open(given)
        try self.init(file: file, path: path)
    }

    /// A new reader, from the start, of the very file `other` read (its open descriptor, not its
    /// name): what a check with `other` verified is what this one reads, even when the name was
    /// pointed at another file meanwhile (a replaced inbox copy).
    public convenience init(sameFileAs other: SegmentReader) throws {
        try self.init(file: other.file, path: other.path)
    }

    private init(file: FileDescriptor, path: String) throws {
        self.path = path
        let name = (path as NSString).lastPathComponent
        let parsed = SegmentName.parse(name)
        self.file = file
        fileSize = try file.size()
        expectFooter = !(parsed?.isActive ?? name.hasSuffix(".partial") || name.hasSuffix(".active"))
        let headBytes = try file.read(at: 0, count: SegmentHeader.size)
        bytesRead = Int64(headBytes.count)
        do {
            header = try headBytes.withUnsafeBytes { try SegmentHeader.decode($0) }
        } catch let e as FormatError {
            throw e.at(path: path)
        }
        if let parsed, parsed.epoch != header.epoch || parsed.sequence != header.sequence {
            throw FormatError(.corrupted, "file name says epoch \(parsed.epoch) segment \(parsed.sequence), header says epoch \(header.epoch) segment \(header.sequence)",
                              path: path, offset: 32, hint: "a segment was renamed or substituted")
        }
        running.update(headBytes)
        if header.version >= SegmentHeader.signedVersion {
            strong = SHA256()
            strong!.update(data: headBytes)
        }
        decoder.allowsDigest = header.version >= SegmentHeader.digestVersion
        offset = Int64(SegmentHeader.size)
        lastLSN = header.firstLSN - 1
        dataEnd = fileSize
        if expectFooter { try readFooter() } else { try detectUnrenamedFooter() }
    }

    public var isSealed: Bool { footer != nil }

    /// The device and inode of the file this reader holds open: tells whether a path still
    /// names that file, or another one renamed over it.
    public func fileIdentity() -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard fstat(file.fd, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Opens `path` (regular files only, never blocking: `RegularFile`). An active segment, or a
    /// partial copy of one, that is gone was sealed meanwhile: the sealed segment is read instead.
    private static func open(_ path: String) throws -> (FileDescriptor, String) {
        do {
            return (try RegularFile.open(path), path)
        } catch let e as SystemError where e.kind == .io {
            let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
            guard let moved = SegmentName.parsePartial(name) ?? SegmentName.parse(name).flatMap({ $0.isActive ? $0.sealed : nil }),
                  access(path, F_OK) != 0 else { throw e }
            let sealed = String(path.dropLast(name.count)) + moved.sealed.description
            guard access(sealed, F_OK) == 0 else { throw e }
            return (try RegularFile.open(sealed), sealed)
        }
    }

    private func readFooter() throws {
        guard fileSize >= Int64(SegmentHeader.size + footerSize) else {
            throw FormatError(.truncated, "sealed segment is \(fileSize) bytes, shorter than a header and a footer", path: path, offset: fileSize)
        }
        let at = fileSize - Int64(footerSize)
        let bytes = try readFile(at: at, count: footerSize)
        do {
            footer = try bytes.withUnsafeBytes { try SegmentFooter.decode($0, offset: at, version: header.version) }
        } catch let e as FormatError {
            if e.kind == .corrupted && !bytes.withUnsafeBytes({ SegmentFooter.looksLikeFooter($0) }) {
                throw FormatError(.truncated, "sealed segment has no footer at its end (truncated or never sealed)", path: path, offset: at)
            }
            throw e.at(path: path)
        }
        dataEnd = at
        guard footer!.previousChecksum == header.previousChecksum else {
            throw FormatError(.corrupted, "footer and header disagree on the previous segment's checksum", path: path, offset: at + 64)
        }
    }

    private func detectUnrenamedFooter() throws {
        guard fileSize >= Int64(SegmentHeader.size + footerSize) else { return }
        let at = fileSize - Int64(footerSize)
        let bytes = try readFile(at: at, count: footerSize)
        if let f = try? bytes.withUnsafeBytes({ try SegmentFooter.decode($0, offset: at, version: header.version) }), f.previousChecksum == header.previousChecksum {
            footer = f
            dataEnd = at
        }
    }

    /// The next complete transaction, or nil at the end of the segment's committed data.
    /// With `decode: false` frames are verified but payloads are neither decompressed nor
    /// decoded, and the transaction comes back with no events.
    public func next(decode: Bool = true) throws -> Transaction? {
        if finished { return nil }
        if !decode { decodedEvents = false }
        var events: [Event] = []
        var skimmed = 0
        var digest: DigestMarker?
        var txLSN: UInt64 = 0
        var txTime: Int64 = 0
        var cursor = offset
        var frames: UInt64 = 0
        let txStart = offset
        let txChecksum = running.copy()
        let txStrong = strong
        while true {
            if cursor >= dataEnd {
                if frames > 0 || cursor > dataEnd {
                    strong = txStrong
                    return try endOfData(at: txStart, reason: "transaction LSN \(txLSN) has no commit frame before end of file", restoring: txChecksum)
                }
                return try finish()
            }
            let frame: Frame
            switch try readFrame(at: cursor) {
            case .intact(let f): frame = f
            case .damaged(let e, let frameEnd):
                if try damaged(e, frameAt: cursor, frameEnd: frameEnd, readAgain: rereadAt != cursor) {
                    rereadAt = cursor
                    continue
                }
                strong = txStrong
                return try endOfData(at: txStart, reason: e.message, restoring: txChecksum)
            }
            let (frameHeader, headBytes, payload, payloadEnd) = (frame.header, frame.headBytes, frame.payload, frame.end)
            // The frame is intact: from here on any inconsistency is corruption, never a torn tail.
            try checkSequence(frameHeader, isFirstOfTransaction: frames == 0, txLSN: txLSN, txTime: txTime, at: cursor)
            if decode {
                try decodePayload(payload, frameHeader, at: cursor + Int64(FrameHeader.size), into: &events, digest: &digest,
                                  skim: frameHeader.lsn <= skimThroughLSN, skimmed: &skimmed)
            }
            running.update(headBytes)
            running.update(payload)
            if strong != nil {
                strong!.update(data: headBytes)
                strong!.update(data: payload)
            }
            frames += 1
            txLSN = frameHeader.lsn
            txTime = frameHeader.commitTime
            cursor = payloadEnd
            if frameHeader.flags.contains(.commit) {
                offset = cursor
                lastLSN = txLSN
                lastCommitTime = txTime
                transactionCount += 1
                frameCount += frames
                eventCount += decode ? UInt64(events.count + skimmed) : 0
                return Transaction(lsn: txLSN, commitTime: txTime, events: events, digest: digest)
            }
        }
    }

    private struct Frame {
        var header: FrameHeader
        var headBytes: [UInt8]
        var payload: [UInt8]
        /// File offset just past the payload.
        var end: Int64
    }

    private enum FrameRead {
        case intact(Frame)
        /// Unreadable at `frameAt`; `frameEnd` is where it claims to end, when its header decoded.
        case damaged(FormatError, frameEnd: Int64?)
    }

    /// The frame at `cursor`, verified: from the read-ahead buffer first, and a frame that does
    /// not verify there is read again from the file before it counts as damaged (in an active
    /// segment the buffer may hold space the writer has filled since).
    private func readFrame(at cursor: Int64) throws -> FrameRead {
        var failure = FrameRead.damaged(FormatError(.truncated, "no frame", offset: cursor), frameEnd: nil)
        for fresh in [false, true] {
            if fresh { readAhead = nil }
            let headBytes = try read(at: cursor, count: FrameHeader.size)
            let header: FrameHeader
            do {
                header = try headBytes.withUnsafeBytes { try FrameHeader.decode($0, offset: cursor) }
            } catch let e as FormatError {
                failure = .damaged(e, frameEnd: nil)
                continue
            }
            let end = cursor + Int64(FrameHeader.size) + Int64(header.storedLength)
            if end > dataEnd {
                let e = FormatError(.truncated, "frame for LSN \(header.lsn) declares \(header.storedLength) bytes, past the end of the data at \(dataEnd)", offset: cursor)
                failure = .damaged(e, frameEnd: end)
                continue
            }
            let payload = try read(at: cursor + Int64(FrameHeader.size), count: Int(header.storedLength))
            do {
                try payload.withUnsafeBytes { try header.verify(payload: $0, offset: cursor) }
            } catch let e as FormatError {
                failure = .damaged(e, frameEnd: end)
                continue
            }
            return .intact(Frame(header: header, headBytes: headBytes, payload: payload, end: end))
        }
        return failure
    }

    /// Bytes `offset..<offset+count` (fewer at end of file), from the read-ahead buffer when it
    /// holds them, else through a read of at least `readAheadSize` bytes: one `pread` serves
    /// many small frames, where each frame took two before.
    private func read(at offset: Int64, count: Int) throws -> [UInt8] {
        if let ahead = readAhead, offset >= ahead.offset, offset + Int64(count) <= ahead.offset + Int64(ahead.bytes.count) {
            let start = Int(offset - ahead.offset)
            return Array(ahead.bytes[start..<start + count])
        }
        guard count < Self.readAheadSize else {
            readAhead = nil
            return try readFile(at: offset, count: count)
        }
        let bytes = try readFile(at: offset, count: Int(min(Int64(Self.readAheadSize), max(fileSize - offset, Int64(count)))))
        readAhead = (offset, bytes)
        return Array(bytes.prefix(count))
    }

    /// `file.read`, counted in `bytesRead`.
    private func readFile(at offset: Int64, count: Int) throws -> [UInt8] {
        let bytes = try file.read(at: offset, count: count)
        bytesRead += Int64(bytes.count)
        return bytes
    }

    static let readAheadSize = 256 << 10
    /// 1 MiB of zeros, compared with the tail by `onlyZeros`.
    private static let zeros = [UInt8](repeating: 0, count: 1 << 20)

    /// Incremental reading of an active segment (a follower): after `next` returned nil at the
    /// end of the committed data (an incomplete tail, a frame being written), makes the next
    /// `next` read on from there, with the file's size taken again: only frames not read yet are
    /// read and verified, the running checksum and LSN continue, and a frame still incomplete
    /// is again "not yet". A footer written meanwhile (a seal) is found, and the rest is read
    /// as sealed: up to the footer, whose checksums are then checked. Does nothing on a sealed
    /// segment, or before the end was reached.
    public func resume() throws {
        guard finished, footer == nil, !expectFooter else { return }
        finished = false
        tornTailOffset = nil
        tornTailReason = nil
        tornTailIsZeros = false
        rereadAt = nil
        try refresh()
    }

    /// Reads to the end, verifying everything; returns the number of transactions read.
    @discardableResult
    public func verifyAll(decode: Bool = true) throws -> UInt64 {
        var n: UInt64 = 0
        while try next(decode: decode) != nil { n += 1 }
        return n
    }

    private func checkSequence(_ h: FrameHeader, isFirstOfTransaction: Bool, txLSN: UInt64, txTime: Int64, at cursor: Int64) throws {
        guard h.flags.contains(.encrypted) == header.isEncrypted else {
            throw FormatError(.corrupted, "frame for LSN \(h.lsn) is \(header.isEncrypted ? "clear in an encrypted" : "encrypted in a clear") segment",
                              path: path, offset: cursor + 5)
        }
        if isFirstOfTransaction {
            guard h.flags.contains(.first) else {
                throw FormatError(.corrupted, "frame for LSN \(h.lsn) continues a transaction that never began", path: path, offset: cursor)
            }
            guard lastLSN < UInt64.max, h.lsn == lastLSN + 1 else {
                throw FormatError(.corrupted, "LSN \(h.lsn) follows LSN \(lastLSN); expected \(lastLSN &+ 1)", path: path, offset: cursor + 8)
            }
            guard transactionCount == 0 || h.commitTime >= lastCommitTime else {
                throw FormatError(.corrupted, "commit time of LSN \(h.lsn) goes back in time", path: path, offset: cursor + 16)
            }
        } else {
            guard !h.flags.contains(.first), h.lsn == txLSN, h.commitTime == txTime else {
                throw FormatError(.corrupted, "frame for LSN \(h.lsn) interrupts transaction LSN \(txLSN)", path: path, offset: cursor)
            }
        }
    }

    /// The frame key of an encrypted segment, from the process's keyring (SegmentKeyring).
    private lazy var frameKey: SymmetricKey? = header.encryptionKeyID.flatMap(SegmentKeyring.cipher(for:)).map { $0.segmentKey(header: self.header.encoded()) }

    /// The payload as written before encryption (§3.1): the frame opened with the segment's key.
    private func plainPayload(_ payload: [UInt8], _ h: FrameHeader, at payloadOffset: Int64) throws -> [UInt8] {
        guard let id = header.encryptionKeyID else { return payload }
        let idText = SegmentSignature.keyIDText(id)
        guard let key = frameKey else {
            let held = SegmentKeyring.keyIDs
            throw FormatError(.unsupported, "segment is encrypted with key id \(idText), and \(held.isEmpty ? "no decryption key was given" : "the keys given have ids \(held.joined(separator: ", "))")",
                              path: path, offset: 36, hint: "pass --decrypt-key with the master's encryption key \(idText) (docs/OPERATIONS.md, \"Signing and encryption\")")
        }
        let aad = h.encodedPrefix()
        guard let plain = payload.withUnsafeBytes({ SegmentCipher.open($0, aad: aad, key: key) }) else {
            throw FormatError(.corrupted, "frame for LSN \(h.lsn) does not decrypt with key \(idText): changed after it was written, or moved from another segment",
                              path: path, offset: payloadOffset - Int64(FrameHeader.size))
        }
        return plain
    }

    /// Decodes a frame's payload into `events` (and `digest`), or with `skim` only counts its
    /// events into `skimmed` (`TransactionDecoder.skim`).
    private func decodePayload(_ sealed: [UInt8], _ h: FrameHeader, at payloadOffset: Int64, into events: inout [Event],
                               digest: inout DigestMarker?, skim: Bool, skimmed: inout Int) throws {
        let payload = try plainPayload(sealed, h, at: payloadOffset)
        func read(_ raw: UnsafeRawBufferPointer) throws {
            if skim { try decoder.skim(raw, offset: payloadOffset, skimmed: &skimmed) } else {
                try decoder.decode(raw, offset: payloadOffset, into: &events, digest: &digest)
            }
        }
        do {
            if h.flags.contains(.lz4) {
                let raw = try payload.withUnsafeBytes { try LZ4.decompress($0, rawLength: Int(h.rawLength)) }
                try raw.withUnsafeBytes(read)
            } else {
                try payload.withUnsafeBytes(read)
            }
        } catch let e as FormatError {
            var located = e.at(path: path, offset: payloadOffset)
            if h.flags.contains(.lz4) || h.flags.contains(.encrypted) {
                // Offsets inside a compressed or encrypted payload mean nothing in the file: name the frame.
                located.offset = payloadOffset - Int64(FrameHeader.size)
                located.message += " (in the \(h.flags.contains(.lz4) ? "LZ4" : "decrypted") payload of the frame for LSN \(h.lsn))"
            }
            throw located
        }
    }

    /// A frame could not be read. In a sealed segment that is corruption. In an active one it
    /// is "not yet written" (false) when only zeros or the end of the file follow it, as a
    /// frame being written or a torn write looks; when data follows it, the file is looked at
    /// again (its size, a footer written by a seal meanwhile) and, once, the frame is read
    /// again (true): the master writes a transaction front to back, so data after a frame
    /// means the frame itself is complete now. Still damaged on the second read: corruption.
    private func damaged(_ error: FormatError, frameAt: Int64, frameEnd: Int64?, readAgain: Bool) throws -> Bool {
        if !expectFooter && footer == nil {
            if try isTorn(frameAt: frameAt, frameEnd: frameEnd) { return false }
            if readAgain {
                try refresh()
                return true
            }
        }
        throw error.at(path: path, offset: frameAt)
    }

    /// Torn when nothing but zeros (preallocated or never-written space) or the end of the file
    /// follows the damaged frame: a torn write only ever hits the last frames.
    private func isTorn(frameAt: Int64, frameEnd: Int64?) throws -> Bool {
        let remaining = fileSize - frameAt
        if let frameEnd {
            return try frameEnd >= fileSize || onlyZeros(from: frameEnd)
        }
        let startsFooter = remaining < Int64(footerSize) ? try readFile(at: frameAt, count: 4) == SegmentFooter.magic : false
        return try remaining < Int64(FrameHeader.size) || startsFooter || onlyZeros(from: frameAt + Int64(FrameHeader.size))
    }

    /// Takes the file's size again, and its footer when a seal wrote one meanwhile (from then
    /// on the segment is read as sealed: strictly, up to the footer).
    private func refresh() throws {
        readAhead = nil
        fileSize = try file.size()
        dataEnd = fileSize
        try detectUnrenamedFooter()
    }

    private func onlyZeros(from start: Int64) throws -> Bool {
        var at = start
        while at < fileSize {
            let chunk = try readFile(at: at, count: Int(min(1 << 20, fileSize - at)))
            if chunk.isEmpty { break }
            if !Self.allZero(chunk) { return false }
            at += Int64(chunk.count)
        }
        return true
    }

    /// True when every byte is 0. memcmp against a zero buffer, in chunks of `zeros`, not a Swift
    /// loop: every master open and every follower pass scans the up to 4 MiB of preallocated zeros
    /// after an active segment's last frame; `contains(where:)` took 12 ns a byte (50-77 ms), and a
    /// byte loop cost a follower seconds per pass in a debug build under load.
    static func allZero(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            zeros.withUnsafeBytes { z in
                var at = 0
                while at < raw.count {
                    let n = min(z.count, raw.count - at)
                    if memcmp(raw.baseAddress! + at, z.baseAddress!, n) != 0 { return false }
                    at += n
                }
                return true
            }
        }
    }

    private func endOfData(at txStart: Int64, reason: String, restoring: StreamingChecksum) throws -> Transaction? {
        if expectFooter || footer != nil {
            throw FormatError(.corrupted, reason, path: path, offset: txStart)
        }
        tornTailOffset = txStart
        tornTailReason = reason
        tornTailIsZeros = try onlyZeros(from: txStart)
        offset = txStart
        finished = true
        running = restoring
        contentSHA256 = strong.map { Array($0.finalize()) }
        return nil
    }

    private func finish() throws -> Transaction? {
        finished = true
        contentSHA256 = strong.map { Array($0.finalize()) }
        guard let footer else { return nil }
        let computed = running.digest
        guard computed == footer.segmentChecksum else {
            throw FormatError(.checksumMismatch, "segment checksum is \(hex(footer.segmentChecksum, width: 16)) in the footer, computed \(hex(computed, width: 16))",
                              path: path, offset: dataEnd + 56)
        }
        // An empty segment's footer carries the header's creation time as its last commit time.
        let expectedTime = transactionCount > 0 ? lastCommitTime : header.createdAt
        guard footer.lastLSN == lastLSN, footer.transactionCount == transactionCount, footer.frameCount == frameCount,
              footer.lastCommitTime == expectedTime, !decodedEvents || footer.eventCount == eventCount else {
            throw FormatError(.corrupted, "footer claims last LSN \(footer.lastLSN) in \(footer.transactionCount) transactions, data holds last LSN \(lastLSN) in \(transactionCount)",
                              path: path, offset: dataEnd + 8)
        }
        return nil
    }
}
