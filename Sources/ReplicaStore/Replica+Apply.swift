import BinlogApply
import BinlogFormat
import Foundation
import GRDB

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
        var result = ApplyResult()
        var position = try self.position()
        let start = position?.lsn ?? 0
        result.fromLSN = start
        result.toLSN = start
        if let until = options.untilLSN, start >= until { result.stop = .untilLSN; return result }

        // Segments this store still needs, up to the first that cannot follow (gap, damage,
        // another source): everything before that problem is applied, then it is reported.
        let chain = try Inbox(path: directory.inboxPath).chain(after: start, source: position.map { ($0.sourceID, $0.epoch) })
        let needed = chain.segments
        let delayCutoff = options.delay.map { microsecondsNow() - Int64($0 * 1_000_000) }

        try queue.inDatabase { db in
            var batchCount = 0, batchEvents = 0
            var last: (lsn: UInt64, time: Int64)?
            var open = false

            func commitBatch() throws {
                guard open else { return }
                open = false
                guard batchCount > 0, let last else {
                    // Nothing of this batch applied (its first transaction failed): commit
                    // nothing, not even a position table created for it.
                    try db.execute(sql: "ROLLBACK")
                    return
                }
                try AppliedPosition.write(db, lsn: last.lsn, commitTime: last.time, appliedAt: microsecondsNow())
                try db.execute(sql: "COMMIT")
                options.progress?(last.lsn)
                batchCount = 0
                batchEvents = 0
            }

            func finish(_ error: Error) throws -> Never {
                // Keep what was applied before the failure; the failed transaction is rolled back.
                do { try commitBatch() } catch { try? db.execute(sql: "ROLLBACK") }
                throw error
            }

            segments: for segment in needed {
                let reader: SegmentReader
                do { reader = try SegmentReader(path: segment.path) } catch let e as FormatError { try finish(ReplicaError(e, while: "opening \(segment.fileName)")) }
                while true {
                    if options.shouldStop() { result.stop = .interrupted; break segments }
                    let tx: Transaction
                    do {
                        guard let next = try reader.next() else { break }
                        tx = next
                    } catch let e as FormatError {
                        try finish(ReplicaError(e, while: "reading \(segment.fileName)"))
                    }
                    if tx.lsn <= (last?.lsn ?? start) { continue }
                    if let until = options.untilLSN, tx.lsn > until { result.stop = .untilLSN; break segments }
                    if let until = options.untilTime, tx.commitTime > until { result.stop = .untilTime; break segments }
                    if let cutoff = delayCutoff, tx.commitTime > cutoff { result.stop = .delay; break segments }
                    if !open {
                        try db.execute(sql: "BEGIN IMMEDIATE")
                        open = true
                    }
                    if position == nil {
                        // Inside the first batch's transaction: a store never claims a source
                        // (or LSN 0) without the rows, and a crash between CREATE and INSERT
                        // cannot leave an empty position table that no later run could read.
                        try AppliedPosition.createTable(db, initial: AppliedPosition(sourceID: reader.header.sourceID, epoch: reader.header.epoch,
                                                                                     lsn: 0, commitTime: 0, appliedAt: microsecondsNow()))
                        position = AppliedPosition(sourceID: reader.header.sourceID, epoch: reader.header.epoch, lsn: 0, commitTime: 0, appliedAt: 0)
                    }
                    do {
                        try db.execute(sql: "SAVEPOINT tx")
                        try engine.apply(tx, in: db)
                        try db.execute(sql: "RELEASE tx")
                    } catch {
                        try? db.execute(sql: "ROLLBACK TO tx")
                        try? db.execute(sql: "RELEASE tx")
                        if let e = error as? ApplyError { try finish(ReplicaError(e)) }
                        if let e = error as? DatabaseError {
                            let full = e.resultCode == .SQLITE_FULL
                            try finish(ReplicaError(full ? .diskFull : .io, "applying LSN \(tx.lsn): \(e.message ?? "\(e)")"))
                        }
                        try finish(error)
                    }
                    last = (tx.lsn, tx.commitTime)
                    result.transactions += 1
                    result.events += tx.events.count
                    result.toLSN = tx.lsn
                    result.lastCommitTime = tx.commitTime
                    batchCount += 1
                    batchEvents += tx.events.count
                    if batchCount >= options.batchTransactions || batchEvents >= options.batchEvents {
                        do { try commitBatch() } catch { try finish(error) }
                    }
                }
                if reader.tornTailOffset != nil || segment.isPartial { result.incompleteTail = segment.fileName }
            }
            do { try commitBatch() } catch { try finish(error) }
        }
        if result.stop == .caughtUp, let problem = chain.problem {
            // Everything before the problem is applied; what follows cannot be, in order.
            throw problem.stopped(at: result.toLSN)
        }
        return result
    }
}
