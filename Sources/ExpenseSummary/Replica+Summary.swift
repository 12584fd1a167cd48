import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import ReplicaStore

extension Replica {
    /// Starts keeping the monthly summary for `mapping` (built now from the store, in one
    /// transaction at the applied LSN); replica-apply keeps it current from then on.
    /// Returns whether the summary is valid (every date ISO 8601, every amount an integer).
    @discardableResult
    public func enableSummary(_ mapping: Summaries.Mapping) throws -> Bool {
        guard let p = try position() else { throw ReplicaError(.invalid, "the store has applied nothing yet; apply first, then summarize") }
        try write { db in try Summaries.enable(db, mapping: mapping, lsn: p.lsn) }
        return try read { db in try Summaries.state(db)?.valid ?? false }
    }

    /// Stops keeping the summary and drops it.
    public func disableSummary() throws {
        try write { db in try Summaries.disable(db) }
    }
}

extension Summaries {
    /// The observer replica-apply passes to `Replica.ApplyOptions.observers`: it keeps this
    /// store's summary current, if the store keeps a valid one (nil otherwise).
    public static func observer(_ db: Database, appliedLSN: UInt64) throws -> ReplayObserver? {
        try SummaryMaintainer.load(db, at: appliedLSN)
    }
}
