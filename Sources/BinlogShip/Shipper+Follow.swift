import BinlogFormat
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

extension Shipper {
    /// How `follow` paces itself.
    public struct FollowOptions {
        /// Seconds between two full runs when no notification came: a safety net for a file
        /// system that does not report (with inotify unavailable, this is the poll interval).
        public var recheck: Double = 10
        /// For a target that is not a local directory (S3), the least time between two uploads
        /// of the active segment's partial object: frames are batched into one object per
        /// interval, as Litestream does with its 1 s default. Also the pause after a run that
        /// failed, before the next try.
        public var flushInterval: Double = 1
        /// While the master is busy (`passBatch`), the least time from the start of a pass that
        /// shipped something to the start of the next pass (0: a pass as soon as the master
        /// commits). Commits that arrive meanwhile go out in one pass: one fsync of each partial
        /// copy for all of them, so the follower takes less of a busy disk from the master, at
        /// up to this much more lag. Default 5 ms (`PassPacer.defaultInterval`). Not applied
        /// while the master runs with semi-sync (`SyncAcks.masterWaits`): its commits wait for
        /// the follower's passes.
        public var passInterval: Double = PassPacer.defaultInterval
        /// The master is busy while transactions arrive at `passBatch` or more per
        /// `passInterval`; slower than that, each pass runs as soon as the master commits
        /// (`PassPacer`). Default 10; 1: always wait the interval.
        public var passBatch: Int = PassPacer.defaultBatch
        /// Checked between passes and while waiting; return true to stop.
        public var shouldStop: () -> Bool = { false }

        public init() {}
    }

    /// `binlog-ship --follow`: keeps shipping until `shouldStop`. Holds the source's lock for
    /// its whole life (a cron run beside it exits 12, busy). Woken by file notifications on the
    /// binlog directory (`FileWatcher`): the master appending a frame, creating or sealing a
    /// segment.
    ///
    /// A full run (`run`'s: sealed segments, epoch histories, the active segment's partial
    /// copy, the state) happens at start, whenever a segment is sealed or created, after an
    /// error, and every `recheck` seconds. In between, each wake appends only the new complete
    /// transactions of the active segment to each directory target's partial copy
    /// (`ActiveTail`): the frames are read from where the last pass stopped and verified, the
    /// source is fsynced (so only durable frames leave the master), the bytes are written at
    /// the end of the partial, fsynced and read back. A kill -9 at any point leaves each partial
    /// a prefix of the active segment, which the next run (follow or cron) checks and completes.
    public func follow(_ options: FollowOptions, onPass: (ShipReport) throws -> Void) throws {
        try ShipState.prepareDirectory(stateDirectory)
        let lock = try ShipLock.acquire(path: stateDirectory + "/lock", timeout: lockTimeout)
        defer { lock.release() }
        let watcher = FileWatcher(directories: [source.binlogPath])
        let remote = config.targets.contains { config.openStore($0).localDirectory == nil }
        var tail: ActiveTail?
        var lastFull = Date.distantPast
        var lastFailed = false
        var acks = Acknowledger(source: source)
        // Passes that shipped something are spaced by the pass interval: a pass that found
        // nothing new (the wake for a frame appended before the master's commit mark moved)
        // does not count. The pacer counts transactions by the LSNs shipped.
        var pacer = PassPacer(interval: options.passInterval, batch: options.passBatch)
        var shippedLSN: UInt64 = 0
        while !options.shouldStop() {
            var wait = pacer.delay()
            // A master running with semi-sync holds each commit until this follower acknowledges
            // it: a paced pass would add its wait to every commit (eight writers through `serve`:
            // 4,809 → 2,959 commits/s, p99 2.9 → 6.7 ms, docs/BENCHMARKS.md), so it passes at once.
            if wait > 0, let master = source.masterPath, SyncAcks.masterWaits(master: master) { wait = 0 }
            if wait > 0, sleepUnlessStopped(wait, shouldStop: options.shouldStop) { break }
            let passStarted = PassPacer.now()
            // Changes before this pass are seen by it; changes during it wake the next wait.
            watcher.drain()
            var report: ShipReport?
            if let t = tail {
                switch t.shipNew(self) {
                case .shipped(let r): report = r
                case .nothingNew: break
                case .needsFullRun: tail = nil
                }
            }
            if tail == nil {
                let pause = (remote || lastFailed) ? options.flushInterval : 0
                let wait = lastFull.addingTimeInterval(pause).timeIntervalSinceNow
                if wait > 0, sleepUnlessStopped(wait, shouldStop: options.shouldStop) { break }
                let full = try runLocked()
                lastFull = Date()
                lastFailed = !full.failures.isEmpty
                if !lastFailed { tail = ActiveTail(after: full, shipper: self) }
                report = full
            }
            if let report {
                // A full run that found everything in place shipped nothing: it does not count.
                if report.targets.contains(where: { !$0.shipped.isEmpty || $0.partial != nil }) {
                    let top = report.targets.compactMap(\.lastLSN).max() ?? 0
                    pacer.passed(start: passStarted, transactions: shippedLSN > 0 && top > shippedLSN ? Int(top - shippedLSN) : 1)
                    shippedLSN = max(shippedLSN, top)
                }
                acknowledge(report, to: &acks)
                try onPass(report)
            }
            // A full run is due after `recheck` seconds without a wake.
            if !watcher.wait(timeout: 0) {
                if Self.waitForChange(watcher, upTo: options.recheck, shouldStop: options.shouldStop) == false { tail = nil }
            }
        }
        try tail?.saveState(self, force: true)
    }

