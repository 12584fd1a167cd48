import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the store (SQLite backup API), named by its LSN, durably; --keep N for retention. Runs beside a running replica-apply, --follow included.")

    @Argument(help: "The replica directory.") var replica: String
    @Option(help: "Keep only the newest N snapshots (older ones are deleted after the new one is durable).") var keep: Int?
    @Option(help: "Seconds to wait for another snapshot of this replica to finish.") var lockTimeout: Double = 30

    func validate() throws {
        if let keep, keep < 1 { throw ValidationError("--keep must be at least 1") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let (snap, created, deleted) = try ReplicaStore.Snapshot.take(replica: replica, keep: keep, lockTimeout: lockTimeout)
            printLine((created ? "wrote " : "already have ") + "\(snap.path) at LSN \(snap.lsn) (commit \(formatTimestamp(snap.commitTime)), \(formatBytes(snap.bytes)))")
            for d in deleted { printLine("deleted \(d.path) (LSN \(d.lsn)), beyond --keep \(keep ?? 0)") }
        }
    }
}
