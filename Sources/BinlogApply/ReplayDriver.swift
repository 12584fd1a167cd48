import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// The one replay loop (issue 18), shared by replica apply, restore and master recovery, so a
/// fix to replay lands once: transactions in LSN order from a `ReplaySource`, applied by the
/// shared `ApplyEngine` (before-image checks, digest markers), grouped into batches of one
/// SQLite transaction each whose last statements are the observers' writes and the position
/// (with the epoch, when it changed: a batch is cut where the epoch changes).
///
/// Source transactions are not wrapped in savepoints (two statements each, and a statement
/// journal): when one fails to apply, its whole batch is rolled back and `ReplayOutcome.failure`
/// says where; a caller that wants everything before it applied runs again with `untilLSN` set
/// to the transaction before. A reading error commits the batch before it, then is rethrown.
public final class ReplayDriver<Source: ReplaySource> {
    private let engine: ApplyEngine
    private let options: ReplayOptions
    private let observers: [ReplayObserver]
    /// Called with the origin of the batch's last transaction, just before the position.
    private let beforePosition: ((Source.Origin, Database) throws -> Void)?

    private var position: AppliedPosition?
    private var outcome = ReplayOutcome()
    private var open = false
    private var batchCount = 0, batchEvents = 0
    private var last: (lsn: UInt64, time: Int64)?
    private var lastOrigin: Source.Origin?
    /// The epoch of the open batch's transactions, when it differs from the position's.
    private var newEpoch: UInt32?
    /// True while the open batch holds the position table it created (gone again on rollback).
    private var createdPosition = false

    /// A driver for one run. `beforePosition` writes what the caller keeps beside the position.
    public init(engine: ApplyEngine, options: ReplayOptions, observers: [ReplayObserver] = [],
                beforePosition: ((Source.Origin, Database) throws -> Void)? = nil) {
        self.engine = engine
        self.options = options
        self.observers = observers
        self.beforePosition = beforePosition
    }

    /// Applies `source` into `db` (a connection prepared by `ApplyEngine.prepareConnection`,
    /// outside any transaction) until a bound, the end of the source, or the first failure.
    /// Creates the position table inside the first batch when `db` has none.
    public func run(_ source: inout Source, in db: Database) throws -> ReplayOutcome {
        position = try AppliedPosition.read(db)
        outcome.fromLSN = position?.lsn ?? 0
        outcome.toLSN = outcome.fromLSN
        if let until = options.untilLSN, outcome.fromLSN >= until { outcome.stop = .untilLSN; return outcome }
        do {
            while true {
                if options.shouldStop() { outcome.stop = .interrupted; break }
                guard let item = try source.next() else { break }
                let lsn = item.transaction.lsn, previous = last?.lsn ?? outcome.toLSN
                if lsn <= previous { continue }
                if let stop = bound(item.transaction) { outcome.stop = stop; break }
                guard lsn == previous + 1 else { throw ReplayFault.gap(after: previous, found: lsn) }
                guard try apply(item, db) else { return outcome }
            }
            try commit(db)
        } catch {
            // Keep what was applied before a reading error (or a failed commit: then nothing).
            do { try commit(db) } catch { rollback(db) }
            throw error
        }
        return outcome
    }

    /// Why `tx` is not to be applied in this run, if it is not.
    private func bound(_ tx: Transaction) -> ReplayStop? {
        if let until = options.untilLSN, tx.lsn > until { return .untilLSN }
        if let until = options.untilTime, tx.commitTime > until { return .untilTime }
        if let cutoff = options.notAfter, tx.commitTime > cutoff { return .delay }
        return nil
    }

    /// Applies `item` in the open batch (opening one if needed); false when it failed, after
    /// rolling the batch back and recording the failure.
    private func apply(_ item: ReplayItem<Source.Origin>, _ db: Database) throws -> Bool {
        let tx = item.transaction
        // An epoch boundary ends the batch: each position names the epoch of its own LSN.
        if options.tracksEpoch, open, batchCount > 0, item.epoch != (newEpoch ?? position?.epoch) { try commit(db) }
        if !open {
            // Waits the database's busy timeout for another connection's write transaction.
            do { try db.executeCached("BEGIN IMMEDIATE") } catch { throw ReplayFault.begin(lsn: tx.lsn, error) }
            open = true
        }
        do {
            if position == nil { try createPosition(item, db) }
            CrashPoint.reach("apply.before-rows")   // fault injection, see CrashPoint
            for observer in observers { try observer.willApply(tx, in: db) }
            try engine.apply(tx, in: db)
            for observer in observers {
                try tx.report(to: observer, in: db)
                try observer.didApply(tx, in: db)
            }
            if options.tracksEpoch, item.epoch != (newEpoch ?? position?.epoch) { newEpoch = item.epoch }
        } catch {
            rollback(db)
            outcome.failure = (tx.lsn, error)
            return false
        }
        last = (tx.lsn, tx.commitTime)
        lastOrigin = item.origin
        outcome.transactions += 1
        outcome.events += tx.events.count
        outcome.lastCommitTime = tx.commitTime
        batchCount += 1
        batchEvents += tx.events.count
        if batchCount >= options.batchTransactions || batchEvents >= options.batchEvents { try commit(db) }
        return true
    }

    /// Creates the position table inside the first batch's transaction: a database never claims
    /// a source (or LSN 0) without the rows, and a crash between CREATE and INSERT cannot leave
    /// an empty position table that no later run could read.
    private func createPosition(_ item: ReplayItem<Source.Origin>, _ db: Database) throws {
        let initial = AppliedPosition(sourceID: item.sourceID, epoch: item.epoch, lsn: 0, commitTime: 0, appliedAt: microsecondsNow())
        try AppliedPosition.createTable(db, initial: initial)
        position = initial
        createdPosition = true
    }

    /// Writes the observers' state and the position of the batch's last transaction, and commits.
    private func commit(_ db: Database) throws {
        guard open else { return }
        guard batchCount > 0, let last else { rollback(db); return }
        // SQLite may roll a transaction back by itself when a statement or COMMIT fails with
        // SQLITE_FULL or SQLITE_IOERR. The batch's rows are then gone, and writing the position
        // now would commit it alone, in autocommit mode, for rows the database does not hold.
        guard db.isInsideTransaction else {
            rollback(db)
            throw ReplayFault.batchLost(lsn: last.lsn)
        }
        CrashPoint.reach("apply.before-position")
        for observer in observers { try observer.batchWillCommit(through: last.lsn, in: db) }
        if let lastOrigin { try beforePosition?(lastOrigin, db) }
        try AppliedPosition.write(db, lsn: last.lsn, commitTime: last.time, appliedAt: microsecondsNow(), epoch: newEpoch)
        CrashPoint.reach("apply.after-position")
        try db.executeCached("COMMIT")
        CrashPoint.reach("apply.after-commit")
        if let newEpoch { position?.epoch = newEpoch }
        newEpoch = nil
        createdPosition = false
        open = false
        outcome.toLSN = last.lsn
        batchCount = 0
        batchEvents = 0
        options.progress?(last.lsn)
    }

    /// Rolls the open batch back; the run stops after this (the database is at `outcome.toLSN`).
    private func rollback(_ db: Database) {
        if open { try? db.execute(sql: "ROLLBACK") }
        // Statements prepared inside the rolled-back batch may name objects it created.
        engine.reset()
        for observer in observers { observer.batchRolledBack() }
        if createdPosition { position = nil }
        createdPosition = false
        newEpoch = nil
        open = false
        batchCount = 0
        batchEvents = 0
        last = nil
        lastOrigin = nil
    }
}
