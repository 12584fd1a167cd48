import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Keeps a summary current during apply: each batch's row events become per-group deltas,
/// written before the batch's position (same SQLite transaction), one write per group the batch
/// changed, found by its rowid (`GroupKey`). Counts and totals are deltas; minima and maxima
/// (per month, category and currency only) come from a few extremes kept per group
/// (`KeptExtremes`), so the table is read only when all of a group's kept extremes on one side
/// were removed; DDL rebuilds the whole summary.
///
/// The summary rows this maintainer read or wrote stay in memory (`rows`, `merchantRows`) from
/// batch to batch of one run, so a group is looked up once per run rather than once per batch.
/// The cache holds only what committed batches wrote: a rolled-back batch or a rebuild empties
/// it (the next batch reads the table again), and only this connection, holding the replica's
/// lock, writes the summary. An observer of the replay loop (`ReplayObserver`), so its writes
/// commit with the rows.
final class SummaryMaintainer: ReplayObserver {
    let mapping: Summaries.Mapping
    /// One amount that joined (`sign` 1) or left (-1) the group `k` (with its merchant) in this batch.
    private struct Change { var k: Int64; var amount: Int64; var sign: Int64 }
    /// This batch's changes, in arrival order; `flush` sorts them by group and amount and sums
    /// each run of one group. Two dictionary updates per row change (per month, category and
    /// currency with a growing list of amounts, and per merchant) were half of the summary's
    /// cost on inserts; an append here and one sort per batch replace them.
    private var changes: [Change] = []
    /// A group's summary row as the last committed batch left it (`exists` false: no row).
    private struct Stored { var exists: Bool; var n: Int64; var total: Int64; var lows: KeptExtremes; var highs: KeptExtremes }
    private var rows: [Int64: Stored] = [:]
    private var merchantRows: [Int64: (exists: Bool, n: Int64, total: Int64)] = [:]
    private var names: SummaryNames?
    /// Set when a batch rolled back: the names it wrote (if its COMMIT failed after `flush`)
    /// are gone from the table, so the next batch reads them from the table again.
    private var namesStale = false
    /// At most this many groups are cached (about 100 bytes each); beyond it the cache is
    /// emptied and refilled by look-ups, so memory stays bounded whatever the summary's size.
    static let cachedGroupLimit = 2_000_000
    private var rebuildNeeded = false
    private var invalid = false
    private var columns: (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int)?

    init(mapping: Summaries.Mapping) { self.mapping = mapping }

    /// The maintainer for this store's summary, if it keeps a valid one; a summary left behind
    /// the store (a restored copy, an older binary) is rebuilt at the first batch.
    static func load(_ db: Database, at lsn: UInt64) throws -> SummaryMaintainer? {
        guard let state = try Summaries.state(db), state.valid else { return nil }
        let maintainer = SummaryMaintainer(mapping: state.mapping)
        // A summary of an older binary (text keys, no kept extremes, an index) is rebuilt too.
        let current = try db.hasTable(Summaries.merchantTable) && db.hasTable(Summaries.namesTable)
        maintainer.rebuildNeeded = state.lsn != lsn || !current
        if !maintainer.rebuildNeeded { maintainer.names = try SummaryNames.load(db) }
        return maintainer
    }

    func discard() {
        changes.removeAll(keepingCapacity: true)
        invalid = false
    }

    func schemaChanged(_ sql: String, lsn: UInt64, in db: Database) throws {
        rebuildNeeded = true
    }

    func rowChanged(_ change: RowChange, lsn: UInt64, in db: Database) throws {
        guard !rebuildNeeded, change.table.name == mapping.table, let c = indexes(change.table) else { return }
        try reloadStaleNames(db)
        let old = change.before.flatMap { entry($0, c) }, new = change.after.flatMap { entry($0, c) }
        // An UPDATE that leaves the group and the amount as they were (a note, a merchant's
        // spelling in another column) changes no figure: skipping it also spares a look-up when
        // the row holds its group's minimum or maximum.
        if let old, let new, old == new { return }
        if let old { changes.append(Change(k: old.k, amount: old.amount, sign: -1)) }
        if let new { changes.append(Change(k: new.k, amount: new.amount, sign: 1)) }
    }

    func batchWillCommit(through lsn: UInt64, in db: Database) throws {
        try flush(db, lsn: lsn)
    }

    func batchRolledBack() {
        discard()
        rows.removeAll()
        merchantRows.removeAll()
        if names != nil { namesStale = true }
    }

