import Foundation

/// A column of a table descriptor: name, declared type, position in the primary key.
public struct ColumnDescriptor: Equatable, Sendable {
    public var name: String
    public var declaredType: String
    /// 0 when the column is not in the primary key, otherwise its 1-based position in it.
    public var primaryKeyPosition: Int
    /// True for generated columns, which a replica computes itself and never writes.
    public var isGenerated: Bool

    public init(name: String, declaredType: String, primaryKeyPosition: Int = 0, isGenerated: Bool = false) {
        self.name = name
        self.declaredType = declaredType
        self.primaryKeyPosition = primaryKeyPosition
        self.isGenerated = isGenerated
    }
}

/// What a reader needs to apply a row event without the master's schema: the table's
/// name, columns, declared types, primary key and whether rows are keyed by rowid.
public struct TableDescriptor: Equatable, Sendable {
    public var name: String
    public var columns: [ColumnDescriptor]
    public var withoutRowid: Bool

    public init(name: String, columns: [ColumnDescriptor], withoutRowid: Bool = false) {
        self.name = name
        self.columns = columns
        self.withoutRowid = withoutRowid
    }

    /// Primary-key column indexes in key order.
    public var primaryKeyColumns: [Int] {
        columns.indices.filter { columns[$0].primaryKeyPosition > 0 }
            .sorted { columns[$0].primaryKeyPosition < columns[$1].primaryKeyPosition }
    }

    /// The column that aliases the rowid (`INTEGER PRIMARY KEY`), if any.
    public var rowidAliasColumn: Int? {
        guard !withoutRowid else { return nil }
        let pk = primaryKeyColumns
        guard pk.count == 1, columns[pk[0]].declaredType.uppercased() == "INTEGER" else { return nil }
        return pk[0]
    }
}

/// One change in a transaction, in the order the master made it.
public enum Event: Equatable, Sendable {
    /// A row inserted; `rowid` is nil for WITHOUT ROWID tables.
    case insert(table: TableDescriptor, rowid: Int64?, values: [Value])
    /// A row changed, with the full before and after images; the rowid may change too.
    case update(table: TableDescriptor, oldRowid: Int64?, newRowid: Int64?, old: [Value], new: [Value])
    /// A row deleted, with its full before image.
    case delete(table: TableDescriptor, rowid: Int64?, old: [Value])
    /// A schema change (CREATE/ALTER/DROP TABLE, CREATE/DROP INDEX, views, triggers) as SQL.
    case ddl(sql: String)

    public var tableName: String? {
        switch self {
        case .insert(let t, _, _), .update(let t, _, _, _, _), .delete(let t, _, _): return t.name
        case .ddl: return nil
        }
    }

    public var isRowEvent: Bool { if case .ddl = self { return false } else { return true } }
}

/// A committed transaction: its LSN, master commit time and every change, in order.
public struct Transaction: Equatable, Sendable {
    public var lsn: UInt64
    /// Master commit time, microseconds since 1970-01-01 UTC.
    public var commitTime: Int64
    public var events: [Event]
    /// The digest marker the transaction ends with, if any: every user table's content digest
    /// after this transaction (docs/FORMAT.md §4.4). Not an event: it changes nothing.
    public var digest: DigestMarker?

    public init(lsn: UInt64, commitTime: Int64, events: [Event], digest: DigestMarker? = nil) {
        self.lsn = lsn
        self.commitTime = commitTime
        self.events = events
        self.digest = digest
    }
}
