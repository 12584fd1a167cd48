import BinlogFormat
import Foundation
import ReplicaStore

/// Compares replicas of one source to choose which to promote (docs/FAILOVER.md "Choosing"):
/// the newest epoch first, then the highest LSN the replica reaches once its inbox is applied,
/// then the one with less left to apply. Read-only: takes no lock.
public enum Candidates {
    /// One replica, as the comparison sees it.
    public struct Candidate: Codable, Sendable {
        public var replica: String
        public var sourceID: String?
        public var epoch: UInt32?
        public var appliedLSN: UInt64
        public var appliedCommitTime: String?
        /// The LSN the replica reaches after applying every complete transaction in its inbox.
        public var reachableLSN: UInt64
        public var pendingSegments: Int
        /// What stops the inbox's chain (a gap, a damaged file), if anything.
        public var inboxProblem: String?
        /// Why this replica cannot be promoted, if it cannot.
        public var unusable: String?
    }

    /// The comparison: every replica, and the one to promote.
    public struct Comparison: Codable, Sendable {
        public var candidates: [Candidate]
        public var best: String?
        public var reason: String
    }

    /// Reads each replica's status and ranks them. Throws when they follow different sources.
    public static func compare(_ paths: [String]) throws -> Comparison {
        var list: [Candidate] = []
        for path in paths {
            do {
                let s = try ReplicaStatus.read(path)
                list.append(Candidate(replica: s.replica, sourceID: s.sourceID, epoch: s.epoch, appliedLSN: s.appliedLSN,
                                      appliedCommitTime: s.appliedCommitTime, reachableLSN: max(s.inboxLastLSN, s.appliedLSN),
                                      pendingSegments: s.behindSegments, inboxProblem: s.inboxProblem,
                                      unusable: s.sourceID == nil ? "nothing applied yet" : nil))
            } catch {
                list.append(Candidate(replica: path, appliedLSN: 0, reachableLSN: 0, pendingSegments: 0, unusable: "unreadable: \(error)"))
            }
        }
        let sources = Set(list.compactMap(\.sourceID))
        guard sources.count <= 1 else {
            throw FailoverError(.splitBrain, "the replicas follow different sources: " + list.map { "\($0.replica) → \($0.sourceID ?? "none")" }.joined(separator: ", "),
                                hint: "compare only replicas of the master that was lost")
        }
        let usable = list.filter { $0.unusable == nil }
        guard let best = usable.max(by: { rank($0) < rank($1) }) else {
            return Comparison(candidates: list, best: nil, reason: "no replica has applied anything")
        }
        var reason = "highest reachable LSN \(best.reachableLSN) in epoch \(best.epoch ?? 1)"
        if best.reachableLSN > best.appliedLSN { reason += " (after applying \(best.reachableLSN - best.appliedLSN) pending transactions)" }
        let runnersUp = usable.filter { $0.replica != best.replica }
        if let second = runnersUp.max(by: { rank($0) < rank($1) }) {
            reason += second.reachableLSN == best.reachableLSN && second.epoch == best.epoch
                ? "; tied with \(second.replica), which has more left to apply"
                : "; next is \(second.replica) at LSN \(second.reachableLSN)"
        }
        if best.inboxProblem != nil { reason += "; its inbox has a problem past that point (see the table)" }
        return Comparison(candidates: list, best: best.replica, reason: reason)
    }

    private static func rank(_ c: Candidate) -> (UInt32, UInt64, UInt64) {
        (c.epoch ?? 0, c.reachableLSN, c.appliedLSN)
    }
}
