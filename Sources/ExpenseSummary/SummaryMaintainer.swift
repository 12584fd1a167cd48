import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Keeps a summary current during apply: each batch's row events become per-group deltas,
/// written before the batch's position (same SQLite transaction), one write per group the batch
/// changed. Counts and totals are deltas; minima and maxima come from a few extremes kept per
/// group (`KeptExtremes`), so the table is read only when all of a group's kept extremes on one
/// side were removed; DDL rebuilds the whole summary.
///
/// The summary rows this maintainer read or wrote stay in memory (`rows`) from batch to batch
/// of one run, so a group is looked up in the summary table once per run rather than once per
/// batch (with single-row transactions, 1,000 to a batch, most rows touch a group of their own:
/// the look-up was about half of the summary's cost). The cache holds only what committed
/// batches wrote: a rolled-back batch or a rebuild empties it (the next batch reads the table
/// again), and only this connection, holding the replica's lock, writes the summary.
/// An observer of the replay loop (`ReplayObserver`), so its writes commit with the rows.
final class SummaryMaintainer: ReplayObserver {
    let mapping: Summaries.Mapping
    /// A group, its text compared as bytes (`Value`): a category with a NUL or invalid UTF-8 is
    /// its own group, as in SQL's GROUP BY (GRDB's strings would cut or repair it).
    private struct Key: Hashable { var month: String; var category: Value; var currency: Value; var merchant: Value }
    private struct Entry: Equatable { var key: Key; var amount: Int64 }
    private struct Delta { var n: Int64 = 0; var total: Int64 = 0; var added: [Int64] = []; var removed: [Int64] = [] }
    private var deltas: [Key: Delta] = [:]
    /// A group's summary row as the last committed batch left it (`rowid` nil: no row).
    private struct Stored { var rowid: Int64?; var n: Int64; var total: Int64; var lows: KeptExtremes; var highs: KeptExtremes }
    private var rows: [Key: Stored] = [:]
    /// At most this many groups are cached (about 250 bytes each); beyond it the cache is
    /// emptied and refilled by look-ups, so memory stays bounded whatever the summary's size.
    static let cachedGroupLimit = 1_000_000
    private var rebuildNeeded = false
    private var invalid = false
    private var columns: (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int)?

    init(mapping: Summaries.Mapping) { self.mapping = mapping }

