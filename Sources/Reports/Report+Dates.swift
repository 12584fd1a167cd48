import Foundation
import LogshipSystem

// Date and Duration in the reports' API (issue 17): additions next to the raw values, which stay.

extension Freshness {
    /// `commitTimeMicros` as a `Date`: when the master committed the LSN the report reflects.
    public var commitDate: Date { Date(binlogMicroseconds: commitTimeMicros) }
}

extension ReportLimits {
    /// Limits with the statement timeout as a `Duration`.
    public init(timeout: Duration, maxRows: Int? = nil, maxMemory: Int64? = nil) {
        self.init(timeout: timeout.timeInterval, maxRows: maxRows, maxMemory: maxMemory)
    }
}

extension StoreSelection {
    /// `choose` with the lag bound and the wait as `Duration`s.
    public static func choose(paths: [String], allowMaster: Bool, maxLag: Duration?, minLSN: UInt64?, wait: Duration) throws -> Choice {
        try choose(paths: paths, allowMaster: allowMaster, maxLag: maxLag?.timeInterval, minLSN: minLSN, wait: wait.timeInterval)
    }
}
