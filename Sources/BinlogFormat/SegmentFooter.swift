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
public struct SegmentFooter: Equatable, Sendable {
    public static let magic: [UInt8] = Array("LSFT".utf8)
    public static let size = 96

    public var lastLSN: UInt64
    public var lastCommitTime: Int64
    public var transactionCount: UInt64
    public var eventCount: UInt64
    public var frameCount: UInt64
    public var footerOffset: UInt64
    public var segmentChecksum: UInt64
    public var previousChecksum: UInt64
    public var sealedAt: Int64

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
        w.u64(0)
        w.u64(Checksum.xxh3(w.bytes))
        return w.bytes
    }

    /// True when `buffer` (the last 96 bytes of a file) starts with the footer magic.
    public static func looksLikeFooter(_ buffer: UnsafeRawBufferPointer) -> Bool {
        buffer.count >= size && Array(buffer[0..<4]) == magic
    }

    public static func decode(_ buffer: UnsafeRawBufferPointer, offset: Int64) throws -> SegmentFooter {
        guard buffer.count >= size else {
            throw FormatError(.truncated, "segment footer needs \(size) bytes, \(buffer.count) remain", offset: offset)
        }
        guard Array(buffer[0..<4]) == magic else { throw FormatError(.corrupted, "bad footer magic", offset: offset) }
        let stored = UnsafeRawBufferPointer(rebasing: buffer[88..<96]).loadUnaligned(as: UInt64.self).littleEndian
        let computed = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: buffer[0..<88]))
        guard stored == computed else {
            throw FormatError(.checksumMismatch, "segment footer checksum is \(hex(stored, width: 16)), computed \(hex(computed, width: 16))", offset: offset + 88)
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<88]), baseOffset: offset)
        _ = try r.rawBytes(4, "magic")
        guard try r.u32() == 0 else { throw FormatError(.unsupported, "footer reserved field is not 0", offset: offset + 4) }
        let footer = SegmentFooter(lastLSN: try r.u64(), lastCommitTime: try r.i64(), transactionCount: try r.u64(),
                                   eventCount: try r.u64(), frameCount: try r.u64(), footerOffset: try r.u64(),
                                   segmentChecksum: try r.u64(), previousChecksum: try r.u64(), sealedAt: try r.i64())
        guard try r.u64() == 0 else { throw FormatError(.unsupported, "footer reserved field is not 0", offset: offset + 80) }
        guard footer.footerOffset == UInt64(offset) else {
            throw FormatError(.corrupted, "footer says it starts at \(footer.footerOffset) but sits at \(offset)", offset: offset + 48)
        }
        return footer
    }
}
