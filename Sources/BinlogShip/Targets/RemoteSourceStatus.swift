import BinlogFormat
import Foundation

/// What a replica's remote source holds beyond its inbox, for `replica-apply status` and `check`:
/// the newest sealed segment in the bucket (its footer: last LSN and commit time), and the
/// segments after the inbox's newest one that are not fetched yet. Reads the listing and at most
/// two footers (ranged GETs); writes nothing.
public struct RemoteSourceStatus: Sendable {
    /// The source's address.
    public var location: String
    /// The newest sealed segment in the bucket, with its footer's last LSN and commit time.
    public var newest: String?
    public var newestLastLSN: UInt64?
    public var newestCommitTime: Int64?
    /// Sealed segments newer than the inbox's newest, not fetched yet, oldest first.
    public var notFetched: [String] = []
    public var notFetchedBytes: Int64 = 0
    /// The last commit time of the oldest segment not fetched: every transaction in it committed
    /// at or before then, so the replica lags at least from then.
    public var oldestNotFetchedCommitTime: Int64?

    /// Reads the listing of `store` against the segment files in `inbox`.
    public static func read(store: TargetStore, inbox: String) throws -> RemoteSourceStatus {
        try store.checkReachable()
        let sealed = try store.list().compactMap { o in SegmentName.parse(o.key).flatMap { $0.isActive ? nil : (o, $0) } }.sorted { $0.1 < $1.1 }
        let local = ((try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? []).compactMap(SegmentName.parse).filter { !$0.isActive }.max()
        var status = RemoteSourceStatus(location: store.location)
        if let (object, _) = sealed.last {
            let footer = try footer(store, object)
            (status.newest, status.newestLastLSN, status.newestCommitTime) = (object.key, footer.lastLSN, footer.lastCommitTime)
        }
        let pending = sealed.filter { entry in local.map { entry.1 > $0 } ?? true }.map { $0.0 }
        status.notFetched = pending.map(\.key)
        status.notFetchedBytes = pending.reduce(0) { $0 + $1.size }
        if let first = pending.first { status.oldestNotFetchedCommitTime = try footer(store, first).lastCommitTime }
        return status
    }

    private static func footer(_ store: TargetStore, _ object: TargetObject) throws -> SegmentFooter {
        do {
            // The header's version says the footer's size: a signed segment's is longer (docs/FORMAT.md §5.1).
            guard object.size >= Int64(SegmentHeader.size) else {
                throw ShipError(.corruption, "\(object.key) is \(object.size) bytes, shorter than a header", target: store.name, path: store.address(of: object.key))
            }
            let head = try store.read(object.key, range: 0..<Int64(SegmentHeader.size))
            let version = try head.withUnsafeBytes { try SegmentHeader.decode($0) }.version
            let at = object.size - Int64(SegmentFooter.size(forVersion: version))
            guard at >= Int64(SegmentHeader.size) else {
                throw ShipError(.corruption, "\(object.key) is \(object.size) bytes, shorter than a header and a footer", target: store.name, path: store.address(of: object.key))
            }
            let tail = try store.read(object.key, range: at..<object.size)
            return try tail.withUnsafeBytes { try SegmentFooter.decode($0, offset: at, version: version) }
        } catch let e as FormatError {
            throw ShipError(e, target: store.name, context: "reading \(store.address(of: object.key))")
        }
    }
}
