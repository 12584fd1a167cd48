import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// Consistent copies of a store, `snapshots/snapshot-<LSN as 16 hex digits>.db`, made with
/// SQLite's online backup API (never a raw copy of a live file) and published durably. Each
/// carries its own position table, so its LSN, commit time and source travel with it.
public struct Snapshot: Codable, Sendable, Equatable {
    public var path: String
    public var lsn: UInt64
    public var commitTime: Int64
    public var sourceID: UUID
    public var epoch: UInt32
    public var bytes: Int64

    static let prefix = "snapshot-"
    static let suffix = ".db"

    static func fileName(lsn: UInt64) -> String {
        let h = String(lsn, radix: 16)
        return prefix + String(repeating: "0", count: max(0, 16 - h.count)) + h + suffix
    }

    /// Every snapshot in `dir`, oldest first; files that do not read as a store are skipped.
    public static func list(_ dir: ReplicaDirectory) -> [Snapshot] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.snapshotsPath)) ?? []
        var result: [Snapshot] = []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let path = dir.snapshotsPath + "/" + name
            guard let s = try? read(path) else { continue }
            result.append(s)
        }
        return result.sorted { $0.lsn < $1.lsn }
    }

    /// Reads a snapshot's position (read-only; immutable files need no WAL).
    public static func read(_ path: String) throws -> Snapshot {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        guard let p = try queue.read({ db in try AppliedPosition.read(db) }) else {
            throw ReplicaError(.corruption, "\(path) has no applied position")
        }
        var st = stat()
        _ = stat(path, &st)
        return Snapshot(path: path, lsn: p.lsn, commitTime: p.commitTime, sourceID: p.sourceID, epoch: p.epoch, bytes: Int64(st.st_size))
    }
}

extension Snapshot {
    /// Writes a snapshot of the replica's store at the LSN it holds, without the apply lock: the
    /// backup API copies the store in one read transaction (one WAL snapshot), so a running
    /// replica-apply, a `--follow` daemon included, keeps applying meanwhile. The copy is named
    /// by the position it carries. A lock of its own (`snapshots/.lock`) keeps two snapshot runs
    /// apart; temp files a killed run left are removed under it. With `keep`, deletes the oldest
    /// snapshots beyond that many once the new one is durable.
    @discardableResult
    /// With `newKey`, the snapshot key is replaced first (`ReplicaDirectory.rotateSnapshotKey`).
    public static func take(replica path: String, keep: Int? = nil, lockTimeout: Double = 30, newKey: Bool = false) throws -> (snapshot: Snapshot, created: Bool, deleted: [Snapshot]) {
        let dir = try ReplicaDirectory.open(path)
        guard FileManager.default.fileExists(atPath: dir.storePath) else {
            throw ReplicaError(.invalid, "the store has applied nothing yet; there is nothing to snapshot")
        }
        let store: DatabaseQueue
        do {
            store = try DatabaseQueue(path: dir.storePath, configuration: ReplicaDirectory.storeConfiguration(readonly: true))
        } catch {
            if isDiskFull(error, under: dir.path) { throw ReplicaError(.diskFull, "unable to open the store \(dir.storePath): \(error) (the file system is full)") }
            throw ReplicaError(.io, "unable to open the store \(dir.storePath): \(error)")
        }
        defer { try? store.close() }
        return try write(from: store, dir: dir, keep: keep, lockTimeout: lockTimeout, newKey: newKey)
    }

    /// Copies `store` into a temp file beside the snapshots, names it by the position the copy
    /// holds, and publishes it durably.
    static func write(from store: DatabaseQueue, dir: ReplicaDirectory, keep: Int?, lockTimeout: Double, newKey: Bool = false) throws -> (snapshot: Snapshot, created: Bool, deleted: [Snapshot]) {
        let fm = FileManager.default
        try? FilePermissions.createDirectory(dir.snapshotsPath)
        let lock: DirectoryLock
        do { lock = try DirectoryLock(path: dir.snapshotsPath + "/.lock", timeout: lockTimeout) } catch let busy as DirectoryLock.Busy {
            throw ReplicaError(.busy, "another snapshot of this replica is being written" + (busy.holderPID.map { " (pid \($0))" } ?? ""))
        } catch let e as FormatError {
            throw ReplicaError(e, while: "locking \(dir.snapshotsPath)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "locking \(dir.snapshotsPath)")
        }
        defer { lock.release() }
        // Under the lock: no other snapshot signs with the key being replaced.
        if newKey { _ = try dir.rotateSnapshotKey() }
        DurableFile.removeStaleTemporaries(in: dir.snapshotsPath)
        let temp = DurableFile.temporaryPath(for: dir.snapshotsPath + "/" + prefix + "new" + suffix)
        func removeTemp() { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) } }
        var created = false
        let final: String
        do {
            try FilePermissions.createFileIfMissing(temp)   // FilePermissions.file, before SQLite (which would use the umask)
            let target = try DatabaseQueue(path: temp)
            try store.backup(to: target)
            try target.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            let position = try target.read { db in try AppliedPosition.read(db) }
            try target.close()
            guard let position else {
                removeTemp()
                throw ReplicaError(.invalid, "the store has applied nothing yet; there is nothing to snapshot")
            }
            final = dir.snapshotsPath + "/" + fileName(lsn: position.lsn)
            if fm.fileExists(atPath: final) {
                removeTemp()
            } else {
                try FileDescriptor(path: temp, flags: O_RDONLY).sync()
                CrashPoint.reach("snapshot.before-rename")   // fault injection, see CrashPoint
                try DurableFile.rename(temp, to: final)
                CrashPoint.reach("snapshot.after-rename")
                try DurableFile.syncDirectory(dir.snapshotsPath)
                created = true
            }
        } catch let e as ReplicaError {
            throw e
        } catch {
            // Judged before the temp file's space is given back.
            let full = isDiskFull(error, under: dir.snapshotsPath)
            removeTemp()
            if full {
                throw ReplicaError(.diskFull, "writing a snapshot: \(error) (\(dir.snapshotsPath) is full)",
                                   hint: "free space on that file system and take the snapshot again; the store is not affected")
            }
            if let e = error as? FormatError { throw ReplicaError(e, while: "writing a snapshot") }
            if let e = error as? SystemError { throw ReplicaError(e, while: "writing a snapshot") }
            throw ReplicaError(.io, "writing a snapshot: \(error)")
        }
        let snap = try read(final)
        // Signed after the file is durable; a run killed in between leaves an unsigned snapshot
        // that the next run (finding the file there) signs.
        if let (signer, _) = try dir.snapshotSigner() { try sign(snap, with: signer) }
        var deleted: [Snapshot] = []
        if let keep, keep >= 1 {
            for old in list(dir).dropLast(keep) where unlink(old.path) == 0 {
                unlink(signaturePath(for: old.path))
                deleted.append(old)
            }
            if !deleted.isEmpty { try? DurableFile.syncDirectory(dir.snapshotsPath) }
        }
        return (snap, created, deleted)
    }
}

extension Replica {
    /// Writes a snapshot of the store at its applied LSN through this replica's connection
    /// (see `Snapshot.take`, which needs no apply lock).
    @discardableResult
    public func snapshot(keep: Int? = nil) throws -> (snapshot: Snapshot, created: Bool, deleted: [Snapshot]) {
        try Snapshot.write(from: queue, dir: directory, keep: keep, lockTimeout: 30)
    }
}
