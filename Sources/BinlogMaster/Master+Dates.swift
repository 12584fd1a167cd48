import BinlogFormat
import Foundation

// Date and Duration in the master's API (issue 17): additions next to the raw values, which stay
// (the binlog keeps microseconds since 1970, the older options take seconds as a Double).

extension Master.CommitInfo {
    /// `commitTime` (microseconds since 1970, UTC) as a `Date`.
    public var commitDate: Date { Date(binlogMicroseconds: commitTime) }
}

extension Master {
    /// `lastCommitTime` as a `Date`; nil while the directory has no commit time (nothing committed yet).
    public var lastCommitDate: Date? { lastCommitTime == 0 ? nil : Date(binlogMicroseconds: lastCommitTime) }

    /// `rotate(ifOlderThan:)` with the age as a `Duration`.
    @discardableResult
    public func rotate(ifOlderThan age: Duration) throws -> (name: SegmentName, footer: SegmentFooter)? {
        try rotate(ifOlderThan: age.timeInterval)
    }
}

extension Master.Options {
    /// Options with the lock wait and the digest-marker interval as `Duration`s.
    public init(lockTimeout: Duration, syncBinlog: Int? = nil, segmentSize: Int64? = nil,
                digestEvery: Int? = nil, digestInterval: Duration? = nil) {
        self.init(lockTimeout: lockTimeout.timeInterval, syncBinlog: syncBinlog, segmentSize: segmentSize,
                  digestEvery: digestEvery, digestInterval: digestInterval?.timeInterval)
    }
}

extension MasterDirectory {
    /// `configureDigestMarkers` with the interval and the lock wait as `Duration`s.
    @discardableResult
    public func configureDigestMarkers(every: Int?, interval: Duration?, lockTimeout: Duration) throws -> Identity {
        try configureDigestMarkers(every: every, interval: interval?.timeInterval, lockTimeout: lockTimeout.timeInterval)
    }
}
