import BinlogFormat
import Foundation

/// How an inbox follows a source across promotions (docs/FAILOVER.md): the newest epoch
/// history in the inbox says where each epoch ended; segments are used up to there, and what
/// an older epoch wrote beyond its fork point is reported, never applied.
extension Inbox {
    /// What `follow` found.
    public struct Chain {
        /// The segments to read, in order (an ended epoch's segments capped by `Segment.end`).
        public var segments: [Segment] = []
        /// The first problem that stops the chain; nil when it is whole up to the newest segment.
        public var problem: ReplicaError?
        /// Transactions an older epoch holds past its fork point: lost writes of a superseded
        /// master, or a fenced master that kept writing. Never applied.
        public var diverged: [Diverged] = []
        /// The newest epoch history in the inbox, if there is one.
        public var history: EpochHistory?

        init(history: EpochHistory?) { self.history = history }

        /// The split-brain alarm for `diverged`, nil when there is nothing diverged.
        public var divergedAlarm: ReplicaError? {
            guard let first = diverged.first, let history else { return nil }
            let ranges = diverged.map { d in "\(d.segment) (LSNs \(d.firstLSN)…\(d.lastLSN.map(String.init) ?? "end"))" }
            let next = history.entry(first.epoch + 1)
            return ReplicaError(.splitBrain,
                                "epoch \(first.epoch) wrote past its fork point: epoch \(first.epoch + 1) took over after LSN \(first.forkLSN)"
                                + (next?.promotedFrom.map { " (promoted from \($0) at \(next?.startedAt ?? "")" + ")" } ?? "")
                                + ", but the inbox holds epoch \(first.epoch) transactions after it: " + ranges.joined(separator: ", ")
                                + ". They were acknowledged by the old master and are not in the new history (lost writes); none of them is applied",
                                hint: "save them for reconciliation (`binlog-writer dump` of those files lists them), then move them out of the inbox, e.g. into a quarantine/ folder beside it")
        }
    }

    /// An older epoch's segment that reaches past the fork point.
    public struct Diverged: Sendable {
        public var segment: String
        public var epoch: UInt32
        /// The last LSN of `epoch` that is part of the history.
        public var forkLSN: UInt64
        /// The first and last LSN beyond the fork (last nil while the segment is unsealed).
        public var firstLSN: UInt64
        public var lastLSN: UInt64?
    }

    /// Why a store at (`source`, `start`) cannot follow `timeline`, if it cannot: it follows an
    /// epoch the inbox has no history of, or it applied past its epoch's fork point.
    static func storeProblem(_ timeline: EpochHistory?, _ historyPath: String?, source: (id: UUID, epoch: UInt32), start: UInt64) -> ReplicaError? {
        guard let timeline else {
            guard source.epoch == 1 else {
                return ReplicaError(.splitBrain, "the store follows epoch \(source.epoch) but the inbox holds no epoch history (\(EpochHistory.fileName(epoch: source.epoch)))",
                                    hint: "ship the new master's history file into the inbox (binlog-ship does so with its segments)")
            }
            return nil
        }
        guard timeline.sourceID == source.id else {
            return ReplicaError(.corruption, "the inbox's epoch history belongs to source \(timeline.sourceID); this store follows \(source.id) (file \(historyPath ?? ""))",
                                hint: "a history file of another master was put into this inbox; remove it")
        }
        guard timeline.entry(source.epoch) != nil else {
            return ReplicaError(.splitBrain, "the store follows epoch \(source.epoch) but the inbox's newest history (\(historyPath ?? "")) ends at epoch \(timeline.epoch)",
                                hint: "ship the newest history file of the current master into the inbox")
        }
        if let end = timeline.end(of: source.epoch), start > end {
            let next = timeline.entry(source.epoch + 1)
            return ReplicaError(.splitBrain, "this store applied LSNs \(end + 1)…\(start) of epoch \(source.epoch), past the fork point: epoch \(source.epoch + 1) took over after LSN \(end)"
                                + (next?.promotedFrom.map { " (promoted from \($0))" } ?? "")
                                + "; those \(start - end) transactions are not in the new master's history, so the store can never follow it",
                                hint: "rebuild this replica from a snapshot at or before LSN \(end) (`replica-apply restore DIR --to-lsn \(end)` from one, then apply); list the diverged transactions with `binlog-writer dump` of the old master's segments from LSN \(end + 1)")
        }
        return nil
    }

