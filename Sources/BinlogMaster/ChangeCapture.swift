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
    struct Change {
        var op: Int32
        var table: String
        var oldRowid: Int64
        var newRowid: Int64
        var old: [Value]
        var new: [Value]
        var descriptor: TableDescriptor?
    }

    /// Changes (and DDL) of the open transaction, in order.
    private(set) var changes: [Change] = []
    private(set) var ddl: [(position: Int, sql: String)] = []
    var descriptors: [String: TableDescriptor] = [:]
    /// While false the hook records nothing (recovery replays through the apply engine).
    var enabled = true

    private var lastTablePointer: UnsafePointer<CChar>?
    private var lastTableName = ""
    private var lastTableSkipped = false

    var count: Int { changes.count + ddl.count }
    var ddlCount: Int { ddl.count }
    var isEmpty: Bool { changes.isEmpty && ddl.isEmpty }

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
    struct Mark { var changes: Int; var ddl: Int }
    var mark: Mark { Mark(changes: changes.count, ddl: ddl.count) }

    func rollback(to mark: Mark) {
        if changes.count > mark.changes { changes.removeSubrange(mark.changes...) }
        if ddl.count > mark.ddl { ddl.removeSubrange(mark.ddl...) }
    }

    func clear() {
        changes.removeAll(keepingCapacity: true)
        ddl.removeAll()
    }

    func recordDDL(_ sql: String) { ddl.append((changes.count, sql)) }

    /// Records an insert that SQLite did not pass to the hook (rows of CREATE TABLE … AS SELECT).
    func recordInsert(table: TableDescriptor, rowid: Int64, values: [Value]) {
        changes.append(Change(op: Int32(LSH_OP_INSERT), table: table.name, oldRowid: rowid, newRowid: rowid, old: [], new: values, descriptor: table))
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
        if zTable != lastTablePointer || strcmp(zTable, lastTableName) != 0 {
            lastTablePointer = zTable
            lastTableName = String(cString: zTable)
            lastTableSkipped = lastTableName.hasPrefix(AppliedPosition.internalTablePrefix) || lastTableName.hasPrefix("sqlite_")
        }
        if lastTableSkipped { return }
        let count = lsh_preupdate_count(db)
        var old: [Value] = []
        var new: [Value] = []
        if op == Int32(LSH_OP_DELETE) || op == Int32(LSH_OP_UPDATE) {
            old.reserveCapacity(Int(count))
            for i in 0..<count {
                var v: OpaquePointer?
                old.append(lsh_preupdate_old(db, i, &v) == 0 ? Self.value(v) : .null)
            }
        }
        if op == Int32(LSH_OP_INSERT) || op == Int32(LSH_OP_UPDATE) {
            new.reserveCapacity(Int(count))
            for i in 0..<count {
                var v: OpaquePointer?
                new.append(lsh_preupdate_new(db, i, &v) == 0 ? Self.value(v) : .null)
            }
        }
        changes.append(Change(op: op, table: lastTableName, oldRowid: k1, newRowid: k2, old: old, new: new,
                              descriptor: descriptors[lastTableName]))
    }

    private static func value(_ v: OpaquePointer?) -> Value {
        guard let v else { return .null }
        switch lsh_value_type(v) {
        case 1: return .integer(lsh_value_int64(v))
        case 2: return .real(lsh_value_double(v))
        case 3:
            let p = lsh_value_text(v)
            let n = Int(lsh_value_bytes(v))
            return .text(p.map { Data(bytes: $0, count: n) } ?? Data())
        case 4:
            let p = lsh_value_blob(v)
            let n = Int(lsh_value_bytes(v))
            return .blob(p.map { Data(bytes: $0, count: n) } ?? Data())
        default: return .null
        }
    }

    /// Fills in descriptors that were unknown when a change was recorded (a table created by
    /// the same statement, as in CREATE TABLE … AS SELECT). Called at statement boundaries.
    func resolveDescriptors() throws {
        for i in changes.indices where changes[i].descriptor == nil {
            guard let d = descriptors[changes[i].table] else {
                throw MasterError(.invalid, "no schema for table \(changes[i].table) (changed by the master but not found in sqlite_schema)")
            }
            changes[i].descriptor = d
        }
    }

    /// The transaction's events in order: DDL statements interleaved where they ran.
    func events() -> [Event] {
        var out: [Event] = []
        out.reserveCapacity(changes.count + ddl.count)
        var d = 0
        for (i, c) in changes.enumerated() {
            while d < ddl.count && ddl[d].position <= i { out.append(.ddl(sql: ddl[d].sql)); d += 1 }
            let t = c.descriptor!
            let oldRowid: Int64? = t.withoutRowid ? nil : c.oldRowid
            let newRowid: Int64? = t.withoutRowid ? nil : c.newRowid
            // The hook counts VIRTUAL generated columns but its values skip them: the first
            // `columns.count` values are the stored columns, in order.
            let n = t.columns.count
            let old = c.old.count > n ? Array(c.old.prefix(n)) : c.old
            let new = c.new.count > n ? Array(c.new.prefix(n)) : c.new
            switch c.op {
            case Int32(LSH_OP_INSERT): out.append(.insert(table: t, rowid: newRowid, values: new))
            case Int32(LSH_OP_DELETE): out.append(.delete(table: t, rowid: oldRowid, old: old))
            default: out.append(.update(table: t, oldRowid: oldRowid, newRowid: newRowid, old: old, new: new))
            }
        }
        while d < ddl.count { out.append(.ddl(sql: ddl[d].sql)); d += 1 }
        return out
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
