import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete snapshots and inbox segments the retention policy lets go (dry run unless --confirm).",
        discussion: """
            Every moment of the last --window stays restorable: the snapshot a restore of the window's oldest \
            moment starts from, and every inbox segment after it, stay (the restore planner decides which). \
            Snapshots stay by age class (the newest of each of the last --daily days, --weekly ISO weeks and \
            --monthly months, UTC, by the commit time they hold) and by --pin. Segments not yet applied and the \
            inbox's newest segment stay. Prints what would go (or went) and why each thing stays.
            """)

    @Argument(help: "The replica directory.") var replica: String
    @Option(help: "Keep every moment of this window restorable, e.g. 14d (without it the inbox is not trimmed).") var window: String?
    @Option(help: "Keep the newest snapshot of each of the last N days.") var daily = 0
    @Option(help: "Keep the newest snapshot of each of the last N ISO weeks.") var weekly = 0
    @Option(help: "Keep the newest snapshot of each of the last N months.") var monthly = 0
    @Option(help: "A snapshot that stays whatever its age: its file name or its LSN (repeatable).") var pin: [String] = []
    @Option(help: "Also judge the snapshots uploaded to this bucket prefix (s3://bucket/prefix, as `snapshot --upload`) by the same policy.") var remote: String?
    @Flag(help: "Delete; without it nothing is deleted.") var confirm = false
    @Option(help: "Seconds to wait for a running replica-apply or snapshot to finish (default 0: exit 12 at once).") var lockTimeout: Double = 0
    @Flag(help: "Print the plan as JSON (docs/JSON.md).") var json = false
    @Flag(name: .shortAndLong, help: "Print nothing when it succeeds (for cron).") var quiet = false

    func validate() throws {
        if let window, parseDuration(window) == nil { throw ValidationError("--window takes a duration with a unit, like 36h or 14d") }
        if let window, let d = parseDuration(window), d <= 0 { throw ValidationError("--window must be more than 0s") }
        for (name, n) in [("--daily", daily), ("--weekly", weekly), ("--monthly", monthly)] where n < 0 {
            throw ValidationError("\(name) must be 0 or more")
        }
        if let remote, !remote.hasPrefix("s3://") { throw ValidationError("--remote takes s3://bucket/prefix (where `snapshot --upload` uploads)") }
        if window == nil && daily == 0 && weekly == 0 && monthly == 0 {
            throw ValidationError("give a retention: --window and/or --daily, --weekly, --monthly (or set them in logship.yml)")
        }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let policy = RetentionPolicy(window: window.flatMap(parseDuration).map { Int64($0 * 1e6) },
                                         daily: daily, weekly: weekly, monthly: monthly, pins: pin)
            let plan = confirm ? try ReplicaStore.Prune.execute(replica: replica, policy: policy, lockTimeout: lockTimeout)
                               : try ReplicaStore.Prune.plan(replica: replica, policy: policy)
            let pruner = remote.map { RemotePrune(source: $0, policy: policy) }
            let remoteDecisions = try pruner.map { p in confirm ? try p.execute(try p.plan()) : try p.plan() }
            if json { printLine(try jsonText(PruneJSON(plan: plan, confirmed: confirm, remote: remoteDecisions))); return }
            if quiet { return }
            let verb = confirm ? "deleted" : "would delete"
            for d in remoteDecisions ?? [] {
                let address = "\(remote ?? "")/snapshots/\(d.key)"
                printLine(d.delete ? (confirm ? "\(d.outcome ?? "deleted") \(address)" : "would delete \(address)") + " (LSN \(d.lsn), commit \(d.commitTime)): no age class, pin or window keeps it"
                                   : "keeping \(address) (LSN \(d.lsn), commit \(d.commitTime)): " + d.keptBecause.joined(separator: "; "))
            }
            if let start = plan.windowStart {
                printLine("window: every moment since \(start) stays restorable (restores start at LSN \(plan.anchorLSN ?? 0))")
            }
            for s in plan.snapshots {
                let name = (s.path as NSString).lastPathComponent
                printLine(s.delete ? "\(verb) \(name) (LSN \(s.lsn), commit \(s.commitTime)): no age class, pin or window keeps it"
                                   : "keeping \(name) (LSN \(s.lsn), commit \(s.commitTime)): " + s.keptBecause.joined(separator: "; "))
            }
            for p in plan.unmatchedPins { printLine("note: pin \(p) names no snapshot") }
            for s in plan.deleteSegments { printLine("\(verb) inbox/\(s.name) (LSN ≤ \(s.lastLSN), \(formatBytes(s.bytes))): before the window's start") }
            if let why = plan.segmentsKeptBecause { printLine("keeping \(plan.keptSegments) inbox segment(s): \(why)") }
            let snaps = plan.snapshots.filter(\.delete).count, segs = plan.deleteSegments.count
            printLine(confirm ? "deleted \(snaps) snapshot(s) and \(segs) segment(s)"
                              : "dry run: nothing deleted" + (snaps + segs == 0 ? "" : "; rerun with --confirm to delete \(snaps) snapshot(s) and \(segs) segment(s)"))
        }
    }
}

/// `prune --json` (docs/JSON.md).
struct PruneJSON: Encodable {
    var plan: ReplicaStore.Prune.Plan
    var confirmed: Bool
    /// With --remote, the bucket's snapshots (null without).
    var remote: [RemotePrune.Decision]?

    enum Keys: String, CodingKey { case confirmed, now, windowStart, anchorLSN, snapshots, deleteSegments, keptSegments, segmentsKeptBecause, unmatchedPins, remoteSnapshots }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(confirmed, forKey: .confirmed)
        try c.encode(plan.now, forKey: .now)
        try c.encode(plan.windowStart, forKey: .windowStart)   // null when absent (docs/JSON.md)
        try c.encode(plan.anchorLSN, forKey: .anchorLSN)
        try c.encode(plan.snapshots, forKey: .snapshots)
        try c.encode(plan.deleteSegments, forKey: .deleteSegments)
        try c.encode(plan.keptSegments, forKey: .keptSegments)
        try c.encode(plan.segmentsKeptBecause, forKey: .segmentsKeptBecause)
        try c.encode(plan.unmatchedPins, forKey: .unmatchedPins)
        try c.encode(remote, forKey: .remoteSnapshots)
    }
}
