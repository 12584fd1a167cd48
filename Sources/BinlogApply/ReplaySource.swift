import BinlogFormat
import Foundation

/// One transaction for `ReplayDriver`: the transaction, the source and epoch of the segment it
/// came from, and whatever the caller needs back when the batch ending with it commits
/// (`origin`: a replica records the segment, recovery needs nothing).
public struct ReplayItem<Origin> {
    public var transaction: Transaction
    public var sourceID: UUID
    public var epoch: UInt32
    public var origin: Origin

    public init(_ transaction: Transaction, sourceID: UUID, epoch: UInt32, origin: Origin) {
        self.transaction = transaction
        self.sourceID = sourceID
        self.epoch = epoch
        self.origin = origin
    }
}

/// Transactions in LSN order, for `ReplayDriver`: an inbox (replica apply, restore) or the
/// master's own binlog (recovery). Transactions at or below the database's position may be
/// returned; the driver skips them. A thrown error ends the run after the transactions before
/// it are committed: reading errors happen between transactions.
public protocol ReplaySource {
    associatedtype Origin
    /// The next transaction, nil when there is none.
    mutating func next() throws -> ReplayItem<Origin>?
}

/// Where a replay run stops, and how many source transactions go into one SQLite transaction.
/// Bounds are inclusive: `untilLSN` N applies N; `untilTime` T applies every transaction
/// committed at or before T; `notAfter` C (a delay's cutoff) the same, reported as `.delay`.
public struct ReplayOptions {
    public var untilLSN: UInt64?
    /// µs since 1970-01-01 UTC.
    public var untilTime: Int64?
    /// µs since 1970-01-01 UTC: `now - delay` for a delayed replica.
    public var notAfter: Int64?
    /// Source transactions per SQLite transaction (one fsync per batch). 5,000: at 1,000 a
    /// run of single-row transactions paid a commit per 1,000 changes, and the expense
    /// summary rewrote most of its pages at every one (tools/bench/summary, docs/BENCHMARKS.md).
    public var batchTransactions = 5000
    /// Close a batch early once it holds this many events.
    public var batchEvents = 200_000
    /// Write the epoch of the segments into the position, and cut a batch where it changes
    /// (docs/FAILOVER.md). Master recovery keeps the epoch its promotion wrote.
    public var tracksEpoch = true
    /// Called after each committed batch with its last LSN.
    public var progress: ((UInt64) -> Void)?
    /// Checked between transactions; true stops the run at that boundary.
    public var shouldStop: () -> Bool = { false }

    public init(untilLSN: UInt64? = nil, untilTime: Int64? = nil, notAfter: Int64? = nil) {
        self.untilLSN = untilLSN
        self.untilTime = untilTime
        self.notAfter = notAfter
    }
}

/// Why a replay run ended without an error.
public enum ReplayStop: Sendable {
    /// The source has nothing more.
    case caughtUp
    case untilLSN
    case untilTime
    /// The next transaction is newer than `notAfter`.
    case delay
    /// `shouldStop` said so.
    case interrupted
}

/// What a replay run did. `toLSN` is the committed position when the run ended.
public struct ReplayOutcome {
    public var transactions = 0
    public var events = 0
    public var fromLSN: UInt64 = 0
    public var toLSN: UInt64 = 0
    public var lastCommitTime: Int64?
    public var stop = ReplayStop.caughtUp
    /// The transaction that failed to apply and why; its whole batch was rolled back, so the
    /// database is at `toLSN`, which may be several transactions before `failure.lsn`.
    public var failure: (lsn: UInt64, error: Error)?
}

/// A replay run ended by the database rather than by a transaction's content.
public enum ReplayFault: Error {
    /// BEGIN failed before transaction `lsn` (another connection holds the write lock).
    case begin(lsn: UInt64, Error)
    /// SQLite rolled the batch ending at `lsn` back by itself (SQLITE_FULL, SQLITE_IOERR):
    /// nothing of that batch is applied and no position was written.
    case batchLost(lsn: UInt64)
    /// The source skipped from `after` to `found`: the transactions between are missing.
    case gap(after: UInt64, found: UInt64)
}
