import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Restore's logical check: per table, the content digest (`ContentDigest`) that the starting
/// point and the binlog imply, carried forward event by event while the transactions are
/// applied, then compared with the digest of the restored rows. An INSERT adds the hash of its
/// row, a DELETE subtracts the hash of the row it removes, an UPDATE does both; CREATE TABLE
/// starts a table at zero and DROP TABLE removes it. After ALTER TABLE changes a table's
/// columns its digest is unknown: from there only its row count is checked, and a note says so.
struct RestoreCheck {
    private struct Expected {
        var name: String
        var digest: ContentDigest
        /// False once the digest cannot be carried forward (after ALTER TABLE): rows only.
        var digestKnown = true
    }

    /// Keyed by the name as sqlite_schema holds it, which is the name row events carry; schema
    /// statements may spell it in another case (`resolve`).
    private var tables: [String: Expected] = [:]
    /// Tables whose digest is no longer carried, and why.
    private(set) var notes: [String] = []
    private var shapes: [String: TableShape] = [:]
    private var images: [String: ImageShape] = [:]
    private var encoder = RowEncoder()

    /// Starts from the digest of every table of `db` (a snapshot copy, or an empty database).
    init(_ db: Database) throws {
        for (name, digest) in try ContentDigest.tables(db) { tables[name] = Expected(name: name, digest: digest) }
    }


    /// Compares the digests of `db`'s tables with the expected ones; throws a divergence naming
    /// every table that differs. Returns the notes on tables checked by row count only.
    func verify(_ db: Database) throws -> [String] {
        let actual = try ContentDigest.tables(db)
        var differing: [String] = []
        for (key, expected) in tables.sorted(by: { $0.key < $1.key }) {
            guard let found = actual[key] else {
                differing.append("\(expected.name): missing, expected \(expected.digest.rows) rows"); continue
            }
            if found.rows != expected.digest.rows || (expected.digestKnown && found.sum != expected.digest.sum) {
                differing.append("\(expected.name): has \(expected.digestKnown ? "\(found)" : "\(found.rows) rows"), expected \(expected.digestKnown ? "\(expected.digest)" : "\(expected.digest.rows) rows")")
            }
        }
        for name in actual.keys.sorted() where tables[name] == nil { differing.append("\(name): not expected at all") }
        guard differing.isEmpty else {
            throw ReplicaError(.divergence, "the restored database differs from what the starting point and the binlog imply: " + differing.joined(separator: "; "),
                               hint: "nothing was published; the apply engine or the starting snapshot is at fault: rerun, and report it if it happens again")
        }
        return notes
    }

    // MARK: Carrying digests through events

    /// Carries the digests through `tx`'s events, before they are applied (`RestoreCheckObserver`).
    mutating func observe(_ tx: Transaction, _ db: Database) throws {
        let hasDDL = tx.events.contains { !$0.isRowEvent }
        var touched = Set<RowKey>()
        for event in tx.events {
            switch event {
            case .ddl(let sql):
                ddl(TableDDL.parse(sql), lsn: tx.lsn)
            case .insert(let t, let rowid, let values):
                guard let known = tables[t.name]?.digestKnown else { continue }   // not a table the check follows
                count(t, +1, hash: known ? image(t).hash(rowid: rowid, values: values, &encoder) : nil, lsn: tx.lsn)
                touched.insert(RowKey(t, rowid: rowid, values: values))
            case .delete(let t, let rowid, let old):
                guard let known = tables[t.name]?.digestKnown else { continue }
                count(t, -1, hash: known ? try before(t, rowid, old, touched: touched, hasDDL: hasDDL, db) : nil, lsn: tx.lsn)
                touched.insert(RowKey(t, rowid: rowid, values: old))
            case .update(let t, let oldRowid, let newRowid, let old, let new):
                guard let known = tables[t.name]?.digestKnown else { continue }
                count(t, -1, hash: known ? try before(t, oldRowid, old, touched: touched, hasDDL: hasDDL, db) : nil, lsn: tx.lsn)
                count(t, +1, hash: known ? image(t).hash(rowid: newRowid, values: new, &encoder) : nil, lsn: tx.lsn)
                touched.insert(RowKey(t, rowid: oldRowid, values: old))
                touched.insert(RowKey(t, rowid: newRowid, values: new))
            }
        }
    }

    /// Adds (`sign` +1) or removes a row; a nil hash leaves the table's digest unknown.
    private mutating func count(_ t: TableDescriptor, _ sign: Int, hash: UInt64?, lsn: UInt64) {
        let key = t.name
        guard var e = tables[key] else { return }
        if e.digestKnown, let hash {
            if sign > 0 { e.digest.insert(hash) } else { e.digest.remove(hash) }
        } else {
            e.digest.rows += sign
            if e.digestKnown { unknown(&e, "digest check skipped for \(e.name) from LSN \(lsn): a logged row image the check cannot match to the stored row; row count checked") }
        }
        tables[key] = e
    }

