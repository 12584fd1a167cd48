import ArgumentParser
import BinlogFormat
import BinlogShip
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a new database as of an LSN or a time, from the best snapshot plus inbox segments.",
        discussion: """
            Bounds are inclusive: --to-lsn N includes N; --to-time T is the state after the last transaction committed
            at or before T (UTC). A target outside the recoverable window fails (exit 2) with the window in the message;
            nothing falls back to the latest state unless --latest says so. The result is checked (PRAGMA quick_check,
            position, each table's content digest implied by the snapshot and the binlog; row counts for a table
            after ALTER TABLE) before it is published.
            """)

    @Argument(help: "The replica directory (its inbox and snapshots are read, nothing is changed); with --source, the database file to create.") var replica: String
    @Option(help: "Restore from a bucket instead of a replica: s3://bucket/prefix where binlog-ship ships and `snapshot --upload` uploads. Only the snapshot and segments needed are downloaded, into a scratch directory beside the output.") var source: String?
    @Option(help: "Restore up to and including this LSN.") var toLSN: UInt64?
    @Option(help: "Restore to the last transaction committed at or before this time (with its zone: 2026-03-01T12:00:00Z or +01:00; a time without one is refused).") var toTime: String?
    @Flag(help: "Restore to the newest restorable LSN.") var latest = false
    @Option(name: .shortAndLong, help: "The database file to create.") var output: String?
    @Flag(help: "Print the plan (snapshot, segments, LSN range) and change nothing.") var dryRun = false
    @Flag(help: "Replace an existing output file.") var force = false
    @Flag(help: "Print the plan as JSON.") var json = false
    @Option(name: .customLong("verify-key"), help: "With --source: require segments signed by this master public key (repeatable).")
    var verifyKeys: [String] = []
    @Option(name: .customLong("snapshot-key"), help: "With --source and --verify-key: trust snapshots signed by this replica snapshot key (its keys/snapshots/snapshot.pub; repeatable).")
    var snapshotKeys: [String] = []

    func validate() throws {
        let targets = [toLSN != nil, toTime != nil, latest].filter { $0 }.count
        guard targets == 1 else { throw ValidationError("give exactly one of --to-lsn, --to-time, --latest") }
        if let toTime, let problem = typedTimeProblem(toTime) { throw ValidationError("--to-time: cannot read \(toTime): \(problem)") }
        if !snapshotKeys.isEmpty && verifyKeys.isEmpty { throw ValidationError("--snapshot-key needs --verify-key (snapshots are checked when signatures are required)") }
        if source == nil && !(verifyKeys.isEmpty && snapshotKeys.isEmpty) {
            throw ValidationError("--verify-key and --snapshot-key go with --source; a replica's restore uses the keys in its keys/ directory")
        }
        if let source {
            guard source.hasPrefix("s3://") else { throw ValidationError("--source takes s3://bucket/prefix") }
            guard output == nil else { throw ValidationError("with --source, the argument is the database file to create; drop --output") }
            return
        }
        if !dryRun && output == nil { throw ValidationError("--output is required (or use --dry-run)") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            if let source {
                let goal: RemoteRestorePlan.Goal = toLSN.map { .lsn($0) } ?? toTime.flatMap(parseTimestamp).map { .time($0) } ?? .latest
                return try RemoteRestore(source: source, output: replica, goal: goal, dryRun: dryRun, force: force, json: json,
                                         verifyKeys: verifyKeys, snapshotKeys: snapshotKeys).run()
            }
            if let output, !dryRun { try ReplicaStore.Restore.checkOutput(output, force: force, replica: replica) }
            let target: ReplicaStore.Restore.Target = toLSN.map { .lsn($0) } ?? toTime.flatMap(parseTimestamp).map { .time($0) } ?? .latest
            let plan = try ReplicaStore.Restore.plan(replica: replica, target: target)
            if json {
                // One object: the plan, and what was restored (null for --dry-run).
                let restored = dryRun ? nil : try ReplicaStore.Restore.execute(plan, output: output!, force: force) { _ in }
                printLine(try jsonText(RestoreJSON(plan: plan, restored: restored.map {
                    .init(output: $0.output, lsn: $0.lsn, transactions: $0.transactions, notes: $0.notes)
                })))
                return
            } else {
                printLine("restore plan for \(plan.replica)")
                printLine("  target      LSN \(plan.targetLSN)" + (plan.targetCommitTime.map { ", committed \($0)" } ?? "") + (plan.requestedTime.map { " (last at or before \($0))" } ?? ""))
                printLine("  start from  " + (plan.snapshot.map { "snapshot \($0.path) (LSN \($0.lsn))" } ?? "an empty database"))
                printLine("  replay      \(plan.transactions) transactions from \(plan.segments.count) segments" + (plan.segments.isEmpty ? "" : ": \(plan.segments.first!) … \(plan.segments.last!)"))
                printLine("  window      LSN \(plan.windowFromLSN)…\(plan.windowToLSN)" + (plan.windowFromTime.map { ", \($0)" } ?? "") + (plan.windowToTime.map { " … \($0)" } ?? ""))
            }
            if dryRun { return }
            let bar = ProgressBar(label: "restoring", total: Int64(plan.transactions))
            let result = try ReplicaStore.Restore.execute(plan, output: output!, force: force) { bar.update(Int64($0 - plan.fromLSN)) }
            bar.finish(Int64(result.transactions))
            printLine("restored \(result.output) at LSN \(result.lsn) (\(result.transactions) transactions replayed; checked: quick_check ok, content digests match)")
            for note in result.notes { printLine("  note: \(note)") }
        }
    }
}

/// `restore --json` (docs/JSON.md): the plan's keys, and `restored`. Before, a restore printed the
/// plan as JSON and then its text line, which was not one JSON value.
struct RestoreJSON: Encodable {
    struct Restored: Encodable { var output: String; var lsn: UInt64; var transactions: Int; var notes: [String] }
    var plan: ReplicaStore.Restore.Plan
    var restored: Restored?

    func encode(to encoder: Encoder) throws {
        try plan.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(restored, forKey: .restored)
    }
    enum CodingKeys: String, CodingKey { case restored }
}
