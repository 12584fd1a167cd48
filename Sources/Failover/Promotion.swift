import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import LogshipSystem
import ReplicaStore

/// Turns a replica into the master of a new epoch (docs/FAILOVER.md "Promote"):
///
/// 1. applies every complete transaction in the replica's inbox (the fork point is then the
///    replica's applied LSN);
/// 2. writes the new epoch's history into the replica's own inbox first: from then on this
///    replica never applies the old epoch past the fork, and a rerun after a crash resumes
///    the same promotion instead of starting another;
/// 3. creates the master data directory from a backup of the store (atomically, see
///    `MasterDirectory.initializePromoted`);
/// 4. fences every directory it is given: replica inboxes and shipping targets, and the old
///    master's directory when it is reachable.
public enum Promotion {
    /// What to promote, where to, and whom to fence.
    public struct Options {
        public var replica: String
        public var masterPath: String
        public var fences: [String] = []
        public var dryRun = false
        public var lockTimeout: Double = 0
        public var segmentSize: Int64 = MasterDirectory.defaultSegmentSize
        public var syncBinlog = 1
        public init(replica: String, masterPath: String) {
            self.replica = replica
            self.masterPath = masterPath
        }
    }

    /// What the promotion did (or, with `dryRun`, would do).
    public struct Outcome {
        public var replica: String
        public var master: String
        public var sourceID: UUID
        public var oldEpoch: UInt32
        public var newEpoch: UInt32
        /// The last LSN of the old epoch in the new history; the new master writes from here + 1.
        public var forkLSN: UInt64
        public var forkCommitTime: Int64
        /// Transactions applied from the inbox before promoting (0 in a dry run).
        public var applied: Int
        /// In a dry run: the LSN the inbox would bring the replica to first.
        public var reachableLSN: UInt64
        public var fenced: [FenceTarget]
        public var history: EpochHistory
        /// True when this run finished a promotion that an earlier run had begun.
        public var resumed: Bool
        public var dryRun: Bool
        /// Old-epoch transactions in the inbox past a fork point (lost writes), if any.
        public var lostWrites: ReplicaError?
    }

    /// Runs the promotion (see the type's comment). Holds the replica's lock throughout.
    public static func run(_ options: Options) throws -> Outcome {
        let fences = try options.fences.map(FenceTarget.init(path:))
        let replicaPath = absolutePath(options.replica)
        let replica = try Replica.open(replicaPath, lockTimeout: options.lockTimeout)
        defer { replica.close() }
        var applied = 0
        var lostWrites: ReplicaError?
        var reachable: UInt64 = 0
        if options.dryRun {
            reachable = try ReplicaStatus.read(replicaPath).inboxLastLSN
        } else {
            do {
                applied = try replica.applyAvailable().transactions
            } catch let e as ReplicaError where e.isLostWritesAlarm {
                lostWrites = e
            }
        }
        guard let position = try replica.position() else {
            throw FailoverError(.invalid, "\(replicaPath) has applied nothing yet: there is no data to promote",
                                hint: "apply the inbox first (`replica-apply \(replicaPath)`), or promote another replica")
        }
        reachable = max(reachable, position.lsn)
        let origin = "replica \(replicaPath) on \(ProcessInfo.processInfo.hostName)"
        let inbox = try replica.directory.inboxPath
        let (history, resumed) = try newHistory(position: position, inbox: inbox, origin: origin, forkLSN: options.dryRun ? reachable : position.lsn)
        for fence in fences { try fence.check(against: history) }
        var outcome = Outcome(replica: replicaPath, master: absolutePath(options.masterPath), sourceID: position.sourceID,
                              oldEpoch: position.epoch, newEpoch: history.epoch, forkLSN: history.end(of: position.epoch) ?? position.lsn,
                              forkCommitTime: position.commitTime, applied: applied, reachableLSN: reachable, fenced: fences,
                              history: history, resumed: resumed, dryRun: options.dryRun, lostWrites: lostWrites)
        if options.dryRun { return outcome }

        // 2. The replica's own fence: the resume marker, and no more old epoch past the fork.
        try FenceTarget(path: inbox).write(history)
        CrashPoint.reach("promote.after-own-fence")
        // 3. The master, unless a resumed run already made it.
        if try !masterExists(at: outcome.master, history: history) {
            do {
                _ = try MasterDirectory.initializePromoted(at: outcome.master, fromStore: replica.directory.storePath, history: history,
                                                           segmentSize: options.segmentSize, syncBinlog: options.syncBinlog)
            } catch let e as MasterError {
                throw FailoverError(e.kind == .exists ? .exists : (e.kind == .diskFull ? .diskFull : .io), "\(e.message)", hint: e.hint)
            }
        }
        // 4. Everyone else it was told of.
        for fence in fences {
            try fence.write(history)
            CrashPoint.reach("promote.after-fence")
        }
        outcome.fenced = fences
        return outcome
    }

