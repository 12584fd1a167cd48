import BinlogFormat
import Foundation
import LogshipSystem

/// How far each target is behind the source, from the state file and the source's segments.
/// Takes no lock: it works while a run ships (docs/SHIPPING.md "status").
public struct ShipStatus: Codable, Sendable {
    /// One target's position and health.
    public struct Target: Codable, Sendable {
        public var name: String
        public var path: String
        /// False for a target that has state but is no longer in the configuration.
        public var configured: Bool
        public var lastSegment: String?
        public var lastLSN: UInt64?
        public var lastCommitTime: String?
        /// The partial copy of the active segment the target holds, if any.
        public var partial: String?
        public var partialLastLSN: UInt64?
        public var shippedAt: String?
        public var lastSuccessAt: String?
        public var lastAttemptAt: String?
        public var lastError: String?
        /// When `lastError` happened (equal to `lastSuccessAt` for a warning of a run that succeeded).
        public var lastErrorAt: String?
        /// Sealed segments the source has and the target lacks.
        public var segmentsBehind: Int
        /// Their bytes, plus the committed bytes of the active segment not yet in the target.
        public var bytesBehind: Int64
        public var lsnsBehind: UInt64
        /// Master commit time of the source's newest transaction minus the target's; nil when
        /// the target holds nothing yet while the source has transactions.
        public var secondsBehind: Double?
        /// What the target's backend guarantees beyond the contract (`TargetCapabilities`);
        /// nil for a target that is no longer configured.
        public var guarantees: [String]?
        /// Counters kept in the state since the target was first shipped to (or forgotten):
        /// segments and bytes shipped, runs that ended with an error for it.
        public var segmentsShipped: UInt64 = 0
        public var bytesShipped: Int64 = 0
        public var errors: UInt64 = 0
    }

    public var source: String
    public var stateDirectory: String
    public var sourceID: String?
    /// The source's newest committed transaction (in the active segment, or the newest sealed one).
    public var lastLSN: UInt64?
    public var lastCommitTime: String?
    public var sealedSegments: Int
    public var sealedBytes: Int64
    public var activeSegment: String?
    public var activeCommittedBytes: Int64
    /// A problem reading the source's newest segments (the lag figures then stop before it).
    public var sourceProblem: String?
    public var lastRun: ShipState.RunRecord?
    public var targets: [Target]

    public static func read(config: ShipConfig) throws -> ShipStatus {
        guard let path = config.source else { throw ShipError(.config, "no source given", hint: "pass --source DIR or set `source:` in the config file") }
        let (source, stateDirectory) = try config.resolveSource(path)
        let listing = try source.list()
        let state = try ShipState.load(directory: stateDirectory)
        var status = ShipStatus(source: source.binlogPath, stateDirectory: stateDirectory, sealedSegments: listing.sealed.count,
                                sealedBytes: listing.sealed.reduce(0) { $0 + $1.size }, activeSegment: listing.active?.name.description,
                                activeCommittedBytes: 0, lastRun: state?.lastRun, targets: [])
        var newest: (lsn: UInt64, time: Int64)?
        var active: VerifiedSegment?
        do {
            if let last = listing.sealed.last {
                let p = try VerifiedSegment.position(of: last)
                newest = (p.lastLSN, p.lastCommitTime)
                status.sourceID = p.sourceID.uuidString
            }
            if let a = listing.active {
                let v = try VerifiedSegment(entry: a)
                status.sourceID = v.header.sourceID.uuidString
                if v.transactionCount > 0 { active = v; newest = (v.lastLSN, v.lastCommitTime) }
            }
        } catch {
            status.sourceProblem = shipError(error).description
        }
        status.activeCommittedBytes = active?.dataEnd ?? 0
        status.lastLSN = newest?.lsn
        status.lastCommitTime = newest.map { formatTimestamp($0.time) }
        var names = config.targets.map(\.name)
        names += (state?.targets.keys.sorted() ?? []).filter { !names.contains($0) }
        for name in names {
            let configured = config.targets.first { $0.name == name }
            let t = state?.targets[name] ?? ShipState.TargetState(path: configured?.path ?? "")
            var entry = target(name, t, configured: configured != nil, listing: listing, active: active, newest: newest)
            // Never a probe here: a remote store's guarantees are what the last ship run found.
            entry.guarantees = configured.flatMap { config.openStore($0).knownCapabilities?.names ?? t.guarantees }
            status.targets.append(entry)
        }
        return status
    }