    /// The hash of the row an UPDATE or DELETE replaces. SQLite's pre-update hook gives NULL,
    /// not the default, for a column added by ALTER TABLE … ADD COLUMN in a row stored before
    /// it (SQLite 3.40): when the logged image has NULL in a column with a default and the row
    /// was not written earlier in this transaction, the row is read from the database, which
    /// still holds it as the event found it.
    private mutating func before(_ t: TableDescriptor, _ rowid: Int64?, _ old: [Value], touched: Set<RowKey>, hasDDL: Bool,
                                 _ db: Database) throws -> UInt64? {
        let shape = image(t)
        guard let logged = shape.hash(rowid: rowid, values: old, &encoder),
              let table = try self.shape(t.name, db), table.columns.count == shape.stored.count else { return nil }
        let suspect = zip(shape.stored, table.hasDefault).contains { old[$0.0] == .null && $0.1 }
        guard suspect, !touched.contains(RowKey(t, rowid: rowid, values: old)) else { return logged }
        if hasDDL { return nil }   // the database's columns may not be the image's any more
        let key = table.primaryKey.map { old[shape.stored[$0]] }
        return try table.rowHash(rowid: rowid, key: key, db, &encoder) ?? logged
    }

    private mutating func image(_ t: TableDescriptor) -> ImageShape {
        if let s = images[t.name], s.table == t { return s }
        let s = ImageShape(t)
        images[t.name] = s
        return s
    }

    private mutating func shape(_ name: String, _ db: Database) throws -> TableShape? {
        if let s = shapes[name] { return s }
        let s = try TableShape.named(name, db)
        shapes[name] = s
        return s
    }

    // MARK: Schema changes

    private mutating func ddl(_ change: TableDDL, lsn: UInt64) {
        shapes.removeAll()
        switch change {
        case .create(let name, let ifNotExists):
            if ifNotExists && resolve(name) != nil { return }
            tables[name] = Expected(name: name, digest: ContentDigest())
        case .drop(let name):
            if let key = resolve(name) { tables[key] = nil }
        case .rename(let from, let to):
            // The same rows and columns under a new name: the digest carries over.
            guard let key = resolve(from), var e = tables.removeValue(forKey: key) else { return }
            e.name = to
            tables[to] = e
        case .alter(let name):
            guard let key = resolve(name), var e = tables[key] else { return }
            if e.digestKnown { unknown(&e, "digest check skipped for \(e.name) after ALTER at LSN \(lsn); row count checked") }
            tables[key] = e
        case .none, .unknown:
            break
        }
    }

    /// After a transaction with DDL: tables that appeared other than by a CREATE TABLE this
    /// check follows are checked by row count from here on; tables gone are forgotten.
    mutating func settle(_ db: Database, lsn: UInt64) throws {
        let present = try String.fetchAll(db, sql: """
            SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'
              AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_logship%' ESCAPE '\\'
            """)
        let names = Set(present)
        for key in tables.keys where !names.contains(key) { tables[key] = nil }
        for name in present where tables[name] == nil {
            let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(quotedIdentifier(name))") ?? 0
            var e = Expected(name: name, digest: ContentDigest(rows: rows))
            unknown(&e, "digest check skipped for \(name): created at LSN \(lsn) by a statement the check does not follow; row count checked")
            tables[name] = e
        }
    }

    /// The key of the table a schema statement names (ASCII case-insensitive, as SQLite).
    private func resolve(_ name: String) -> String? {
        if tables[name] != nil { return name }
        let lower = name.lowercased()
        return tables.keys.first { $0.lowercased() == lower }
    }

    private mutating func unknown(_ e: inout Expected, _ note: String) {
        e.digestKnown = false
        notes.append(note)
    }
}

/// A row of a table within one transaction: its rowid, or its primary key (WITHOUT ROWID).
private struct RowKey: Hashable {
    var table: String
    var rowid: Int64?
    var key: [Value]

    init(_ t: TableDescriptor, rowid: Int64?, values: [Value]) {
        table = t.name
        self.rowid = t.withoutRowid ? nil : rowid
        key = t.withoutRowid ? t.primaryKeyColumns.compactMap { $0 < values.count ? values[$0] : nil } : []
    }
}

/// `RestoreCheck` in the replay loop: it reads each transaction before it is applied (an old
/// row image may need the row as the database holds it) and settles after schema changes.
final class RestoreCheckObserver: ReplayObserver {
    var check: RestoreCheck

    init(_ check: RestoreCheck) { self.check = check }

    func willApply(_ transaction: Transaction, in db: Database) throws { try check.observe(transaction, db) }

    func didApply(_ transaction: Transaction, in db: Database) throws {
        if transaction.events.contains(where: { !$0.isRowEvent }) { try check.settle(db, lsn: transaction.lsn) }
    }
}
