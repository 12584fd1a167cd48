import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// Snapshot pruning and inbox trimming under a `RetentionPolicy`, derived from the restore
/// planner: the oldest moment of the window is planned like a restore (`Restore.plan`), and
/// the snapshot that plan starts from (the window's *anchor*) and every inbox segment after it
/// stay, so every time inside the window keeps a start and an unbroken run of segments.
public enum Prune {
    public struct SnapshotDecision: Codable, Sendable {
        public var path: String
        public var lsn: UInt64
        public var commitTime: String
        public var delete: Bool
        /// Why it stays (empty when it goes).
        public var keptBecause: [String]
    }

    public struct SegmentDecision: Codable, Sendable {
        public var name: String
        public var path: String
        public var lastLSN: UInt64
        public var bytes: Int64
    }

    public struct Plan: Codable, Sendable {
        public var replica: String
        public var now: String
        /// The oldest moment the window guarantees; nil without a window.
        public var windowStart: String?
        /// The LSN restores inside the window start from (0: the empty database); nil without a window.
        public var anchorLSN: UInt64?
        public var snapshots: [SnapshotDecision]
        /// Inbox segments that go (a prefix of the inbox's chain).
        public var deleteSegments: [SegmentDecision]
        public var keptSegments: Int
        /// Why the oldest segment that stays (and every one after it) stays.
        public var segmentsKeptBecause: String?
        /// Pins that name no snapshot.
        public var unmatchedPins: [String]
    }

    /// Works out what may go (read-only; takes no lock).
    public static func plan(replica path: String, policy: RetentionPolicy, now: Int64 = microsecondsNow()) throws -> Plan {
        let dir = try ReplicaDirectory.open(path)
        let chain = try Inbox(path: dir.inboxPath).chain(after: nil, source: nil).segments
        let all = Snapshot.list(dir)
        let source = chain.first?.header.sourceID ?? all.last?.sourceID
        var plan = Plan(replica: dir.path, now: formatTimestamp(now), windowStart: nil, anchorLSN: nil, snapshots: [],
                        deleteSegments: [], keptSegments: chain.count, segmentsKeptBecause: nil, unmatchedPins: [])
        // The window's anchor, from the restore planner.
        var anchor: (lsn: UInt64, path: String?, why: String)?
        if let window = policy.window {
            let start = now - window
            plan.windowStart = formatTimestamp(start)
            anchor = try windowAnchor(dir.path, start: start)
            plan.anchorLSN = anchor?.lsn
        }
        // The unbroken run of segments ends here; a snapshot beyond it is the only start for its LSN.
        let chainLast = chain.last?.lastLSN ?? 0
        let times = all.map(\.commitTime)
        let classes = AgeClasses.select(times, daily: policy.daily, weekly: policy.weekly, monthly: policy.monthly, now: now)
        for (i, s) in all.enumerated() {
            var why: [String] = []
            if s.sourceID != source { why.append("a snapshot of another master (source \(s.sourceID)), not judged") }
            if let anchor, anchor.path == s.path { why.append(anchor.why) }
            if policy.pinned(s) { why.append("pinned") }
            if s.commitTime > now { why.append("committed after now (\(formatTimestamp(now)))") }
            if policy.window != nil, s.lsn > chainLast, s.sourceID == source {
                why.append("beyond the inbox's unbroken run of segments (LSN \(chainLast)): the only start for LSN \(s.lsn)")
            }
            why += classes[i].map(AgeClasses.describe)
            plan.snapshots.append(SnapshotDecision(path: s.path, lsn: s.lsn, commitTime: formatTimestamp(s.commitTime), delete: why.isEmpty, keptBecause: why))
        }
        plan.unmatchedPins = policy.pins.filter { pin in !all.contains { RetentionPolicy(pins: [pin]).pinned($0) } }
        plan.deleteSegments = []
        guard let anchor else {
            plan.segmentsKeptBecause = chain.isEmpty ? nil : "no window is set: the inbox is trimmed only under a window"
            return plan
        }
        let storeLSN = try appliedLSN(dir)
        for (i, seg) in chain.enumerated() {
            let last = seg.lastLSN ?? .max
            if i == chain.count - 1 {
                plan.segmentsKeptBecause = "\(seg.fileName) is the inbox's newest segment, which the next one links to"
                break
            }
            if last > anchor.lsn {
                plan.segmentsKeptBecause = "\(seg.fileName) (LSN ≤ \(last)) follows the window's start at LSN \(anchor.lsn)"
                break
            }
            if last > storeLSN {
                plan.segmentsKeptBecause = "\(seg.fileName) (LSN ≤ \(last)) is not applied yet (the store is at LSN \(storeLSN))"
                break
            }
            plan.deleteSegments.append(SegmentDecision(name: seg.fileName, path: seg.path, lastLSN: last, bytes: seg.size))
        }
        plan.keptSegments = chain.count - plan.deleteSegments.count
        return plan
    }

