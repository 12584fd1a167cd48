import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

extension MasterDirectory {
    /// Tables a replica keeps for itself (report summaries) that a master must not capture.
    static let replicaOnlyTables = ["_logship_summary", "_logship_summary_merchants", "_logship_summary_names", "_logship_summary_config"]
    /// Views over those tables (ExpenseSummary's `Summaries.views`), dropped before them.
    static let replicaOnlyViews = ["_logship_summary_groups", "_logship_summary_by_merchant"]

    /// Creates the master data directory of a promoted replica (docs/FAILOVER.md): a copy of
    /// the replica's store taken with SQLite's backup API (never a raw copy of a live file),
    /// stamped with the new epoch; `master.json` with the same source id and the new epoch; an
    /// empty binlog holding the new epoch's history, from which the master continues at the
    /// fork point + 1.
    ///
    /// Built under a temporary name beside `path` and renamed into place last, so a crash
    /// leaves either no master or a whole one. Refuses an existing `path`.
    public static func initializePromoted(at path: String, fromStore storePath: String, history: EpochHistory,
                                          segmentSize: Int64 = defaultSegmentSize, syncBinlog: Int = 1) throws -> Identity {
        let final = MasterDirectory(path: path)
        let fm = FileManager.default
        if fm.fileExists(atPath: final.path) {
            let contents = (try? fm.contentsOfDirectory(atPath: final.path)) ?? ["?"]
            guard contents.isEmpty else {
                throw MasterError(.exists, "\(final.path) already exists and is not empty", hint: "promotion never touches an existing directory; choose a new path")
            }
            try? fm.removeItem(atPath: final.path)
        }
        // Computed by hand: Foundation's deletingLastPathComponent traps on some one-letter names.
        let parent = final.path.lastIndex(of: "/").map { String(final.path[..<$0]) } ?? "."
        // A promotion that crashed while building leaves `.tmp-<pid>-<n>-<name>`: remove it.
        let name = final.path.split(separator: "/").last.map(String.init) ?? final.path
        for stale in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] where stale.hasPrefix(".tmp-") && stale.hasSuffix("-" + name) {
            try? fm.removeItem(atPath: parent + "/" + stale)
        }
        let temp = MasterDirectory(path: DurableFile.temporaryPath(for: final.path))
        let identity = Identity(sourceID: history.sourceID, epoch: history.epoch, createdAt: formatTimestamp(microsecondsNow()),
                                segmentSizeBytes: segmentSize, syncBinlog: syncBinlog)
        do {
            try FilePermissions.createDirectory(temp.binlogPath)
            try FilePermissions.createFileIfMissing(temp.databasePath)
            try copyStore(storePath, to: temp.databasePath, history: history)
            try history.publish(in: temp.binlogPath)
            try temp.writeIdentity(identity)
            try DurableFile.syncDirectory(temp.path)
            CrashPoint.reach("promote.before-master-rename")
            try DurableFile.rename(temp.path, to: final.path)
            try DurableFile.syncDirectory(parent.isEmpty ? "/" : parent)
        } catch {
            try? fm.removeItem(atPath: temp.path)
            if let e = error as? MasterError { throw e }
            if let e = error as? FormatError { throw MasterError(e, while: "creating the promoted master \(final.path)") }
            if let e = error as? SystemError { throw MasterError(e, while: "creating the promoted master \(final.path)") }
            throw MasterError(.io, "unable to create the promoted master \(final.path): \(error)")
        }
        return identity
    }

    /// Copies the store into `target` and makes it a master's database: the position row
    /// carries the new epoch, the replica's own summary tables are dropped.
    private static func copyStore(_ storePath: String, to target: String, history: EpochHistory) throws {
        var readOnly = Configuration()
        readOnly.readonly = true
        let source = try DatabaseQueue(path: storePath, configuration: readOnly)
        let destination = try DatabaseQueue(path: target, configuration: Master.configuration(forApply: false))
        try source.backup(to: destination)
        try source.close()
        try destination.write { db in
            guard let position = try AppliedPosition.read(db) else {
                throw MasterError(.notFound, "\(storePath) has no applied position: nothing was ever applied to it")
            }
            guard position.sourceID == history.sourceID, position.lsn + 1 == history.current.firstLSN else {
                throw MasterError(.invalid, "the store is at LSN \(position.lsn) of source \(position.sourceID); the history forks at LSN \(history.current.firstLSN - 1) of \(history.sourceID)")
            }
            for view in replicaOnlyViews { try db.execute(sql: "DROP VIEW IF EXISTS \(quotedIdentifier(view))") }
            for table in replicaOnlyTables { try db.execute(sql: "DROP TABLE IF EXISTS \(quotedIdentifier(table))") }
            try AppliedPosition.write(db, lsn: position.lsn, commitTime: position.commitTime, appliedAt: microsecondsNow(), epoch: history.epoch)
        }
        try destination.close()
    }
}