    /// Semi-sync (docs/OPERATIONS.md): after a pass, tells a master that waits for its targets
    /// (its directory has `acks/`) how far each target now holds the binlog durably. Done before
    /// `onPass` reports, and only for targets the pass left without error; a failure to write
    /// the ack is reported as an event and only delays the master (the target's copy is the truth).
    private func acknowledge(_ report: ShipReport, to acks: inout Acknowledger) {
        guard let master = source.masterPath else { return }
        guard access(SyncAcks.directory(master: master), F_OK) == 0 else { return }
        guard let sourceID = acks.sourceID() else { return }
        for t in report.targets {
            guard t.error == nil, let lsn = t.durableLSN, lsn > (acks.sent[t.name] ?? 0) else { continue }
            do {
                try SyncAcks.write(SyncAcks.Ack(target: t.name, sourceID: sourceID, lsn: lsn, at: formatTimestamp(microsecondsNow())), master: master)
                acks.sent[t.name] = lsn
            } catch {
                onEvent(.failed(ShipError(.io, "unable to acknowledge LSN \(lsn) to the master for semi-sync: \(error)", target: t.name,
                                          path: SyncAcks.path(master: master, target: t.name))))
            }
        }
    }

    /// Waits up to `seconds` for a notification, in quarter seconds so `shouldStop` is seen;
    /// true when one came, false at the timeout, nil when asked to stop.
    private static func waitForChange(_ watcher: FileWatcher, upTo seconds: Double, shouldStop: () -> Bool) -> Bool? {
        let deadline = Date().addingTimeInterval(seconds)
        while !shouldStop() {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            if watcher.wait(timeout: min(0.25, left)) { return true }
        }
        return nil
    }
}

/// What the follower acknowledged so far, and the master's source id (from `master.json`).
struct Acknowledger {
    let source: ShipSource
    var sent: [String: UInt64] = [:]
    private var cachedID: String?

    init(source: ShipSource) { self.source = source }

    mutating func sourceID() -> String? {
        if let cachedID { return cachedID }
        guard let master = source.masterPath, let data = FileManager.default.contents(atPath: master + "/master.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let id = object["sourceID"] as? String else { return nil }
        cachedID = id.uppercased()
        return cachedID
    }
}