    /// Why `segment` cannot be in the chain at all, if it cannot: another source, or an epoch
    /// that no history in the inbox names (a master promoted without fencing this replica).
    func admit(_ segment: Segment, source: UUID?, timeline: EpochHistory?, storeEpoch: UInt32?) -> ReplicaError? {
        let h = segment.header
        if let source, h.sourceID != source {
            return ReplicaError(.corruption, "\(segment.fileName) comes from source \(h.sourceID); "
                                + (storeEpoch != nil ? "this store follows" : "the segments before it come from") + " source \(source) (file \(segment.path), offset 16)",
                                hint: "a segment of another master was shipped into this inbox; remove it and ship the right one")
        }
        let known = timeline?.epoch ?? 1
        if h.epoch > known {
            return ReplicaError(.splitBrain, "\(segment.fileName) belongs to epoch \(h.epoch), but the inbox's history ends at epoch \(known) (file \(segment.path), offset 32)",
                                hint: "ship \(EpochHistory.fileName(epoch: h.epoch)) from the master of epoch \(h.epoch); if there is none, that master was promoted without fencing this replica and must not be followed")
        }
        return nil
    }

    /// Checks the switch from `previous` (an ended epoch) to `next` (a later one): the older
    /// segment reaches the fork point, and the newer one begins right after it.
    func switchProblem(from previous: Segment, to next: Segment, timeline: EpochHistory?) -> ReplicaError? {
        let timeline = timeline ?? EpochHistory.initial(sourceID: next.header.sourceID)
        guard let end = timeline.end(of: previous.name.epoch), let newer = timeline.entry(next.name.epoch) else {
            return ReplicaError(.corruption, "\(next.fileName) (epoch \(next.name.epoch)) follows \(previous.fileName) (epoch \(previous.name.epoch)), but the history has no switch between them (file \(next.path))")
        }
        // Epochs between the two must have ended without writing anything.
        if newer.firstLSN != end + 1 {
            return ReplicaError(.corruption, "epoch \(next.name.epoch) begins at LSN \(newer.firstLSN), epoch \(previous.name.epoch) ends at \(end): epochs between them wrote transactions this inbox lacks",
                                hint: "ship the missing epochs' segments")
        }
        if let last = previous.lastLSN, last < end {
            return ReplicaError(.gap, "LSNs \(last + 1)…\(end) of epoch \(previous.name.epoch) are missing: the inbox has \(previous.fileName) (up to LSN \(last)) and then \(next.fileName) of epoch \(next.name.epoch)",
                                hint: "ship the rest of epoch \(previous.name.epoch) up to its fork point, LSN \(end)")
        }
        if previous.footer == nil {
            return ReplicaError(.gap, "\(previous.fileName) is a partial copy; epoch \(previous.name.epoch) needs to reach LSN \(end) before epoch \(next.name.epoch) can follow",
                                hint: "ship the sealed segment")
        }
        guard next.header.firstLSN == end + 1 else {
            if next.header.firstLSN > end + 1 {
                return ReplicaError(.gap, "LSNs \(end + 1)…\(next.header.firstLSN - 1) of epoch \(next.name.epoch) are missing before \(next.fileName)",
                                    hint: "ship the first segments of epoch \(next.name.epoch)")
            }
            return ReplicaError(.corruption, "\(next.fileName) starts at LSN \(next.header.firstLSN), but epoch \(next.name.epoch) begins at LSN \(end + 1) (file \(next.path), offset 48)")
        }
        return nil
    }
}
