import ArgumentParser
import BinlogFormat
import Failover
import Foundation
import LogshipCLI
import ReplicaStore

@main
struct ReplicaApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica-apply",
        abstract: "Apply shipped binlog segments to a replica's snapshot store exactly once; snapshots and point-in-time restore.",
        discussion: deploymentHelp(tool: "replica-apply") + "\n\nExit codes (shared by binlog-writer, binlog-ship, replica-apply and report):\n" + exitCodeHelp(),
        version: versionText(tool: "replica-apply"),
        subcommands: [Apply.self, Fetch.self, Init.self, Snapshot.self, Prune.self, Restore.self, Status.self, Check.self, Summarize.self,
                      CandidatesCommand.self, Promote.self, Wait.self],
        defaultSubcommand: Apply.self)

    /// Applies logship.yml and the LOGSHIP_REPLICA_APPLY_* variables, then parses as usual.
    static func main() { runTool(Self.self, tool: "replica-apply") }
}

func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a replica directory: inbox/, snapshots/, identity. The store is created on the first apply.")

    @Argument(help: "The replica directory to create (must not exist, or be empty).")
    var replica: String

    @Option(help: "Use this directory as the inbox instead of <replica>/inbox (absolute, or relative to the replica).")
    var inbox: String?

    @Option(help: "Follow a remote source: s3://bucket/prefix where binlog-ship ships; apply then fetches from it before applying.")
    var source: String?

    @Option(name: .customLong("verify-key"), help: "The master's public key (signing.pub): apply only sealed segments it signed (repeatable, for rotation).")
    var verifyKeys: [String] = []

    @Option(name: .customLong("decrypt-key"), help: "The master's encryption key file (encryption.key, mode 0600): replica.json records its path (never the key); encrypted segments are read with it.")
    var decryptKey: String?

    func validate() throws {
        if let source, !source.hasPrefix("s3://") { throw ValidationError("--source takes s3://bucket/prefix") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let dir = try ReplicaDirectory.initialize(at: replica, inbox: inbox, source: source, verifyKeys: verifyKeys, decryptKey: decryptKey)
            printLine("created replica \(dir.path)")
            if let source { printLine("  source     \(source)   (apply fetches from it)") }
            printLine("  inbox      \(dir.inboxPath)" + (source == nil ? "   (point binlog-ship here)" : ""))
            printLine("  store      \(dir.storePath)")
            printLine("  snapshots  \(dir.snapshotsPath)")
            if !verifyKeys.isEmpty { printLine("  keys       \(dir.keysPath)   (signatures required)") }
            if let key = dir.identity?.decryptKey { printLine("  decrypt    \(key)   (encrypted segments are read with it)") }
        }
    }
}
