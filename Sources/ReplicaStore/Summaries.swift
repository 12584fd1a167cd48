import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Monthly expense summaries that replica-apply keeps up to date as it applies, in the same
/// SQLite transaction as the rows, so `report monthly-expenses` reads a few thousand summary
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
    public static let indexName = "_logship_summary_source"

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
        try db.execute(sql: "CREATE TABLE \(table) (month TEXT, category, currency, merchant, n INTEGER NOT NULL, total INTEGER NOT NULL, mn INTEGER, mx INTEGER)")
        try db.execute(sql: "CREATE INDEX \(table)_key ON \(table) (month, category, currency, merchant)")
        try rebuild(db, m, lsn: lsn)
    }

    public static func disable(_ db: Database) throws {
        try db.execute(sql: "DROP INDEX IF EXISTS \(indexName)")
        try db.execute(sql: "DROP TABLE IF EXISTS \(table)")
        try db.execute(sql: "DROP TABLE IF EXISTS \(configTable)")
    }

    /// Recomputes the whole summary from the table (after DDL, or on enable).
    static func rebuild(_ db: Database, _ m: Mapping, lsn: UInt64) throws {
        try db.execute(sql: "DELETE FROM \(table)")
        var valid = try db.tableExists(m.table)
        if valid {
            // A replica-only index that makes recomputing one group a short range scan.
            try db.execute(sql: "CREATE INDEX IF NOT EXISTS \(indexName) ON \(q(m.table)) (\(q(m.category)), \(q(m.currency)), \(q(m.merchant)), \(q(m.date)))")
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
        let u = Array(s.utf8.prefix(10))
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-") else { return false }
        for i in [0, 1, 2, 3, 5, 6, 8, 9] where !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(u[i]) { return false }
        let month = Int(u[5] - 48) * 10 + Int(u[6] - 48), day = Int(u[8] - 48) * 10 + Int(u[9] - 48)
        return (1...12).contains(month) && (1...31).contains(day)
    }
}

/// Keeps a summary current during apply: each batch's row events become per-group deltas,
/// written before the batch's position (same SQLite transaction). A deleted or updated-away
/// amount that was a group's minimum or maximum makes that group be recomputed from the
/// table (a short range scan on the summary's index); DDL rebuilds the whole summary.
final class SummaryMaintainer {
    let mapping: Summaries.Mapping
    /// A group, its text compared as bytes (`Value`): a category with a NUL or invalid UTF-8 is
    /// its own group, as in SQL's GROUP BY (GRDB's strings would cut or repair it).
    private struct Key: Hashable { var month: String; var category: Value; var currency: Value; var merchant: Value }
    private struct Delta { var n: Int64 = 0; var total: Int64 = 0; var addedMin: Int64?; var addedMax: Int64?; var removedMin: Int64?; var removedMax: Int64? }
    private var deltas: [Key: Delta] = [:]
    private var rebuildNeeded = false
    private var invalid = false
    private var columns: (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int)?

    init(mapping: Summaries.Mapping) { self.mapping = mapping }

    /// The maintainer for this store's summary, if it keeps a valid one; a summary left behind
    /// the store (a restored copy, an older binary) is rebuilt at the first batch.
    static func load(_ db: Database, at lsn: UInt64) throws -> SummaryMaintainer? {
        guard let state = try Summaries.state(db), state.valid else { return nil }
        let maintainer = SummaryMaintainer(mapping: state.mapping)
        maintainer.rebuildNeeded = state.lsn != lsn
        return maintainer
    }

    func discard() {
        deltas.removeAll()
        invalid = false
    }

    /// Takes in one applied transaction's events.
    func observe(_ tx: Transaction) {
        for e in tx.events {
            switch e {
            case .ddl:
                rebuildNeeded = true
            case .insert(let t, _, let values):
                guard t.name == mapping.table, let c = indexes(t) else { continue }
                add(values, c, sign: 1)
            case .delete(let t, _, let old):
                guard t.name == mapping.table, let c = indexes(t) else { continue }
                add(old, c, sign: -1)
            case .update(let t, _, _, let old, let new):
                guard t.name == mapping.table, let c = indexes(t) else { continue }
                add(old, c, sign: -1)
                add(new, c, sign: 1)
            }
        }
    }

    private func indexes(_ t: TableDescriptor) -> (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int)? {
        if let c = columns, c.descriptor == t { return c }
        func index(_ name: String) -> Int? { t.columns.firstIndex { $0.name.lowercased() == name.lowercased() } }
        guard let d = index(mapping.date), let a = index(mapping.amount), let ca = index(mapping.category),
              let cu = index(mapping.currency), let me = index(mapping.merchant) else {
            rebuildNeeded = true
            return nil
        }
        columns = (t, d, a, ca, cu, me)
        return columns
    }

    private static func value(_ row: [Value], _ i: Int) -> Value { i < row.count ? row[i] : .null }

    private func add(_ row: [Value], _ c: (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int), sign: Int64) {
        let amountValue = c.amount < row.count ? row[c.amount] : .null
        if case .null = amountValue { return }
        guard case .integer(let amount) = amountValue, c.date < row.count, let date = row[c.date].textString, Summaries.isISODate(date) else {
            invalid = true
            return
        }
        let key = Key(month: String(date.prefix(7)), category: Self.value(row, c.category), currency: Self.value(row, c.currency),
                      merchant: Self.value(row, c.merchant))
        var d = deltas[key] ?? Delta()
        d.n += sign
        d.total &+= sign * amount
        if sign > 0 {
            d.addedMin = min(d.addedMin ?? amount, amount)
            d.addedMax = max(d.addedMax ?? amount, amount)
        } else {
            d.removedMin = min(d.removedMin ?? amount, amount)
            d.removedMax = max(d.removedMax ?? amount, amount)
        }
        deltas[key] = d
    }