    /// Where a restore to the window's oldest moment starts, and why that start stays. A window
    /// that begins after the newest restorable commit starts where a restore to the latest state
    /// does; one that begins before the earliest restorable point keeps every segment.
    static func windowAnchor(_ replica: String, start: Int64) throws -> (lsn: UInt64, path: String?, why: String)? {
        let window = formatTimestamp(start)
        if let p = try? Restore.plan(replica: replica, target: .time(start)) {
            return (p.fromLSN, p.snapshot?.path, "starts the restore of the window's oldest moment (\(window), LSN \(p.targetLSN))")
        }
        guard let latest = try? Restore.plan(replica: replica, target: .latest) else { return nil }
        if let t = latest.targetCommitTime.flatMap(parseTimestamp), t <= start {
            return (latest.fromLSN, latest.snapshot?.path, "starts the restore of the newest state (LSN \(latest.targetLSN)), which the window's oldest moment (\(window)) is")
        }
        // The window reaches back before anything restorable: keep the earliest start and everything after it.
        let earliest = try Restore.plan(replica: replica, target: .lsn(latest.windowFromLSN))
        return (0, earliest.snapshot?.path, "the earliest restorable point; the window (from \(window)) reaches back before it")
    }

    /// The store's applied LSN (0 before the first apply).
    static func appliedLSN(_ dir: ReplicaDirectory) throws -> UInt64 {
        guard FileManager.default.fileExists(atPath: dir.storePath) else { return 0 }
        do {
            let queue = try DatabaseQueue(path: dir.storePath, configuration: ReplicaDirectory.storeConfiguration(readonly: true))
            defer { try? queue.close() }
            return try queue.read { db in try AppliedPosition.read(db)?.lsn ?? 0 }
        } catch {
            throw ReplicaError(.io, "unable to read the store's position in \(dir.storePath): \(error)")
        }
    }

    /// Deletes what the plan lists, after planning again under the replica's lock (no apply
    /// runs meanwhile) and the snapshots' lock (no snapshot is written meanwhile): snapshots
    /// first, then inbox segments oldest first; each directory is fsynced after its deletions.
    public static func execute(replica path: String, policy: RetentionPolicy, now: Int64 = microsecondsNow(), lockTimeout: Double = 0) throws -> Plan {
        let dir = try ReplicaDirectory.open(path)
        let applyLock = try lock(dir.lockPath, timeout: lockTimeout, what: "the replica is locked by another replica-apply")
        defer { applyLock.release() }
        return try executeHoldingApplyLock(replica: path, policy: policy, now: now, lockTimeout: lockTimeout)
    }

    /// `execute` for the process that already holds the replica's lock: `replica-apply --follow`
    /// pruning between two passes (`--prune-window` …; docs/OPERATIONS.md "Retention"). No
    /// apply runs meanwhile, since the caller is the applier; a snapshot being written holds
    /// `snapshots/.lock`, which is still taken (busy: `.busy`, the caller tries again later).
    public static func executeHoldingApplyLock(replica path: String, policy: RetentionPolicy, now: Int64 = microsecondsNow(), lockTimeout: Double = 0) throws -> Plan {
        let dir = try ReplicaDirectory.open(path)
        try? FileManager.default.createDirectory(atPath: dir.snapshotsPath, withIntermediateDirectories: true)
        let snapshotLock = try lock(dir.snapshotsPath + "/.lock", timeout: lockTimeout, what: "a snapshot of this replica is being written")
        defer { snapshotLock.release() }
        let plan = try self.plan(replica: path, policy: policy, now: now)
        let doomed = plan.snapshots.filter(\.delete)
        for s in doomed where unlink(s.path) != 0 && errno != ENOENT {
            throw ReplicaError(.io, "unable to delete \(s.path): \(String(cString: strerror(errno)))")
        }
        if !doomed.isEmpty { try sync(dir.snapshotsPath) }
        for s in plan.deleteSegments where unlink(s.path) != 0 && errno != ENOENT {
            throw ReplicaError(.io, "unable to delete \(s.path): \(String(cString: strerror(errno)))")
        }
        if !plan.deleteSegments.isEmpty { try sync(dir.inboxPath) }
        return plan
    }

    static func lock(_ path: String, timeout: Double, what: String) throws -> DirectoryLock {
        do { return try DirectoryLock(path: path, timeout: timeout) } catch let busy as DirectoryLock.Busy {
            throw ReplicaError(.busy, what + (busy.holderPID.map { " (pid \($0))" } ?? ""),
                               hint: "prune waits --lock-timeout seconds; a `replica-apply --follow` holds the replica's lock for as long as it runs")
        } catch let e as FormatError {
            throw ReplicaError(e, while: "locking \(path)")
        }
    }

    static func sync(_ directory: String) throws {
        do { try DurableFile.syncDirectory(directory) } catch let e as FormatError { throw ReplicaError(e, while: "syncing \(directory)") }
    }
}
