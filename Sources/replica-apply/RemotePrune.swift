import BinlogFormat
import BinlogShip
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

/// `prune --remote s3://bucket/prefix`: the same retention for the snapshots uploaded there
/// (`snapshot --upload`). A snapshot stays when an age class or a pin keeps it, when it is of
/// another master, when a restore of the newest state starts from it, and, with --window, when
/// it is the start of a restore to the window's oldest moment (the bucket's restore planner,
/// RemoteRestorePlan, decides) or was committed inside the window: any restore to a moment in
/// the window then starts from a snapshot that stays. Segments in the bucket are binlog-ship
/// purge's (docs/SHIPPING.md), not touched here. Dry run unless `confirm`; the metadata object
/// goes first, so a planner never sees a snapshot whose database is gone.
struct RemotePrune {
    struct Decision: Encodable {
        var key: String
        var lsn: UInt64
        var commitTime: String
        var delete: Bool
        var keptBecause: [String]
        /// After --confirm: deleted, or why not (an object lock).
        var outcome: String?

        enum CodingKeys: String, CodingKey { case key, lsn, commitTime, delete, keptBecause, outcome }

        func encode(to encoder: Encoder) throws {
            // Every key present, null when unknown (docs/JSON.md).
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(key, forKey: .key)
            try c.encode(lsn, forKey: .lsn)
            try c.encode(commitTime, forKey: .commitTime)
            try c.encode(delete, forKey: .delete)
            try c.encode(keptBecause, forKey: .keptBecause)
            try c.encode(outcome, forKey: .outcome)
        }
    }

    var source: String
    var policy: RetentionPolicy
    var now: Int64 = microsecondsNow()

    func plan() throws -> [Decision] {
        let snapshots = RemoteSnapshots.s3(source: source)
        let planner = RemoteRestorePlan(segments: S3Store(target: ShipTarget(name: "source", path: source)), snapshots: snapshots)
        let all = try snapshots.list()
        guard !all.isEmpty else { return [] }
        let latest = try? planner.select(.latest)
        let master = (try? planner.spans())?.source ?? all.last?.sourceID
        var anchor: (key: String?, why: String)?
        var windowStart: Int64?
        if let window = policy.window {
            let start = now - window
            windowStart = start
            let at = formatTimestamp(start)
            if let s = try? planner.select(.time(start)) {
                anchor = (s.snapshot?.key, "starts the restore of the window's oldest moment (\(at))")
            } else if let latest, let t = latest.windowToTime, t <= start {
                anchor = (latest.snapshot?.key, "starts the restore of the newest state, which the window's oldest moment (\(at)) is")
            } else if let latest, let s = try? planner.select(.lsn(latest.windowFromLSN)) {
                anchor = (s.snapshot?.key, "the earliest restorable point; the window (from \(at)) reaches back before it")
            }
        }
        let classes = AgeClasses.select(all.map(\.commitTime), daily: policy.daily, weekly: policy.weekly, monthly: policy.monthly, now: now)
        return all.enumerated().map { i, s in
            var why: [String] = []
            if s.sourceID != master { why.append("a snapshot of another master (source \(s.sourceID)), not judged") }
            if let anchor, anchor.key == s.key { why.append(anchor.why) }
            if let windowStart, s.commitTime >= windowStart { why.append("committed inside the window") }
            if latest?.snapshot?.key == s.key { why.append("starts the restore of the newest state (LSN \(latest?.targetLSN ?? s.lsn))") }
            let name = s.key.hasSuffix(".db") ? String(s.key.dropLast(3)) : s.key
            if policy.pins.contains(where: { $0 == s.key || $0 == name || UInt64($0) == s.lsn }) { why.append("pinned") }
            if s.commitTime > now { why.append("committed after now (\(formatTimestamp(now)))") }
            why += classes[i].map(AgeClasses.describe)
            return Decision(key: s.key, lsn: s.lsn, commitTime: formatTimestamp(s.commitTime), delete: why.isEmpty, keptBecause: why)
        }
    }

    /// Deletes what `plan` lets go: metadata first, then the database object. An object under an
    /// object lock is reported as retained, not as an error (issue 13).
    func execute(_ decisions: [Decision]) throws -> [Decision] {
        let store = RemoteSnapshots.s3(source: source).store
        return try decisions.map { d in
            guard d.delete else { return d }
            var done = d
            let meta = RemoteSnapshotKey.metadata(for: d.key)
            try store.delete(meta)
            try store.delete(d.key)
            let retained = (store as? S3Store)?.retained ?? []
            done.outcome = retained.contains(d.key) || retained.contains(meta) ? "retained by an object lock (deleted once its retention ends)" : "deleted"
            return done
        }
    }
}

/// The metadata object's key beside a snapshot's (RemoteSnapshot.metadataKey is internal to BinlogShip).
enum RemoteSnapshotKey {
    static func metadata(for key: String) -> String { (key.hasSuffix(".db") ? String(key.dropLast(3)) : key) + ".json" }
}
