import BinlogFormat
import Foundation

/// The kinds of damage the corruption run injects into a replica's inbox, one sealed segment
/// (or one segment's place in the sequence) at a time.
public enum MutantClass: String, CaseIterable {
    case headerBit = "header-bit", headerByte = "header-byte"
    case frameHeaderBit = "frame-header-bit", frameHeaderByte = "frame-header-byte"
    case payloadBit = "payload-bit", payloadByte = "payload-byte"
    case footerBit = "footer-bit", footerByte = "footer-byte"
    case truncated, zeroLength = "zero-length"
    /// Segment k of another master (same name, same LSNs, another source id).
    case foreign
    /// Segments k and k+1 exchanged: each under the other's name.
    case swapped
    /// Segment k-1 again, under segment k's name.
    case duplicate
    /// Segment k-1 again, re-sealed as sequence k so that its name, header and every checksum agree
    /// (a gap: the LSNs of segment k are not in the inbox).
    case duplicateResealed = "duplicate-resealed"
    /// Segment k+1 re-sealed as sequence k (every checksum agrees) in k's place: out of order; it
    /// does not link to segment k-1, which the store applied (corruption, not a gap).
    case outOfOrder = "out-of-order"
    /// Segment k missing while the segments after it are there.
    case missingMiddle = "missing-middle"
}

/// One damaged inbox and what replica-apply must say about it.
public struct SegmentMutant {
    public var kind: MutantClass
    /// What was done, for messages: "bit 3 of byte 1234 of 00000001-….binlog".
    public var detail: String
    /// Inbox file name → new bytes (nil: the file is removed).
    public var files: [String: [UInt8]?]
    /// The store's position before the run; it must still be there after (nothing is applied).
    public var storeAt: UInt64
    public var exit: Int32
    /// The file the message must name.
    public var file: String
    /// An offset in this range must appear in the message ("offset N"); nil when none is meaningful.
    public var offsets: ClosedRange<Int64>?
    /// Other text the message must hold (the missing LSN range).
    public var mentions: [String] = []
}

/// Builds mutants of a master's sealed segments, from a seed.
public struct SegmentMutator {
    public struct Segment {
        public var name: String
        public var bytes: [UInt8]
        public var firstLSN: UInt64
        public var lastLSN: UInt64
        public var frames: [SegmentSurgery.FrameSpan]

        public init(name: String, bytes: [UInt8], firstLSN: UInt64, lastLSN: UInt64, frames: [SegmentSurgery.FrameSpan]) {
            self.name = name
            self.bytes = bytes
            self.firstLSN = firstLSN
            self.lastLSN = lastLSN
            self.frames = frames
        }
    }

    public let segments: [Segment]
    /// Another master's segments, by name (same workload, another source id).
    public let foreign: [String: [UInt8]]

    public init(segments: [Segment], foreign: [String: [UInt8]]) {
        self.segments = segments
        self.foreign = foreign
    }

