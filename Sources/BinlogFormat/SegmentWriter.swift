import Crypto
import Foundation
import LogshipSystem

/// Appends transactions to the active segment and seals it (docs/FORMAT.md §7).
/// The caller decides when to `sync()`: a transaction is durable only after it.
/// A failed append truncates the file back to where it was, so the segment never keeps
/// half a frame that a later append would bury.
public final class SegmentWriter {
    public let directory: String
    public let header: SegmentHeader
    public var name: SegmentName { SegmentName(epoch: header.epoch, sequence: header.sequence, isActive: true) }
    public var path: String { directory + "/" + name.description }

    /// Length of the committed data (header plus complete frames).
    public private(set) var length: Int64
    public private(set) var lastLSN: UInt64
    public private(set) var lastCommitTime: Int64
    public private(set) var transactionCount: UInt64
    public private(set) var eventCount: UInt64
    public private(set) var frameCount: UInt64
    /// Set when a failed append could not be undone; the writer refuses further work.
    public private(set) var poisoned: FormatError?
    /// Set once sealed: a sealed segment is immutable.
    public private(set) var isSealed = false

    private let file: FileDescriptor
    private var encoder = TransactionEncoder()
    private var compressed: [UInt8] = []
    public var compress = true
    /// Payloads are cut into frames of about this many raw bytes, at event boundaries.
    public var chunkSize: Int
    /// The segment's frame key when its header says encrypted (docs/FORMAT.md §3.1).
    private var frameKey: SymmetricKey?
    /// Tests only: where nonces come from (a golden file needs fixed ones); random otherwise.
    public var nonceSource: (() -> [UInt8])?

    /// Checks that `cipher` is the key `header` names, and derives the segment's frame key.
    private static func frameKey(for header: SegmentHeader, cipher: SegmentCipher?, path: String) throws -> SymmetricKey? {
        guard let id = header.encryptionKeyID else { return nil }
        guard let cipher, cipher.keyID == id else {
            throw FormatError(.invalidArgument, "segment is encrypted with key id \(SegmentSignature.keyIDText(id)), and \(cipher.map { "the key given has id \($0.keyIDText)" } ?? "no encryption key was given")",
                              path: path, hint: "the master's encryption.key must be the key its segments name")
        }
        return cipher.segmentKey(header: header.encoded())
    }

    /// Creates a new active segment durably (temp file, fsync, rename, fsync directory).
    public static func create(directory: String, header: SegmentHeader, chunkSize: Int = 1 << 20, cipher: SegmentCipher? = nil) throws -> SegmentWriter {
        let name = SegmentName(epoch: header.epoch, sequence: header.sequence, isActive: true)
        let path = directory + "/" + name.description
        precondition(!header.isEncrypted || header.version >= SegmentHeader.encryptedVersion, "an encrypted segment is format version 4")
        let key = try frameKey(for: header, cipher: cipher, path: path)
        guard access(path, F_OK) != 0, access(directory + "/" + name.sealed.description, F_OK) != 0 else {
            throw FormatError(.invalidArgument, "segment \(name.sealed) already exists", path: path,
                              hint: "segments are never overwritten; check that only one master writes to this directory")
        }
        try DurableFile.publish(header.encoded(), to: path)
        let file = try FileDescriptor(path: path, flags: O_RDWR)
        let writer = SegmentWriter(directory: directory, file: file, header: header, length: Int64(SegmentHeader.size),
                                   lastLSN: header.firstLSN - 1, lastCommitTime: header.createdAt, transactions: 0, events: 0, frames: 0,
                                   chunkSize: chunkSize)
        writer.frameKey = key
        return writer
    }

    /// Reopens an active segment after a reader has verified it up to `reader.offset`;
    /// any torn tail beyond that is cut off (and the cut made durable) first. A tail of zeros
    /// alone is the space the writer preallocated: it is kept, and the next append writes into
    /// it. Cutting it off made every open of a master pay an fdatasync of the cut, then 4 MiB of
    /// zeros written again and the inode's size in the first commit's fdatasync.
    public static func reopen(directory: String, verified reader: SegmentReader, eventCount: UInt64, chunkSize: Int = 1 << 20,
                              cipher: SegmentCipher? = nil) throws -> SegmentWriter {
        let key = try frameKey(for: reader.header, cipher: cipher, path: reader.path)
        let file = try FileDescriptor(path: reader.path, flags: O_RDWR)
        let size = try file.size()
        let zeroTail = reader.tornTailOffset == reader.offset && reader.tornTailIsZeros && size == reader.fileSize
        if size != reader.offset && !zeroTail {
            try file.truncate(to: reader.offset)
            try file.sync()
        }
        let writer = SegmentWriter(directory: directory, file: file, header: reader.header, length: reader.offset,
                                   lastLSN: reader.lastLSN, lastCommitTime: reader.transactionCount > 0 ? reader.lastCommitTime : reader.header.createdAt,
                                   transactions: reader.transactionCount, events: eventCount, frames: reader.frameCount, chunkSize: chunkSize)
        // Rebuild the encoder's table map? Not needed: descriptors are re-emitted on first use,
        // and a reader accepts a descriptor for a table it already knows (it replaces it).
        writer.frameKey = key
        return writer
    }

