import BinlogApply
import BinlogFormat
import Foundation
import GRDB

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

extension Replica {
    /// Writes a snapshot of the store at its applied LSN; with `keep`, deletes the oldest
    /// snapshots beyond that many. Returns the new snapshot (or the existing one at that LSN).
    @discardableResult
    public func snapshot(keep: Int? = nil) throws -> (snapshot: Snapshot, created: Bool, deleted: [Snapshot]) {
        guard let position = try position() else {
            throw ReplicaError(.invalid, "the store has applied nothing yet; there is nothing to snapshot")
        }
        let dir = directory
        try FileManager.default.createDirectory(atPath: dir.snapshotsPath, withIntermediateDirectories: true)
        let final = dir.snapshotsPath + "/" + Snapshot.fileName(lsn: position.lsn)
        var created = false
        if !FileManager.default.fileExists(atPath: final) {
            let temp = DurableFile.temporaryPath(for: final)
            do {
                let target = try DatabaseQueue(path: temp)
                try queue.backup(to: target)
                try target.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
                try target.close()
                let file = try FileDescriptor(path: temp, flags: O_RDONLY)
                try file.sync()
                try DurableFile.rename(temp, to: final)
                try DurableFile.syncDirectory(dir.snapshotsPath)
                created = true
            } catch {
                for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) }
                if let e = error as? FormatError { throw ReplicaError(e, while: "writing a snapshot") }
                if let e = error as? DatabaseError, e.resultCode == .SQLITE_FULL {
                    throw ReplicaError(.diskFull, "writing a snapshot: \(e.message ?? "disk full")")
                }
                throw ReplicaError(.io, "writing a snapshot: \(error)")
            }
        }
        let snap = try Snapshot.read(final)
        var deleted: [Snapshot] = []
        if let keep, keep >= 1 {
            let all = Snapshot.list(dir)
            for old in all.dropLast(keep) {
                if unlink(old.path) == 0 { deleted.append(old) }
            }
            if !deleted.isEmpty { try? DurableFile.syncDirectory(dir.snapshotsPath) }
        }
        return (snap, created, deleted)
    }
}
