import BinlogFormat
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

extension Master {
    /// Semi-synchronous acknowledgement (docs/OPERATIONS.md): a commit is acknowledged only once
    /// `replicas` shipping targets hold its frame durably, as reported by `binlog-ship --follow`
    /// in `<master>/acks/` (`SyncAcks`). Like MySQL's semi-sync (`rpl_semi_sync_source_wait_for_replica_count`,
    /// `…_timeout`) and PostgreSQL's `synchronous_standby_names`.
    public struct SemiSync: Sendable, Equatable {
        /// What a commit does when `timeout` passes without enough acknowledgements.
        public enum Fallback: String, Sendable, CaseIterable, Codable {
            /// Fail the call (exit 5, "not acknowledged"): the transaction IS committed and
            /// durable on the master, but no success is claimed. The next commit waits again.
            case wait
            /// Acknowledge anyway and switch to asynchronous shipping ("degraded", shown in
            /// `binlog-writer status` and its metrics) until the targets catch up.
            case async
        }

        public var replicas: Int
        public var timeout: Duration
        public var fallback: Fallback

        public init(replicas: Int, timeout: Duration = .seconds(5), fallback: Fallback = .wait) {
            self.replicas = replicas
            self.timeout = timeout
            self.fallback = fallback
        }

        var timeoutSeconds: Double {
            let c = timeout.components
            return Double(c.seconds) + Double(c.attoseconds) / 1e18
        }
    }

    /// What `<master>/semisync.json` records: the settings of the last writer that ran with
    /// semi-sync, and whether it degraded (the next writer with `async` starts degraded too,
    /// until the targets catch up).
    public struct SemiSyncRecord: Codable, Equatable, Sendable {
        public var replicas: Int
        public var timeoutSeconds: Double
        public var fallback: SemiSync.Fallback
        public var degraded: Bool
        /// When the master degraded, and the LSN that was acknowledged without its replicas.
        public var degradedSince: String?
        public var degradedAtLSN: UInt64?
        /// When it last went back to synchronous after degrading.
        public var recoveredAt: String?

        static func path(_ directory: MasterDirectory) -> String { SyncAcks.settingsPath(master: directory.path) }

        /// The record in the master directory at `path` (nil when semi-sync is off or unreadable).
        public static func read(master path: String) -> SemiSyncRecord? { read(MasterDirectory(path: path)) }

        static func read(_ directory: MasterDirectory) -> SemiSyncRecord? {
            guard let data = FileManager.default.contents(atPath: path(directory)) else { return nil }
            return try? JSONDecoder().decode(SemiSyncRecord.self, from: data)
        }

        func write(_ directory: MasterDirectory) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try DurableFile.publish(Array(try encoder.encode(self)) + [10], to: Self.path(directory))
        }
    }

    /// Counters of this open master's semi-sync waits.
    public struct SemiSyncStatistics: Equatable, Sendable {
        /// Waits (one per commit group, or per `execute` commit) that ended acknowledged.
        public var acknowledged = 0
        /// Waits that reached the timeout.
        public var timeouts = 0
        /// Commits acknowledged while degraded, without their replicas.
        public var degradedCommits = 0
        public var degraded = false
    }

    /// Safe to read from any thread, also while a commit waits.
    public var semiSyncStatistics: SemiSyncStatistics? { semiSyncWaiter?.snapshot }

    /// Set up at `open` when `Options.semiSync` asks for replicas.
    func startSemiSync(_ settings: SemiSync?) throws {
        let recordPath = SemiSyncRecord.path(directory)
        guard let settings, settings.replicas > 0 else {
            // Semi-sync is off for this writer: a record left by an earlier one would mislead `status`.
            if access(recordPath, F_OK) == 0 { unlink(recordPath) }
            return
        }
        let acks = SyncAcks.directory(master: directory.path)
        if mkdir(acks, FilePermissions.directory) != 0 && errno != EEXIST {
            throw MasterError(.io, "unable to create \(acks) for --sync-replicas: \(String(cString: strerror(errno)))")
        }
        // Temp files of a follower killed while publishing its ack.
        DurableFile.removeStaleTemporaries(in: acks)
        let previous = SemiSyncRecord.read(directory)
        var record = SemiSyncRecord(replicas: settings.replicas, timeoutSeconds: settings.timeoutSeconds, fallback: settings.fallback,
                                    degraded: settings.fallback == .async && previous?.degraded == true)
        if record.degraded { (record.degradedSince, record.degradedAtLSN) = (previous?.degradedSince, previous?.degradedAtLSN) }
        record.recoveredAt = previous?.recoveredAt
        if record != previous {
            do { try record.write(directory) } catch { throw MasterError(.io, "unable to write \(recordPath): \(error)") }
        }
        semiSyncWaiter = SemiSyncWaiter(settings: settings, master: directory, sourceID: identity.sourceID.uuidString, record: record)
    }

    /// After the commit of `lsn` (committed and durable here): waits until enough targets hold it.
    /// Returns the error to give the callers instead of success (fallback `wait` at the timeout).
    func awaitAcknowledgement(_ lsn: UInt64) -> Error? {
        guard let waiter = semiSyncWaiter else { return nil }
        return waiter.wait(for: lsn, committed: lastLSN)
    }
}

