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

    func open() throws -> Master {
        let master = try Master.open(directory, options: Master.Options(lockTimeout: lockTimeout, syncBinlog: syncBinlog))
        let r = master.recovery
        if r.tornTailBytes > 0 { ToolLog.logger.warning("recovery: dropped an incomplete tail of \(r.tornTailBytes) bytes from the active segment (\(r.tornTailReason ?? "torn write")); it was never acknowledged") }
        if let redone = r.redone { ToolLog.logger.warning("recovery: redid LSN \(redone.lowerBound)…\(redone.upperBound) from the binlog into the database") }
        if let sealed = r.completedSeal { ToolLog.logger.warning("recovery: completed the interrupted seal of \(sealed)") }
        return master
    }
}

func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}
