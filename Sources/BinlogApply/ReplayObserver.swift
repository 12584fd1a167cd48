import BinlogFormat
import Foundation
import GRDB

/// One row change as the apply engine made it: the table, the row as it was (nil for an
/// INSERT) and as it is (nil for a DELETE), both in the table's column order.
public struct RowChange {
    public var table: TableDescriptor
    public var before: [Value]?
    public var after: [Value]?

    public init(table: TableDescriptor, before: [Value]?, after: [Value]?) {
        self.table = table
        self.before = before
        self.after = after
    }
}

/// Something kept in step with replayed rows (a summary, a check), called by `ReplayDriver`
/// inside the SQLite transaction that holds the rows and the position: what an observer writes
/// in `batchWillCommit` commits with them or not at all, so it can never lag or lead the rows.
///
/// Order within a batch: for each transaction `willApply`, then the engine applies it, then
/// `schemaChanged` / `rowChanged` for each of its events in order (the database already holds
/// the whole transaction), then `didApply`; once per batch `batchWillCommit` before the
/// position is written. `batchRolledBack` drops what the observer gathered for an open batch.
/// Every method has a default that does nothing. Not Sendable: used on the apply connection only.
public protocol ReplayObserver: AnyObject {
    /// Before `transaction`'s events are applied (the rows still as they were).
    func willApply(_ transaction: Transaction, in db: Database) throws
    /// A DDL statement of transaction `lsn` was applied.
    func schemaChanged(_ sql: String, lsn: UInt64, in db: Database) throws
    /// A row change of transaction `lsn` was applied.
    func rowChanged(_ change: RowChange, lsn: UInt64, in db: Database) throws
    /// After `transaction` was applied and its digest marker, if any, verified.
    func didApply(_ transaction: Transaction, in db: Database) throws
    /// The batch ending with transaction `lsn` is about to write its position and commit.
    func batchWillCommit(through lsn: UInt64, in db: Database) throws
    /// The open batch was rolled back: forget what was gathered for it.
    func batchRolledBack()
}

extension ReplayObserver {
    public func willApply(_ transaction: Transaction, in db: Database) throws {}
    public func schemaChanged(_ sql: String, lsn: UInt64, in db: Database) throws {}
    public func rowChanged(_ change: RowChange, lsn: UInt64, in db: Database) throws {}
    public func didApply(_ transaction: Transaction, in db: Database) throws {}
    public func batchWillCommit(through lsn: UInt64, in db: Database) throws {}
    public func batchRolledBack() {}
}

extension Transaction {
    /// Tells `observer` of each event, in order, as the changes the engine made.
    func report(to observer: ReplayObserver, in db: Database) throws {
        for event in events {
            switch event {
            case .ddl(let sql):
                try observer.schemaChanged(sql, lsn: lsn, in: db)
            case .insert(let table, _, let values):
                try observer.rowChanged(RowChange(table: table, before: nil, after: values), lsn: lsn, in: db)
            case .update(let table, _, _, let old, let new):
                try observer.rowChanged(RowChange(table: table, before: old, after: new), lsn: lsn, in: db)
            case .delete(let table, _, let old):
                try observer.rowChanged(RowChange(table: table, before: old, after: nil), lsn: lsn, in: db)
            }
        }
    }
}
