import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// A read-only look at a replica, without its lock: where the store is, what the inbox holds
/// beyond it, how far behind that is, what can be restored, and how the last runs went.
public struct ReplicaStatus: Codable, Sendable {
    public var replica: String
    public var sourceID: String?
    public var epoch: UInt32?
    public var appliedLSN: UInt64
    public var appliedCommitTime: String?
    public var appliedCommitTimeMicros: Int64?
    /// Seconds between now and the master commit time of the applied LSN (0 before any).
    public var appliedAgeSeconds: Double?
    /// The last LSN whose digest marker the store's rows matched (docs/REPLICA.md, continuous
    /// verification); nil when it never passed one.
    public var verifiedLSN: UInt64?
    /// The master's commit time of `verifiedLSN`.
    public var verifiedCommitTime: String?
    /// When apply computed the store's digest and found it equal to the master's.
    public var verifiedAt: String?
    /// Last complete LSN available in the inbox in one unbroken chain.
    public var inboxLastLSN: UInt64
    public var inboxLastCommitTime: String?
    public var behindLSNs: UInt64
    public var behindSegments: Int
    public var pendingBytes: Int64
    /// Master commit time of the oldest transaction in the inbox not yet applied (LSN applied + 1).
    public var oldestPendingCommitTime: String?
    /// How long the oldest pending transaction has waited since the master committed it
    /// (0 when nothing is pending): how stale the store is, as far as the inbox knows. An idle
    /// master does not make a replica lag, a pending transaction does.
    public var lagSeconds: Double
    public var inboxProblem: String?
    /// An older epoch's transactions in the inbox past its fork point (docs/FAILOVER.md):
    /// never applied; the split-brain alarm replica-apply raises for them.
    public var lostWrites: String?
    public var recoverableFromLSN: UInt64?
    public var recoverableToLSN: UInt64?
    public var snapshots: [Snapshot]
    public var lastRunAt: String?
    public var lastSuccessAt: String?
    public var lastError: String?
    public var lastErrorAt: String?

    public static func read(_ path: String) throws -> ReplicaStatus {
        let dir = try ReplicaDirectory.open(path)
        var position: AppliedPosition?
        var verified: VerifiedPosition?
        var appliedSegment: AppliedSegment?
        if FileManager.default.fileExists(atPath: dir.storePath) {
            do {
                let queue = try DatabaseQueue(path: dir.storePath, configuration: ReplicaDirectory.storeConfiguration(readonly: true))
                (position, verified, appliedSegment) = try queue.read { db in
                    (try AppliedPosition.read(db), try VerifiedPosition.read(db), try AppliedSegment.read(db))
                }
                try queue.close()
            } catch {
                throw ReplicaError(.io, "unable to read the store \(dir.storePath): \(error)")
            }
        }
        let applied = position?.lsn ?? 0
        let now = microsecondsNow()
        var inboxLast = applied
        var inboxLastTime: Int64?
        var behindSegments = 0
        var pendingBytes: Int64 = 0
        var problem: String?
        var lostWrites: String?
        var firstInboxLSN: UInt64?
        var restorableLast: UInt64?
        var oldestPending: Int64?
        do {
            let inbox = Inbox(path: dir.inboxPath)
            let source = position.map { ($0.sourceID, $0.epoch) }
            // What the store still needs, up to the first problem apply would stop at.
            let pending = try inbox.follow(after: applied, source: source, applied: appliedSegment)
            problem = pending.problem?.description
            lostWrites = pending.divergedAlarm?.message
            oldestPending = try Self.commitTime(of: applied + 1, in: pending.segments)
            for seg in pending.segments {
                var last = seg.lastLSN
                var lastTime = seg.footer?.lastCommitTime
                if last == nil {
                    let reader = try SegmentReader(path: seg.path)
                    try reader.verifyAll(decode: false)
                    last = reader.transactionCount > 0 ? reader.lastLSN : nil
                    lastTime = reader.transactionCount > 0 ? reader.lastCommitTime : nil
                }
                if let end = seg.end, let l = last, l > end { last = end; lastTime = nil }   // an ended epoch, used up to its fork
                if let last, last > applied {
                    behindSegments += 1
                    pendingBytes += seg.size
                    if last > inboxLast { inboxLast = last; inboxLastTime = lastTime }
                }
            }
            // The unbroken run of segments from the inbox's first one, for the restorable window.
            let whole = try inbox.chain(after: nil, source: source).segments
            firstInboxLSN = whole.first?.header.firstLSN
            restorableLast = whole.last.flatMap { $0.lastLSN }
        } catch {
            problem = "\(error)"
        }
        let snapshots = Snapshot.list(dir)
        let state = ReplicaState.read(dir)
        let appliedTime = position.flatMap { $0.lsn > 0 ? $0.commitTime : nil }
        var lag = 0.0
        if let t = oldestPending, inboxLast > applied { lag = max(0, Double(now - t) / 1e6) }
        // Restorable: from the oldest snapshot, or from empty when the inbox starts at LSN 1,
        // up to the newest LSN the inbox holds without a break.
        // (as restore does: only snapshots of the master this replica follows are starting points)
        let source = position?.sourceID ?? snapshots.last?.sourceID
        let usable = snapshots.filter { $0.sourceID == source }
        var fromLSN = usable.first?.lsn
        if firstInboxLSN == 1 { fromLSN = 0 }
        let toLSN = max(restorableLast ?? inboxLast, usable.last?.lsn ?? 0)
        return ReplicaStatus(
            replica: dir.path, sourceID: position?.sourceID.uuidString, epoch: position?.epoch, appliedLSN: applied,
            appliedCommitTime: appliedTime.map(formatTimestamp), appliedCommitTimeMicros: appliedTime,
            appliedAgeSeconds: appliedTime.map { max(0, Double(now - $0) / 1e6) },
            verifiedLSN: verified?.lsn, verifiedCommitTime: verified.map { formatTimestamp($0.commitTime) },
            verifiedAt: verified.map { formatTimestamp($0.verifiedAt) },
            inboxLastLSN: inboxLast, inboxLastCommitTime: inboxLastTime.map(formatTimestamp), behindLSNs: inboxLast - applied,
            behindSegments: behindSegments, pendingBytes: pendingBytes, oldestPendingCommitTime: oldestPending.map(formatTimestamp),
            lagSeconds: lag, inboxProblem: problem, lostWrites: lostWrites,
            recoverableFromLSN: fromLSN, recoverableToLSN: fromLSN == nil ? nil : toLSN, snapshots: snapshots,
            lastRunAt: state.lastRunAt.map(formatTimestamp), lastSuccessAt: state.lastSuccessAt.map(formatTimestamp),
            lastError: state.lastError, lastErrorAt: state.lastErrorAt.map(formatTimestamp))
    }

