import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import ReplicaStore

/// `replica-apply --follow` pruning between passes (issue 17): the follower holds the replica's
/// lock for as long as it runs, so a cron `prune --confirm` beside it waits or exits 12; with
/// these options (or logship.yml `replicas: {NAME: {path: DIR, prune: auto, retention: …}}`,
/// which sets them) the follower itself prunes, with `prune --confirm`'s rules, at most once per
/// --prune-interval, after a pass (docs/OPERATIONS.md "Retention").
struct FollowPruneOptions: ParsableArguments {
    @Option(help: "With --follow: prune between passes, keeping every moment of this window restorable (e.g. 14d); as `prune --window … --confirm`.") var pruneWindow: String?
    @Option(help: "With --follow: prune, keeping the newest snapshot of each of the last N days.") var pruneDaily = 0
    @Option(help: "With --follow: prune, keeping … of the last N ISO weeks.") var pruneWeekly = 0
    @Option(help: "With --follow: prune, keeping … of the last N months.") var pruneMonthly = 0
    @Option(help: "With --follow pruning: a snapshot that stays (repeatable).") var prunePin: [String] = []
    @Option(help: "With --follow pruning: the least time between two prunes, with a unit (default 1h).") var pruneInterval: String = "1h"

    var enabled: Bool { pruneWindow != nil || pruneDaily > 0 || pruneWeekly > 0 || pruneMonthly > 0 }

    func check(follow: Bool) throws {
        guard enabled else { return }
        guard follow else { throw ValidationError("--prune-window, --prune-daily, --prune-weekly and --prune-monthly prune while --follow runs; without it use `replica-apply prune`") }
        if let pruneWindow, (parseDuration(pruneWindow) ?? 0) <= 0 { throw ValidationError("--prune-window takes a duration with a unit, like 36h or 14d") }
        if [pruneDaily, pruneWeekly, pruneMonthly].contains(where: { $0 < 0 }) { throw ValidationError("--prune-daily, --prune-weekly and --prune-monthly must be 0 or more") }
        guard pruneInterval.contains(where: \.isLetter), (parseDuration(pruneInterval) ?? 0) > 0 else {
            throw ValidationError("--prune-interval takes a duration with a unit, like 10m or 1h")
        }
    }

    func pruner(replica: String, quiet: Bool) -> FollowPruner? {
        guard enabled else { return nil }
        let policy = RetentionPolicy(window: pruneWindow.flatMap(parseDuration).map { Int64($0 * 1e6) },
                                     daily: pruneDaily, weekly: pruneWeekly, monthly: pruneMonthly, pins: prunePin)
        return FollowPruner(replica: replica, policy: policy, interval: parseDuration(pruneInterval) ?? 3600, quiet: quiet)
    }
}

/// Prunes after a pass when the interval has passed since the last attempt (the first pass
/// prunes). A snapshot being written (busy) is tried again after the next pass; any other
/// failure is reported on stderr and tried again an interval later: pruning never stops the
/// applying.
final class FollowPruner {
    let replica: String
    let policy: RetentionPolicy
    let interval: Double
    let quiet: Bool
    private var last: Date?
    private var busy = false

    init(replica: String, policy: RetentionPolicy, interval: Double, quiet: Bool) {
        (self.replica, self.policy, self.interval, self.quiet) = (replica, policy, interval, quiet)
    }

    func afterPass() {
        if let last, Date().timeIntervalSince(last) < interval { return }
        let previous = last
        last = Date()
        defer { if busy { last = previous } }
        busy = false
        do {
            let plan = try ReplicaStore.Prune.executeHoldingApplyLock(replica: replica, policy: policy)
            let snaps = plan.snapshots.filter(\.delete).count, segs = plan.deleteSegments.count
            ToolLog.logger.info("pruned \(replica): deleted \(snaps) snapshot(s) and \(segs) segment(s)")
            if !quiet && snaps + segs > 0 { printLine("pruned: deleted \(snaps) snapshot(s) and \(segs) segment(s)") }
        } catch let e as ReplicaError where e.kind == .busy {
            busy = true  // a snapshot is being written: the next pass tries again
        } catch {
            printError("replica-apply", "unable to prune while following (tried again in --prune-interval): \(error)")
        }
    }
}
