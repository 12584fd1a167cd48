import Foundation
import LogshipSystem

// Date and Duration in the replica's API (issue 17): additions next to the raw values, which stay
// (the binlog keeps microseconds since 1970 UTC; the older options take seconds as a Double).

extension ReplicaStatus {
    /// `appliedCommitTimeMicros` as a `Date`: when the master committed the applied LSN.
    public var appliedCommitDate: Date? { appliedCommitTimeMicros.map(Date.init(binlogMicroseconds:)) }
}

extension Snapshot {
    /// `commitTime` as a `Date`: the master's commit time of the snapshot's LSN.
    public var commitDate: Date { Date(binlogMicroseconds: commitTime) }

    /// `take` with the snapshot lock's wait as a `Duration`.
    @discardableResult
    public static func take(replica path: String, keep: Int? = nil, lockTimeout: Duration) throws -> (snapshot: Snapshot, created: Bool, deleted: [Snapshot]) {
        try take(replica: path, keep: keep, lockTimeout: lockTimeout.timeInterval)
    }
}

extension Replica.ApplyResult {
    /// `lastCommitTime` as a `Date`: the master's commit time of the last transaction applied.
    public var lastCommitDate: Date? { lastCommitTime.map(Date.init(binlogMicroseconds:)) }
}

extension Replica.ApplyOptions {
    /// Options with the bounds as `Date` and `Duration`: apply what was committed at or before
    /// `untilDate`, and only what was committed at least `delay` ago.
    public init(untilLSN: UInt64? = nil, untilDate: Date?, delay: Duration? = nil) {
        self.init(untilLSN: untilLSN, untilTime: untilDate?.binlogMicroseconds, delay: delay?.timeInterval)
    }

    /// `untilTime` as a `Date`.
    public var untilDate: Date? {
        get { untilTime.map(Date.init(binlogMicroseconds:)) }
        set { untilTime = newValue?.binlogMicroseconds }
    }
}

extension Replica {
    /// `open` with the lock's wait as a `Duration`.
    public static func open(_ path: String, lockTimeout: Duration) throws -> Replica {
        try open(path, lockTimeout: lockTimeout.timeInterval)
    }
}

extension ReplicaState {
    /// `lastRunAt` as a `Date`: when the last replica-apply run ended.
    public var lastRunDate: Date? { lastRunAt.map(Date.init(binlogMicroseconds:)) }
    /// `lastSuccessAt` as a `Date`: when the last run that succeeded ended.
    public var lastSuccessDate: Date? { lastSuccessAt.map(Date.init(binlogMicroseconds:)) }
    /// `lastErrorAt` as a `Date`.
    public var lastErrorDate: Date? { lastErrorAt.map(Date.init(binlogMicroseconds:)) }
}

extension Replica {
    /// `follow` with the safety-net pass interval as a `Duration`.
    public func follow(_ options: ApplyOptions, pollInterval: Duration, onPass: (ApplyResult) throws -> Void) throws {
        try follow(options, pollInterval: pollInterval.timeInterval, onPass: onPass)
    }
}
