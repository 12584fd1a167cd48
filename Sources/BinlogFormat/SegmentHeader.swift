import Foundation

/// The fixed 80-byte header at offset 0 of every segment (docs/FORMAT.md §2).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `LSHPBLOG` |
/// | 8 | 2 | format version (1; 2 when the segment may carry digest markers; 3 when its footer carries a signature) |
/// | 10 | 2 | header size (80) |
/// | 12 | 4 | flags (0; version 4: bit 0 = frames encrypted, §3.1) |
/// | 16 | 16 | source id (UUID of the master) |
/// | 32 | 4 | epoch |
/// | 36 | 4 | reserved (0); encryption key id when flag bit 0 is set |
/// | 40 | 8 | segment sequence number |
/// | 48 | 8 | first LSN |
/// | 56 | 8 | creation time, µs since 1970-01-01 UTC |
/// | 64 | 8 | checksum of the previous segment (0 for the first) |
/// | 72 | 8 | XXH3-64 of bytes 0..<72 |
public struct SegmentHeader: Equatable, Sendable {
    public static let magic: [UInt8] = Array("LSHPBLOG".utf8)
    public static let size = 80
    /// The version a new header gets unless the writer asks for another: 1, which every reader
    /// takes. A master writing digest markers starts its segments at `digestVersion`.
    public static let currentVersion: UInt16 = 1
    /// Version 2: version 1 plus the digest marker event (docs/FORMAT.md §4.4). A version-1
    /// reader refuses it as unsupported instead of calling event type 6 corruption.
    public static let digestVersion: UInt16 = 2
    /// Version 3: version 2 with a 160-byte footer that carries an Ed25519 signature and its key
    /// id (docs/FORMAT.md §5.1). A master with a signing key starts its segments at this version.
    public static let signedVersion: UInt16 = 3
    /// Version 4: version 3 whose frames may be encrypted (flag bit 0, key id at bytes 36..<40;
    /// docs/FORMAT.md §3.1). A master with an encryption key starts its segments at this version.
    public static let encryptedVersion: UInt16 = 4
    /// The versions this build reads.
    public static let readableVersions: ClosedRange<UInt16> = 1...4
    public static let flagEncrypted: UInt32 = 1

    public var version: UInt16 = SegmentHeader.currentVersion
    public var sourceID: UUID
    public var epoch: UInt32
    public var sequence: UInt64
    public var firstLSN: UInt64
    public var createdAt: Int64
    public var previousChecksum: UInt64
    /// The 4-byte id of the key the frames are encrypted with; nil for a clear segment.
    public var encryptionKeyID: [UInt8]?
    public var isEncrypted: Bool { encryptionKeyID != nil }

    public init(sourceID: UUID, epoch: UInt32, sequence: UInt64, firstLSN: UInt64, createdAt: Int64, previousChecksum: UInt64) {
        self.sourceID = sourceID
        self.epoch = epoch
        self.sequence = sequence
        self.firstLSN = firstLSN
        self.createdAt = createdAt
        self.previousChecksum = previousChecksum
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.raw(Self.magic)
        w.u16(version)
        w.u16(UInt16(Self.size))
        w.u32(encryptionKeyID == nil ? 0 : Self.flagEncrypted)
        w.uuid(sourceID)
        w.u32(epoch)
        if let id = encryptionKeyID { w.raw(id) } else { w.u32(0) }
        w.u64(sequence)
        w.u64(firstLSN)
        w.i64(createdAt)
        w.u64(previousChecksum)
        w.u64(Checksum.xxh3(w.bytes))
        return w.bytes
    }

    /// Decodes and validates a header; the checksum is verified before any field is trusted.
    public static func decode(_ buffer: UnsafeRawBufferPointer) throws -> SegmentHeader {
        guard buffer.count >= size else {
            throw FormatError(.truncated, "segment header needs \(size) bytes, file has \(buffer.count)", offset: 0)
        }
        guard Array(buffer[0..<8]) == magic else {
            throw FormatError(.corrupted, "bad segment magic (not a logship binlog segment)", offset: 0)
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<size]))
        _ = try r.rawBytes(8, "magic")
        let version = try r.u16()
        let headerSize = try r.u16()
        let flags = try r.u32()
        let sourceID = try r.uuid()
        let epoch = try r.u32()
        let reservedBytes = try r.rawBytes(4, "reserved")
        let reserved = reservedBytes.allSatisfy { $0 == 0 } ? 0 : 1
        let sequence = try r.u64()
        let firstLSN = try r.u64()
        let createdAt = try r.i64()
        let previous = try r.u64()
        let stored = try r.u64()
        let computed = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: buffer[0..<72]))
        guard stored == computed else {
            throw FormatError(.checksumMismatch, "segment header checksum is \(hex(stored, width: 16)), computed \(hex(computed, width: 16))", offset: 72)
        }
        guard readableVersions.contains(version) else {
            throw FormatError(.unsupported, "segment format version \(version); this build reads versions \(readableVersions.lowerBound) to \(readableVersions.upperBound)", offset: 8,
                              hint: "upgrade logship on this machine")
        }
        let encrypted = version >= encryptedVersion && flags == flagEncrypted
        guard headerSize == size, flags == 0 || encrypted, reserved == 0 || encrypted else {
            throw FormatError(.unsupported, "segment header size \(headerSize) or flags \(flags) not understood", offset: 10)
        }
        guard epoch >= 1, sequence >= 1, firstLSN >= 1 else {
            throw FormatError(.corrupted, "segment header has epoch \(epoch), sequence \(sequence), first LSN \(firstLSN); each must be at least 1", offset: 32)
        }
        var h = SegmentHeader(sourceID: sourceID, epoch: epoch, sequence: sequence, firstLSN: firstLSN, createdAt: createdAt, previousChecksum: previous)
        h.version = version
        if encrypted { h.encryptionKeyID = Array(reservedBytes) }
        return h
    }
}
