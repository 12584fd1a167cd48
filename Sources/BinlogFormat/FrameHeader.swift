import Foundation

/// The fixed 40-byte header before each frame's payload (docs/FORMAT.md §3).
/// A transaction is one or more frames with the same LSN: the first has `first`,
/// the last has `commit`; a reader yields a transaction only after its commit frame.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `LSFR` |
/// | 4 | 1 | kind (1 = transaction data) |
/// | 5 | 1 | flags: bit 0 first frame, bit 1 commit (last frame), bit 2 LZ4, bit 3 encrypted (§3.1) |
/// | 6 | 2 | reserved (0) |
/// | 8 | 8 | LSN |
/// | 16 | 8 | master commit time, µs since 1970-01-01 UTC |
/// | 24 | 4 | stored payload length |
/// | 28 | 4 | raw (uncompressed) payload length |
/// | 32 | 8 | XXH3-64 of bytes 0..<32 followed by the stored payload |
public struct FrameHeader: Equatable, Sendable {
    public static let magic: [UInt8] = Array("LSFR".utf8)
    public static let size = 40
    public static let kindTransaction: UInt8 = 1
    /// Bound on a frame's raw payload: an UPDATE carries two row images, and SQLite bounds a
    /// row (and any value) at SQLITE_MAX_LENGTH, 1,000,000,000 bytes by default; plus room for
    /// the event around them. It stays below LZ4's input limit and fits the u32 length fields.
    /// A corrupt length beyond this is rejected before any allocation.
    public static let maxRawLength = 2_000_000_000 + 1_048_576

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let first = Flags(rawValue: 1)
        public static let commit = Flags(rawValue: 2)
        public static let lz4 = Flags(rawValue: 4)
        /// The stored payload is `nonce ‖ ciphertext ‖ tag` (SegmentCipher); only in a segment
        /// whose header says encrypted, and there on every frame.
        public static let encrypted = Flags(rawValue: 8)
        static let known: Flags = [.first, .commit, .lz4, .encrypted]
    }

    public var flags: Flags
    public var lsn: UInt64
    public var commitTime: Int64
    public var storedLength: UInt32
    public var rawLength: UInt32
    public var checksum: UInt64

    public init(flags: Flags, lsn: UInt64, commitTime: Int64, storedLength: UInt32, rawLength: UInt32, checksum: UInt64 = 0) {
        self.flags = flags
        self.lsn = lsn
        self.commitTime = commitTime
        self.storedLength = storedLength
        self.rawLength = rawLength
        self.checksum = checksum
    }

    /// The first 32 bytes, which the checksum covers together with the payload.
    public func encodedPrefix() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.raw(Self.magic)
        w.u8(Self.kindTransaction)
        w.u8(flags.rawValue)
        w.u16(0)
        w.u64(lsn)
        w.i64(commitTime)
        w.u32(storedLength)
        w.u32(rawLength)
        return w.bytes
    }

    /// Encodes the whole header, computing the checksum over the prefix and `payload`.
    public mutating func encode(payload: UnsafeRawBufferPointer) -> [UInt8] {
        var bytes = encodedPrefix()
        let state = StreamingChecksum()
        state.update(bytes)
        state.update(payload)
        checksum = state.digest
        var w = ByteWriter(capacity: 8)
        w.u64(checksum)
        bytes.append(contentsOf: w.bytes)
        return bytes
    }

    /// Decodes the 40 header bytes and checks what can be checked without the payload:
    /// magic, kind, flags, and that the declared lengths are possible.
    public static func decode(_ buffer: UnsafeRawBufferPointer, offset: Int64) throws -> FrameHeader {
        guard buffer.count >= size else {
            throw FormatError(.truncated, "frame header needs \(size) bytes, \(buffer.count) remain", offset: offset)
        }
        guard Array(buffer[0..<4]) == magic else {
            throw FormatError(.corrupted, "bad frame magic", offset: offset)
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<size]), baseOffset: offset)
        _ = try r.rawBytes(4, "magic")
        let kind = try r.u8()
        let flags = Flags(rawValue: try r.u8())
        let reserved = try r.u16()
        let lsn = try r.u64()
        let commitTime = try r.i64()
        let storedTotal = try r.u32()
        let raw = try r.u32()
        let checksum = try r.u64()
        guard kind == kindTransaction, reserved == 0, Flags.known.isSuperset(of: flags) else {
            throw FormatError(.corrupted, "frame kind \(kind), flags \(flags.rawValue) or reserved \(reserved) not understood", offset: offset + 4)
        }
        let sealed = flags.contains(.encrypted)
        guard !sealed || storedTotal >= UInt32(SegmentCipher.overhead) else {
            throw FormatError(.corrupted, "encrypted frame stores \(storedTotal) bytes, fewer than its nonce and tag", offset: offset + 24)
        }
        // What the payload holds before encryption: the compressed or raw bytes.
        let stored = sealed ? storedTotal - UInt32(SegmentCipher.overhead) : storedTotal
        guard raw <= maxRawLength, stored <= raw || !flags.contains(.lz4) else {
            throw FormatError(.corrupted, "frame declares \(stored) stored and \(raw) raw bytes, beyond the format's bounds", offset: offset + 24)
        }
        if flags.contains(.lz4) {
            // LZ4 expands at most 255:1; a larger raw length is a corrupt header.
            guard UInt64(raw) <= UInt64(stored) * 255 + 16 else {
                throw FormatError(.corrupted, "frame declares \(raw) raw bytes from \(stored) compressed, beyond LZ4's 255:1 limit", offset: offset + 24)
            }
        } else if stored != raw {
            throw FormatError(.corrupted, "uncompressed frame stores \(stored) bytes but declares \(raw)", offset: offset + 24)
        }
        guard lsn >= 1 else { throw FormatError(.corrupted, "frame LSN 0", offset: offset + 8) }
        return FrameHeader(flags: flags, lsn: lsn, commitTime: commitTime, storedLength: storedTotal,
                           rawLength: raw, checksum: checksum)
    }

    /// Verifies the checksum over the header prefix and the stored payload.
    public func verify(payload: UnsafeRawBufferPointer, offset: Int64) throws {
        let state = StreamingChecksum()
        state.update(encodedPrefix())
        state.update(payload)
        let computed = state.digest
        guard computed == checksum else {
            throw FormatError(.checksumMismatch, "frame for LSN \(lsn) has checksum \(hex(checksum, width: 16)), computed \(hex(computed, width: 16))", offset: offset)
        }
    }
}