    /// The history the promotion creates, or the one an interrupted run of the same promotion
    /// already wrote into the inbox.
    static func newHistory(position: AppliedPosition, inbox: String, origin: String, forkLSN: UInt64) throws -> (EpochHistory, Bool) {
        let found: EpochHistory?
        do { found = try EpochHistory.newest(in: inbox)?.history } catch let e as FormatError {
            throw FailoverError(e, while: "reading the inbox's epoch history")
        } catch let e as SystemError {
            throw FailoverError(e, while: "reading the inbox's epoch history")
        }
        let timeline = found ?? EpochHistory.initial(sourceID: position.sourceID)
        if timeline.epoch == position.epoch + 1, timeline.end(of: position.epoch) == position.lsn, timeline.current.promotedFrom == origin {
            return (timeline, true)
        }
        guard timeline.epoch == position.epoch else {
            let next = timeline.entry(position.epoch + 1)
            throw FailoverError(.splitBrain, "this replica follows epoch \(position.epoch), but its inbox already holds epoch \(timeline.epoch)"
                                + (next.map { " (epoch \($0.epoch) began at LSN \($0.firstLSN)" + ($0.promotedFrom.map { ", promoted from \($0)" } ?? "") + ")" } ?? ""),
                                hint: "a newer master exists; follow it (apply its segments) instead of promoting this replica")
        }
        do {
            return (try timeline.promoted(at: forkLSN, startedAt: microsecondsNow(), from: origin), false)
        } catch let e as FormatError {
            throw FailoverError(e, while: "extending the epoch history")
        } catch let e as SystemError {
            throw FailoverError(e, while: "extending the epoch history")
        }
    }

    /// True when `path` already is this promotion's master (a resumed run); throws when it is
    /// something else.
    static func masterExists(at path: String, history: EpochHistory) throws -> Bool {
        let dir = MasterDirectory(path: path)
        guard FileManager.default.fileExists(atPath: dir.identityPath) else { return false }
        let identity = try dir.readIdentity()
        let own = try? EpochHistory.load(path: dir.binlogPath + "/" + EpochHistory.fileName(epoch: history.epoch))
        guard identity.sourceID == history.sourceID, identity.epoch == history.epoch, own == history else {
            throw FailoverError(.exists, "\(dir.path) is already a master data directory (source \(identity.sourceID) epoch \(identity.epoch))",
                                hint: "promotion never touches an existing directory; choose a new path")
        }
        return true
    }
}

extension ReplicaError {
    /// True for the alarm about an older epoch's transactions past its fork point: not a
    /// reason to stop a promotion (they are not part of any history the promotion continues).
    var isLostWritesAlarm: Bool { kind == .splitBrain && message.contains("wrote past its fork point") }
}

/// `path` made absolute against the working directory and standardized: promotion records
/// paths in histories and messages that are read from elsewhere.
func absolutePath(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return (full as NSString).standardizingPath
}