    /// The maintainer for this store's summary, if it keeps a valid one; a summary left behind
    /// the store (a restored copy, an older binary) is rebuilt at the first batch.
    static func load(_ db: Database, at lsn: UInt64) throws -> SummaryMaintainer? {
        guard let state = try Summaries.state(db), state.valid else { return nil }
        let maintainer = SummaryMaintainer(mapping: state.mapping)
        // A summary of an older binary (no kept extremes, an index on the table) is rebuilt too.
        let current = try db.columns(in: Summaries.table).contains { $0.name == "lo" }
        maintainer.rebuildNeeded = state.lsn != lsn || !current
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

    func batchRolledBack() {
        discard()
        rows.removeAll()
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

    /// The group and amount of a row image; nil for a row without an amount (left out, as the
    /// report does) or one the summary cannot hold (then the summary turns invalid).
    private func entry(_ row: [Value], _ c: (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int)) -> Entry? {
        let amountValue = c.amount < row.count ? row[c.amount] : .null
        if case .null = amountValue { return nil }
        guard case .integer(let amount) = amountValue, c.date < row.count, case .text(let date) = row[c.date], Summaries.isISODate(bytes: date) else {
            invalid = true
            return nil
        }
        // The first 7 bytes are ASCII digits and a dash (checked above): a small string, no allocation.
        let key = Key(month: String(decoding: date.prefix(7), as: UTF8.self), category: Self.value(row, c.category), currency: Self.value(row, c.currency),
                      merchant: Self.value(row, c.merchant))
        return Entry(key: key, amount: amount)
    }

    private func add(_ e: Entry, sign: Int64) {
        // One hash look-up per row change (the subscript's modify accessor).
        func update(_ d: inout Delta) {
            d.n += sign
            d.total &+= sign * e.amount
            if sign > 0 { d.added.append(e.amount) } else { d.removed.append(e.amount) }
        }
        update(&deltas[e.key, default: Delta()])
    }

    /// Writes the batch's deltas (inside the batch's transaction, before its position): one
    /// write per group the batch changed, and a look-up for a group not yet cached in this run.
    func flush(_ db: Database, lsn: UInt64) throws {
        defer { discard() }
        if rebuildNeeded || invalid {
            // Recompute everything (the rebuild also re-checks validity); the cache is stale.
            rows.removeAll()
            try Summaries.rebuild(db, mapping, lsn: lsn)
            rebuildNeeded = false
            return
        }
        if rows.count + deltas.count > Self.cachedGroupLimit { rows.removeAll() }
        for (key, d) in deltas {
            var s = try rows[key] ?? lookup(db, key)
            let before = s.n
            s.n += d.n
            s.total = s.total &+ d.total
            s.lows.apply(added: d.added, removed: d.removed, count: before)
            s.highs.apply(added: d.added, removed: d.removed, count: before)
            if s.n > 0, s.lows.extreme == nil { s.lows = try refill(db, key, largest: false) }
            if s.n > 0, s.highs.extreme == nil { s.highs = try refill(db, key, largest: true) }
            s.rowid = try write(db, key, rowid: s.rowid, n: s.n, total: s.total, lows: s.lows, highs: s.highs)
            // A group with no amount left has no extremes (as a look-up would find it).
            if s.n == 0 { s = Stored(rowid: nil, n: 0, total: 0, lows: KeptExtremes(largest: false, values: []), highs: KeptExtremes(largest: true, values: [])) }
            rows[key] = s
        }
        try db.execute(sql: "UPDATE \(Summaries.configTable) SET lsn = ? WHERE id = 1", arguments: [Int64(bitPattern: lsn)])
    }

    /// A group's summary row as the table holds it (n = 0 and no rowid when it has none).
    private func lookup(_ db: Database, _ key: Key) throws -> Stored {
        let select = try db.cachedStatement(sql: "SELECT rowid, n, total, mn, mx, lo, hi FROM \(Summaries.table) WHERE month = ? AND category IS ? AND currency IS ? AND merchant IS ?")
        // Bound and read through ExactValues: the group's text byte for byte.
        try ExactValues.bind([.text(key.month), key.category, key.currency, key.merchant], to: select)
        let current = try ExactValues.step(select, db) ? (0..<7).map { ExactValues.column(select, Int32($0)) } : nil
        if current != nil { ExactValues.reset(select) }
        let n = current.flatMap { Self.integer($0[1]) } ?? 0
        return Stored(rowid: current.flatMap { Self.integer($0[0]) }, n: n, total: current.flatMap { Self.integer($0[2]) } ?? 0,
                      lows: Self.kept(current, stored: 5, extreme: 3, count: n, largest: false),
                      highs: Self.kept(current, stored: 6, extreme: 4, count: n, largest: true))
    }

    /// A group's kept extremes as stored (`lo`/`hi`); a summary built by `rebuild` stores none,
    /// which stands for its minimum or maximum alone (a valid one-amount prefix).
    private static func kept(_ row: [Value]?, stored: Int, extreme: Int, count: Int64, largest: Bool) -> KeptExtremes {
        guard let row, count > 0 else { return KeptExtremes(largest: largest, values: []) }
        if let text = row[stored].textString { return KeptExtremes.parse(text, largest: largest) ?? KeptExtremes(largest: largest, values: []) }
        return KeptExtremes(largest: largest, values: integer(row[extreme]).map { [$0] } ?? [])
    }

    /// Every kept extreme of a group on one side was removed: read the next few from the table
    /// (the rows of one month: a range scan when the date column has an index, such as the
    /// sample schema's expenses_spent_at; a scan of the table otherwise). Rare by design.
    private func refill(_ db: Database, _ key: Key, largest: Bool) throws -> KeptExtremes {
        let m = mapping, q = Summaries.q
        let statement = try db.cachedStatement(sql: """
            SELECT \(q(m.amount)) FROM \(q(m.table))
            WHERE \(q(m.category)) IS ? COLLATE BINARY AND \(q(m.currency)) IS ? COLLATE BINARY AND \(q(m.merchant)) IS ? COLLATE BINARY
              AND \(q(m.date)) >= ? AND \(q(m.date)) < ? AND \(q(m.amount)) IS NOT NULL
            ORDER BY \(q(m.amount)) \(largest ? "DESC" : "ASC") LIMIT \(KeptExtremes.capacity)
            """)
        try ExactValues.bind([key.category, key.currency, key.merchant, .text(key.month + "-01"), .text(nextMonthStart(key.month))], to: statement)
        var values: [Int64] = []
        while try ExactValues.step(statement, db) {
            if let v = Self.integer(ExactValues.column(statement, 0)) { values.append(v) }
        }
        return KeptExtremes(largest: largest, values: values)
    }

    /// Inserts, updates or (when the group has no amount left) deletes a group's summary row;
    /// returns its rowid afterwards (nil when it has none).
    private func write(_ db: Database, _ key: Key, rowid: Int64?, n: Int64, total: Int64, lows: KeptExtremes, highs: KeptExtremes) throws -> Int64? {
        let t = Summaries.table
        let figures: [Value] = [.integer(n), .integer(total), lows.extreme.map(Value.integer) ?? .null, highs.extreme.map(Value.integer) ?? .null,
                                .text(lows.text), .text(highs.text)]
        if let rowid {
            if n == 0 {
                try db.cachedStatement(sql: "DELETE FROM \(t) WHERE rowid = ?").execute(arguments: [rowid])
                return nil
            }
            let update = try db.cachedStatement(sql: "UPDATE \(t) SET n = ?, total = ?, mn = ?, mx = ?, lo = ?, hi = ? WHERE rowid = ?")
            try ExactValues.bind(figures + [.integer(rowid)], to: update)
            _ = try ExactValues.step(update, db)
            return rowid
        } else if n != 0 {
            let insert = try db.cachedStatement(sql: "INSERT INTO \(t) (month, category, currency, merchant, n, total, mn, mx, lo, hi) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            try ExactValues.bind([.text(key.month), key.category, key.currency, key.merchant] + figures, to: insert)
            _ = try ExactValues.step(insert, db)
            return db.lastInsertedRowID
        }
        return nil
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
