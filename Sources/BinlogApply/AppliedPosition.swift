import BinlogFormat
import Foundation
import GRDB

/// The LSN a database holds, stored in the same SQLite transaction as the rows it covers
/// (DEVELOPERS.md principle 3). The master keeps one too: it is how crash recovery knows
/// which binlog transactions the database is missing.
public struct AppliedPosition: Equatable, Sendable {
    public var sourceID: UUID
    public var epoch: UInt32
    public var lsn: UInt64
    /// Master commit time of `lsn`, µs since 1970-01-01 UTC (0 before the first transaction).
    public var commitTime: Int64
    /// When this database applied or committed `lsn`, µs.
    public var appliedAt: Int64

    public init(sourceID: UUID, epoch: UInt32, lsn: UInt64, commitTime: Int64, appliedAt: Int64) {
        self.sourceID = sourceID
        self.epoch = epoch
        self.lsn = lsn
        self.commitTime = commitTime
        self.appliedAt = appliedAt
    }

    /// Tables whose names start with this are logship's own: never captured, never digested.
    public static let internalTablePrefix = "_logship"
    public static let tableName = "_logship_position"

    public static func createTable(_ db: Database, initial: AppliedPosition) throws {
        try db.execute(sql: """
            CREATE TABLE \(tableName) (
              id INTEGER PRIMARY KEY CHECK (id = 1),
              source_id TEXT NOT NULL,
              epoch INTEGER NOT NULL,
              lsn INTEGER NOT NULL,
              commit_time INTEGER NOT NULL,
              applied_at INTEGER NOT NULL)
            """)
        try db.execute(sql: "INSERT INTO \(tableName) VALUES (1, ?, ?, ?, ?, ?)",
                       arguments: [initial.sourceID.uuidString, Int64(initial.epoch), Int64(bitPattern: initial.lsn), initial.commitTime, initial.appliedAt])
    }

    /// Reads the position; nil when the database has no position table (not a logship database).
    public static func read(_ db: Database) throws -> AppliedPosition? {
        guard try db.hasTable(tableName) else { return nil }
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT source_id, epoch, lsn, commit_time, applied_at FROM \(tableName) WHERE id = 1")) else {
            return nil
        }
        guard let source = UUID(uuidString: row[0] as String) else {
            throw ApplyError(.mismatch, "position table holds an invalid source id \(row[0] as String)")
        }
        return AppliedPosition(sourceID: source, epoch: UInt32(row[1] as Int64), lsn: UInt64(row[2] as Int64),
                               commitTime: row[3], appliedAt: row[4])
    }

    /// Writes `lsn` and its commit time; must run inside the transaction that applied it.
    public static func write(_ db: Database, lsn: UInt64, commitTime: Int64, appliedAt: Int64, epoch: UInt32? = nil) throws {
        if let epoch {
            // A replica crossing into a newer epoch (docs/FAILOVER.md): same transaction as the rows.
            try db.execute(sql: "UPDATE \(tableName) SET epoch = ? WHERE id = 1", arguments: [Int64(epoch)])
        }
        let statement = try db.cachedStatement(sql: "UPDATE \(tableName) SET lsn = ?, commit_time = ?, applied_at = ? WHERE id = 1")
        try statement.execute(arguments: [Int64(bitPattern: lsn), commitTime, appliedAt])
        guard db.changesCount == 1 else { throw ApplyError(.mismatch, "position row is missing") }
    }
}
