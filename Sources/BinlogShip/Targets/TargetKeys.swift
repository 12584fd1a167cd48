import BinlogFormat
import Foundation

/// The keys shipping gives objects in a target: a sealed segment's name, `<sealed name>.partial`
/// for the committed prefix of the active segment, `EEEEEEEE.history` for an epoch history.
enum TargetKeys {
    /// The suffix of a shipped committed prefix of the active segment: `<sealed name>.partial`.
    /// `SegmentName.parse` rejects it, so nothing takes a partial for a sealed segment.
    static let partialSuffix = SegmentName.partialSuffix

    static func partialName(for segment: SegmentName) -> String { segment.sealed.description + partialSuffix }

    /// The sealed segment a partial key stands for, or nil for any other key.
    static func segment(ofPartial key: String) -> SegmentName? {
        SegmentName.parsePartial(key)
    }

    /// True for the keys shipping writes (segments and partial copies).
    static func isShipped(_ key: String) -> Bool {
        SegmentName.parse(key) != nil || segment(ofPartial: key) != nil
    }

    /// True for every key whose object is read: segments, partial copies, epoch histories.
    static func isRead(_ key: String) -> Bool {
        isShipped(key) || EpochHistory.parseFileName(key) != nil
    }
}

/// Byte comparisons between an object in a target and a local file, read in large chunks.
enum StoreComparison {
    static let chunk = 4 << 20

    /// The offset of the first byte among the first `length` where the object under `key`
    /// and the file at `path` differ (or where one of them ends), nil when they agree.
    static func firstDifference(_ store: TargetStore, _ key: String, _ path: String, length: Int64) throws -> Int64? {
        let file = try RegularFile.open(path)
        var at: Int64 = 0
        while at < length {
            let n = Int(min(Int64(chunk), length - at))
            let x = try store.read(key, range: at..<at + Int64(n)), y = try file.read(at: at, count: n)
            if x != y {
                return at + Int64(zip(x, y).prefix { $0 == $1 }.count)
            }
            guard x.count == n else { return at + Int64(x.count) }
            at += Int64(n)
        }
        return nil
    }

    /// True when the first `length` bytes of the object and the file are equal (both must have them).
    static func samePrefix(_ store: TargetStore, _ key: String, _ path: String, length: Int64) throws -> Bool {
        try firstDifference(store, key, path, length: length) == nil
    }
}
