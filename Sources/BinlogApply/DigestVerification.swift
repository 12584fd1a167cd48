import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// Continuous verification (docs/REPLICA.md): a digest marker states every user table's
/// content digest after its transaction, computed by the master from its rows. A database that
/// applied the transaction computes the digest from its own rows, reading every table (never
/// carrying it forward from the same events, which would agree with the master even when a
/// change was never captured or the store was edited behind apply's back), and compares.
extension DigestMarker {
    /// The marker for `db` as it stands: `ContentDigest` of every user table, read row by row.
    public static func of(_ db: Database) throws -> DigestMarker {
        let digests = try ContentDigest.tables(db)
        return DigestMarker(tables: digests.map { Table(name: $0.key, rows: UInt64($0.value.rows), sum: $0.value.sum) })
    }

    /// Compares `db`'s rows with the marker that transaction `lsn` carried; throws a divergence
    /// naming every table that differs (the first in `table`), with the expected and found digests.
    /// On a match, records `lsn` as the last verified one, in the caller's transaction.
    public func verify(_ db: Database, lsn: UInt64, commitTime: Int64) throws {
        let found = try DigestMarker.of(db)
        let differences = Self.differences(expected: self, found: found)
        if let first = differences.first {
            throw ApplyError(.divergence,
                             "unable to verify the digest marker at LSN \(lsn): the rows differ from the master's: " + differences.map(\.text).joined(separator: "; "),
                             lsn: lsn, table: first.table,
                             hint: "the store was changed outside replica-apply, or the binlog lacks a change the master made; the transactions before LSN \(lsn) stay applied and nothing from it on is. "
                                 + "Find who wrote to the store, then rebuild it (a restore from a snapshot taken before the change, or a new replica from LSN 1)")
        }
        try VerifiedPosition.write(db, VerifiedPosition(lsn: lsn, commitTime: commitTime, verifiedAt: microsecondsNow(),
                                                        tables: tables.count, rows: totalRows))
    }

    /// Per table, what differs between an expected and a found marker, in name order.
    static func differences(expected: DigestMarker, found: DigestMarker) -> [(table: String, text: String)] {
        let have = Dictionary(found.tables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let want = Dictionary(expected.tables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var result: [(String, String)] = []
        for name in Set(have.keys).union(want.keys).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            switch (want[name], have[name]) {
            case let (w?, h?) where w != h:
                result.append((name, "table \(name) has \(describe(h)), expected \(describe(w))"))
            case let (w?, nil):
                result.append((name, "table \(name) is missing, expected \(describe(w))"))
            case let (nil, h?):
                result.append((name, "table \(name) (\(describe(h))) is not on the master"))
            default:
                break
            }
        }
        return result
    }

    private static func describe(_ t: Table) -> String {
        let digits = String(t.sum, radix: 16)
        return "\(t.rows) rows, digest \(String(repeating: "0", count: 16 - digits.count) + digits)"
    }
}

/// The last LSN at which a database's rows matched a digest marker (docs/REPLICA.md), kept in
/// `_logship_verified`, written in the same SQLite transaction as the rows it vouches for. Its
/// own table, apart from `_logship_position`, so that a store without markers keeps its
/// position table as it was. On the master it is the last LSN that carried a marker.
public struct VerifiedPosition: Equatable, Sendable {
    /// The LSN whose marker the rows matched (on the master: the last LSN that carried one).
    public var lsn: UInt64
    /// The master's commit time of `lsn`, µs since 1970-01-01 UTC.
    public var commitTime: Int64
    /// When this database computed the digest and found it equal, µs.
    public var verifiedAt: Int64
    /// How many tables and rows the marker covered.
    public var tables: Int
    public var rows: UInt64

    public init(lsn: UInt64, commitTime: Int64, verifiedAt: Int64, tables: Int, rows: UInt64) {
        self.lsn = lsn
        self.commitTime = commitTime
        self.verifiedAt = verifiedAt
        self.tables = tables
        self.rows = rows
    }

    /// logship's own table (never captured, never digested: `AppliedPosition.internalTablePrefix`).
    public static let tableName = "_logship_verified"

    /// Reads the row; nil when the database never verified a marker.
    public static func read(_ db: Database) throws -> VerifiedPosition? {
        guard try db.tableExists(tableName) else { return nil }
        guard let row = try Row.fetchOne(db, sql: "SELECT lsn, commit_time, verified_at, tables, rows FROM \(tableName) WHERE id = 1") else { return nil }
        return VerifiedPosition(lsn: UInt64(bitPattern: row[0] as Int64), commitTime: row[1], verifiedAt: row[2], tables: row[3],
                                rows: UInt64(bitPattern: row[4] as Int64))
    }

    /// Creates the table unless it exists (a no-op then, which leaves the schema as it was).
    public static func createTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS \(tableName) (
              id INTEGER PRIMARY KEY CHECK (id = 1),
              lsn INTEGER NOT NULL,
              commit_time INTEGER NOT NULL,
              verified_at INTEGER NOT NULL,
              tables INTEGER NOT NULL,
              rows INTEGER NOT NULL)
            """)
    }

    /// Writes the row (creating the table the first time), inside the caller's transaction.
    public static func write(_ db: Database, _ p: VerifiedPosition) throws {
        try createTable(db)
        try db.execute(sql: "INSERT OR REPLACE INTO \(tableName) (id, lsn, commit_time, verified_at, tables, rows) VALUES (1, ?, ?, ?, ?, ?)",
                       arguments: [Int64(bitPattern: p.lsn), p.commitTime, p.verifiedAt, p.tables, Int64(bitPattern: p.rows)])
    }
}