    private static func target(_ name: String, _ t: ShipState.TargetState, configured: Bool, listing: ShipSource.Listing,
                               active: VerifiedSegment?, newest: (lsn: UInt64, time: Int64)?) -> Target {
        let behind = listing.sealed(after: t.lastSegment.flatMap(SegmentName.parse))
        // A partial copy counts when it is of the next segment the target needs (the active
        // one, or the one sealed since the partial was shipped).
        let next = behind.first?.name ?? active?.name
        let partial = t.partial.flatMap { p in next.map { TargetKeys.partialName(for: $0) } == p.file ? p : nil }
        var lsn = t.lastLSN, time = t.lastCommitTime.flatMap(parseTimestamp)
        if let partial, partial.lastLSN > lsn ?? 0 { lsn = partial.lastLSN; time = parseTimestamp(partial.lastCommitTime) }
        var seconds: Double?
        if let newest {
            if let lsn, lsn >= newest.lsn { seconds = 0 } else if let time { seconds = max(0, Double(newest.time - time) / 1e6) }
        } else {
            seconds = 0
        }
        let activeBehind = (active?.dataEnd ?? 0) - (behind.isEmpty ? partial?.bytes ?? 0 : 0)
        var target = Target(name: name, path: t.path, configured: configured, lastSegment: t.lastSegment, lastLSN: t.lastLSN, lastCommitTime: t.lastCommitTime,
                      partial: t.partial?.file, partialLastLSN: t.partial?.lastLSN, shippedAt: t.shippedAt, lastSuccessAt: t.lastSuccessAt,
                      lastAttemptAt: t.lastAttemptAt, lastError: t.lastError?.message, lastErrorAt: t.lastError?.at, segmentsBehind: behind.count,
                      bytesBehind: behind.reduce(0) { $0 + $1.size } + max(0, activeBehind),
                      lsnsBehind: (newest?.lsn ?? 0) - min(newest?.lsn ?? 0, lsn ?? 0), secondsBehind: seconds)
        (target.segmentsShipped, target.bytesShipped, target.errors) = (t.segmentsShipped, t.bytesShipped, t.errors ?? 0)
        return target
    }
}

/// `check --max-lag`: a target fails when it is further behind than the limit, or when no
/// run finished it successfully within the limit (a cron job that silently stopped).
public struct LagCheck: Sendable {
    public struct Finding: Sendable {
        public var target: String
        public var ok: Bool
        public var reason: String
    }

    public static func evaluate(_ status: ShipStatus, maxLag: Double, now: Int64 = microsecondsNow()) -> [Finding] {
        status.targets.filter(\.configured).map { t in
            var problems: [String] = []
            if let success = t.lastSuccessAt.flatMap(parseTimestamp) {
                let age = Double(now - success) / 1e6
                if age > maxLag { problems.append("no successful run for \(describe(age)) (last at \(t.lastSuccessAt!))") }
            } else {
                problems.append("no successful run yet")
            }
            if let s = t.secondsBehind {
                if s > maxLag { problems.append("\(describe(s)) behind the master (\(t.lsnsBehind) LSNs, \(t.segmentsBehind) segments)") }
            } else {
                problems.append("holds nothing yet; the master is at LSN \(status.lastLSN ?? 0)")
            }
            if let e = t.lastError, !problems.isEmpty { problems.append("last error: " + (e.split(separator: "\n").first.map(String.init) ?? e)) }
            let ok = problems.isEmpty
            let reason = ok ? "\(describe(t.secondsBehind ?? 0)) behind, last success \(t.lastSuccessAt ?? "-")" : problems.joined(separator: "; ")
            return Finding(target: t.name, ok: ok, reason: reason)
        }
    }

    /// `95s`, `12m05s`, `3h02m`, `2d04h`: short enough for a one-line alert.
    public static func describe(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 120 { return "\(s)s" }
        if s < 7200 { return String(format: "%dm%02ds", s / 60, s % 60) }
        if s < 172_800 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
        return String(format: "%dd%02dh", s / 86400, s % 86400 / 3600)
    }
}
