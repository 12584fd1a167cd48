import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// How fresh a report's data is: which source and epoch, the applied LSN, that LSN's master
/// commit time, and how old that was when the report ran. Every report carries one.
public struct Freshness: Codable, Sendable, Equatable {
    public var store: String
    public var sourceID: String
    public var epoch: UInt32
    public var lsn: UInt64
    public var commitTime: String
    public var commitTimeMicros: Int64
    public var reportedAt: String
    public var ageSeconds: Double
    /// True when the report ran on a master database (--allow-master).
    public var isMaster: Bool

    public var line: String {
        "data as of LSN \(lsn), committed \(commitTime) on source \(sourceID) epoch \(epoch) (\(Freshness.age(ageSeconds)) old when reported at \(reportedAt)); store \(store)" + (isMaster ? " [MASTER]" : "")
    }

    static func age(_ seconds: Double) -> String {
        if seconds < 120 { return String(format: "%.0f s", seconds) }
        if seconds < 7200 { return String(format: "%.0f min", seconds / 60) }
        if seconds < 172_800 { return String(format: "%.1f h", seconds / 3600) }
        return String(format: "%.1f days", seconds / 86400)
    }
}

/// A store opened for reading only: SQLite read-only mode and `PRAGMA query_only`, so that
/// nothing a report runs can write, whatever the SQL.
public final class ReportStore {
    public let path: String
    public let isMaster: Bool
    let queue: DatabaseQueue

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
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA query_only = ON") }
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
        do {
            return try queue.read { db in
                db.clearSchemaCache()
                return try body(db, try freshness(db))
            }
        } catch let e as ReportError {
            throw e
        } catch let e as DatabaseError {
            throw ReportError(.sql, e.message ?? "\(e)", hint: e.sql.map { "in: \($0)" })
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
        return Freshness(store: path, sourceID: p.sourceID.uuidString, epoch: p.epoch, lsn: p.lsn, commitTime: formatTimestamp(p.commitTime),
                         commitTimeMicros: p.commitTime, reportedAt: formatTimestamp(now), ageSeconds: max(0, Double(now - p.commitTime) / 1e6),
                         isMaster: isMaster)
    }
}

/// Picks the store to report from: the freshest (highest applied LSN) that meets `maxLag`,
/// waiting up to `wait` seconds for one to reach `minLSN`; stores of different masters are
/// refused. A store that cannot be opened is passed over with a note, so a dead replica does
/// not stop reporting.
public enum StoreSelection {
    public struct Choice {
        public var store: ReportStore
        public var freshness: Freshness
        public var notes: [String]
    }

    public static func choose(paths: [String], allowMaster: Bool, maxLag: Double?, minLSN: UInt64?, wait: Double) throws -> Choice {
        let deadline = Date().addingTimeInterval(wait)
        var opened: [String: ReportStore] = [:]
        while true {
            var notes: [String] = []
            var candidates: [(ReportStore, Freshness)] = []
            for path in paths {
                do {
                    let store = try opened[path] ?? ReportStore(path: path, allowMaster: allowMaster)
                    opened[path] = store
                    candidates.append((store, try store.freshness()))
                } catch let e as ReportError where e.kind == .refused {
                    throw e
                } catch {
                    notes.append("skipped \(path): \(error)")
                }
            }
            try checkOneSource(candidates)
            let fresh = candidates.filter { maxLag == nil || $0.1.ageSeconds <= maxLag! }
            let reached = fresh.filter { minLSN == nil || $0.1.lsn >= minLSN! }
            if let best = reached.max(by: { $0.1.lsn < $1.1.lsn }) {
                for other in candidates where other.0 !== best.0 {
                    notes.append("not used: \(other.0.path) at LSN \(other.1.lsn) (\(Freshness.age(other.1.ageSeconds)) old)")
                }
                return Choice(store: best.0, freshness: best.1, notes: notes)
            }
            if Date() < deadline, minLSN != nil {
                usleep(100_000)
                continue
            }
            if candidates.isEmpty {
                throw ReportError(.notFound, "no store could be opened: " + notes.joined(separator: "; "))
            }
            let summary = candidates.map { "\($0.0.path) at LSN \($0.1.lsn), \(Freshness.age($0.1.ageSeconds)) old" }.joined(separator: "; ")
            if let minLSN, fresh.contains(where: { _ in true }) {
                throw ReportError(.stale, "no store reached LSN \(minLSN) within \(Int(wait)) s (\(summary))",
                                  hint: "the replica may be behind or stopped: check `replica-apply status`; raise --wait")
            }
            throw ReportError(.stale, "every store is staler than --max-lag \(Int(maxLag ?? 0)) s (\(summary))",
                              hint: "the replicas are behind or stopped: check `replica-apply status`")
        }
    }

    /// Refuses stores that follow different masters: their LSNs count different histories, so
    /// "the highest" would pick whichever master is busier, not the freshest copy of one.
    static func checkOneSource(_ candidates: [(ReportStore, Freshness)]) throws {
        guard Set(candidates.map(\.1.sourceID)).count > 1 else { return }
        let listing = candidates.map { "\($0.0.path) follows source \($0.1.sourceID)" }.joined(separator: "; ")
        throw ReportError(.invalid, "the stores are replicas of different masters, whose LSNs cannot be compared: \(listing)",
                          hint: "give --store only replicas of one master; each report's freshness stamp and `replica-apply status` show a store's source")
    }
}
