import BinlogFormat
import BinlogShip
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

/// `restore --source s3://…`: plans from the bucket (snapshot metadata, segment headers and
/// footers), downloads only the selection into a scratch replica directory beside the output
/// (verified), then runs the local restore on it (plan, replay, checks, durable publish). The
/// scratch directory is removed afterwards, whatever happened.
struct RemoteRestore {
    var source: String
    var output: String
    var goal: RemoteRestorePlan.Goal
    var dryRun: Bool
    var force: Bool
    var json: Bool

    func run() throws {
        try ReplicaStore.Restore.checkOutput(output, force: force)
        let planner = RemoteRestorePlan(segments: S3Store(target: ShipTarget(name: "source", path: source)), snapshots: RemoteSnapshots.s3(source: source))
        let selection = try planner.select(goal)
        if json && dryRun { printLine(try jsonText(selection)); return }
        if !json {
            printLine("remote restore plan for \(source)")
            printLine("  start from  " + (selection.snapshot.map { "snapshot \($0.key) (LSN \($0.lsn), \(formatBytes($0.bytes)))" } ?? "an empty database"))
            printLine("  download    \(selection.segments.count) segments" + (selection.segments.isEmpty ? "" : ": \(selection.segments.first!.key) … \(selection.segments.last!.key)")
                      + ", \(formatBytes(selection.bytes)) in all")
            printLine("  window      LSN \(selection.windowFromLSN)…\(selection.windowToLSN)" + (selection.windowToTime.map { ", newest commit \(formatTimestamp($0))" } ?? ""))
        }
        if dryRun { return }
        let parent = (output as NSString).deletingLastPathComponent
        let scratch = (parent.isEmpty ? "." : parent) + "/.restore-scratch-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let dir = try ReplicaDirectory.initialize(at: scratch)
        try planner.download(selection, inbox: dir.inboxPath, snapshotsDirectory: dir.snapshotsPath)
        let target: ReplicaStore.Restore.Target
        switch goal {
        case .lsn(let n): target = .lsn(n)
        case .time(let t): target = .time(t)
        case .latest: target = .lsn(selection.targetLSN ?? 0)
        }
        let plan = try ReplicaStore.Restore.plan(replica: dir.path, target: target)
        if json { printLine(try jsonText(plan)) }
        let result = try ReplicaStore.Restore.execute(plan, output: output, force: force)
        if json { return }
        printLine("restored \(result.output) at LSN \(result.lsn) from \(source) (\(result.transactions) transactions replayed; checked: quick_check ok, content digests match)")
        for note in result.notes { printLine("  note: \(note)") }
    }
}
