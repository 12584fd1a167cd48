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
    /// Set for an as-of report (`--as-of-lsn`/`--as-of-time`): the data is a restored copy of
    /// `replica` at `lsn`. Such a stamp leaves out the time of the run and the age, so that the
    /// same command gives the same bytes later (docs/REPORTS.md, "As-of reports").
    public var asOfReplica: String?

    public var line: String {
        if let asOfReplica {
            return "data as of LSN \(lsn) (commit time \(commitTime)) on source \(sourceID) epoch \(epoch), restored from replica \(asOfReplica) [AS OF]"
        }
        return "data as of LSN \(lsn), committed \(commitTime) on source \(sourceID) epoch \(epoch) (\(Freshness.age(ageSeconds)) old when reported at \(reportedAt)); store \(store)" + (isMaster ? " [MASTER]" : "")
    }

    enum CodingKeys: String, CodingKey {
        case store, sourceID, epoch, lsn, commitTime, commitTimeMicros, reportedAt, ageSeconds, isMaster, asOfReplica
    }

    /// Encodes every field, except that an as-of stamp has no `reportedAt` and `ageSeconds`
    /// (they would change from run to run) and carries `asOfReplica` instead.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(store, forKey: .store)
        try c.encode(sourceID, forKey: .sourceID)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(lsn, forKey: .lsn)
        try c.encode(commitTime, forKey: .commitTime)
        try c.encode(commitTimeMicros, forKey: .commitTimeMicros)
        if let asOfReplica {
            try c.encode(asOfReplica, forKey: .asOfReplica)
        } else {
            try c.encode(reportedAt, forKey: .reportedAt)
            try c.encode(ageSeconds, forKey: .ageSeconds)
        }
        try c.encode(isMaster, forKey: .isMaster)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        store = try c.decode(String.self, forKey: .store)
        sourceID = try c.decode(String.self, forKey: .sourceID)
        epoch = try c.decode(UInt32.self, forKey: .epoch)
        lsn = try c.decode(UInt64.self, forKey: .lsn)
        commitTime = try c.decode(String.self, forKey: .commitTime)
        commitTimeMicros = try c.decode(Int64.self, forKey: .commitTimeMicros)
        asOfReplica = try c.decodeIfPresent(String.self, forKey: .asOfReplica)
        reportedAt = try c.decodeIfPresent(String.self, forKey: .reportedAt) ?? ""
        ageSeconds = try c.decodeIfPresent(Double.self, forKey: .ageSeconds) ?? 0
        isMaster = try c.decode(Bool.self, forKey: .isMaster)
    }

    public init(store: String, sourceID: String, epoch: UInt32, lsn: UInt64, commitTime: String, commitTimeMicros: Int64,
                reportedAt: String, ageSeconds: Double, isMaster: Bool, asOfReplica: String? = nil) {
        self.store = store
        self.sourceID = sourceID
        self.epoch = epoch
        self.lsn = lsn
        self.commitTime = commitTime
        self.commitTimeMicros = commitTimeMicros
        self.reportedAt = reportedAt
        self.ageSeconds = ageSeconds
        self.isMaster = isMaster
        self.asOfReplica = asOfReplica
    }

    static func age(_ seconds: Double) -> String {
        if seconds < 120 { return String(format: "%.0f s", seconds) }
        if seconds < 7200 { return String(format: "%.0f min", seconds / 60) }
        if seconds < 172_800 { return String(format: "%.1f h", seconds / 3600) }
        return String(format: "%.1f days", seconds / 86400)
    }
}