    /// Writes the batch's deltas (inside the batch's transaction, before its position).
    func flush(_ db: Database, lsn: UInt64) throws {
        defer { discard() }
        if rebuildNeeded || invalid {
            // Recompute everything (the rebuild also re-checks validity).
            try Summaries.rebuild(db, mapping, lsn: lsn)
            rebuildNeeded = false
            return
        }
        let m = mapping
        let q = Summaries.q
        let select = try db.cachedStatement(sql: "SELECT rowid, n, total, mn, mx FROM \(Summaries.table) WHERE month = ? AND category IS ? AND currency IS ? AND merchant IS ?")
        let recompute = try db.cachedStatement(sql: """
            SELECT count(*), sum(\(q(m.amount))), min(\(q(m.amount))), max(\(q(m.amount))) FROM \(q(m.table))
            WHERE \(q(m.category)) IS ? COLLATE BINARY AND \(q(m.currency)) IS ? COLLATE BINARY AND \(q(m.merchant)) IS ? COLLATE BINARY AND \(q(m.date)) >= ? AND \(q(m.date)) < ? AND \(q(m.amount)) IS NOT NULL
            """)
        for (key, d) in deltas {
            // Bound and read through ExactValues: the group's text byte for byte.
            try ExactValues.bind([.text(key.month), key.category, key.currency, key.merchant], to: select)
            let current = try ExactValues.step(select, db) ? (0..<5).map { ExactValues.column(select, Int32($0)) } : nil
            if current != nil { ExactValues.reset(select) }
            var n = current.flatMap { Self.integer($0[1]) } ?? 0
            var total = current.flatMap { Self.integer($0[2]) } ?? 0
            var mn = current.flatMap { Self.integer($0[3]) }
            var mx = current.flatMap { Self.integer($0[4]) }
            n += d.n
            total &+= d.total
            let extremeRemoved = (d.removedMin.map { mn == nil || $0 <= mn! } ?? false) || (d.removedMax.map { mx == nil || $0 >= mx! } ?? false)
            if extremeRemoved {
                try ExactValues.bind([key.category, key.currency, key.merchant, .text(key.month + "-01"), .text(nextMonthStart(key.month))], to: recompute)
                guard try ExactValues.step(recompute, db) else { continue }
                n = Self.integer(ExactValues.column(recompute, 0)) ?? 0
                total = Self.integer(ExactValues.column(recompute, 1)) ?? 0
                mn = Self.integer(ExactValues.column(recompute, 2))
                mx = Self.integer(ExactValues.column(recompute, 3))
                ExactValues.reset(recompute)
            } else {
                if let a = d.addedMin { mn = min(mn ?? a, a) }
                if let a = d.addedMax { mx = max(mx ?? a, a) }
            }
            if let rowid = current.flatMap({ Self.integer($0[0]) }) {
                if n == 0 {
                    try db.execute(sql: "DELETE FROM \(Summaries.table) WHERE rowid = ?", arguments: [rowid])
                } else {
                    try db.execute(sql: "UPDATE \(Summaries.table) SET n = ?, total = ?, mn = ?, mx = ? WHERE rowid = ?", arguments: [n, total, mn, mx, rowid])
                }
            } else if n != 0 {
                let insert = try db.cachedStatement(sql: "INSERT INTO \(Summaries.table) (month, category, currency, merchant, n, total, mn, mx) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                try ExactValues.bind([.text(key.month), key.category, key.currency, key.merchant, .integer(n), .integer(total),
                                      mn.map(Value.integer) ?? .null, mx.map(Value.integer) ?? .null], to: insert)
                _ = try ExactValues.step(insert, db)
            }
        }
        try db.execute(sql: "UPDATE \(Summaries.configTable) SET lsn = ? WHERE id = 1", arguments: [Int64(bitPattern: lsn)])
    }

    private static func integer(_ v: Value) -> Int64? {
        if case .integer(let i) = v { return i }
        return nil
    }

    private func nextMonthStart(_ month: String) -> String {
        let y = Int(month.prefix(4)) ?? 0, mo = Int(month.suffix(2)) ?? 0
        return mo == 12 ? String(format: "%04d-01-01", y + 1) : String(format: "%04d-%02d-01", y, mo + 1)
    }
}

extension Replica {
    /// Starts keeping the monthly summary for `mapping` (built now from the store, in one
    /// transaction at the applied LSN); replica-apply keeps it current from then on.
    /// Returns whether the summary is valid (every date ISO 8601, every amount an integer).
    @discardableResult
    public func enableSummary(_ mapping: Summaries.Mapping) throws -> Bool {
        guard let p = try position() else { throw ReplicaError(.invalid, "the store has applied nothing yet; apply first, then summarize") }
        return try queue.inDatabase { db in
            try db.inTransaction(.immediate) {
                try Summaries.enable(db, mapping: mapping, lsn: p.lsn)
                return .commit
            }
            return try Summaries.state(db)?.valid ?? false
        }
    }

    public func disableSummary() throws {
        try queue.inDatabase { db in try db.inTransaction(.immediate) { try Summaries.disable(db); return .commit } }
    }
}
