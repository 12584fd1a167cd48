import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// A read-only look at a master data directory: identity, positions, segments. It takes no
/// lock, so it works while a writer runs (an active segment's unfinished tail is ignored).
public struct MasterStatus: Codable, Sendable {
    public struct Segment: Codable, Sendable {
        public var name: String
        public var sealed: Bool
        public var bytes: Int64
        public var firstLSN: UInt64
        public var lastLSN: UInt64?
        public var transactions: UInt64
        public var createdAt: String
        public var lastCommitTime: String?
    }

    public var sourceID: String
    public var epoch: UInt32
    public var directory: String
    public var lastLSN: UInt64
    public var lastCommitTime: String?
    /// The LSN the database holds (equal to `lastLSN` unless recovery is pending).
    public var databaseLSN: UInt64
    public var activeSegment: Segment?
    public var sealedSegments: [Segment]
    public var sealedBytes: Int64
    public var segmentSizeBytes: Int64
    public var syncBinlog: Int
    /// The LSN this epoch began at (1 unless the master was promoted; docs/FAILOVER.md).
    public var epochFirstLSN: UInt64 = 1
    /// Set when a newer epoch fenced this master (in its binlog or at a shipping target):
    /// it refuses to write, and this says why.
    public var fencedBy: String?
    /// Digest-marker settings from master.json (nil or 0 = off) and the last LSN that carried a
    /// marker (docs/REPLICA.md, continuous verification).
    public var digestEveryTransactions: Int?
    public var digestIntervalSeconds: Double?
    public var lastMarkerLSN: UInt64?
    /// Semi-synchronous acknowledgement: the settings and state the last writer with
    /// `--sync-replicas` recorded (nil when the last writer ran without it), and every target's ack.
    public var semiSync: SemiSyncStatus?

    public struct SemiSyncStatus: Codable, Sendable {
        public var settings: Master.SemiSyncRecord
        public var acks: [SyncAcks.Ack]
        /// The highest LSN `settings.replicas` targets acknowledged.
        public var acknowledgedLSN: UInt64
    }

    public static func read(_ path: String) throws -> MasterStatus {
        let dir = MasterDirectory(path: path)
        let identity = try dir.readIdentity()
        var config = Configuration()
        config.readonly = true
        let position: AppliedPosition?
        let marker: VerifiedPosition?
        do {
            let queue = try DatabaseQueue(path: dir.databasePath, configuration: config)
            (position, marker) = try queue.read { db in (try AppliedPosition.read(db), try VerifiedPosition.read(db)) }
            try queue.close()
        } catch {
            throw MasterError(.io, "unable to read \(dir.databasePath): \(error)")
        }
        var sealed: [Segment] = []
        var active: Segment?
        do {
            for entry in try BinlogDirectory(path: dir.binlogPath).list().segments {
                let reader = try SegmentReader(path: entry.path)
                let created = formatTimestamp(reader.header.createdAt)
                if let footer = reader.footer, !entry.name.isActive {
                    sealed.append(Segment(name: entry.name.description, sealed: true, bytes: entry.size, firstLSN: reader.header.firstLSN,
                                          lastLSN: footer.lastLSN, transactions: footer.transactionCount, createdAt: created,
                                          lastCommitTime: formatTimestamp(footer.lastCommitTime)))
                } else {
                    try reader.verifyAll(decode: false)
                    // The committed data, not the zero-filled space preallocated after it.
                    active = Segment(name: entry.name.description, sealed: false, bytes: reader.offset, firstLSN: reader.header.firstLSN,
                                     lastLSN: reader.transactionCount > 0 ? reader.lastLSN : nil, transactions: reader.transactionCount,
                                     createdAt: created, lastCommitTime: reader.transactionCount > 0 ? formatTimestamp(reader.lastCommitTime) : nil)
                }
            }
        } catch let e as FormatError {
            throw MasterError(e, while: "reading the binlog")
        } catch let e as SystemError {
            throw MasterError(e, while: "reading the binlog")
        }
        let history = try? EpochHistory.newest(in: dir.binlogPath)
        let epochFirst = history?.history.entry(identity.epoch)?.firstLSN ?? 1
        let last = active?.lastLSN ?? sealed.last?.lastLSN ?? (epochFirst - 1)
        let lastTime = active?.lastCommitTime ?? sealed.last?.lastCommitTime ?? (last > 0 && last == position?.lsn ? position.map { formatTimestamp($0.commitTime) } : nil)
        var status = MasterStatus(sourceID: identity.sourceID.uuidString, epoch: identity.epoch, directory: dir.path, lastLSN: last,
                            lastCommitTime: lastTime, databaseLSN: position?.lsn ?? 0, activeSegment: active, sealedSegments: sealed,
                            sealedBytes: sealed.reduce(0) { $0 + $1.bytes }, segmentSizeBytes: identity.segmentSizeBytes,
                            syncBinlog: identity.syncBinlog)
        status.epochFirstLSN = epochFirst
        status.fencedBy = fence(identity, dir, history)
        (status.digestEveryTransactions, status.digestIntervalSeconds) = (identity.digestEveryTransactions, identity.digestIntervalSeconds)
        status.lastMarkerLSN = marker?.lsn
        if let record = Master.SemiSyncRecord.read(dir) {
            let acks = SyncAcks.read(master: dir.path, sourceID: identity.sourceID.uuidString)
            status.semiSync = SemiSyncStatus(settings: record, acks: acks, acknowledgedLSN: min(SyncAcks.acknowledged(by: record.replicas, in: acks), last))
        }
        return status
    }

