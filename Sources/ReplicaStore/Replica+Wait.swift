import BinlogApply
import Foundation
import GRDB
import LogshipSystem

extension Replica {
    /// Read-your-writes (issue 17): returns once the replica at `path` has applied LSN `lsn`
    /// (the LSN a master commit returned), with the store's position then; throws `.lagging`
    /// (exit 5) when `timeout` seconds pass first, naming the LSN the store is at.
    ///
    /// Takes no lock and never writes: it reads the position row through a read-only
    /// connection, as `status` does, whenever the replica directory changes (an apply batch
    /// commits into `store.db-wal` there; `FileWatcher`), and at least every quarter second
    /// in case a notification is missed. A store not created yet counts as LSN 0.
    public static func waitUntilApplied(_ lsn: UInt64, replica path: String, timeout: Double) throws -> AppliedPosition? {
        let dir = try ReplicaDirectory.open(path)
        let storeDirectory = (dir.storePath as NSString).deletingLastPathComponent
        let watcher = FileWatcher(directories: [storeDirectory])
        let deadline = Date().addingTimeInterval(max(0, timeout))
        var queue: DatabaseQueue?
        defer { try? queue?.close() }
        while true {
            watcher.drain()
            var position: AppliedPosition?
            if queue == nil && FileManager.default.fileExists(atPath: dir.storePath) {
                do { queue = try DatabaseQueue(path: dir.storePath, configuration: ReplicaDirectory.storeConfiguration(readonly: true)) } catch {
                    throw ReplicaError(.io, "unable to open the store \(dir.storePath): \(error)")
                }
            }
            if let queue {
                // GRDB caches "no position table yet" per connection; apply creates it in another process.
                do { position = try queue.read { db in db.clearSchemaCache(); return try AppliedPosition.read(db) } } catch {
                    throw ReplicaError(.io, "unable to read the store's position in \(dir.storePath): \(error)")
                }
            }
            let applied = position?.lsn ?? 0
            if applied >= lsn { return position }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 {
                throw ReplicaError(.lagging, "LSN \(lsn) is not applied after \(formatSeconds(timeout)): the store is at LSN \(applied)",
                                   hint: "is `replica-apply --follow` running, and binlog-ship delivering to \(dir.inboxPath)? `replica-apply status \(dir.path)` shows the lag")
            }
            watcher.wait(timeout: min(0.25, left))
        }
    }

    /// `waitUntilApplied` with the timeout as a `Duration`.
    public static func waitUntilApplied(_ lsn: UInt64, replica path: String, timeout: Duration) throws -> AppliedPosition? {
        let (s, atto) = timeout.components
        return try waitUntilApplied(lsn, replica: path, timeout: Double(s) + Double(atto) / 1e18)
    }

    private static func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : String(format: "%.3f s", s)
    }
}
