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

    @Flag(help: "Print the result as JSON (docs/JSON.md).") var json = false
    @Flag(name: .shortAndLong, help: "Print nothing when it succeeds (for cron).") var quiet = false

    func validate() throws {
        if let keep, keep < 1 { throw ValidationError("--keep must be at least 1") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let (snap, created, deleted) = try ReplicaStore.Snapshot.take(replica: replica, keep: keep, lockTimeout: lockTimeout)
            if json {
                let taken = SnapshotJSON.Taken(path: snap.path, lsn: snap.lsn, commitTime: formatTimestamp(snap.commitTime), bytes: snap.bytes, created: created)
                printLine(try jsonText(SnapshotJSON(snapshot: taken, deleted: deleted.map { .init(path: $0.path, lsn: $0.lsn) })))
                return
            }
            if quiet { return }
            printLine((created ? "wrote " : "already have ") + "\(snap.path) at LSN \(snap.lsn) (commit \(formatTimestamp(snap.commitTime)), \(formatBytes(snap.bytes)))")
            for d in deleted { printLine("deleted \(d.path) (LSN \(d.lsn)), beyond --keep \(keep ?? 0)") }
        }
    }
}

/// `snapshot --json` (docs/JSON.md): the snapshot written (or already there) and those deleted by --keep.
struct SnapshotJSON: Encodable {
    struct Taken: Encodable { var path: String; var lsn: UInt64; var commitTime: String; var bytes: Int64; var created: Bool }
    struct Deleted: Encodable { var path: String; var lsn: UInt64 }
    var snapshot: Taken
    var deleted: [Deleted]
}
