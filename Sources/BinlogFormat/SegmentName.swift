import Foundation

/// A segment's file name: `EEEEEEEE-SSSSSSSSSSSSSSSS.binlog` when sealed, with `.active`
/// appended while the master still writes it. Epoch and sequence are fixed-width lowercase
/// hex, so names sort in log order; `parse` accepts exactly what `description` produces.
public struct SegmentName: Hashable, Comparable, CustomStringConvertible, Sendable {
    public static let sealedSuffix = ".binlog"
    public static let activeSuffix = ".binlog.active"
    /// Appended to a sealed name for a partial copy of the active segment, the committed prefix
    /// that `binlog-ship --include-active` ships (`EEEEEEEE-SSSSSSSSSSSSSSSS.binlog.partial`).
    public static let partialSuffix = ".partial"

    public var epoch: UInt32
    public var sequence: UInt64
    public var isActive: Bool

    public init(epoch: UInt32, sequence: UInt64, isActive: Bool = false) {
        self.epoch = epoch
        self.sequence = sequence
        self.isActive = isActive
    }

    public var sealed: SegmentName { SegmentName(epoch: epoch, sequence: sequence, isActive: false) }
    public var active: SegmentName { SegmentName(epoch: epoch, sequence: sequence, isActive: true) }

    public var description: String {
        hex(UInt64(epoch), width: 8) + "-" + hex(sequence, width: 16) + (isActive ? Self.activeSuffix : Self.sealedSuffix)
    }

    /// Parses a file name; nil for anything the formatter would not have written
    /// (upper-case hex, other widths, epoch or sequence 0, other suffixes, paths).
    public static func parse(_ name: String) -> SegmentName? {
        let utf8 = Array(name.utf8)
        let isActive: Bool
        if name.hasSuffix(activeSuffix) { isActive = true } else if name.hasSuffix(sealedSuffix) { isActive = false } else { return nil }
        let stemLength = utf8.count - (isActive ? activeSuffix.utf8.count : sealedSuffix.utf8.count)
        guard stemLength == 8 + 1 + 16, utf8[8] == UInt8(ascii: "-") else { return nil }
        guard let epoch = parseHex(utf8[0..<8]), let sequence = parseHex(utf8[9..<25]) else { return nil }
        guard epoch >= 1, epoch <= UInt64(UInt32.max), sequence >= 1 else { return nil }
        return SegmentName(epoch: UInt32(epoch), sequence: sequence, isActive: isActive)
    }

    /// The file name of a partial copy of this segment.
    public var partialFileName: String { sealed.description + Self.partialSuffix }

    /// Parses the file name of a partial copy; returns the (sealed) name of the segment it
    /// copies, nil for anything `partialFileName` would not have written.
    public static func parsePartial(_ fileName: String) -> SegmentName? {
        let bytes = Array(fileName.utf8), suffix = Array(partialSuffix.utf8)
        guard bytes.count > suffix.count, bytes.suffix(suffix.count).elementsEqual(suffix) else { return nil }
        guard let name = parse(String(decoding: bytes.dropLast(suffix.count), as: UTF8.self)), !name.isActive else { return nil }
        return name
    }

    public static func < (a: SegmentName, b: SegmentName) -> Bool {
        (a.epoch, a.sequence, a.isActive ? 1 : 0) < (b.epoch, b.sequence, b.isActive ? 1 : 0)
    }

    /// Lower-case hex digits only (the formatter's spelling); nil for anything else. Shared with
    /// `EpochHistory.parseFileName`.
    static func parseHex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var v: UInt64 = 0
        for d in digits {
            switch d {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = v << 4 | UInt64(d - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = v << 4 | UInt64(d - UInt8(ascii: "a") + 10)
            default: return nil
            }
        }
        return v
    }
}

func hex(_ v: UInt64, width: Int) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}