    /// The commit time of `lsn` in `segments`: read from the start of the segment that holds it
    /// (frames verified, payloads not decoded); nil when no segment has it yet.
    static func commitTime(of lsn: UInt64, in segments: [Inbox.Segment]) throws -> Int64? {
        guard let seg = segments.first(where: { $0.header.firstLSN <= lsn && ($0.lastLSN.map { lsn <= $0 } ?? true) }) else { return nil }
        let reader = try SegmentReader(path: seg.path)
        while let tx = try reader.next(decode: false) {
            if tx.lsn == lsn { return tx.commitTime }
        }
        return nil
    }

    /// Prometheus text exposition format (for node_exporter's textfile collector).
    public var prometheus: String {
        var text = PrometheusText()
        func metric(_ name: String, _ help: String, _ value: PrometheusText.Value) {
            text.gauge("logship_replica_" + name, help, [.init([("replica", replica)], value)])
        }
        metric("applied_lsn", "Last LSN applied to the store.", .uint(appliedLSN))
        metric("applied_commit_time_seconds", "Master commit time of the applied LSN, Unix seconds.", PrometheusText.seconds(appliedCommitTimeMicros))
        metric("verified_lsn", "Last LSN whose digest marker the store's rows matched (0 before any).", .uint(verifiedLSN ?? 0))
        metric("inbox_last_lsn", "Last complete LSN in the inbox.", .uint(inboxLastLSN))
        metric("behind_lsns", "Transactions in the inbox not yet applied.", .uint(behindLSNs))
        metric("behind_segments", "Segments in the inbox not yet fully applied.", .int(Int64(behindSegments)))
        metric("lag_seconds", "Seconds since the master committed the oldest transaction in the inbox not yet applied (0 when caught up).", .double(lagSeconds))
        metric("snapshots", "Snapshots kept.", .int(Int64(snapshots.count)))
        metric("inbox_problem", "1 when the inbox has a gap or a damaged segment.", PrometheusText.flag(inboxProblem != nil))
        metric("epoch", "Epoch of the source the store follows (it grows with each promotion).", .uint(UInt64(epoch ?? 0)))
        metric("split_brain", "1 when the inbox holds an older epoch's transactions past its fork point (lost writes).", PrometheusText.flag(lostWrites != nil))
        metric("last_run_failed", "1 when the last replica-apply run failed.", PrometheusText.flag(lastErrorAt != nil && lastErrorAt == lastRunAt))
        metric("last_run_time_seconds", "When replica-apply last ran here, Unix seconds (0 when never).", PrometheusText.seconds(lastRunAt.flatMap(parseTimestamp)))
        metric("last_success_time_seconds", "When a replica-apply run last succeeded here, Unix seconds (0 when never).",
               PrometheusText.seconds(lastSuccessAt.flatMap(parseTimestamp)))
        return text.text
    }
}
