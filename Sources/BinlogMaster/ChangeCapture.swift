import BinlogApply
import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB

/// Captures every row change on the master through SQLite's pre-update hook, which sees
/// changes made by triggers, foreign-key cascades, REPLACE conflict resolution and every
/// row of a multi-row statement, with full before and after images and the values that
/// non-deterministic SQL actually produced.
///
/// Not Sendable: it lives on the master's one database connection and is only touched from
/// the hook and from the statement loop, both on that connection's thread.
final class ChangeCapture {
    /// The open transaction's events, encoded as they happen (no per-row `Value`s or arrays:
    /// the hook writes SQLite's values straight into the payload). Its table map describes
    /// the active segment: the master resets it whenever a segment is sealed.
    var encoder = TransactionEncoder()
    var descriptors: [String: TableDescriptor] = [:] {
        didSet { lastTablePointer = nil }
    }
    /// While false the hook records nothing (recovery replays through the apply engine).
    var enabled = true
    /// A table changed that has no descriptor (reported at the statement's end).
    private(set) var undescribed: String?
    /// DDL events in the open transaction (a rollback then reloads descriptors).
    private(set) var ddlCount = 0

    private var lastTablePointer: UnsafePointer<CChar>?
    private var lastTable: TableDescriptor?
    private var lastTableName = ""

    var isEmpty: Bool { encoder.isEmpty }

