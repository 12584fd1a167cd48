import BinlogFormat
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// Deletes the master's oldest sealed segments once every target holds a verified copy and
/// they are older than the retention. Only a prefix of the log is ever deleted (never a
/// segment in the middle), never the active segment, and never the newest sealed one: the
/// master chains its next segment to it (docs/FORMAT.md §9).
public enum Purger {
    /// What a purge would delete, and why it stops where it stops.
    public struct Plan: Sendable {
        public struct Segment: Sendable {
            public var name: String
            public var path: String
            public var bytes: Int64
            public var sealedAt: String
            public var lastLSN: UInt64
        }
        public var delete: [Segment] = []
        /// Why the oldest segment that stays (and so everything after it) stays.
        public var keptBecause: String?
        public var kept = 0
        public var bytes: Int64 { delete.reduce(0) { $0 + $1.bytes } }
    }

    /// Works out what may go. `retention` is in seconds. With `window` (seconds), a segment also
    /// stays while it or the next one holds a commit inside the window: the next one's last
    /// commit before the window's start means this one's are all before the state at that start
    /// (docs/OPERATIONS.md "Retention").
    public static func plan(config: ShipConfig, retention: Double, window: Double? = nil, now: Int64 = microsecondsNow()) throws -> Plan {
        guard let path = config.source else { throw ShipError(.config, "no source given", hint: "pass --source DIR or set `source:` in the config file") }
        guard !config.targets.isEmpty else {
            throw ShipError(.config, "purge needs the targets that must hold a copy first", hint: "pass the same --target flags or config file as the ship runs")
        }
        let (source, stateDirectory) = try config.resolveSource(path)
        let sealed = try source.list().sealed
        var plan = Plan()
        plan.kept = sealed.count
        guard let state = try ShipState.load(directory: stateDirectory) else {
            plan.keptBecause = "nothing has been shipped yet (no state in \(stateDirectory))"
            return plan
        }
        if let stray = state.targets.keys.sorted().first(where: { name in !config.targets.contains { $0.name == name } }) {
            plan.keptBecause = "target \(stray) has shipping state but is not configured: add it back, or run `binlog-ship forget \(stray)` if it is gone for good"
            return plan
        }
        func footerOf(_ entry: BinlogDirectory.Entry) throws -> SegmentFooter {
            guard let footer = try SegmentReader(path: entry.path).footer else { throw ShipError(.corruption, "sealed segment has no footer", path: entry.path) }
            return footer
        }
        for (index, entry) in sealed.dropLast().enumerated() {
            let footer = try footerOf(entry)
            let age = Double(now - footer.sealedAt) / 1e6
            if age < retention {
                plan.keptBecause = "\(entry.name) was sealed \(LagCheck.describe(age)) ago, within the retention of \(LagCheck.describe(retention))"
                break
            }
            if let window {
                let start = now - Int64(window * 1e6), next = sealed[index + 1]
                if footer.lastCommitTime >= start {
                    plan.keptBecause = "\(entry.name) holds commits up to \(formatTimestamp(footer.lastCommitTime)), inside the window of \(LagCheck.describe(window)) (since \(formatTimestamp(start)))"
                    break
                }
                if try footerOf(next).lastCommitTime >= start {
                    plan.keptBecause = "\(entry.name) holds the state at the window's start (\(formatTimestamp(start))): \(next.name) holds commits inside the window of \(LagCheck.describe(window))"
                    break
                }
            }
            if let missing = try config.targets.lazy.compactMap({ try lacking(entry, footer: footer, on: config.openStore($0), state: state.targets[$0.name]) }).first {
                plan.keptBecause = missing
                break
            }
            plan.delete.append(Plan.Segment(name: entry.name.description, path: entry.path, bytes: entry.size,
                                            sealedAt: formatTimestamp(footer.sealedAt), lastLSN: footer.lastLSN))
        }
        if plan.keptBecause == nil, let newest = sealed.last {
            plan.keptBecause = "\(newest.name) is the newest sealed segment, which the master chains its next segment to"
        }
        plan.kept = sealed.count - plan.delete.count
        return plan
    }

    /// Why `target` does not hold a verified copy of `entry`, or nil when it does: it was
    /// shipped (or found identical) and verified, and the file is still there with the same
    /// size and footer.
    private static func lacking(_ entry: BinlogDirectory.Entry, footer: SegmentFooter, on target: TargetStore, state: ShipState.TargetState?) throws -> String? {
        guard let last = state?.lastSegment.flatMap(SegmentName.parse), last >= entry.name else {
            return "target \(target.name) has not received \(entry.name) yet" + (state?.lastSegment.map { " (it holds up to \($0))" } ?? "")
        }
        let key = entry.name.description, copy = target.address(of: key)
        if target.isSameFile(key, as: entry.path) {
            return "target \(target.name)'s \(copy) is the source segment itself (the same file: device and inode), not a copy"
        }
        guard let size = (try? target.stat(key))??.size else {
            return "target \(target.name) no longer has \(entry.name) (\(copy) cannot be opened)"
        }
        let at = size - Int64(footer.encodedSize)
        guard size == entry.size, at >= 0, let bytes = try? target.read(key, range: at..<size),
              (try? bytes.withUnsafeBytes { try SegmentFooter.decode($0, offset: at, version: footer.version) }) == footer else {
            return "target \(target.name)'s copy of \(entry.name) differs from the source (size or footer); run `binlog-ship verify \(target.name)`"
        }
        return nil
    }

    /// Deletes what `plan` lists, oldest first, under the source's lock, after planning again
    /// under it (so a plan never outlives a run that changed things). Returns what was deleted.
    public static func execute(config: ShipConfig, retention: Double, window: Double? = nil, lockTimeout: Double = 0, now: Int64 = microsecondsNow()) throws -> Plan {
        guard let path = config.source else { throw ShipError(.config, "no source given") }
        let (source, stateDirectory) = try config.resolveSource(path)
        try ShipState.prepareDirectory(stateDirectory)
        let lock = try ShipLock.acquire(path: stateDirectory + "/lock", timeout: lockTimeout)
        defer { lock.release() }
        var plan = try self.plan(config: config, retention: retention, window: window, now: now)
        for (i, segment) in plan.delete.enumerated() {
            guard unlink(segment.path) == 0 || errno == ENOENT else {
                let e = shipError(ioError("delete", path: segment.path))
                plan.delete.removeSubrange(i...)
                try? DurableFile.syncDirectory(source.binlogPath)
                throw e
            }
        }
        if !plan.delete.isEmpty { try DurableFile.syncDirectory(source.binlogPath) }
        return plan
    }
}