    private func reloadStaleNames(_ db: Database) throws {
        guard namesStale else { return }
        names = try SummaryNames.load(db)
        namesStale = false
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

    /// The group (with its merchant) and amount of a row image; nil for a row without an amount
    /// (left out, as the report does) or one the summary cannot hold (then it turns invalid).
    private func entry(_ row: [Value], _ c: (descriptor: TableDescriptor, date: Int, amount: Int, category: Int, currency: Int, merchant: Int)) -> (k: Int64, amount: Int64)? {
        let amountValue = c.amount < row.count ? row[c.amount] : .null
        if case .null = amountValue { return nil }
        guard case .integer(let amount) = amountValue, c.date < row.count, case .text(let date) = row[c.date], Summaries.isISODate(bytes: date),
              let month = GroupKey.monthIndex(bytes: date), names != nil,
              let ca = names!.id(.category, Self.value(row, c.category)), let cu = names!.id(.currency, Self.value(row, c.currency)),
              let me = names!.id(.merchant, Self.value(row, c.merchant)) else {
            invalid = true
            return nil
        }
        return (GroupKey.pack(month: month, category: ca, currency: cu, merchant: me), amount)
    }

    /// Writes the batch's deltas (inside the batch's transaction, before its position): one
    /// write per group the batch changed, and a look-up for a group not yet cached in this run.
    func flush(_ db: Database, lsn: UInt64) throws {
        defer { discard() }
        try reloadStaleNames(db)
        if rebuildNeeded || invalid || names == nil {
            // Recompute everything (the rebuild also re-checks validity); the caches are stale.
            rows.removeAll()
            merchantRows.removeAll()
            try Summaries.rebuild(db, mapping, lsn: lsn)
            names = try db.tableExists(Summaries.namesTable) ? try SummaryNames.load(db) : nil
            rebuildNeeded = false
            return
        }
        try names!.writeNew(db)
        if rows.count + merchantRows.count + changes.count > Self.cachedGroupLimit {
            rows.removeAll()
            merchantRows.removeAll()
        }
        // The merchant is in the key's lowest bits, so in key order each month, category and
        // currency group is one run, made of one run per merchant.
        changes.sort { ($0.k, $0.amount) < ($1.k, $1.amount) }
        var merchantDeltas: [(k: Int64, n: Int64, total: Int64)] = []
        var i = 0
        while i < changes.count {
            let k = GroupKey.withoutMerchant(changes[i].k)
            var n: Int64 = 0, total: Int64 = 0, added: [Int64] = [], removed: [Int64] = []
            while i < changes.count, GroupKey.withoutMerchant(changes[i].k) == k {
                let merchant = changes[i].k
                var mn: Int64 = 0, mtotal: Int64 = 0
                while i < changes.count, changes[i].k == merchant {
                    let c = changes[i]
                    mn += c.sign
                    mtotal &+= c.sign &* c.amount
                    if c.sign > 0 { added.append(c.amount) } else { removed.append(c.amount) }
                    i += 1
                }
                merchantDeltas.append((merchant, mn, mtotal))
                n += mn
                total &+= mtotal
            }
            var s = try rows[k] ?? lookup(db, k)
            let before = s.n
            s.n += n
            s.total = s.total &+ total
            s.lows.apply(added: added, removed: removed, count: before)
            s.highs.apply(added: added, removed: removed, count: before)
            if s.n > 0, s.lows.extreme == nil { s.lows = try refill(db, k, largest: false) }
            if s.n > 0, s.highs.extreme == nil { s.highs = try refill(db, k, largest: true) }
            s.exists = try write(db, k, exists: s.exists, n: s.n, total: s.total, lows: s.lows, highs: s.highs)
            // A group with no amount left has no extremes (as a look-up would find it).
            if s.n == 0 { s = Stored(exists: false, n: 0, total: 0, lows: KeptExtremes(largest: false, values: []), highs: KeptExtremes(largest: true, values: [])) }
            rows[k] = s
        }
        for d in merchantDeltas where d.n != 0 || d.total != 0 {
            let k = d.k
            var s = try merchantRows[k] ?? lookupMerchant(db, k)
            s.n += d.n
            s.total = s.total &+ d.total
            s.exists = try writeMerchant(db, k, exists: s.exists, n: s.n, total: s.total)
            merchantRows[k] = s.n == 0 ? (false, 0, 0) : s
        }
        try db.execute(sql: "UPDATE \(Summaries.configTable) SET lsn = ? WHERE id = 1", arguments: [Int64(bitPattern: lsn)])
    }

    /// A group's summary row as the table holds it (n = 0 and `exists` false when it has none).
    private func lookup(_ db: Database, _ k: Int64) throws -> Stored {
        let select = try db.cachedStatement(sql: "SELECT n, total, mn, mx, lo, hi FROM \(Summaries.table) WHERE k = ?")
        try ExactValues.bind([.integer(k)], to: select)
        let current = try ExactValues.step(select, db) ? (0..<6).map { ExactValues.column(select, Int32($0)) } : nil
        if current != nil { ExactValues.reset(select) }
        let n = current.flatMap { Self.integer($0[0]) } ?? 0
        return Stored(exists: current != nil, n: n, total: current.flatMap { Self.integer($0[1]) } ?? 0,
                      lows: Self.kept(current, stored: 4, extreme: 2, count: n, largest: false),
                      highs: Self.kept(current, stored: 5, extreme: 3, count: n, largest: true))
    }

    private func lookupMerchant(_ db: Database, _ k: Int64) throws -> (exists: Bool, n: Int64, total: Int64) {
        let select = try db.cachedStatement(sql: "SELECT n, total FROM \(Summaries.merchantTable) WHERE k = ?")
        try ExactValues.bind([.integer(k)], to: select)
        guard try ExactValues.step(select, db) else { return (false, 0, 0) }
        let row = (true, Self.integer(ExactValues.column(select, 0)) ?? 0, Self.integer(ExactValues.column(select, 1)) ?? 0)
        ExactValues.reset(select)
        return row
    }

    /// A group's kept extremes as stored (`lo`/`hi`); a summary built by `rebuild` stores none,
    /// which stands for its minimum or maximum alone (a valid one-amount prefix).
    private static func kept(_ row: [Value]?, stored: Int, extreme: Int, count: Int64, largest: Bool) -> KeptExtremes {
        guard let row, count > 0 else { return KeptExtremes(largest: largest, values: []) }
        if case .blob(let data) = row[stored] { return KeptExtremes.parse(data, largest: largest) ?? KeptExtremes(largest: largest, values: []) }
        return KeptExtremes(largest: largest, values: integer(row[extreme]).map { [$0] } ?? [])
    }

    /// Every kept extreme of a group on one side was removed: read the next few from the table
    /// (the rows of one month: a range scan when the date column has an index, such as the
    /// sample schema's expenses_spent_at; a scan of the table otherwise). Rare by design.
    private func refill(_ db: Database, _ k: Int64, largest: Bool) throws -> KeptExtremes {
        let m = mapping, q = Summaries.q
        let statement = try db.cachedStatement(sql: """
            SELECT \(q(m.amount)) FROM \(q(m.table))
            WHERE \(q(m.category)) IS ? COLLATE BINARY AND \(q(m.currency)) IS ? COLLATE BINARY
              AND \(q(m.date)) >= ? AND \(q(m.date)) < ? AND \(q(m.amount)) IS NOT NULL
            ORDER BY \(q(m.amount)) \(largest ? "DESC" : "ASC") LIMIT \(KeptExtremes.capacity)
            """)
        let month = GroupKey.month(k)
        try ExactValues.bind([names!.value(.category, GroupKey.id(k, .category)), names!.value(.currency, GroupKey.id(k, .currency)),
                              .text(Data(GroupKey.monthStart(month).utf8)), .text(Data(GroupKey.monthStart(month + 1).utf8))], to: statement)
        var values: [Int64] = []
        while try ExactValues.step(statement, db) {
            if let v = Self.integer(ExactValues.column(statement, 0)) { values.append(v) }
        }
        return KeptExtremes(largest: largest, values: values)
    }

    /// Inserts, updates or (when the group has no amount left) deletes a group's summary row;
    /// returns whether it has one afterwards.
    private func write(_ db: Database, _ k: Int64, exists: Bool, n: Int64, total: Int64, lows: KeptExtremes, highs: KeptExtremes) throws -> Bool {
        // Kept extremes that are just the minimum or maximum are stored as NULL (`kept`).
        let lo: Value = lows.values.count > 1 ? .blob(lows.blob) : .null
        let hi: Value = highs.values.count > 1 ? .blob(highs.blob) : .null
        return try put(db, Self.groupStatements, k, exists: exists,
                       values: [.integer(n), .integer(total), lows.extreme.map(Value.integer) ?? .null, highs.extreme.map(Value.integer) ?? .null, lo, hi])
    }

    private func writeMerchant(_ db: Database, _ k: Int64, exists: Bool, n: Int64, total: Int64) throws -> Bool {
        try put(db, Self.merchantStatements, k, exists: exists, values: [.integer(n), .integer(total)])
    }

    /// The statements that write one summary table's rows by key (built once, not per write).
    private struct RowStatements {
        let insert, update, delete: String
        init(_ table: String, _ columns: [String]) {
            insert = "INSERT INTO \(table) (\(columns.joined(separator: ", ")), k) VALUES (\(Array(repeating: "?", count: columns.count + 1).joined(separator: ", ")))"
            update = "UPDATE \(table) SET \(columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE k = ?"
            delete = "DELETE FROM \(table) WHERE k = ?"
        }
    }
    private static let groupStatements = RowStatements(Summaries.table, ["n", "total", "mn", "mx", "lo", "hi"])
    private static let merchantStatements = RowStatements(Summaries.merchantTable, ["n", "total"])

    /// Row `k` set to `values` (the first is the count): inserted when it has no row, updated when
    /// it has one, deleted when the count is 0. Returns whether it has a row afterwards.
    private func put(_ db: Database, _ sql: RowStatements, _ k: Int64, exists: Bool, values: [Value]) throws -> Bool {
        guard case .integer(let n) = values[0] else { preconditionFailure("the first value is the count") }
        if exists && n == 0 {
            try db.cachedStatement(sql: sql.delete).execute(arguments: [k])
            return false
        }
        guard n != 0 else { return false }
        let statement = try db.cachedStatement(sql: exists ? sql.update : sql.insert)
        try ExactValues.bind(values + [.integer(k)], to: statement)
        _ = try ExactValues.step(statement, db)
        return true
    }

    private static func integer(_ v: Value) -> Int64? {
        if case .integer(let i) = v { return i }
        return nil
    }
}