    /// Why this master may no longer write, if a newer epoch's history is in its binlog or at
    /// one of its shipping targets, or a place that could hold one cannot be read: the same
    /// predicate the writer refuses by (`Master.fence(at:)`).
    static func fence(_ identity: MasterDirectory.Identity, _ dir: MasterDirectory, _ own: (history: EpochHistory, path: String)?) -> String? {
        if let (history, path) = own, history.sourceID == identity.sourceID, history.epoch > identity.epoch {
            return describe(history, path, identity)
        }
        switch Master.fence(at: dir, sourceID: identity.sourceID, epoch: identity.epoch) {
        case nil: return nil
        case .fenced(let history, let path)?: return describe(history, path, identity)
        case .unreadable(let error)?: return "cannot tell whether a newer epoch took over: \(error.message)"
        }
    }

    private static func describe(_ history: EpochHistory, _ path: String, _ identity: MasterDirectory.Identity) -> String {
        let end = history.end(of: identity.epoch).map { " after LSN \($0)" } ?? ""
        return "epoch \(history.epoch) took over\(end) (\(path))"
    }
}

extension MasterStatus {
    /// Prometheus text exposition format (for node_exporter's textfile collector): the master's
    /// position, binlog size and health, each labelled `master="<directory>"`. The commit rate
    /// is `rate(logship_master_last_lsn[5m])` on the Prometheus side (docs/OPERATIONS.md).
    public var prometheus: String {
        var text = PrometheusText()
        func metric(_ name: String, _ help: String, _ value: PrometheusText.Value) {
            text.gauge("logship_master_" + name, help, [.init([("master", directory)], value)])
        }
        let activeBytes = activeSegment?.bytes ?? 0
        metric("last_lsn", "Last LSN committed to the binlog.", .uint(lastLSN))
        text.counter("logship_master_transactions_total", "Transactions in the binlog's history (the last LSN: one per commit); rate() of it is the commit rate.",
                     [.init([("master", directory)], .uint(lastLSN))])
        metric("last_commit_time_seconds", "Commit time of the last LSN, Unix seconds (0 when nothing was committed).",
               PrometheusText.seconds(lastCommitTime.flatMap(parseTimestamp)))
        metric("binlog_bytes", "Bytes of binlog on disk: sealed segments plus the committed part of the active one.", .int(sealedBytes + activeBytes))
        metric("active_segment_bytes", "Committed bytes of the active segment (0 when there is none).", .int(activeBytes))
        metric("segments", "Binlog segments on disk, sealed and active.", .int(Int64(sealedSegments.count + (activeSegment == nil ? 0 : 1))))
        metric("epoch", "The master's epoch (it grows with each promotion).", .uint(UInt64(epoch)))
        metric("last_marker_lsn", "Last LSN that carried a digest marker (0 when none).", .uint(lastMarkerLSN ?? 0))
        metric("recovery_pending", "1 when the database is behind the binlog (the next open redoes the rest).", PrometheusText.flag(databaseLSN != lastLSN))
        metric("fenced", "1 when a newer epoch took over and this master refuses to write.", PrometheusText.flag(fencedBy != nil))
        if let semi = semiSync {
            metric("semisync_replicas", "--sync-replicas of the last writer that ran with semi-sync (targets each commit waits for).", .int(Int64(semi.settings.replicas)))
            metric("semisync_degraded", "1 when semi-sync timed out with --sync-fallback async and commits are acknowledged without their replicas.", PrometheusText.flag(semi.settings.degraded))
            metric("semisync_acknowledged_lsn", "Highest LSN that --sync-replicas targets acknowledged.", .uint(semi.acknowledgedLSN))
            text.gauge("logship_master_semisync_target_lsn", "Highest LSN each target acknowledged (binlog-ship --follow, DIR/acks/).",
                       semi.acks.map { .init([("master", directory), ("target", $0.target)], .uint($0.lsn)) })
        }
        return text.text
    }
}
