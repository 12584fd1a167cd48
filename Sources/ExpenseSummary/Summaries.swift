import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import ReplicaStore

/// Monthly expense summaries that replica-apply keeps up to date as it applies, in the same
/// SQLite transaction as the rows (an observer of the replay loop: `SummaryMaintainer`), so
/// `report monthly-expenses` reads a few thousand summary rows instead of scanning millions
/// (issue 5's "at least 10 times faster").
///
/// Two tables, keyed by a packed integer (`GroupKey`) that is their rowid, so neither needs an
/// index and a group is found by its rowid (issue 16: the summary must cost under 10 % of the
/// store and apply at 80 % of its speed without it):
/// - `_logship_summary`: per month, category and currency, the count, total, minimum and
///   maximum of the amounts (integer minor units; rows without an amount are left out, as the
///   report does), with a few of the smallest and largest amounts kept (`lo`, `hi`);
/// - `_logship_summary_merchants`: per month, category, currency and merchant, the count and
///   total (what the report's top merchants need; no extremes).
/// `_logship_summary_names` numbers the categories, currencies and merchants (their exact
/// values; NULL is 0), and the views `_logship_summary_groups` and `_logship_summary_by_merchant`
/// show both tables with the names and the month as text, which is what the report reads.
/// `_logship_summary_config` holds the column mapping, the LSN the summary describes, and
/// whether it is valid. A summary is valid only while every date reads YYYY-MM-DD… and every
/// amount is an integer, so that a month filter on the summary selects exactly the rows a date
/// filter on the table would, and while the names fit their fields of the key; otherwise the
/// report scans the table.
public enum Summaries {
    public static let table = "_logship_summary"
    public static let merchantTable = "_logship_summary_merchants"
    public static let namesTable = "_logship_summary_names"
    public static let configTable = "_logship_summary_config"
    /// What the report reads: `table` and `merchantTable` with months and names as text.
    public static let groupsView = "_logship_summary_groups"
    public static let merchantsView = "_logship_summary_by_merchant"
    /// Everything a summary adds to the store (dropped on promotion and by `disable`).
    public static let views = [groupsView, merchantsView]
    public static let tables = [table, merchantTable, namesTable, configTable]
    /// The replica-only index on the source table that older versions added for recomputing a
    /// group's minimum or maximum; it cost 56–64% of the store and most of apply's speed (issue
    /// 16). The kept extremes replaced it: a rebuild drops it.
    static let retiredIndexName = "_logship_summary_source"
    /// The index on the text key columns of summaries before the packed keys; a rebuild drops it.
    static let retiredKeyIndexName = "_logship_summary_key"

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
        guard try db.hasTable(configTable), let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM \(configTable) WHERE id = 1")) else { return nil }
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

    /// Stops keeping a summary: drops its tables and views (and the index older versions added).
    public static func disable(_ db: Database) throws {
        try db.execute(sql: "DROP INDEX IF EXISTS \(retiredIndexName)")
        for v in views { try db.execute(sql: "DROP VIEW IF EXISTS \(v)") }
        for t in tables { try db.execute(sql: "DROP TABLE IF EXISTS \(t)") }
    }

