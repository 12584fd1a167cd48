import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

extension Replica {
    /// Where to stop applying. All bounds are inclusive: `untilLSN` N applies N and stops;
    /// `untilTime` T applies every transaction committed at or before T; `delay` D applies only
    /// transactions committed at least D seconds before now.
    public struct ApplyOptions {
        public var untilLSN: UInt64?
        public var untilTime: Int64?
        public var delay: Double?
        /// Source transactions per SQLite transaction (one fsync per batch).
        public var batchTransactions = 1000
        /// Close a batch early once it holds this many events.
        public var batchEvents = 200_000
        /// Called after each committed batch with the applied LSN.
        public var progress: ((UInt64) -> Void)?
        /// Checked between transactions; return true to stop at the next boundary.
        public var shouldStop: () -> Bool = { false }

        public init(untilLSN: UInt64? = nil, untilTime: Int64? = nil, delay: Double? = nil) {
            self.untilLSN = untilLSN
            self.untilTime = untilTime
            self.delay = delay
        }
    }

    /// Why an apply run stopped without an error.
    public enum StopReason: String, Codable, Sendable {
        /// Every complete transaction in the inbox is applied.
        case caughtUp = "caught up"
        case untilLSN = "reached --until-lsn"
        case untilTime = "reached --until-time"
        case delay = "held back by --delay"
        case interrupted
    }

    public struct ApplyResult: Sendable {
        public var transactions = 0
        public var events = 0
        public var fromLSN: UInt64 = 0
        public var toLSN: UInt64 = 0
        public var lastCommitTime: Int64?
        public var stop: StopReason = .caughtUp
        /// Set when a later segment is a partial copy whose tail is still being written.
        public var incompleteTail: String?
    }

    /// Applies every complete transaction the inbox holds beyond the applied LSN, in order,
    /// exactly once, then returns. Stops at the first gap, damaged frame or divergence and
    /// throws, after committing everything before it: the store is always at a transaction
    /// boundary, and its position is in the same SQLite transaction as the rows.
    public func applyAvailable(_ options: ApplyOptions = ApplyOptions()) throws -> ApplyResult {
        let position = try self.position()
        let start = position?.lsn ?? 0
        var result = ApplyResult()
        result.fromLSN = start
        result.toLSN = start
        if let until = options.untilLSN, start >= until { result.stop = .untilLSN; return result }

        // Segments this store still needs, up to the first that cannot follow (gap, damage,
        // another source): everything before that problem is applied, then it is reported.
        let applied = try queue.read { db in try AppliedSegment.read(db) }
        let chain = try Inbox(path: directory.inboxPath).follow(after: start, source: position.map { ($0.sourceID, $0.epoch) }, applied: applied)
        var run = ApplyRun(options: options, position: position, result: result)
        try queue.inDatabase { db in
            run.summary = try SummaryMaintainer.load(db, at: start)
            try run.apply(chain.segments, engine: engine, db: db)
        }
        if let failure = run.failure {
            // The failed transaction's batch was rolled back whole (no savepoint per source
            // transaction, see ApplyRun): apply again up to the transaction before it, so that
            // everything before the failure stays applied, then report the failure.
            if failure.lsn > run.committedLSN + 1 {
                var redo = options
                redo.untilLSN = failure.lsn - 1
                _ = try applyAvailable(redo)
            }
            throw failure.error
        }
        if run.result.stop == .caughtUp, let problem = chain.problem {
            // Everything before the problem is applied; what follows cannot be, in order.
            throw problem.stopped(at: run.result.toLSN)
        }
        // An older epoch's writes past its fork point are never applied; say so loudly.
        if let alarm = chain.divergedAlarm { throw alarm }
        return run.result
    }
}

