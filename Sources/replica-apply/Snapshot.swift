import ArgumentParser
import BinlogFormat
import BinlogShip
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
    @Option(help: "Also upload it to s3://bucket/prefix/snapshots (put-if-absent, SHA-256 checked), with its metadata, for `restore --source`.") var upload: String?

    @Flag(help: "Sign with a new snapshot key: the current key's public half stays trusted in keys/snapshots/<key id>.pub (its snapshots still restore), its private half is deleted.") var newKey = false
    @Flag(help: "Print the result as JSON (docs/JSON.md).") var json = false
    @Flag(name: .shortAndLong, help: "Print nothing when it succeeds (for cron).") var quiet = false

    func validate() throws {
        if let keep, keep < 1 { throw ValidationError("--keep must be at least 1") }
        if let upload, !upload.hasPrefix("s3://") { throw ValidationError("--upload takes s3://bucket/prefix (where binlog-ship ships)") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let dir = ReplicaDirectory(path: replica)
            let hadKey = access(dir.snapshotKeyPath, F_OK) == 0 && !newKey
            let retiring = newKey ? (try? SigningKeyFile.readPrivate(dir.snapshotKeyPath)).map { SegmentSignature.keyIDText($0.keyID) } : nil
            let (snap, created, deleted) = try ReplicaStore.Snapshot.take(replica: replica, keep: keep, lockTimeout: lockTimeout, newKey: newKey)
            let uploaded = try upload.map { try SnapshotUpload.run(snap, to: $0) }
            if json {
                let taken = SnapshotJSON.Taken(path: snap.path, lsn: snap.lsn, commitTime: formatTimestamp(snap.commitTime), bytes: snap.bytes, created: created)
                printLine(try jsonText(SnapshotJSON(snapshot: taken, deleted: deleted.map { .init(path: $0.path, lsn: $0.lsn) }, uploaded: uploaded)))
                return
            }
            if quiet { return }
            printLine((created ? "wrote " : "already have ") + "\(snap.path) at LSN \(snap.lsn) (commit \(formatTimestamp(snap.commitTime)), \(formatBytes(snap.bytes)))")
            for d in deleted { printLine("deleted \(d.path) (LSN \(d.lsn)), beyond --keep \(keep ?? 0)") }
            if let sig = try ReplicaStore.Snapshot.signature(of: snap.path) {
                printLine("signed with snapshot key id \(sig.keyID) (\((ReplicaStore.Snapshot.signaturePath(for: snap.path) as NSString).lastPathComponent))"
                          + (hadKey ? "" : "; the key is new: copy \(dir.snapshotKeysPath)/snapshot.pub to where restores from the bucket run (--snapshot-key)"))
            }
            if let retiring { printLine("retired snapshot key id \(retiring): its private half is deleted, its public half stays trusted as \(dir.snapshotKeysPath)/\(retiring).pub") }
            if let uploaded { printLine(uploaded) }
        }
    }
}

/// `snapshot --json` (docs/JSON.md): the snapshot written (or already there) and those deleted by --keep.
struct SnapshotJSON: Encodable {
    struct Taken: Encodable { var path: String; var lsn: UInt64; var commitTime: String; var bytes: Int64; var created: Bool }
    struct Deleted: Encodable { var path: String; var lsn: UInt64 }
    var snapshot: Taken
    var deleted: [Deleted]
    /// With --upload, what was done in the bucket.
    var uploaded: String?
}

/// `snapshot --upload`: the snapshot and its metadata into the bucket.
enum SnapshotUpload {
    static func run(_ snap: ReplicaStore.Snapshot, to source: String) throws -> String {
        let remote = RemoteSnapshots.s3(source: source)
        let key = (snap.path as NSString).lastPathComponent
        let meta = RemoteSnapshot(key: key, sourceID: snap.sourceID, epoch: snap.epoch, lsn: snap.lsn, commitTime: snap.commitTime,
                                  bytes: snap.bytes, sha256: try RemoteSnapshots.sha256(file: snap.path),
                                  signature: try ReplicaStore.Snapshot.signature(of: snap.path))
        let done = try remote.upload(file: snap.path, metadata: meta)
        return (done == .published ? "uploaded " : "already uploaded ") + remote.store.address(of: key) + " (SHA-256 \(meta.sha256.prefix(16))…)"
    }
}
