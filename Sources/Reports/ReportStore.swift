import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// A store opened for reading only: SQLite read-only mode and `PRAGMA query_only`, so that
/// nothing a report runs can write, whatever the SQL.
public final class ReportStore {
    public let path: String
    public let isMaster: Bool
    /// Bounds on each read: its timeout, and for `report query` its rows (ReportGuard.swift).
    public var limits = ReportLimits()
    /// Set when this store is a restored copy for an as-of report: the replica it was restored
    /// from, which the stamp names instead of the copy's temporary path (AsOfRestore.swift).
    public var asOfReplica: String?
    let queue: DatabaseQueue
    let guardian = ReportGuard()

    /// Resolves `path` (a replica directory, a store file, or with `allowMaster` a master data
    /// directory or its database) and opens it read-only.
    public init(path: String, allowMaster: Bool) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ReportError(.notFound, "no such store: \(path)", hint: "give a replica directory (with store.db) or a store file")
        }
        var file = path
        var master = false
        if isDir.boolValue {
            FilePermissions.warnIfOpen(path)
            if fm.fileExists(atPath: path + "/replica.json") { file = path + "/store.db" } else if fm.fileExists(atPath: path + "/master.json") {
                file = path + "/master.db"
                master = true
            } else {
                throw ReportError(.notFound, "\(path) is neither a replica nor a master directory")
            }
        } else {
            let parent = (path as NSString).deletingLastPathComponent
            master = fm.fileExists(atPath: (parent.isEmpty ? "." : parent) + "/master.json") && (path as NSString).lastPathComponent == "master.db"
        }
        if master && !allowMaster {
            throw ReportError(.refused, "\(path) is a master: reports belong on replicas, so the master never feels them",
                              hint: "point --store at a replica, or pass --allow-master to run on the master anyway")
        }
        guard fm.fileExists(atPath: file) else {
            throw ReportError(.notFound, "no store at \(file): the replica has applied nothing yet", hint: "run replica-apply first")
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        let guardian = self.guardian
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA query_only = ON")
            try guardian.install(on: db)
            db.add(function: MoneyFunction.function)
        }
        do { queue = try DatabaseQueue(path: file, configuration: config) } catch {
            throw ReportError(.io, "unable to open \(file) read-only: \(error)")
        }
        self.path = file
        self.isMaster = master
    }

    deinit { try? queue.close() }

    /// Runs `body` in one read transaction, with the freshness read in that same transaction,
    /// so the stamp describes exactly the data the body sees.
    ///
    /// Each read starts from a fresh schema: replica-apply changes the store's schema from
    /// another connection (the position table in its first batch, the master's DDL), and a
    /// `DatabaseQueue` keeps what it read of the schema until told otherwise.
    public func read<T>(_ body: (Database, Freshness) throws -> T) throws -> T {
        guardian.arm(limits)
        do {
            return try queue.read { db in
                db.clearSchemaCache()
                return try body(db, try freshness(db))
            }
        } catch let e as ReportError {
            throw e
        } catch let e as DatabaseError {
            throw guardian.explain(e, limits) ?? ReportError(.sql, e.message ?? "\(e)", hint: e.sql.map { "in: \($0)" })
        }
    }

    /// The freshness of the store as of now (its own short read transaction).
    public func freshness() throws -> Freshness {
        try queue.read { db in
            db.clearSchemaCache()
            return try freshness(db)
        }
    }

    func freshness(_ db: Database) throws -> Freshness {
        guard let p = try AppliedPosition.read(db) else {
            throw ReportError(.notFound, "\(path) has no applied position: not a logship store")
        }
        let now = microsecondsNow()
        if let asOfReplica {
            return Freshness(store: asOfReplica, sourceID: p.sourceID.uuidString, epoch: p.epoch, lsn: p.lsn, commitTime: formatTimestamp(p.commitTime),
                             commitTimeMicros: p.commitTime, reportedAt: "", ageSeconds: 0, isMaster: false, asOfReplica: asOfReplica)
        }
        return Freshness(store: path, sourceID: p.sourceID.uuidString, epoch: p.epoch, lsn: p.lsn, commitTime: formatTimestamp(p.commitTime),
                         commitTimeMicros: p.commitTime, reportedAt: formatTimestamp(now), ageSeconds: max(0, Double(now - p.commitTime) / 1e6),
                         isMaster: isMaster)
    }
}