    /// Mutant `i` of `count`: classes in turn, the damaged segment and the place in it at random.
    /// The damaged segment always has one before it and one after it.
    public func mutant(_ i: Int, using rng: inout SeededRandom) -> SegmentMutant {
        let kind = MutantClass.allCases[i % MutantClass.allCases.count]
        let k = Int.random(in: 1...(segments.count - 2), using: &rng)
        let s = segments[k], before = s.firstLSN - 1
        func damaged(_ bytes: [UInt8], _ detail: String, at: UInt64, _ range: ClosedRange<Int64>?) -> SegmentMutant {
            SegmentMutant(kind: kind, detail: detail + " of \(s.name)", files: [s.name: bytes], storeAt: at, exit: 3, file: s.name, offsets: range)
        }
        switch kind {
        case .headerBit, .headerByte:
            let (bytes, what) = flip(s.bytes, at: Int.random(in: 0..<SegmentSurgery.headerSize, using: &rng), bit: kind == .headerBit, &rng)
            return damaged(bytes, what, at: before, 0...Int64(SegmentSurgery.headerSize - 1))
        case .footerBit, .footerByte:
            let footerAt = s.bytes.count - SegmentSurgery.footerSize
            let (bytes, what) = flip(s.bytes, at: Int.random(in: footerAt..<s.bytes.count, using: &rng), bit: kind == .footerBit, &rng)
            return damaged(bytes, what, at: before, Int64(footerAt)...Int64(s.bytes.count - 1))
        case .frameHeaderBit, .frameHeaderByte, .payloadBit, .payloadByte:
            let inPayload = kind == .payloadBit || kind == .payloadByte
            let candidates = inPayload ? s.frames.filter { $0.payloadLength > 0 } : s.frames
            let frame = candidates[Int.random(in: 0..<candidates.count, using: &rng)]
            let offset = inPayload ? Int.random(in: (frame.start + SegmentSurgery.frameHeaderSize)..<frame.end, using: &rng)
                                   : Int.random(in: frame.start..<(frame.start + SegmentSurgery.frameHeaderSize), using: &rng)
            let (bytes, what) = flip(s.bytes, at: offset, bit: kind == .frameHeaderBit || kind == .payloadBit, &rng)
            // Every transaction before the damaged frame's may be applied; the store already is there.
            return damaged(bytes, what + " (frame of LSN \(frame.lsn) at \(frame.start))", at: frame.lsn - 1, Int64(frame.start)...Int64(frame.end - 1))
        case .truncated:
            let length = Int.random(in: 1..<s.bytes.count, using: &rng)
            return damaged(Array(s.bytes.prefix(length)), "cut to \(length) of \(s.bytes.count) bytes", at: before, 0...Int64(s.bytes.count))
        case .zeroLength:
            return damaged([], "emptied", at: before, 0...0)
        case .foreign:
            return damaged(foreign[s.name]!, "replaced by another master's", at: before, 16...16)
        case .swapped:
            let next = segments[k + 1]
            var m = damaged(next.bytes, "exchanged with \(next.name)", at: before, 32...32)
            m.files[next.name] = s.bytes
            return m
        case .duplicate:
            return damaged(segments[k - 1].bytes, "replaced by a copy of \(segments[k - 1].name)", at: before, 32...32)
        case .duplicateResealed:
            // Its footer says it ends where the store is, so the replica passes over it as applied
            // and stops at the LSNs it lacks: a gap, named by its range and the next segment.
            let copy = SegmentSurgery.resealed(segments[k - 1].bytes, sequence: SegmentSurgery.u64(s.bytes, 40))
            return SegmentMutant(kind: kind, detail: "\(s.name) replaced by \(segments[k - 1].name) re-sealed under its name", files: [s.name: copy],
                                 storeAt: before, exit: 2, file: segments[k + 1].name, offsets: nil, mentions: ["LSNs \(s.firstLSN)…\(s.lastLSN)"])
        case .outOfOrder:
            let next = segments[k + 1]
            // The store applied segment k-1 and keeps its checksum (`_logship_segment`): the file
            // under k's name does not link to it, so the chain check across runs names it as
            // corruption before the LSN check would see the gap (issue 12).
            var m = damaged(SegmentSurgery.resealed(next.bytes, sequence: SegmentSurgery.u64(s.bytes, 40)), "replaced by \(next.name) re-sealed under its name", at: before, nil)
            m.mentions = ["hash chain broken across runs"]
            return m
        case .missingMiddle:
            return SegmentMutant(kind: kind, detail: "\(s.name) removed", files: [s.name: nil], storeAt: before, exit: 2,
                                 file: segments[k + 1].name, offsets: nil, mentions: ["LSNs \(s.firstLSN)…\(s.lastLSN)"])
        }
    }

    /// Flips one random bit, or replaces the byte by another random value.
    private func flip(_ bytes: [UInt8], at offset: Int, bit: Bool, _ rng: inout SeededRandom) -> ([UInt8], String) {
        var copy = bytes
        if bit {
            let b = Int.random(in: 0..<8, using: &rng)
            copy[offset] ^= UInt8(1 << b)
            return (copy, "bit \(b) of byte \(offset)")
        }
        let mask = UInt8.random(in: 1...255, using: &rng)
        copy[offset] ^= mask
        return (copy, "byte \(offset) xor 0x\(String(mask, radix: 16))")
    }
}