    func install(on db: Database) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        lsh_preupdate_hook(db.sqliteConnection, { ctx, db, op, zDb, zTable, k1, k2 in
            guard let ctx, let db, let zDb, let zTable else { return }
            Unmanaged<ChangeCapture>.fromOpaque(ctx).takeUnretainedValue().record(db, op, zDb, zTable, k1, k2)
        }, context)
    }

    func uninstall(from db: Database) {
        lsh_preupdate_hook(db.sqliteConnection, nil, nil)
    }

    /// A mark to roll back to (for ROLLBACK TO a savepoint).
    struct Mark { var encoder: TransactionEncoder.Mark; var ddl: Int }
    var mark: Mark { Mark(encoder: encoder.mark, ddl: ddlCount) }

    func rollback(to mark: Mark) {
        encoder.rollback(to: mark.encoder)
        ddlCount = mark.ddl
    }

    /// Starts a transaction's capture afresh.
    func clear() {
        encoder.begin()
        ddlCount = 0
        undescribed = nil
    }

    func recordDDL(_ sql: String) {
        encoder.appendDDL(sql)
        ddlCount += 1
    }

    /// Records an insert that SQLite did not pass to the hook (rows of CREATE TABLE … AS SELECT).
    func recordInsert(table: TableDescriptor, rowid: Int64, values: [Value]) {
        encoder.append(.insert(table: table, rowid: table.withoutRowid ? nil : rowid, values: values))
    }

    /// Throws if a change was made to a table without a descriptor.
    func checkDescribed() throws {
        if let name = undescribed {
            throw MasterError(.invalid, "no schema for table \(name) (changed by the master but not found in sqlite_schema)")
        }
    }

    /// A GRDB value as a binlog value.
    static func value(_ v: DatabaseValue) -> Value {
        switch v.storage {
        case .null: return .null
        case .int64(let i): return .integer(i)
        case .double(let d): return .real(d)
        case .string(let s): return .text(Data(s.utf8))
        case .blob(let b): return .blob(b)
        }
    }

    private func record(_ db: OpaquePointer, _ op: Int32, _ zDb: UnsafePointer<CChar>, _ zTable: UnsafePointer<CChar>, _ k1: Int64, _ k2: Int64) {
        guard enabled, strcmp(zDb, "main") == 0 else { return }
        // zTable points into SQLite's table object, stable while the schema is: compare
        // pointers first (descriptors, and this cache, are reset after every schema change).
        if zTable != lastTablePointer {
            lastTablePointer = zTable
            lastTableName = String(cString: zTable)
            let internalTable = lastTableName.hasPrefix(AppliedPosition.internalTablePrefix) || lastTableName.hasPrefix("sqlite_")
            lastTable = internalTable ? nil : descriptors[lastTableName]
            if lastTable == nil && !internalTable { undescribed = lastTableName }
        }
        guard let table = lastTable else { return }
        // The hook counts VIRTUAL generated columns but its values skip them: the first
        // `columns.count` values are the stored columns, in order.
        let n = min(Int32(table.columns.count), lsh_preupdate_count(db))
        let withRowid = !table.withoutRowid
        switch op {
        case Int32(LSH_OP_INSERT):
            encoder.appendRow(.insert, table: table) { w in
                if withRowid { w.svarint(k2) }
                Self.writeImage(db, n, old: false, &w)
            }
        case Int32(LSH_OP_DELETE):
            encoder.appendRow(.delete, table: table) { w in
                if withRowid { w.svarint(k1) }
                Self.writeImage(db, n, old: true, &w)
            }
        default:
            encoder.appendRow(.update, table: table) { w in
                if withRowid { w.svarint(k1); w.svarint(k2) }
                Self.writeImage(db, n, old: true, &w)
                Self.writeImage(db, n, old: false, &w)
            }
        }
    }

    /// Writes a row image (value count, then each value) straight from SQLite's values.
    @inline(__always)
    private static func writeImage(_ db: OpaquePointer, _ n: Int32, old: Bool, _ w: inout ByteWriter) {
        w.uvarint(UInt64(n))
        for i in 0..<n {
            var v: OpaquePointer?
            let rc = old ? lsh_preupdate_old(db, i, &v) : lsh_preupdate_new(db, i, &v)
            guard rc == 0, let v else { w.valueNull(); continue }
            switch lsh_value_type(v) {
            case 1: w.valueInteger(lsh_value_int64(v))
            case 2: w.valueReal(lsh_value_double(v))
            case 3:
                let p = lsh_value_text(v)
                w.valueText(p.map { UnsafeRawPointer($0) }, count: Int(lsh_value_bytes(v)))
            case 4:
                let p = lsh_value_blob(v)
                w.valueBlob(p, count: Int(lsh_value_bytes(v)))
            default: w.valueNull()
            }
        }
    }

    /// Reads every user table's descriptor from the schema (after open and after DDL).
    static func loadDescriptors(_ db: Database) throws -> [String: TableDescriptor] {
        var result: [String: TableDescriptor] = [:]
        let tables = try Row.fetchAll(db, sql: """
            SELECT name, sql FROM sqlite_schema WHERE type = 'table'
              AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_logship%' ESCAPE '\\'
            """)
        for row in tables {
            let name: String = row[0]
            let sql: String = row[1] ?? ""
            if sql.uppercased().hasPrefix("CREATE VIRTUAL") { continue }
            var columns: [ColumnDescriptor] = []
            for c in try Row.fetchAll(db, sql: "SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)", arguments: [name]) {
                let hidden: Int = c[3]
                // 1: hidden column of a virtual table; 2: VIRTUAL generated column. Neither is
                // stored, and the pre-update hook's values skip them, so neither is described.
                if hidden == 1 || hidden == 2 { continue }
                columns.append(ColumnDescriptor(name: c[0], declaredType: c[1] ?? "", primaryKeyPosition: c[2], isGenerated: hidden >= 2))
            }
            result[name] = TableDescriptor(name: name, columns: columns, withoutRowid: isWithoutRowid(sql))
        }
        return result
    }

    /// True when the CREATE TABLE statement ends in table options that include WITHOUT ROWID.
    static func isWithoutRowid(_ sql: String) -> Bool {
        guard let close = sql.lastIndex(of: ")") else { return false }
        let options = sql[sql.index(after: close)...].uppercased().split(whereSeparator: { !$0.isLetter }).joined(separator: " ")
        return options.contains("WITHOUT ROWID")
    }
}
