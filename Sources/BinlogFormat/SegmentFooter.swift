import Foundation

/// The fixed 96-byte footer that seals a segment (docs/FORMAT.md §5). Its presence at the end
/// of a `.binlog` file is what makes the segment sealed and immutable.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `LSFT` |
/// | 4 | 4 | reserved (0) |
/// | 8 | 8 | last LSN |
/// | 16 | 8 | last commit time, µs |
/// | 24 | 8 | transaction count |
/// | 32 | 8 | event count (row events and DDL) |
/// | 40 | 8 | frame count |
/// | 48 | 8 | footer offset (length of header plus frames) |
/// | 56 | 8 | segment checksum: XXH3-64 of bytes 0..<footer offset |
/// | 64 | 8 | previous segment checksum (as in the header) |
/// | 72 | 8 | sealed at, µs |
/// | 80 | 8 | reserved (0) |
/// | 88 | 8 | XXH3-64 of footer bytes 0..<88 |
///
/// A version-3 segment's footer is 160 bytes (docs/FORMAT.md §5.1): bytes 0..<80 as above,
/// then the signing key id (8 bytes, 0 when unsigned) at 80, the Ed25519 signature (64 bytes,
/// zeros when unsigned) at 88, and the XXH3-64 of bytes 0..<152 at 152.
public struct SegmentFooter: Equatable, Sendable {
    public static let magic: [UInt8] = Array("LSFT".utf8)
    /// The footer size of versions 1 and 2.
    public static let size = 96
    /// The footer size of version 3 (signed segments).
    public static let signedSize = 160

    /// The footer size of a segment whose header has format version `version`.
    public static func size(forVersion version: UInt16) -> Int {
        version >= SegmentHeader.signedVersion ? signedSize : size
    }

    public var lastLSN: UInt64
    public var lastCommitTime: Int64
    public var transactionCount: UInt64
    public var eventCount: UInt64
    public var frameCount: UInt64
    public var footerOffset: UInt64
    public var segmentChecksum: UInt64
    public var previousChecksum: UInt64
    public var sealedAt: Int64
    /// The segment's format version: 3 and later have the signature fields.
    public var version: UInt16 = 1
    /// The signing key's id (first 8 bytes of SHA-256 of the raw public key); zeros when unsigned.
    public var keyID: [UInt8] = Array(repeating: 0, count: 8)
    /// The Ed25519 signature over `SegmentSignature.message`; zeros when unsigned.
    public var signature: [UInt8] = Array(repeating: 0, count: 64)

    /// True when the footer carries a signature (version 3 and a non-zero key id).
    public var isSigned: Bool { version >= SegmentHeader.signedVersion && keyID.contains { $0 != 0 } }
    public var encodedSize: Int { Self.size(forVersion: version) }

    public init(lastLSN: UInt64, lastCommitTime: Int64, transactionCount: UInt64, eventCount: UInt64, frameCount: UInt64,
                footerOffset: UInt64, segmentChecksum: UInt64, previousChecksum: UInt64, sealedAt: Int64) {
        self.lastLSN = lastLSN
        self.lastCommitTime = lastCommitTime
        self.transactionCount = transactionCount
        self.eventCount = eventCount
        self.frameCount = frameCount
        self.footerOffset = footerOffset
        self.segmentChecksum = segmentChecksum
        self.previousChecksum = previousChecksum
        self.sealedAt = sealedAt
    }

    public func encoded() -> [UInt8] {
        let bytes = Array(signedPart())
        guard version >= SegmentHeader.signedVersion else { return bytes }
        var w = ByteWriter(capacity: Self.signedSize)
        w.raw(bytes)
        w.raw(signature)
        w.u64(Checksum.xxh3(w.bytes))
        return w.bytes
    }

    /// Bytes 0..<88 of the footer (for version 3 the key id included), which the signature
    /// covers; for versions 1 and 2 the whole 96-byte footer.
    public func signedPart() -> ArraySlice<UInt8> {
        var w = ByteWriter(capacity: Self.size)
        w.raw(Self.magic)
        w.u32(0)
        w.u64(lastLSN)
        w.i64(lastCommitTime)
        w.u64(transactionCount)
        w.u64(eventCount)
        w.u64(frameCount)
        w.u64(footerOffset)
        w.u64(segmentChecksum)
        w.u64(previousChecksum)
        w.i64(sealedAt)
        if version >= SegmentHeader.signedVersion {
            precondition(keyID.count == 8 && signature.count == 64, "key id is 8 bytes, signature 64")
            w.raw(keyID)
            return w.bytes[0..<88]
        }
        w.u64(0)
        w.u64(Checksum.xxh3(w.bytes))
        return w.bytes[...]
    }

    /// True when `buffer` (the last 96 bytes of a file) starts with the footer magic.
    public static func looksLikeFooter(_ buffer: UnsafeRawBufferPointer) -> Bool {
        buffer.count >= size && Array(buffer[0..<4]) == magic
    }

    /// Decodes the footer of a segment of format `version` (its header's) at `offset`.
    public static func decode(_ buffer: UnsafeRawBufferPointer, offset: Int64, version: UInt16 = 1) throws -> SegmentFooter {
        let size = size(forVersion: version)
        guard buffer.count >= size else {
            throw FormatError(.truncated, "segment footer needs \(size) bytes, \(buffer.count) remain", offset: offset)
        }
        guard Array(buffer[0..<4]) == magic else { throw FormatError(.corrupted, "bad footer magic", offset: offset) }
        let sumAt = size - 8
        let stored = UnsafeRawBufferPointer(rebasing: buffer[sumAt..<size]).loadUnaligned(as: UInt64.self).littleEndian
        let computed = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: buffer[0..<sumAt]))
        guard stored == computed else {
            throw FormatError(.checksumMismatch, "segment footer checksum is \(hex(stored, width: 16)), computed \(hex(computed, width: 16))", offset: offset + Int64(sumAt))
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<88]), baseOffset: offset)
        _ = try r.rawBytes(4, "magic")
        guard try r.u32() == 0 else { throw FormatError(.unsupported, "footer reserved field is not 0", offset: offset + 4) }
        let footer0 = SegmentFooter(lastLSN: try r.u64(), lastCommitTime: try r.i64(), transactionCount: try r.u64(),
                                   eventCount: try r.u64(), frameCount: try r.u64(), footerOffset: try r.u64(),
                                   segmentChecksum: try r.u64(), previousChecksum: try r.u64(), sealedAt: try r.i64())
        var footer = footer0
        footer.version = version
        if version >= SegmentHeader.signedVersion {
            footer.keyID = Array(try r.rawBytes(8, "key id"))
            footer.signature = Array(buffer[88..<152])
        } else {
            guard try r.u64() == 0 else { throw FormatError(.unsupported, "footer reserved field is not 0", offset: offset + 80) }
        }
        guard footer.footerOffset == UInt64(offset) else {
            throw FormatError(.corrupted, "footer says it starts at \(footer.footerOffset) but sits at \(offset)", offset: offset + 48)
        }
        return footer
    }
}