/// The master's side of semi-sync. Used only by the thread that holds the connection (the
/// group's committer, or `execute`), so one wait covers a whole commit group.
final class SemiSyncWaiter {
    let settings: Master.SemiSync
    let directory: MasterDirectory
    let sourceID: String
    /// inotify on `acks/`, set up before the first commit so no report is missed.
    let watcher: FileWatcher
    var record: Master.SemiSyncRecord
    /// The highest LSN enough targets acknowledged, as last read.
    var acknowledged: UInt64 = 0
    private var statistics = Master.SemiSyncStatistics()
    private let statisticsLock = NSLock()

    var snapshot: Master.SemiSyncStatistics { statisticsLock.withLock { statistics } }

    private func count(_ change: (inout Master.SemiSyncStatistics) -> Void) { statisticsLock.withLock { change(&statistics) } }

    init(settings: Master.SemiSync, master: MasterDirectory, sourceID: String, record: Master.SemiSyncRecord) {
        self.settings = settings
        directory = master
        self.sourceID = sourceID
        self.record = record
        watcher = FileWatcher(directories: [SyncAcks.directory(master: master.path)])
        statistics.degraded = record.degraded
    }

    /// Re-reads the acks. An ack past what the master has committed is not counted: it would
    /// come from another history of this directory (a restored or rebuilt master).
    private func refresh(committed: UInt64) {
        let acks = SyncAcks.read(master: directory.path, sourceID: sourceID).filter { $0.lsn <= committed }
        acknowledged = max(acknowledged, SyncAcks.acknowledged(by: settings.replicas, in: acks))
    }

    func wait(for lsn: UInt64, committed: UInt64) -> Error? {
        if acknowledged >= lsn { return nil }
        refresh(committed: committed)
        if record.degraded {
            if acknowledged >= lsn {
                record.degraded = false
                record.recoveredAt = formatTimestamp(microsecondsNow())
                count { $0.degraded = false }
                try? record.write(directory)
            } else {
                count { $0.degradedCommits += 1 }
            }
            return nil
        }
        let deadline = Date().addingTimeInterval(settings.timeoutSeconds)
        while acknowledged < lsn {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { break }
            // Woken by the shipper's rename into acks/; the timeout only bounds the whole wait
            // (and is the fallback where inotify is unavailable: a poll every 50 ms).
            watcher.wait(timeout: watcher.isPolling ? min(left, 0.05) : left)
            refresh(committed: committed)
        }
        if acknowledged >= lsn {
            count { $0.acknowledged += 1 }
            return nil
        }
        count { $0.timeouts += 1 }
        let have = SyncAcks.read(master: directory.path, sourceID: sourceID)
        let seen = have.isEmpty ? "no target has reported (is `binlog-ship --follow` running on this master?)"
            : have.map { "\($0.target) at LSN \($0.lsn)" }.joined(separator: ", ")
        switch settings.fallback {
        case .wait:
            return MasterError(.unacknowledged,
                               "LSN \(lsn) is committed and durable on the master, but fewer than \(settings.replicas) target\(settings.replicas == 1 ? "" : "s") acknowledged it within \(formatSeconds(settings.timeoutSeconds)) (\(seen))",
                               hint: "the transaction is NOT lost and is not undone; it is not yet on the replicas. Check the follower shipper (`binlog-ship status`), or run with --sync-fallback async")
        case .async:
            record.degraded = true
            record.degradedSince = formatTimestamp(microsecondsNow())
            record.degradedAtLSN = lsn
            count { $0.degraded = true; $0.degradedCommits += 1 }
            try? record.write(directory)
            return nil
        }
    }

    private func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : String(format: "%.3f s", s)
    }
}
