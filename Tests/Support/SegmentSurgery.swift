import BinlogFormat
import Foundation

/// Byte-level surgery on segment files, for fault injection and fuzzing. Frames are found here
/// from the byte layout of docs/FORMAT.md (§2, §3, §5), not with `SegmentReader`, so a test
/// that damages a frame knows where the frame is without trusting the code it tests.
///
/// `repairChecksums` makes a changed segment verify on its own again (header, frame, segment and
/// footer checksums recomputed): a forged segment that only the LSN links and the hash chain
/// between segments can expose, and, for the fuzzer, inputs that get past the checksums into
/// the decoders behind them.
///
/// This file imports only Foundation and BinlogFormat: `tools/fuzz/build` compiles it into the
/// fuzz harness as well.
public enum SegmentSurgery {
    public static let headerSize = 80
    public static let frameHeaderSize = 40
    public static let footerSize = 96

    /// One frame of a segment: the byte range it occupies and the LSN its header names.
    public struct FrameSpan: Equatable, Sendable {
        public var start: Int
        public var end: Int
        public var lsn: UInt64
        public var payloadLength: Int { end - start - SegmentSurgery.frameHeaderSize }
    }

    /// The frames of a sealed segment's bytes, in file order; nil when the layout does not parse
    /// (too short, or a stored length that runs past the footer).
    public static func frames(ofSealed bytes: [UInt8]) -> [FrameSpan]? {
        let dataEnd = bytes.count - footerSize
        guard dataEnd >= headerSize else { return nil }
        var spans: [FrameSpan] = []
        var at = headerSize
        while at < dataEnd {
            guard at + frameHeaderSize <= dataEnd else { return nil }
            let end = at + frameHeaderSize + Int(u32(bytes, at + 24))
            guard end <= dataEnd else { return nil }
            spans.append(FrameSpan(start: at, end: end, lsn: u64(bytes, at + 8)))
            at = end
        }
        return spans
    }

    /// True when the last 96 bytes start with the footer magic (and the file holds a header too).
    public static func hasFooterMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= headerSize + footerSize && Array(bytes[(bytes.count - footerSize)..<(bytes.count - footerSize + 4)]) == SegmentFooter.magic
    }

    /// Recomputes every checksum the layout lets it find, in the order they cover each other:
    /// the header's (when 80 bytes are there), each frame's while frames parse, then, when the
    /// file ends in something that starts like a footer, the footer offset, the segment checksum
    /// and the footer checksum. Fields other than those are left as they are.
    public static func repairChecksums(_ bytes: inout [UInt8]) {
        guard bytes.count >= headerSize else { return }
        put(&bytes, 72, Checksum.xxh3(Array(bytes[0..<72])))
        let footerAt = hasFooterMagic(bytes) ? bytes.count - footerSize : nil
        let dataEnd = footerAt ?? bytes.count
        var at = headerSize
        while at + frameHeaderSize <= dataEnd {
            let end = at + frameHeaderSize + Int(u32(bytes, at + 24))
            guard end <= dataEnd else { break }
            put(&bytes, at + 32, Checksum.xxh3(Array(bytes[at..<(at + 32)]) + bytes[(at + frameHeaderSize)..<end]))
            at = end
        }
        guard let footerAt else { return }
        put(&bytes, footerAt + 48, UInt64(footerAt))
        put(&bytes, footerAt + 56, Checksum.xxh3(Array(bytes[0..<footerAt])))
        put(&bytes, footerAt + 88, Checksum.xxh3(Array(bytes[footerAt..<(footerAt + 88)])))
    }

    /// `repairChecksums` for a sealed version-3 (signed) segment, whose footer is 160 bytes
    /// (docs/FORMAT.md §5.1): every checksum is made right again; the signature is left as it is,
    /// since only the key's holder can make a new one.
    public static func repairSignedChecksums(_ bytes: inout [UInt8]) {
        let signedFooter = 160
        guard bytes.count >= headerSize + signedFooter else { return }
        put(&bytes, 72, Checksum.xxh3(Array(bytes[0..<72])))
        let footerAt = bytes.count - signedFooter
        var at = headerSize
        while at + frameHeaderSize <= footerAt {
            let end = at + frameHeaderSize + Int(u32(bytes, at + 24))
            guard end <= footerAt else { break }
            put(&bytes, at + 32, Checksum.xxh3(Array(bytes[at..<(at + 32)]) + bytes[(at + frameHeaderSize)..<end]))
            at = end
        }
        put(&bytes, footerAt + 48, UInt64(footerAt))
        put(&bytes, footerAt + 56, Checksum.xxh3(Array(bytes[0..<footerAt])))
        put(&bytes, footerAt + 152, Checksum.xxh3(Array(bytes[footerAt..<(footerAt + 152)])))
    }

    /// A copy of a sealed segment that claims another sequence number, with every checksum
    /// recomputed: it opens cleanly under the segment name of that sequence.
    public static func resealed(_ bytes: [UInt8], sequence: UInt64) -> [UInt8] {
        var copy = bytes
        put(&copy, 40, sequence)
        repairChecksums(&copy)
        return copy
    }

    /// Little-endian u32 at `offset`.
    public static func u32(_ b: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[offset + $1]) << (8 * UInt32($1)) }
    }

    /// Little-endian u64 at `offset`.
    public static func u64(_ b: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[offset + $1]) << (8 * UInt64($1)) }
    }

    /// Writes `value` little-endian at `offset`.
    public static func put(_ b: inout [UInt8], _ offset: Int, _ value: UInt64) {
        for i in 0..<8 { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}
