import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import LogshipCLI

@main
struct BinlogWriter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binlog-writer",
        abstract: "The master: runs SQL on its SQLite database and logs every committed row change to binlog segments.",
        discussion: deploymentHelp(tool: "binlog-writer") + "\n\nExit codes (shared by binlog-writer, binlog-ship, replica-apply and report):\n" + exitCodeHelp(),
        version: versionText(tool: "binlog-writer"),
        subcommands: [Init.self, Exec.self, Load.self, Rotate.self, Status.self, Dump.self, Verify.self, Configure.self, Serve.self, Keygen.self])

    /// Applies logship.yml and the LOGSHIP_BINLOG_WRITER_* variables, then parses as usual.
    static func main() { runTool(Self.self, tool: "binlog-writer") }
}

/// Options every command that opens a master for writing takes.
struct MasterOptions: ParsableArguments {
    @Argument(help: "The master data directory.")
    var directory: String

    @Option(help: "Seconds to wait for another writer to release the directory.")
    var lockTimeout: Double = 10

    @Option(help: "fsync the binlog every N commits: 1 = each commit (default, as in master.json), 0 = leave it to the OS.")
    var syncBinlog: Int?

    func open(semiSync: Master.SemiSync? = nil) throws -> Master {
        let master = try Master.open(directory, options: Master.Options(lockTimeout: lockTimeout, syncBinlog: syncBinlog, semiSync: semiSync))
        let r = master.recovery
        if r.tornTailBytes > 0 { ToolLog.logger.warning("recovery: dropped an incomplete tail of \(r.tornTailBytes) bytes from the active segment (\(r.tornTailReason ?? "torn write")); it was never acknowledged") }
        if let redone = r.redone { ToolLog.logger.warning("recovery: redid LSN \(redone.lowerBound)…\(redone.upperBound) from the binlog into the database") }
        if let sealed = r.completedSeal { ToolLog.logger.warning("recovery: completed the interrupted seal of \(sealed)") }
        return master
    }
}

/// Semi-synchronous acknowledgement (docs/OPERATIONS.md): exec, load and serve.
struct SemiSyncOptions: ParsableArguments {
    @Option(help: "Acknowledge a commit only once N shipping targets hold it durably, as `binlog-ship --follow` reports in DIR/acks/ (0 = off).")
    var syncReplicas: Int = 0

    @Option(help: "How long a commit waits for the --sync-replicas acknowledgements, e.g. 5s or 500ms.")
    var syncTimeout: String = "5s"

    @Option(help: "At the timeout: wait (fail with exit 5; the transaction stays committed and durable on the master) or async (acknowledge, and run degraded until the targets catch up; shown by `status`).")
    var syncFallback: String = "wait"

    func validate() throws {
        guard syncReplicas >= 0 else { throw ValidationError("--sync-replicas must be 0 or more") }
        guard let t = parseDuration(syncTimeout), t > 0 else { throw ValidationError("--sync-timeout takes a duration like 5s or 500ms (more than 0)") }
        _ = t
        guard Master.SemiSync.Fallback(rawValue: syncFallback) != nil else { throw ValidationError("--sync-fallback must be wait or async") }
    }

    var settings: Master.SemiSync? {
        guard syncReplicas > 0, let t = parseDuration(syncTimeout), let fallback = Master.SemiSync.Fallback(rawValue: syncFallback) else { return nil }
        return Master.SemiSync(replicas: syncReplicas, timeout: .milliseconds(Int64((t * 1000).rounded())), fallback: fallback)
    }
}

func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}
