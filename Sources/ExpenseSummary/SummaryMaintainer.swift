import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Keeps a summary current during apply: each batch's row events become per-group deltas,
/// written before the batch's position (same SQLite transaction). A deleted or updated-away
/// amount that was a group's minimum or maximum makes that group be recomputed from the
/// table (a short range scan on the summary's index); DDL rebuilds the whole summary.
/// An observer of the replay loop (`ReplayObserver`), so its writes commit with the rows.
final class SummaryMaintainer: ReplayObserver {
    let mapping: Summaries.Mapping
    /// A group, its text compared as bytes (`Value`): a category with a NUL or invalid UTF-8 is
    /// its own group, as in SQL's GROUP BY (GRDB's strings would cut or repair it).
    private struct Key: Hashable { var month: String; var category: Value; var currency: Value; var merchant: Value }
    private struct Entry: Equatable { var key: Key; var amount: Int64 }
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

    func schemaChanged(_ sql: String, lsn: UInt64, in db: Database) throws {
        rebuildNeeded = true
    }

    func rowChanged(_ change: RowChange, lsn: UInt64, in db: Database) throws {
        guard change.table.name == mapping.table, let c = indexes(change.table) else { return }
        let old = change.before.flatMap { entry($0, c) }, new = change.after.flatMap { entry($0, c) }
        // An UPDATE that leaves the group and the amount as they were (a note, a merchant's
        // spelling in another column) changes no figure: skipping it also spares a look-up when
        // the row holds its group's minimum or maximum.
        if let old, let new, old == new { return }
        if let old { add(old, sign: -1) }
        if let new { add(new, sign: 1) }
    }

    func batchWillCommit(through lsn: UInt64, in db: Database) throws {
        try flush(db, lsn: lsn)
    }

    func batchRolledBack() { discard() }

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

    /// The group and amount of a row image; nil for a row without an amount (left out, as the
    /// report does) or one the summary cannot hold (then the summary turns invalid).
    private func entry(_ row: [Value], _ c: (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int)) -> Entry? {
        let amountValue = c.amount < row.count ? row[c.amount] : .null
        if case .null = amountValue { return nil }
        guard case .integer(let amount) = amountValue, c.date < row.count, let date = row[c.date].textString, Summaries.isISODate(date) else {
            invalid = true
            return nil
        }
        let key = Key(month: String(date.prefix(7)), category: Self.value(row, c.category), currency: Self.value(row, c.currency),
                      merchant: Self.value(row, c.merchant))
        return Entry(key: key, amount: amount)
    }

    private func add(_ e: Entry, sign: Int64) {
        let key = e.key, amount = e.amount
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
            // Only a removed amount at (or past) the group's minimum or maximum needs the table.
            // (An added amount past it does not settle it: the removed one may be that very
            // amount, added and removed in the same batch; found by ReportSummaryTests.)
            let extremeRemoved = d.removedMin.map { removed in mn.map { removed <= $0 } ?? true } == true
                || d.removedMax.map { removed in mx.map { removed >= $0 } ?? true } == true
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
