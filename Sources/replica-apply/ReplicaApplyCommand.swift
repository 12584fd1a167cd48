import ArgumentParser
import BinlogApply
import BinlogFormat
import Failover
import Foundation
import GRDB
import LogshipCLI
import ReplicaStore

@main
struct ReplicaApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica-apply",
        abstract: "Apply shipped binlog segments to a replica's snapshot store exactly once; snapshots and point-in-time restore.",
        discussion: "Exit codes (shared by binlog-writer, binlog-ship, replica-apply and report):\n" + ExitStatus.table,
        version: versionText(tool: "replica-apply"),
        subcommands: [Apply.self, Init.self, Snapshot.self, Restore.self, Status.self, Check.self, Summarize.self,
                      CandidatesCommand.self, Promote.self],
        defaultSubcommand: Apply.self)
}

/// Maps library errors to the shared exit codes.
func classify(_ error: Error) -> ExitStatus? {
    if let e = error as? ReplicaError {
        switch e.kind {
        case .gap: return .gap
        case .corruption: return .corruption
        case .divergence: return .divergence
        case .busy: return .busy
        case .diskFull: return .diskFull
        case .io: return .ioError
        case .notFound: return .notFound
        case .exists: return .alreadyExists
        case .invalid: return .usage
        case .splitBrain: return .splitBrain
        }
    }
    if let e = error as? FailoverError {
        switch e.kind {
        case .splitBrain: return .splitBrain
        case .notFound: return .notFound
        case .exists: return .alreadyExists
        case .invalid: return .usage
        case .io: return .ioError
        case .diskFull: return .diskFull
        }
    }
    if let e = error as? ApplyError { return e.isDiskFull ? .diskFull : .divergence }
    if let e = error as? DatabaseError { return e.resultCode == .SQLITE_FULL ? .diskFull : .ioError }
    return nil
}

func run(_ body: () throws -> Void) throws {
    try runReporting("replica-apply", classify, body)
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

    func run() throws {
        try ReplicaApply_run {
            let dir = try ReplicaDirectory.initialize(at: replica, inbox: inbox)
            printLine("created replica \(dir.path)")
            printLine("  inbox      \(dir.inboxPath)   (point binlog-ship here)")
            printLine("  store      \(dir.storePath)")
            printLine("  snapshots  \(dir.snapshotsPath)")
        }
    }
}

/// `run` shadows the free function inside commands; this name reaches it.
func ReplicaApply_run(_ body: () throws -> Void) throws { try run(body) }
