import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import ReplicaStore

/// Monthly expense summaries that replica-apply keeps up to date as it applies, in the same
/// SQLite transaction as the rows (an observer of the replay loop: `SummaryMaintainer`), so `report monthly-expenses` reads a few thousand summary
/// rows instead of scanning millions (issue 5's "at least 10 times faster").
///
/// `_logship_summary` holds, per month, category, currency and merchant, the count, total,
/// minimum and maximum of the amounts (integer minor units; rows without an amount are left
/// out, as the report does). `_logship_summary_config` holds the column mapping, the LSN the
/// summary describes, and whether it is valid. A summary is valid only while every date reads
/// YYYY-MM-DD… and every amount is an integer, so that a month filter on the summary selects
/// exactly the rows a date filter on the table would; otherwise the report scans the table.
public enum Summaries {
    public static let table = "_logship_summary"
    public static let configTable = "_logship_summary_config"
    /// The replica-only index on the source table that older versions added for recomputing a
    /// group's minimum or maximum; it cost 56–64% of the store and most of apply's speed (issue
    /// 16). The kept extremes replaced it: a rebuild drops it.
    static let retiredIndexName = "_logship_summary_source"

    /// Which columns of which table hold the date, amount (integer minor units), category,
    /// currency and merchant: what a summary reads, and the report's column mapping.
    public struct Mapping: Equatable, Sendable {
        public var table = "expenses"
        public var date = "spent_at"
        public var amount = "amount_cents"
        public var category = "category"
        public var currency = "currency"
        public var merchant = "merchant"
        public init() {}
    }

    /// The summary's state as the report sees it.
    public struct State: Sendable {
        public var mapping: Mapping
        public var lsn: UInt64
        public var valid: Bool
    }

    static func q(_ name: String) -> String { quotedIdentifier(name) }

    /// Reads the summary's state; nil when no summary is kept in this database.
    public static func state(_ db: Database) throws -> State? {
        guard try db.tableExists(configTable), let row = try Row.fetchOne(db, sql: "SELECT * FROM \(configTable) WHERE id = 1") else { return nil }
        var m = Mapping()
        m.table = row["source_table"]
        m.date = row["date_column"]
        m.amount = row["amount_column"]
        m.category = row["category_column"]
        m.currency = row["currency_column"]
        m.merchant = row["merchant_column"]
        return State(mapping: m, lsn: UInt64(row["lsn"] as Int64), valid: row["valid"] as Int64 == 1)
    }

    /// Starts keeping a summary for `mapping` (replacing any other), built from the table as
    /// it is, at `lsn`. Runs inside the caller's write transaction.
    public static func enable(_ db: Database, mapping m: Mapping, lsn: UInt64) throws {
        guard try db.tableExists(m.table) else { throw ReplicaError(.invalid, "no table \(m.table) in the store") }
        let columns = Set(try db.columns(in: m.table).map { $0.name.lowercased() })
        for c in [m.date, m.amount, m.category, m.currency, m.merchant] where !columns.contains(c.lowercased()) {
            throw ReplicaError(.invalid, "table \(m.table) has no column \(c)")
        }
        try disable(db)
        try db.execute(sql: """
            CREATE TABLE \(configTable) (id INTEGER PRIMARY KEY CHECK (id = 1), source_table TEXT NOT NULL, date_column TEXT NOT NULL,
              amount_column TEXT NOT NULL, category_column TEXT NOT NULL, currency_column TEXT NOT NULL, merchant_column TEXT NOT NULL,
              lsn INTEGER NOT NULL, valid INTEGER NOT NULL)
            """)
        try db.execute(sql: "INSERT INTO \(configTable) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 0)",
                       arguments: [m.table, m.date, m.amount, m.category, m.currency, m.merchant, Int64(bitPattern: lsn)])
        try rebuild(db, m, lsn: lsn)
    }

    /// Stops keeping a summary: drops its tables (and the index older versions added).
    public static func disable(_ db: Database) throws {
        try db.execute(sql: "DROP INDEX IF EXISTS \(retiredIndexName)")
        try db.execute(sql: "DROP TABLE IF EXISTS \(table)")
        try db.execute(sql: "DROP TABLE IF EXISTS \(configTable)")
    }

    /// Recomputes the whole summary from the table (after DDL, or on enable).
    /// The summary table is made anew, so a summary of an older version gets today's columns:
    /// `lo` and `hi` hold a few of the group's smallest and largest amounts (`KeptExtremes`;
    /// NULL stands for `mn` or `mx` alone).
    static func rebuild(_ db: Database, _ m: Mapping, lsn: UInt64) throws {
        try db.execute(sql: "DROP INDEX IF EXISTS \(retiredIndexName)")
        try db.execute(sql: "DROP TABLE IF EXISTS \(table)")
        try db.execute(sql: """
            CREATE TABLE \(table) (month TEXT, category, currency, merchant, n INTEGER NOT NULL, total INTEGER NOT NULL,
              mn INTEGER, mx INTEGER, lo TEXT, hi TEXT)
            """)
        try db.execute(sql: "CREATE INDEX \(table)_key ON \(table) (month, category, currency, merchant)")
        var valid = try db.tableExists(m.table)
        if valid {
            let bad = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM \(q(m.table)) WHERE \(q(m.amount)) IS NOT NULL
                  AND (typeof(\(q(m.amount))) <> 'integer' OR typeof(\(q(m.date))) <> 'text' OR NOT (\(isoDate(q(m.date)))))
                """) ?? 0
            valid = bad == 0
            if valid {
                try db.execute(sql: """
                    INSERT INTO \(table) (month, category, currency, merchant, n, total, mn, mx)
                    SELECT substr(\(q(m.date)), 1, 7), \(q(m.category)) COLLATE BINARY, \(q(m.currency)) COLLATE BINARY, \(q(m.merchant)) COLLATE BINARY,
                           count(*), sum(\(q(m.amount))), min(\(q(m.amount))), max(\(q(m.amount)))
                    FROM \(q(m.table)) WHERE \(q(m.amount)) IS NOT NULL GROUP BY 1, 2, 3, 4
                    """)
            }
        }
        try db.execute(sql: "UPDATE \(configTable) SET lsn = ?, valid = ? WHERE id = 1", arguments: [Int64(bitPattern: lsn), valid ? 1 : 0])
    }

    /// SQL that is true when `column` reads YYYY-MM-DD with a month 01–12 and a day 01–31.
    static func isoDate(_ column: String) -> String {
        "\(column) GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*' AND substr(\(column), 6, 2) BETWEEN '01' AND '12' AND substr(\(column), 9, 2) BETWEEN '01' AND '31'"
    }

    /// The same test as `isoDate`, in Swift, for values seen in row events.
    static func isISODate(_ s: String) -> Bool {
        isISODate(bytes: Data(s.utf8.prefix(10)))
    }

    /// The same test on a text value's bytes, without copying them (called for every row
    /// change apply reports).
    static func isISODate(bytes d: Data) -> Bool {
        guard d.count >= 10 else { return false }
        return d.withUnsafeBytes { (u: UnsafeRawBufferPointer) -> Bool in
            guard u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-") else { return false }
            for i in 0..<10 where i != 4 && i != 7 && !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(u[i]) { return false }
            let month = Int(u[5] - 48) * 10 + Int(u[6] - 48), day = Int(u[8] - 48) * 10 + Int(u[9] - 48)
            return (1...12).contains(month) && (1...31).contains(day)
        }
    }
}
