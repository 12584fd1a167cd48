import BinlogFormat
import BinlogShip
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

/// The remote source's part of `status` and `check` (replica.json "source"): read-only.
enum RemoteView {
    static func read(_ source: String, inbox: String) -> Result<RemoteSourceStatus, Error> {
        Result { try RemoteSourceStatus.read(store: S3Store(target: ShipTarget(name: "source", path: source)), inbox: inbox) }
    }

    /// Problems for `check`: an unreachable source, or a segment not fetched whose transactions
    /// all committed longer ago than the limit (the replica then lags at least that much).
    static func problems(_ source: String, inbox: String, limit: Double, maxLag: String) -> [String] {
        switch read(source, inbox: inbox) {
        case .failure(let e): return ["remote source \(source) cannot be read: \(e)"]
        case .success(let r):
            guard let first = r.notFetched.first, let time = r.oldestNotFetchedCommitTime else { return [] }
            let age = Double(microsecondsNow() - time) / 1e6
            guard age > limit else { return [] }
            return ["\(first) in \(source) (committed by \(formatTimestamp(time)), \(Int(age)) s ago) is not fetched yet; \(r.notFetched.count) segments wait in the bucket (max lag \(maxLag))"]
        }
    }
}

extension RemoteView {
    /// The remote part of `status --json` and `--prometheus` for a replica with a source.
    static func status(_ source: String, replica dir: ReplicaDirectory, applied s: ReplicaStatus) -> RemoteStatusJSON {
        let record = RemoteFetchRecord.read(replica: dir.path)
        var out = RemoteStatusJSON(source: source, reachable: false, error: nil,
                                   lastFetchAt: record.map { formatTimestamp($0.fetchedAt) }, lastFetchObjects: record?.fetched)
        switch read(source, inbox: dir.inboxPath) {
        case .failure(let e):
            out.error = "\(e)"
        case .success(let r):
            out.reachable = true
            out.newestSegment = r.newest
            out.newestLSN = r.newestLastLSN
            out.newestCommitTime = r.newestCommitTime.map(formatTimestamp)
            out.notFetchedSegments = r.notFetched.count
            out.notFetchedBytes = r.notFetchedBytes
            let newest = r.newestLastLSN ?? 0
            out.lagLSNs = newest > s.appliedLSN ? newest - s.appliedLSN : 0
            // At least as stale as the oldest pending transaction in the inbox, and as the last
            // commit of the oldest segment still only in the bucket.
            var lag = newest > s.appliedLSN ? s.lagSeconds : 0
            if let t = r.oldestNotFetchedCommitTime { lag = max(lag, Double(microsecondsNow() - t) / 1e6) }
            out.lagSeconds = lag
        }
        return out
    }
}

/// `replica-apply status --json` (docs/JSON.md): the replica's status and, for a replica with a
/// remote source, `remote` (null otherwise).
struct StatusJSON: Encodable {
    var status: ReplicaStatus
    var remote: RemoteStatusJSON?

    func encode(to encoder: Encoder) throws {
        try status.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(remote, forKey: .remote)
    }
    enum CodingKeys: String, CodingKey { case remote }
}

/// What the bucket holds beyond the replica, and when it was last read successfully.
struct RemoteStatusJSON: Encodable {
    var source: String
    var reachable: Bool
    var error: String?
    var lastFetchAt: String?
    var lastFetchObjects: Int?
    var newestSegment: String?
    var newestLSN: UInt64?
    var newestCommitTime: String?
    var notFetchedSegments: Int?
    var notFetchedBytes: Int64?
    var lagLSNs: UInt64?
    var lagSeconds: Double?

    func encode(to encoder: Encoder) throws {
        // Every key always present, null when unknown (docs/JSON.md).
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source, forKey: .source)
        try c.encode(reachable, forKey: .reachable)
        try c.encode(error, forKey: .error)
        try c.encode(lastFetchAt, forKey: .lastFetchAt)
        try c.encode(lastFetchObjects, forKey: .lastFetchObjects)
        try c.encode(newestSegment, forKey: .newestSegment)
        try c.encode(newestLSN, forKey: .newestLSN)
        try c.encode(newestCommitTime, forKey: .newestCommitTime)
        try c.encode(notFetchedSegments, forKey: .notFetchedSegments)
        try c.encode(notFetchedBytes, forKey: .notFetchedBytes)
        try c.encode(lagLSNs, forKey: .lagLSNs)
        try c.encode(lagSeconds, forKey: .lagSeconds)
    }
    enum CodingKeys: String, CodingKey {
        case source, reachable, error, lastFetchAt, lastFetchObjects, newestSegment, newestLSN, newestCommitTime
        case notFetchedSegments, notFetchedBytes, lagLSNs, lagSeconds
    }

    /// The text line of `status`.
    var line: String {
        guard reachable else { return "\(source): unreachable: \(error ?? "?")" + (lastFetchAt.map { "; last fetch \($0)" } ?? "") }
        return "\(source): " + (newestSegment.map { "newest \($0) (up to LSN \(newestLSN ?? 0), committed \(newestCommitTime ?? "?"))" } ?? "no sealed segment")
            + ", \(notFetchedSegments ?? 0) segments not fetched yet (\(formatBytes(notFetchedBytes ?? 0)))"
            + ", \(lagLSNs ?? 0) transactions behind" + (lastFetchAt.map { "; last fetch \($0)" } ?? "; never fetched")
    }

    /// Prometheus gauges (docs/OPERATIONS.md, metrics table).
    func prometheus(replica: String) -> String {
        var text = PrometheusText()
        func metric(_ name: String, _ help: String, _ value: PrometheusText.Value) {
            text.gauge("logship_replica_remote_" + name, help, [.init([("replica", replica), ("source", source)], value)])
        }
        metric("reachable", "1 when the remote source could be listed just now.", PrometheusText.flag(reachable))
        metric("last_fetch_time_seconds", "When a fetch from the remote source last succeeded, Unix seconds (0 when never).",
               PrometheusText.seconds(lastFetchAt.flatMap(parseTimestamp)))
        metric("newest_lsn", "Last LSN of the newest sealed segment in the bucket (0 when unknown).", .uint(newestLSN ?? 0))
        metric("lag_lsns", "Transactions in the bucket not yet applied to the store (0 when unknown).", .uint(lagLSNs ?? 0))
        metric("lag_seconds", "At least how long the oldest transaction not applied has been committed, counting the bucket (0 when caught up or unknown).", .double(lagSeconds ?? 0))
        metric("not_fetched_segments", "Sealed segments in the bucket not fetched into the inbox yet.", .int(Int64(notFetchedSegments ?? 0)))
        return text.text
    }
}