/// One pass of applying segments on the apply connection: source transactions are grouped into
/// batches, one SQLite transaction each, whose last statement writes the position.
///
/// Source transactions are not wrapped in savepoints (two statements each, and a statement
/// journal): when one fails, the whole batch is rolled back and `failure` says where; the caller
/// applies again up to the transaction before it. Reading errors happen between transactions and
/// commit the batch before them.
private struct ApplyRun {
    let options: Replica.ApplyOptions
    var position: AppliedPosition?
    var result: Replica.ApplyResult
    /// The position committed in the store so far.
    var committedLSN: UInt64
    var failure: (lsn: UInt64, error: Error)?
    /// The summary kept for reports, updated in each batch before its position (Summaries.swift).
    var summary: SummaryMaintainer?
    private var open = false
    private var batchCount = 0, batchEvents = 0
    private var last: (lsn: UInt64, time: Int64)?
    /// Set when the open batch crossed into a newer epoch: written with its position.
    private var newEpoch: UInt32?
    /// The segment of the batch's last transaction: written with its position (AppliedSegment).
    private var lastSegment: AppliedSegment?

    init(options: Replica.ApplyOptions, position: AppliedPosition?, result: Replica.ApplyResult) {
        self.options = options
        self.position = position
        self.result = result
        committedLSN = position?.lsn ?? 0
    }

    mutating func apply(_ segments: [Inbox.Segment], engine: ApplyEngine, db: Database) throws {
        let delayCutoff = options.delay.map { microsecondsNow() - Int64($0 * 1_000_000) }
        do {
            segments: for segment in segments {
                let reader: SegmentReader
                do { reader = try SegmentReader(path: segment.path) } catch let e as FormatError { throw ReplicaError(e, while: "opening \(segment.fileName)") }
                while true {
                    if options.shouldStop() { result.stop = .interrupted; break segments }
                    let tx: Transaction
                    do {
                        guard let next = try reader.next() else { break }
                        // An ended epoch's segment is used up to its fork point only (Inbox.follow).
                        if let end = segment.end, next.lsn > end { break }
                        tx = next
                    } catch let e as FormatError {
                        throw ReplicaError(e, while: "reading \(segment.fileName)")
                    }
                    if tx.lsn <= (last?.lsn ?? committedLSN) { continue }
                    if let stop = bound(tx, delayCutoff: delayCutoff) { result.stop = stop; break segments }
                    // Before apply: a batch that fills up commits inside it, with this segment.
                    lastSegment = AppliedSegment(fileName: segment.fileName, header: reader.header, footer: reader.footer)
                    guard try apply(tx, header: reader.header, engine: engine, db: db) else { return }
                }
                if reader.tornTailOffset != nil || segment.isPartial { result.incompleteTail = segment.fileName }
            }
            try commit(db)
        } catch {
            // Keep what was applied before a reading error (or a failed commit: then nothing).
            do { try commit(db) } catch { rollback(db) }
            throw error
        }
    }

    /// Why `tx` is not to be applied in this run, if it is not.
    private func bound(_ tx: Transaction, delayCutoff: Int64?) -> Replica.StopReason? {
        if let until = options.untilLSN, tx.lsn > until { return .untilLSN }
        if let until = options.untilTime, tx.commitTime > until { return .untilTime }
        if let cutoff = delayCutoff, tx.commitTime > cutoff { return .delay }
        return nil
    }