    private init(directory: String, file: FileDescriptor, header: SegmentHeader, length: Int64, lastLSN: UInt64, lastCommitTime: Int64,
                 transactions: UInt64, events: UInt64, frames: UInt64, chunkSize: Int) {
        self.directory = directory
        self.file = file
        self.header = header
        self.length = length
        self.lastLSN = lastLSN
        self.lastCommitTime = lastCommitTime
        self.transactionCount = transactions
        self.eventCount = events
        self.frameCount = frames
        self.chunkSize = chunkSize
    }

    /// Appends one transaction as one or more frames, encoding `events` with this writer's
    /// own table map. `lsn` must be `lastLSN + 1` and `commitTime` no earlier than the last
    /// one. Not durable until `sync()`. Returns the number of bytes appended.
    @discardableResult
    public func append(lsn: UInt64, commitTime: Int64, events: [Event], digest: DigestMarker? = nil) throws -> Int {
        let encoded = encoder.encode(events, digest: digest)
        let n = try append(lsn: lsn, commitTime: commitTime, encoded: encoded)
        encoder.commitStaged()
        return n
    }

    /// Appends a transaction encoded by the caller's `TransactionEncoder`, whose table map
    /// must describe this segment (reset with `startSegment()` whenever a segment begins).
    @discardableResult
    public func append(lsn: UInt64, commitTime: Int64, encoded: EncodedTransaction) throws -> Int {
        if let poisoned { throw poisoned }
        guard !isSealed else { throw FormatError(.invalidArgument, "segment is sealed; sealed segments are immutable", path: path) }
        precondition(lsn == lastLSN + 1, "LSN \(lsn) does not follow \(lastLSN)")
        precondition(commitTime >= lastCommitTime || transactionCount == 0, "commit time goes back")
        guard !encoded.hasDigest || header.version >= SegmentHeader.digestVersion else {
            throw FormatError(.invalidArgument, "transaction LSN \(lsn) carries a digest marker, which a version-\(header.version) segment cannot hold",
                              path: path, hint: "start the segment with format version \(SegmentHeader.digestVersion)")
        }
        let ranges = encoded.chunks(of: chunkSize)
        if let big = ranges.first(where: { $0.count > FrameHeader.maxRawLength }) {
            throw FormatError(.invalidArgument, "transaction LSN \(lsn) has an event of \(big.count) bytes, beyond the format's frame limit of \(FrameHeader.maxRawLength)",
                              path: path, hint: "SQLite's own limit on a row is 1,000,000,000 bytes; split the change")
        }
        // Frames go to the file in pieces of about `writeBuffer` bytes: a large transaction is not
        // held a second time, framed, next to its encoded payload (docs/FORMAT.md §3, "Memory").
        let writeBuffer = 4 << 20
        var out: [UInt8] = []
        out.reserveCapacity(min(encoded.bytes.count, writeBuffer) + FrameHeader.size + 64)
        var written: Int64 = 0
        try encoded.bytes.withUnsafeBytes { all in
            for (i, range) in ranges.enumerated() {
                let chunk = UnsafeRawBufferPointer(rebasing: all[range])
                var flags: FrameHeader.Flags = []
                if i == 0 { flags.insert(.first) }
                if i == ranges.count - 1 { flags.insert(.commit) }
                let useLZ4 = compress && LZ4.compress(chunk, into: &compressed)
                if useLZ4 { flags.insert(.lz4) }
                func emit(_ stored: UnsafeRawBufferPointer) throws {
                    if let frameKey {
                        // §3.1: the checksum covers the sealed bytes, the AEAD the header prefix.
                        flags.insert(.encrypted)
                        var h = FrameHeader(flags: flags, lsn: lsn, commitTime: commitTime, storedLength: UInt32(stored.count + SegmentCipher.overhead),
                                            rawLength: UInt32(chunk.count))
                        let sealed = try SegmentCipher.seal(stored, aad: h.encodedPrefix(), key: frameKey, nonce: nonceSource?())
                        out.append(contentsOf: sealed.withUnsafeBytes { h.encode(payload: $0) })
                        out.append(contentsOf: sealed)
                        return
                    }
                    var h = FrameHeader(flags: flags, lsn: lsn, commitTime: commitTime, storedLength: UInt32(stored.count), rawLength: UInt32(chunk.count))
                    out.append(contentsOf: h.encode(payload: stored))
                    out.append(contentsOf: stored)
                }
                if useLZ4 { try compressed.withUnsafeBytes { try emit($0) } } else { try emit(chunk) }
                if out.count >= writeBuffer || i == ranges.count - 1 {
                    try writePreallocated(out, at: length + written)
                    written += Int64(out.count)
                    out.removeAll(keepingCapacity: true)
                }
            }
        }
        length += written
        lastLSN = lsn
        lastCommitTime = commitTime
        transactionCount += 1
        eventCount += UInt64(encoded.eventCount)
        frameCount += UInt64(ranges.count)
        return Int(written)
    }

