import ArgumentParser
import BinlogFormat
import Failover
import Foundation
import LogshipCLI
import LogshipSystem

struct CandidatesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "candidates",
        abstract: "Compare replicas of a lost master (epoch, applied LSN, what their inboxes still hold) and name the one to promote. Read-only.")

    @Argument(help: "Replica directories.") var replicas: [String]
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if replicas.isEmpty { throw ValidationError("give at least one replica directory") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let c = try Candidates.compare(replicas)
            if json { printLine(try jsonText(c)); return }
            printLine("replica".padding(toLength: 36, withPad: " ", startingAt: 0) + "  epoch  applied LSN  reachable LSN  pending  commit time of applied LSN")
            for r in c.candidates {
                let mark = r.replica == c.best ? "*" : " "
                printLine(mark + r.replica.padding(toLength: 35, withPad: " ", startingAt: 0) + "  " + pad(r.epoch.map(String.init) ?? "-", 5)
                          + "  " + pad(String(r.appliedLSN), 11) + "  " + pad(String(r.reachableLSN), 13) + "  " + pad(String(r.pendingSegments), 7)
                          + "  " + (r.appliedCommitTime ?? "-"))
                if let u = r.unusable { printLine("    not a candidate: \(u)") }
                if let p = r.inboxProblem { printLine("    inbox: \(p.split(separator: "\n").first ?? "")") }
            }
            if let best = c.best {
                printLine("best candidate: \(best): \(c.reason)")
            } else {
                printLine("no candidate: \(c.reason)")
                throw ReportedFailure(.notFound)
            }
        }
    }
}

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make this replica the master of a new epoch: apply its inbox, create a master data directory for binlog-writer, and fence the other replicas, targets and the old master.",
        discussion: "The new epoch is the old one + 1 and begins right after the replica's applied LSN (the fork point). Its history file is written into every --fence directory: binlog-ship then refuses to ship the old epoch past the fork into them, replica-apply refuses to apply it, and binlog-writer on the old master refuses to write. Rerunning after a crash finishes the same promotion. docs/FAILOVER.md has the drill.")

    @Argument(help: "The replica directory to promote.") var replica: String
    @Option(help: "The new master data directory to create (must not exist).") var to: String
    @Option(help: "Fence this directory: a replica inbox or binlog-ship target, a replica directory, or the old master's data directory. Repeatable.")
    var fence: [String] = []
    @Flag(help: "Print the plan (fork point, new epoch, fences) and change nothing.") var dryRun = false
    @Option(help: "Seconds to wait for a running replica-apply of this replica.") var lockTimeout: Double = 30
    @Flag(help: "Print the result as JSON (docs/JSON.md); lost writes still go to stderr.") var json = false

    /// `promote --json` (docs/JSON.md).
    struct Output: Encodable {
        struct Fence: Encodable { var given: String; var kind: String; var directory: String }
        var replica: String, master: String, sourceID: String
        var oldEpoch: UInt32, newEpoch: UInt32
        var forkLSN: UInt64, forkCommitTime: String, applied: Int, reachableLSN: UInt64
        var history: String
        var fenced: [Fence]
        var resumed: Bool, dryRun: Bool
        var lostWrites: String?
    }

    func run() throws {
        try runReporting("replica-apply") {
            var options = Promotion.Options(replica: replica, masterPath: to)
            options.fences = fence
            options.dryRun = dryRun
            options.lockTimeout = lockTimeout
            let o = try Promotion.run(options)
            if json {
                printLine(try jsonText(Output(replica: o.replica, master: o.master, sourceID: o.sourceID.uuidString, oldEpoch: o.oldEpoch,
                                              newEpoch: o.newEpoch, forkLSN: o.forkLSN, forkCommitTime: formatTimestamp(o.forkCommitTime),
                                              applied: o.applied, reachableLSN: o.reachableLSN, history: EpochHistory.fileName(epoch: o.newEpoch),
                                              fenced: o.fenced.map { .init(given: $0.given, kind: $0.kind.rawValue, directory: $0.directory) },
                                              resumed: o.resumed, dryRun: o.dryRun, lostWrites: o.lostWrites?.description)))
                if let lost = o.lostWrites { printError("replica-apply", lost.description) }
                return
            }
            let verb = o.dryRun ? "would promote" : (o.resumed ? "finished promoting" : "promoted")
            if o.applied > 0 { printLine("applied \(o.applied) transactions from the inbox first (to LSN \(o.forkLSN))") }
            if o.dryRun && o.reachableLSN > o.forkLSN { printLine("would apply the inbox first, to LSN \(o.reachableLSN)") }
            printLine("\(verb) \(o.replica) to master \(o.master)")
            printLine("  source     \(o.sourceID.uuidString)")
            printLine("  epoch      \(o.oldEpoch) → \(o.newEpoch)")
            printLine("  fork LSN   \(o.forkLSN) (committed \(formatTimestamp(o.forkCommitTime))); the new master writes from LSN \(o.forkLSN + 1)")
            printLine("  history    \(EpochHistory.fileName(epoch: o.newEpoch))")
            for f in o.fenced { printLine("  fence      \(f.given) (\(f.kind.rawValue): \(f.directory))" + (o.dryRun ? " [not yet: dry run]" : "")) }
            if o.fenced.isEmpty { printLine("  fence      nothing but the replica's own inbox: pass --fence for every other replica, target and the old master") }
            if let lost = o.lostWrites { printError("replica-apply", lost.description) }
            if !o.dryRun {
                printLine("next: point binlog-ship at \(o.master) with the replicas' inboxes as targets; run `binlog-writer exec \(o.master) ...` for writes")
            }
        }
    }
}

func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }

