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
    /// Master public keys: with any, signatures are required of segments and snapshots.
    var verifyKeys: [String] = []
    /// Replica snapshot public keys trusted for snapshots.
    var snapshotKeys: [String] = []

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
        let scratch = (parent.isEmpty ? "." : parent) + "/" + Self.scratchPrefix + "\(getpid())"
        Self.removeStaleScratch(in: parent.isEmpty ? "." : parent)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let dir = try ReplicaDirectory.initialize(at: scratch, verifyKeys: verifyKeys)
        try dir.trustSnapshotKeys(snapshotKeys)
        try planner.download(selection, inbox: dir.inboxPath, snapshotsDirectory: dir.snapshotsPath)
        CrashPoint.reach("restore.after-download")   // fault injection, see CrashPoint
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

    static let scratchPrefix = ".restore-scratch-"

    /// Removes scratch directories that restores killed before their cleanup left in `parent`
    /// (`kill -9`, a power cut): those whose process no longer runs. A running restore's is kept.
    static func removeStaleScratch(in parent: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        for name in names where name.hasPrefix(scratchPrefix) {
            guard let pid = pid_t(name.dropFirst(scratchPrefix.count)), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            let path = parent + "/" + name
            // Only a directory that is a scratch replica (replica.json) is removed.
            guard FileManager.default.fileExists(atPath: path + "/replica.json") else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