    /// Writes `out` at `length`, first extending the file with zeros in steps of
    /// `preallocationStep` when that is set: an fdatasync of data written in place does not
    /// also have to write the inode (a growing file's size), which halves its cost on ext4.
    /// A zero tail ends the log for readers (docs/FORMAT.md §6) and is cut off at seal.
    /// A transaction written in several pieces is cut back to its start (`length`) if one fails.
    private func writePreallocated(_ out: [UInt8], at offset: Int64) throws {
        let end = offset + Int64(out.count)
        if preallocationStep > 0 && end > allocated {
            let target = (end / preallocationStep + 1) * preallocationStep
            do {
                let zeros = [UInt8](repeating: 0, count: Int(min(target - allocated, 1 << 20)))
                var at = allocated
                while at < target {
                    let n = Int(min(Int64(zeros.count), target - at))
                    try zeros.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: at) }
                    at += Int64(n)
                }
                allocated = target
            } catch {
                // No room to preallocate: give the space back and write the frames alone.
                try? file.truncate(to: max(length, allocated))
            }
        }
        do {
            try file.write(out, at: offset)
        } catch {
            rollback(to: length, after: error)
            throw error
        }
        allocated = max(allocated, end)
    }

    /// Zero bytes beyond `length` reserved by preallocation (0 = off, the default).
    public var preallocationStep: Int64 = 0
    private lazy var allocated: Int64 = (try? file.size()) ?? length

    /// Cuts the file back to `length`. If even that fails, the writer is poisoned: reopening
    /// the master runs recovery, which drops the torn frame.
    private func rollback(to length: Int64, after error: Error) {
        do {
            try file.truncate(to: length)
            allocated = length
        } catch {
            poisoned = FormatError(.io, "a failed append could not be undone; reopen the master to recover (\(error))", path: path)
        }
    }

    /// Undoes the last append (its frames are not yet acknowledged): used when the database
    /// commit that follows a durable frame fails. `transactions` > 1 undoes that many appends
    /// at once (a master's commit group, whose appends all follow `previousLength`).
    public func undoLastAppend(previousLength: Int64, previousLSN: UInt64, previousCommitTime: Int64, frames: UInt64, events: UInt64,
                               transactions: UInt64 = 1) throws {
        try file.truncate(to: previousLength)
        try file.sync()
        allocated = previousLength
        length = previousLength
        lastLSN = previousLSN
        lastCommitTime = previousCommitTime
        transactionCount -= transactions
        frameCount -= frames
        eventCount -= events
        encoder.startSegment()
    }

    /// fdatasync: everything appended so far survives a crash or power loss.
    public func sync() throws {
        try file.sync()
    }

    /// Seals the segment: re-reads and verifies it, appends the footer, fsyncs, renames
    /// `.binlog.active` to `.binlog`, fsyncs the directory. Returns the footer.
    /// A version-3 segment's footer is signed with `signer` when one is given (unsigned otherwise).
    public func seal(now: Int64 = microsecondsNow(), signer: SegmentSigner? = nil) throws -> SegmentFooter {
        guard !isSealed else { throw FormatError(.invalidArgument, "segment is already sealed", path: path) }
        if allocated > length {
            try file.truncate(to: length)
            allocated = length
        }
        try file.sync()
        let reader = try SegmentReader(path: path)
        try reader.verifyAll(decode: false)
        guard reader.offset == length, reader.lastLSN == lastLSN, reader.tornTailOffset == nil else {
            throw FormatError(.corrupted, "active segment does not read back as written (read up to \(reader.offset), wrote \(length))", path: path, offset: reader.offset)
        }
        var footer = SegmentFooter(lastLSN: lastLSN, lastCommitTime: lastCommitTime, transactionCount: transactionCount, eventCount: eventCount,
                                   frameCount: frameCount, footerOffset: UInt64(length), segmentChecksum: reader.checksumSoFar,
                                   previousChecksum: header.previousChecksum, sealedAt: now)
        footer.version = header.version
        if let signer, header.version >= SegmentHeader.signedVersion, let digest = reader.contentSHA256 {
            do {
                try signer.sign(&footer, header: header.encoded(), contentSHA256: digest)
            } catch {
                throw FormatError(.io, "unable to sign the segment: \(error)", path: path)
            }
        }
        try file.write(footer.encoded(), at: length)
        try file.sync()
        try DurableFile.rename(path, to: directory + "/" + name.sealed.description)
        isSealed = true
        try DurableFile.syncDirectory(directory)
        return footer
    }
}
