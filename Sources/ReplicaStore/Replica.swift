import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// A replica opened for applying: its lock, its store and the shared apply engine.
/// Not thread-safe; one process per replica is enforced by the lock.
public final class Replica {
    public let directory: ReplicaDirectory
    let queue: DatabaseQueue
    let engine = ApplyEngine()
    private let lock: DirectoryLock
    private var closed = false

    /// Opens `path` for applying; fails with `.busy` when another replica-apply holds it.
    public static func open(_ path: String, lockTimeout: Double = 0) throws -> Replica {
        let directory = try ReplicaDirectory.open(path)
        let lock: DirectoryLock
        do {
            lock = try DirectoryLock(path: directory.lockPath, timeout: lockTimeout)
        } catch let busy as DirectoryLock.Busy {
            throw ReplicaError(.busy, "the replica is locked by another replica-apply" + (busy.holderPID.map { " (pid \($0))" } ?? ""),
                               hint: "an overlapping cron run exits with this code; the lock is released when that process exits")
        } catch let e as FormatError {
            throw ReplicaError(e, while: "locking \(directory.path)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "locking \(directory.path)")
        }
        do {
            try directory.createStoreIfMissing()
            let queue = try DatabaseQueue(path: directory.storePath, configuration: ReplicaDirectory.storeConfiguration())
            return Replica(directory: directory, queue: queue, lock: lock)
        } catch {
            lock.release()
            // Opening writes (WAL mode, the first pages): on a full file system that is disk full (exit 13).
            if isDiskFull(error, under: directory.path) {
                throw ReplicaError(.diskFull, "unable to open the store \(directory.storePath): \(error)",
                                   hint: "free space on the store's file system; the replica resumes from its applied LSN")
            }
            throw ReplicaError(.io, "unable to open the store \(directory.storePath): \(error)")
        }
    }

    private init(directory: ReplicaDirectory, queue: DatabaseQueue, lock: DirectoryLock) {
        self.directory = directory
        self.queue = queue
        self.lock = lock
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        engine.reset()
        try? queue.close()
        lock.release()
    }

    /// The store's applied position, nil before the first transaction is applied.
    public func position() throws -> AppliedPosition? {
        try queue.read { db in try AppliedPosition.read(db) }
    }

    /// Runs `body` in one immediate write transaction on the apply connection, under the
    /// replica's lock: for what is kept beside the rows (a report's summary), never for rows.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try queue.inDatabase { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            guard let result else { throw ReplicaError(.io, "the store's write transaction returned nothing") }
            return result
        }
    }

    /// Read access to the store (same connection; use a separate read-only queue in reports).
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try queue.read(body)
    }
}