    /// Recomputes the whole summary from the table (after DDL, or on enable). The summary
    /// tables are made anew, so a summary of an older version gets today's form. `lo` and `hi`
    /// are left NULL, which stands for `mn` or `mx` alone (`KeptExtremes`).
    static func rebuild(_ db: Database, _ m: Mapping, lsn: UInt64) throws {
        try db.execute(sql: "DROP INDEX IF EXISTS \(retiredIndexName)")
        try db.execute(sql: "DROP INDEX IF EXISTS \(retiredKeyIndexName)")
        for v in views { try db.execute(sql: "DROP VIEW IF EXISTS \(v)") }
        for t in [table, merchantTable, namesTable] { try db.execute(sql: "DROP TABLE IF EXISTS \(t)") }
        try createTables(db)
        var valid = try db.tableExists(m.table)
        if valid {
            let bad = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM \(q(m.table)) WHERE \(q(m.amount)) IS NOT NULL
                  AND (typeof(\(q(m.amount))) <> 'integer' OR typeof(\(q(m.date))) <> 'text' OR NOT (\(isoDate(q(m.date)))))
                """) ?? 0
            valid = bad == 0
            if valid { valid = try fill(db, m) }
        }
        try db.execute(sql: "UPDATE \(configTable) SET lsn = ?, valid = ? WHERE id = 1", arguments: [Int64(bitPattern: lsn), valid ? 1 : 0])
    }

    /// The summary tables and the report's views, empty.
    static func createTables(_ db: Database) throws {
        try db.execute(sql: "CREATE TABLE \(table) (k INTEGER PRIMARY KEY, n INTEGER NOT NULL, total INTEGER NOT NULL, mn INTEGER, mx INTEGER, lo BLOB, hi BLOB)")
        try db.execute(sql: "CREATE TABLE \(merchantTable) (k INTEGER PRIMARY KEY, n INTEGER NOT NULL, total INTEGER NOT NULL)")
        try db.execute(sql: "CREATE TABLE \(namesTable) (field INTEGER NOT NULL, id INTEGER NOT NULL, v, PRIMARY KEY (field, id)) WITHOUT ROWID")
        let month = "printf('%04d-%02d', (s.k >> \(GroupKey.monthShift)) / 12, (s.k >> \(GroupKey.monthShift)) % 12 + 1)"
        func name(_ field: GroupKey.Field, _ alias: String) -> String {
            "LEFT JOIN \(namesTable) \(alias) ON \(alias).field = \(field.rawValue) AND \(alias).id = (s.k >> \(field.shift)) & \(field.mask)"
        }
        try db.execute(sql: """
            CREATE VIEW \(groupsView) AS SELECT \(month) AS month, ca.v AS category, cu.v AS currency, s.n AS n, s.total AS total, s.mn AS mn, s.mx AS mx
            FROM \(table) s \(name(.category, "ca")) \(name(.currency, "cu"))
            """)
        try db.execute(sql: """
            CREATE VIEW \(merchantsView) AS SELECT \(month) AS month, ca.v AS category, cu.v AS currency, me.v AS merchant, s.n AS n, s.total AS total
            FROM \(merchantTable) s \(name(.category, "ca")) \(name(.currency, "cu")) \(name(.merchant, "me"))
            """)
    }

    /// Fills the empty summary from a GROUP BY of the table; false when a name does not fit its
    /// field of the key (then the summary is not valid).
    private static func fill(_ db: Database, _ m: Mapping) throws -> Bool {
        var names = SummaryNames()
        var groups: [Int64: (n: Int64, total: Int64, mn: Int64, mx: Int64)] = [:]
        let select = try db.makeStatement(sql: """
            SELECT substr(\(q(m.date)), 1, 7), \(q(m.category)) COLLATE BINARY, \(q(m.currency)) COLLATE BINARY, \(q(m.merchant)) COLLATE BINARY,
                   count(*), sum(\(q(m.amount))), min(\(q(m.amount))), max(\(q(m.amount)))
            FROM \(q(m.table)) WHERE \(q(m.amount)) IS NOT NULL GROUP BY 1, 2, 3, 4
            """)
        let insertMerchant = try db.cachedStatement(sql: "INSERT INTO \(merchantTable) (k, n, total) VALUES (?, ?, ?)")
        var fits = true
        try ExactValues.bind([], to: select)
        while try ExactValues.step(select, db) {
            let r = (0..<8).map { ExactValues.column(select, Int32($0)) }
            guard case .text(let month) = r[0], let mi = GroupKey.monthIndex(bytes: month),
                  case .integer(let n) = r[4], case .integer(let total) = r[5], case .integer(let mn) = r[6], case .integer(let mx) = r[7],
                  let ca = names.id(.category, r[1]), let cu = names.id(.currency, r[2]), let me = names.id(.merchant, r[3]) else {
                fits = false
                break
            }
            let group = GroupKey.pack(month: mi, category: ca, currency: cu, merchant: 0)
            try ExactValues.bind([.integer(group | me), .integer(n), .integer(total)], to: insertMerchant)
            _ = try ExactValues.step(insertMerchant, db)
            if let g = groups[group] {
                groups[group] = (g.n + n, g.total &+ total, Swift.min(g.mn, mn), Swift.max(g.mx, mx))
            } else {
                groups[group] = (n, total, mn, mx)
            }
        }
        ExactValues.reset(select)
        guard fits else {
            for t in [table, merchantTable, namesTable] { try db.execute(sql: "DELETE FROM \(t)") }
            return false
        }
        let insert = try db.cachedStatement(sql: "INSERT INTO \(table) (k, n, total, mn, mx) VALUES (?, ?, ?, ?, ?)")
        for (k, g) in groups {
            try ExactValues.bind([.integer(k), .integer(g.n), .integer(g.total), .integer(g.mn), .integer(g.mx)], to: insert)
            _ = try ExactValues.step(insert, db)
        }
        try names.writeNew(db)
        return true
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
