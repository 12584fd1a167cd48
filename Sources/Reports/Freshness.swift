import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// How fresh a report's data is: which source and epoch, the applied LSN, that LSN's master
/// commit time, and how old that was when the report ran. Every report carries one.
public struct Freshness: Codable, Sendable, Equatable {
    public var store: String
    public var sourceID: String
    public var epoch: UInt32
    public var lsn: UInt64
    public var commitTime: String
    public var commitTimeMicros: Int64
    public var reportedAt: String
    public var ageSeconds: Double
    /// True when the report ran on a master database (--allow-master).
    public var isMaster: Bool

    public var line: String {
        "data as of LSN \(lsn), committed \(commitTime) on source \(sourceID) epoch \(epoch) (\(Freshness.age(ageSeconds)) old when reported at \(reportedAt)); store \(store)" + (isMaster ? " [MASTER]" : "")
    }

    static func age(_ seconds: Double) -> String {
        if seconds < 120 { return String(format: "%.0f s", seconds) }
        if seconds < 7200 { return String(format: "%.0f min", seconds / 60) }
        if seconds < 172_800 { return String(format: "%.1f h", seconds / 3600) }
        return String(format: "%.1f days", seconds / 86400)
    }
}