    /// Applies `tx` in the open batch (opening one if needed); false when it failed, after
    /// rolling the batch back and recording the failure.
    private mutating func apply(_ tx: Transaction, header: SegmentHeader, engine: ApplyEngine, db: Database) throws -> Bool {
        if !open {
            // Waits the store's busy timeout for another connection's write transaction.
            do { try db.execute(sql: "BEGIN IMMEDIATE") } catch { throw Self.lift(error, lsn: tx.lsn) }
            open = true
        }
        do {
            if position == nil {
                // Inside the first batch's transaction: a store never claims a source (or LSN 0)
                // without the rows, and a crash between CREATE and INSERT cannot leave an empty
                // position table that no later run could read.
                let initial = AppliedPosition(sourceID: header.sourceID, epoch: header.epoch, lsn: 0, commitTime: 0, appliedAt: microsecondsNow())
                try AppliedPosition.createTable(db, initial: initial)
                position = initial
            }
            CrashPoint.reach("apply.before-rows")   // fault injection, see CrashPoint
            try engine.apply(tx, in: db)
            summary?.observe(tx)
            if header.epoch != (newEpoch ?? position?.epoch) { newEpoch = header.epoch }
        } catch {
            rollback(db)
            // Statements prepared inside the rolled-back batch may name objects it created.
            engine.reset()
            failure = (tx.lsn, Self.lift(error, lsn: tx.lsn))
            return false
        }
        last = (tx.lsn, tx.commitTime)
        result.transactions += 1
        result.events += tx.events.count
        result.toLSN = tx.lsn
        result.lastCommitTime = tx.commitTime
        batchCount += 1
        batchEvents += tx.events.count
        if batchCount >= options.batchTransactions || batchEvents >= options.batchEvents { try commit(db) }
        return true
    }

    /// Writes the position of the batch's last transaction and commits.
    private mutating func commit(_ db: Database) throws {
        guard open else { return }
        guard batchCount > 0, let last else { rollback(db); return }
        // SQLite may roll a transaction back by itself when a statement or COMMIT fails with
        // SQLITE_FULL or SQLITE_IOERR. The batch's rows are then gone, and writing the position
        // now would commit it alone, in autocommit mode, for rows the store does not hold.
        guard db.isInsideTransaction else {
            rollback(db)
            throw ReplicaError(.io, "the batch of LSNs up to \(last.lsn) was rolled back by SQLite; nothing of it is applied")
        }
        CrashPoint.reach("apply.before-position")
        try summary?.flush(db, lsn: last.lsn)
        try lastSegment?.write(db)
        try AppliedPosition.write(db, lsn: last.lsn, commitTime: last.time, appliedAt: microsecondsNow(), epoch: newEpoch)
        CrashPoint.reach("apply.after-position")
        try db.execute(sql: "COMMIT")
        CrashPoint.reach("apply.after-commit")
        if let newEpoch { position?.epoch = newEpoch }
        newEpoch = nil
        open = false
        committedLSN = last.lsn
        batchCount = 0
        batchEvents = 0
        options.progress?(last.lsn)
    }

    /// Rolls the open batch back; the run stops after this (the store is at `committedLSN`).
    private mutating func rollback(_ db: Database) {
        if open { try? db.execute(sql: "ROLLBACK") }
        summary?.discard()
        newEpoch = nil
        open = false
        batchCount = 0
        batchEvents = 0
        last = nil
        result.toLSN = committedLSN
    }

    /// The replica's terms for a failure to apply LSN `lsn`.
    static func lift(_ error: Error, lsn: UInt64) -> Error {
        let code = (error as? DatabaseError)?.resultCode.rawValue ?? (error as? ApplyError)?.sqliteCode.map { $0 & 0xFF }
        if code == ResultCode.SQLITE_BUSY.rawValue || code == ResultCode.SQLITE_LOCKED.rawValue {
            // Another process (an analyst's write transaction, a program writing to the store)
            // held SQLite's write lock for the whole busy timeout: LSN `lsn` on is not applied.
            return ReplicaError(.busy, "unable to apply: store.db is locked by another process (SQLite: \((error as? DatabaseError)?.message ?? "database is locked"); LSN \(lsn) and later not applied)",
                                hint: "a connection holds a write transaction on the store; end it (COMMIT or ROLLBACK, or close it) and rerun: apply resumes from the store's position")
        }
        if let e = error as? ApplyError { return ReplicaError(e) }
        if let e = error as? DatabaseError {
            return ReplicaError(e.resultCode == .SQLITE_FULL ? .diskFull : .io, "applying LSN \(lsn): \(e.message ?? "\(e)")")
        }
        return error
    }
}
