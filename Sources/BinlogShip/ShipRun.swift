import BinlogFormat
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// One target's progress during a run.
final class TargetRun {
    let store: TargetStore
    var state: ShipState.TargetState
    /// The newest segment the target holds, recorded in the state.
    var position: ChainPosition?
    /// Where the target will be once the copies already written are published: what the next
    /// segment must follow (`ShipRun.shipSealed` writes one segment ahead).
    var expected: ChainPosition?
    /// Set when the segment being written cannot go to this target: no later segment is
    /// written for it, and the error is reported once the segment before is committed.
    var stopping = false
    var error: ShipError?
    /// The newest epoch history the target holds (ShipRun+Epochs.swift).
    var fence: EpochHistory?
    var result: ShipReport.TargetResult
    let name: String
    var isLive: Bool { error == nil }

    init(target: ShipTarget, store: TargetStore, state: ShipState.TargetState?) {
        self.store = store
        name = target.name
        var s = state ?? ShipState.TargetState(path: store.location)
        s.path = store.location
        self.state = s
        position = s.position
        expected = position
        result = ShipReport.TargetResult(name: target.name, path: store.location)
    }

    /// Whether the target still lacks `segment`: it has nothing yet, or only older segments.
    func needs(_ segment: SegmentName) -> Bool { expected.map { segment > $0.segment } ?? true }
}

/// The mutable part of one `Shipper.run`: the state, the targets, the source's first problem.
final class ShipRun {
    let shipper: Shipper
    var state: ShipState
    let targets: [TargetRun]
    var sourceError: ShipError?
    let started = microsecondsNow()

    init(shipper: Shipper, state: ShipState) throws {
        self.shipper = shipper
        self.state = state
        targets = shipper.config.targets.map { TargetRun(target: $0, store: shipper.config.openStore($0), state: state.targets[$0.name]) }
    }

    var report: ShipReport {
        ShipReport(targets: targets.map(\.result), sourceError: sourceError)
    }

    func emit(_ event: ShipEvent) { shipper.onEvent(event) }

    func fail(_ run: TargetRun, _ error: Error) {
        let e = shipError(error, target: run.name)
        run.error = e
        run.result.error = e
        emit(.failed(e))
    }

    func saveState() throws {
        for t in targets { state.targets[t.name] = t.state }
        try state.save(directory: shipper.stateDirectory)
    }

    /// Records the run as started and checks every target: it exists, it still holds the last
    /// segment shipped to it (else it is unmounted or was wiped), no stale temp files.
    func begin() throws {
        try recordTargetsInMaster()
        state.source = shipper.source.binlogPath
        state.lastRun = ShipState.RunRecord(pid: getpid(), startedAt: formatTimestamp(started), finishedAt: nil, outcome: "running")
        for t in targets { prepare(t) }
        try saveState()
    }

    /// Tells the master where its segments go, in a file inside its own directory, before any
    /// target gets anything: a promotion fences those targets, and the master must find the
    /// fence there whatever this run's state directory is (ShipTargetsRecord).
    private func recordTargetsInMaster() throws {
        guard let master = shipper.source.masterPath else { return }
        // Only directories can be fenced by a promotion writing into them (docs/FAILOVER.md).
        let paths = targets.compactMap(\.store.localDirectory) + state.targets.values.map(\.path)
        do { try ShipTargetsRecord.record(targets: paths, stateDirectory: shipper.stateDirectory, master: master) } catch {
            var e = shipError(error, context: "unable to record the targets in the master directory")
            e.hint = e.hint ?? "binlog-ship records where it ships in \(ShipTargetsRecord.path(inMaster: master)) before shipping, so that the master finds a promotion's fence there (docs/FAILOVER.md); give this user write access to \(master)/\(ShipTargetsRecord.directoryName)"
            throw e
        }
    }

    private func prepare(_ run: TargetRun) {
        do {
            try run.store.checkReachable()
            for temp in run.store.removeStaleUploads() {
                run.result.removed.append(temp)
                emit(.removed(target: run.name, file: temp, reason: "temp file of an interrupted run"))
            }
            guard let position = run.position else { return }
            guard try run.store.stat(position.segment.description) != nil else {
                throw ShipError(.notFound, "the target no longer holds \(position.segment), the last segment shipped to it" + (run.state.shippedAt.map { " (at \($0))" } ?? ""),
                                target: run.name, path: run.store.location,
                                hint: "if its file system is not mounted, mount it and rerun; if it was wiped or replaced on purpose, run `binlog-ship forget \(run.name)` and the next run ships it everything the source holds")
            }
            for file in try run.store.list().map(\.key) {
                guard let sealed = TargetKeys.segment(ofPartial: file), sealed <= position.segment else { continue }
                try run.store.delete(file)
                run.result.removed.append(file)
                emit(.removed(target: run.name, file: file, reason: "superseded by the sealed segment"))
            }
        } catch {
            fail(run, error)
        }
    }

    /// Ends the run: each target's last success or last error, and the run's outcome.
    func finish() throws {
        let now = microsecondsNow()
        for t in targets {
            t.state.lastAttemptAt = formatTimestamp(started)
            if let e = t.error ?? sourceError {
                t.state.lastError = ShipState.ErrorRecord(e, at: now)
                t.state.errors = (t.state.errors ?? 0) + 1
            } else {
                t.state.lastError = t.result.warnings.first.map { ShipState.ErrorRecord($0, at: now) }
                t.state.lastSuccessAt = formatTimestamp(now)
            }
            if let known = t.store.knownCapabilities {
                t.state.guarantees = known.names
            }
            t.result.lastSegment = t.state.lastSegment
            t.result.lastLSN = t.state.lastLSN
            if t.error == nil && sourceError == nil, let last = t.state.lastLSN ?? t.state.partial?.lastLSN {
                t.result.durableLSN = max(last, t.state.partial?.lastLSN ?? 0)
            }
        }
        state.lastRun?.finishedAt = formatTimestamp(now)
        state.lastRun?.outcome = report.worstKind.map { "failed: \($0.rawValue)" } ?? "ok"
        try saveState()
    }
}
