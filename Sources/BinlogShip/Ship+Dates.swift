import BinlogFormat
import Foundation
import LogshipSystem

// Date and Duration in the shipping API (issue 17): additions next to the raw values, which stay
// (the binlog keeps microseconds since 1970 UTC; the older options take seconds as a Double).
// Each converts once, through LogshipSystem's `Date(binlogMicroseconds:)` and
// `Duration.timeInterval`, so it agrees with the raw value beside it.

extension Purger {
    /// `plan` with the retention and the guaranteed window as `Duration`s.
    public static func plan(config: ShipConfig, retention: Duration, window: Duration? = nil, now: Date = Date()) throws -> Plan {
        try plan(config: config, retention: retention.timeInterval, window: window?.timeInterval, now: now.binlogMicroseconds)
    }

    /// `execute` with the retention, the window and the lock's wait as `Duration`s.
    public static func execute(config: ShipConfig, retention: Duration, window: Duration? = nil, lockTimeout: Duration = .zero, now: Date = Date()) throws -> Plan {
        try execute(config: config, retention: retention.timeInterval, window: window?.timeInterval,
                    lockTimeout: lockTimeout.timeInterval, now: now.binlogMicroseconds)
    }
}

extension TargetPurger {
    /// `plan` with the window a target must keep restorable as a `Duration`.
    public static func plan(config: ShipConfig, target name: String, window: Duration, now: Date = Date()) throws -> Plan {
        try plan(config: config, target: name, window: window.timeInterval, now: now.binlogMicroseconds)
    }

    /// `execute` with the window and the lock's wait as `Duration`s.
    public static func execute(config: ShipConfig, target name: String, window: Duration, lockTimeout: Duration = .zero, now: Date = Date()) throws -> Plan {
        try execute(config: config, target: name, window: window.timeInterval, lockTimeout: lockTimeout.timeInterval, now: now.binlogMicroseconds)
    }
}

extension ShipLock {
    /// `acquire` with the wait as a `Duration`.
    public static func acquire(path: String, timeout: Duration) throws -> DirectoryLock {
        try acquire(path: path, timeout: timeout.timeInterval)
    }
}

extension Shipper {
    /// `forget` with the lock's wait as a `Duration`.
    public static func forget(target name: String, config: ShipConfig, lockTimeout: Duration) throws -> ShipState.TargetState {
        try forget(target: name, config: config, lockTimeout: lockTimeout.timeInterval)
    }
}

extension ShipStatus.Target {
    /// `secondsBehind` as a `Duration` (nil when the target holds nothing yet).
    public var behind: Duration? { secondsBehind.map { .milliseconds(Int64(($0 * 1000).rounded())) } }
}

extension RemoteSnapshot {
    /// `commitTime` as a `Date`: the master's commit time of the snapshot's LSN.
    public var commitDate: Date { Date(binlogMicroseconds: commitTime) }
}

extension RemoteSourceStatus {
    /// `newestCommitTime` as a `Date`.
    public var newestCommitDate: Date? { newestCommitTime.map(Date.init(binlogMicroseconds:)) }
    /// `oldestNotFetchedCommitTime` as a `Date`: the replica lags at least from then.
    public var oldestNotFetchedCommitDate: Date? { oldestNotFetchedCommitTime.map(Date.init(binlogMicroseconds:)) }
}

extension RemoteRestorePlan.Goal {
    /// The state as of `date` (inclusive), the `Date` form of `.time`.
    public static func date(_ date: Date) -> Self { .time(date.binlogMicroseconds) }
}

extension RemoteRestorePlan.Span {
    /// `lastCommitTime` as a `Date`.
    public var lastCommitDate: Date { Date(binlogMicroseconds: lastCommitTime) }
}

extension RemoteRestorePlan.Selection {
    /// `windowToTime` as a `Date`: the newest moment the bucket can restore to.
    public var windowToDate: Date? { windowToTime.map(Date.init(binlogMicroseconds:)) }
}
