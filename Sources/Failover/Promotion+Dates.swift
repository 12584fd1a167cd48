import Foundation
import LogshipSystem

// Date and Duration in the failover API (issue 17): additions next to the raw values, which stay.

extension Promotion.Options {
    /// `lockTimeout` as a `Duration`: how long to wait for the replica's lock.
    public var lockWait: Duration {
        get { .nanoseconds(Int64((lockTimeout * 1e9).rounded())) }
        set { lockTimeout = newValue.timeInterval }
    }
}

extension Promotion.Outcome {
    /// `forkCommitTime` as a `Date`: when the old master committed the fork LSN.
    public var forkCommitDate: Date { Date(binlogMicroseconds: forkCommitTime) }
}
