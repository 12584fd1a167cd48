import ArgumentParser
import BinlogFormat
import BinlogShip
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show applied LSN and its commit time, lag, pending segments, recoverable window, snapshots and last error (takes no lock).")

    @Argument(help: "The replica directory.") var replica: String
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print Prometheus text format (for node_exporter's textfile collector).") var prometheus = false
    @Option(help: "Write the Prometheus text to this file instead, atomically (for node_exporter's textfile collector; name it *.prom).")
    var metricsFile: String?


    func run() throws {
        try runReporting("replica-apply") {
            let s = try ReplicaStatus.read(replica)
            let dir = try ReplicaDirectory.open(replica)
            // The bucket is read only for the machine-readable forms and the text's last line.
            let remote = dir.identity?.source.map { RemoteView.status($0, replica: dir, applied: s) }
            let prom = s.prometheus + (remote?.prometheus(replica: s.replica) ?? "")
            if let metricsFile { try MetricsFile.write(prom, to: metricsFile); return }
            if json { printLine(try jsonText(StatusJSON(status: s, remote: remote))); return }
            if prometheus { FileHandle.standardOutput.write(Data(prom.utf8)); return }
            printLine("replica     \(s.replica)")
            printLine("source      " + (s.sourceID.map { "\($0) epoch \(s.epoch ?? 0)" } ?? "none yet (nothing applied)"))
            printLine("applied     LSN \(s.appliedLSN)" + (s.appliedCommitTime.map { ", committed \($0) (\(String(format: "%.0f", s.appliedAgeSeconds ?? 0)) s ago)" } ?? ""))
            printLine("verified    " + (s.verifiedLSN.map { "LSN \($0) matched the master's digest marker" + (s.verifiedAt.map { " (checked \($0))" } ?? "") }
                                       ?? "no digest marker passed yet"))
            printLine("inbox       up to LSN \(s.inboxLastLSN)" + (s.inboxLastCommitTime.map { ", committed \($0)" } ?? "")
                      + ": \(s.behindLSNs) transactions in \(s.behindSegments) segments pending (\(formatBytes(s.pendingBytes))), lag \(String(format: "%.1f", s.lagSeconds)) s")
            if let p = s.inboxProblem { printLine("problem     \(p)") }
            if let l = s.lostWrites { printLine("SPLIT BRAIN \(l)") }
            printLine("restorable  " + (s.recoverableFromLSN.map { "LSN \($0)…\(s.recoverableToLSN ?? 0)" } ?? "nothing (no snapshot, inbox does not start at LSN 1)"))
            printLine("snapshots   \(s.snapshots.count)" + (s.snapshots.last.map { ", newest at LSN \($0.lsn) (\(formatTimestamp($0.commitTime)))" } ?? ""))
            printLine("last run    " + (s.lastRunAt ?? "never") + (s.lastSuccessAt.map { ", last success \($0)" } ?? ""))
            if let e = s.lastError { printLine("last error  \(s.lastErrorAt ?? ""): \(e)") }
            if let remote { printLine("remote      " + remote.line) }
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "For cron alerting: exit 5 when the replica is further behind than --max-lag, or has not run successfully within it.")

    @Argument(help: "The replica directory.") var replica: String
    @Option(help: "The most lag to accept (e.g. 10m).") var maxLag: String
    @Flag(help: "Print the verdict as JSON on stdout (docs/JSON.md); the exit code is unchanged.") var json = false
    @Flag(name: .shortAndLong, help: "Print nothing when the replica is within --max-lag (for cron).") var quiet = false

    func validate() throws {
        guard parseDuration(maxLag) != nil else { throw ValidationError("--max-lag takes a duration like 10m") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let limit = parseDuration(maxLag)!
            let s = try ReplicaStatus.read(replica)
            var problems: [String] = []
            if s.lagSeconds > limit {
                problems.append("LSN \(s.appliedLSN + 1), committed \(String(format: "%.0f", s.lagSeconds)) s ago (\(s.oldestPendingCommitTime ?? "?")), is not applied yet; \(s.behindLSNs) transactions pending (max lag \(maxLag))")
            }
            let now = microsecondsNow()
            if let last = s.lastSuccessAt.flatMap(parseTimestamp) {
                let since = Double(now - last) / 1e6
                if since > limit { problems.append("no successful replica-apply run for \(Int(since)) s (max lag \(maxLag))" + (s.lastError.map { "; last error: \($0)" } ?? "")) }
            } else {
                problems.append("replica-apply has never run successfully here")
            }
            if let p = s.inboxProblem { problems.append("inbox: \(p)") }
            let dir = try ReplicaDirectory.open(replica)
            if let source = dir.identity?.source { problems += RemoteView.problems(source, inbox: dir.inboxPath, limit: limit, maxLag: maxLag) }
            if json {
                let split = s.lostWrites.map { "split brain: \($0)" }
                printLine(try jsonText(ReplicaCheckJSON(ok: problems.isEmpty && split == nil, appliedLSN: s.appliedLSN, pending: s.behindLSNs,
                                                        lagSeconds: s.lagSeconds, maxLagSeconds: limit, problems: (split.map { [$0] } ?? []) + problems)))
            }
            if let l = s.lostWrites {
                // A split-brain alarm outranks lag: page with its own code.
                printError("replica-apply", "check failed: \(l)")
                throw ReportedFailure(.splitBrain)
            }
            if problems.isEmpty {
                if json || quiet { return }
                printLine("OK: applied LSN \(s.appliedLSN), \(s.behindLSNs) pending, lag \(String(format: "%.1f", s.lagSeconds)) s (max \(maxLag))")
            } else {
                for p in problems { printError("replica-apply", "check failed: \(p)") }
                throw ReportedFailure(.lagging)
            }
        }
    }
}

/// `replica-apply check --json` (docs/JSON.md): the verdict and what it rests on.
struct ReplicaCheckJSON: Encodable {
    var ok: Bool
    var appliedLSN: UInt64
    var pending: UInt64
    var lagSeconds: Double
    var maxLagSeconds: Double
    var problems: [String]
}
