import BinlogFormat
import Foundation
import LogshipSystem

/// Deletes a target's oldest segments that its retention window no longer needs: `binlog-ship
/// purge --in-target NAME --window 14d` (docs/OPERATIONS.md "Retention"). What stays comes from
/// the remote restore planner (`RemoteRestorePlan`), exactly as `replica-apply restore --from`
/// would choose: the snapshot a restore of the window's oldest moment starts from (its *anchor*)
/// and every segment after it stay, so every moment inside the window stays restorable from the
/// target. Further rules: a prefix of the target's segments only, never its newest segment, never
/// one the master still holds (its purge would then wait for this target's copy forever: purge
/// the master first), and never a segment of another master or a partial copy. Snapshots in the
/// target are not deleted (age classes inside targets: not done).
public enum TargetPurger {
    /// What a purge inside a target would delete, and why it stops where it stops.
    public struct Plan: Sendable {
        public var target: String
        public var windowStart: Int64
        /// The LSN restores of the window's oldest moment start from (0: the empty database).
        public var anchorLSN: UInt64?
        public var anchorSnapshot: String?
        public var delete: [RemoteRestorePlan.Span] = []
        public var kept = 0
        public var keptBecause: String?
        public var bytes: Int64 { delete.reduce(0) { $0 + $1.bytes } }
    }

    /// The store of the snapshots uploaded beside `target`'s segments: `PREFIX/snapshots` (S3)
    /// or `DIR/snapshots`; a directory target without that folder has no snapshots, and the
    /// target's own directory (which holds no snapshot metadata) stands in for it.
    static func snapshotStore(_ target: ShipTarget, config: ShipConfig) -> TargetStore {
        let folder = ShipTarget(name: target.name, path: target.path + "/snapshots", s3: target.s3)
        if !target.isS3, !FileManager.default.fileExists(atPath: folder.path) { return config.openStore(target) }
        return config.openStore(folder)
    }

    /// Works out what may go from target `name` with a window of `window` seconds.
    public static func plan(config: ShipConfig, target name: String, window: Double, now: Int64 = microsecondsNow()) throws -> Plan {
        guard let target = config.targets.first(where: { $0.name == name }) else {
            throw ShipError(.config, "unable to purge inside target \(name): no target has that name",
                            hint: "configured targets: " + (config.targets.isEmpty ? "none" : config.targets.map(\.name).joined(separator: ", ")))
        }
        let store = config.openStore(target)
        let planner = RemoteRestorePlan(segments: store, snapshots: RemoteSnapshots(store: snapshotStore(target, config: config)))
        let start = now - Int64(window * 1e6)
        var plan = Plan(target: name, windowStart: start)
        let spans = try planner.spans().spans
        plan.kept = spans.count
        guard let newest = spans.last else {
            plan.keptBecause = "the target holds no sealed segment"
            return plan
        }
        let selection: RemoteRestorePlan.Selection
        do {
            selection = try planner.select(newest.lastCommitTime < start ? .latest : .time(start))
        } catch let e as ShipError where e.kind == .gap {
            plan.keptBecause = "the window reaches back before what the target can restore, so every segment stays (\(e.message))"
            return plan
        }
        let anchor = selection.snapshot?.lsn ?? 0
        plan.anchorLSN = anchor
        plan.anchorSnapshot = selection.snapshot?.key
        let held = try masterSegments(config)
        for span in spans.dropLast() {
            if span.lastLSN > anchor {
                plan.keptBecause = "\(span.key) (LSN \(span.firstLSN)…\(span.lastLSN)) is needed by a restore of the window's oldest moment ("
                    + formatTimestamp(start) + ", starting from " + (selection.snapshot.map { "\($0.key), LSN \($0.lsn)" } ?? "the empty database: the target holds no snapshot before it") + ")"
                break
            }
            if held.contains(span.key) {
                plan.keptBecause = "the master still holds \(span.key): purge the master first (`binlog-ship purge`), or its purge would wait for this target's copy"
                break
            }
            plan.delete.append(span)
        }
        if plan.keptBecause == nil {
            plan.keptBecause = "\(newest.key) is the target's newest segment, which the next one links to"
        }
        plan.kept = spans.count - plan.delete.count
        return plan
    }

    /// The names of the sealed segments the master's binlog directory still holds (none when no
    /// source is configured: the purge then runs where only the target is reachable).
    static func masterSegments(_ config: ShipConfig) throws -> Set<String> {
        guard let path = config.source else { return [] }
        let (source, _) = try config.resolveSource(path)
        return Set(try source.list().sealed.map { $0.name.description })
    }

    /// Deletes what `plan` lists, oldest first, under the source's lock when there is a source
    /// (no ship runs meanwhile), after planning again under it.
    public static func execute(config: ShipConfig, target name: String, window: Double, lockTimeout: Double = 0, now: Int64 = microsecondsNow()) throws -> Plan {
        var lock: DirectoryLock?
        if let path = config.source {
            let (_, stateDirectory) = try config.resolveSource(path)
            try ShipState.prepareDirectory(stateDirectory)
            lock = try ShipLock.acquire(path: stateDirectory + "/lock", timeout: lockTimeout)
        }
        defer { lock?.release() }
        var plan = try self.plan(config: config, target: name, window: window, now: now)
        guard let target = config.targets.first(where: { $0.name == name }) else { return plan }
        let store = config.openStore(target)
        for (i, span) in plan.delete.enumerated() {
            do { try store.delete(span.key) } catch {
                plan.delete.removeSubrange(i...)
                throw shipError(error, target: name)
            }
        }
        return plan
    }
}
