import BinlogFormat
import Foundation
import LogshipSystem

extension ShipRun {
    /// Ships sealed segments in log order. Each segment some target lacks is verified once
    /// (and linked to the one before it), then copied to every target that needs it. The
    /// source's first problem stops the run there: nothing after a damaged segment or a gap
    /// is shipped anywhere.
    ///
    /// A pipeline keeps the disk, the CPU and the network busy together: while segment N's
    /// copies are fsynced and read back on other threads, N+1 is verified and written to temp
    /// files; then N+1's copies are proven and staged (an object store's parts sent, not
    /// completed) on other threads while N is published. For directory targets the pipeline
    /// is one segment deep. When a target is an object store it runs deeper, up to
    /// `stageAheadBytes` of segments in flight, so that parts keep travelling while earlier
    /// segments are completed and recorded (one segment's parts alone leave the link idle
    /// between segments). Publication stays in order and on this thread: N is published,
    /// recorded and the state saved before N+1 is published, and a later segment's copy to a
    /// target that failed on N is discarded, never published.
    func shipSealed(_ listing: ShipSource.Listing) throws {
        let verifier = shipper.config.verifier
        let remote = targets.contains { $0.store.localDirectory == nil }
        var previous: ChainPosition?
        var upcoming: Prefetch?
        var inFlight: [Batch] = []
        /// Publishes the oldest batch until `keep` accepts what is left in flight (or nothing
        /// is); on a failure every batch still in flight is discarded.
        func publish(keeping keep: (_ ahead: [Batch]) -> Bool) throws {
            while !inFlight.isEmpty && !keep(inFlight) {
                let done = inFlight.removeFirst()
                do { try commit(done) } catch { inFlight.forEach { $0.discardAll() }; throw error }
            }
        }
        for (index, entry) in listing.sealed.enumerated() {
            let needing = targets.filter { $0.isLive && !$0.stopping && $0.needs(entry.name) }
            guard !needing.isEmpty else { previous = nil; continue }
            let segment: VerifiedSegment
            do {
                segment = try upcoming.flatMap { $0.entry.name == entry.name ? $0 : nil }?.segment() ?? VerifiedSegment(entry: entry, verifier: verifier)
                upcoming = index + 1 < listing.sealed.count ? Prefetch(listing.sealed[index + 1], verifier: verifier) : nil
                let before = try previous ?? (index > 0 ? VerifiedSegment.position(of: listing.sealed[index - 1]) : nil)
                try before?.checkFollowed(by: segment.header, name: entry.name, path: entry.path)
            } catch {
                sourceError = shipError(error, context: "source segment \(entry.name) cannot be shipped")
                emit(.failed(sourceError!))
                break
            }
            previous = ChainPosition(segment)
            let batch = write(segment, to: needing)
            batch.startProving()
            inFlight.append(batch)
            // Keep one batch (the newest) always; more while they fit the budget, for object stores.
            try publish { ahead in ahead.count == 1 || (remote && ahead.reduce(0) { $0 + $1.segment.length } <= Self.stageAheadBytes) }
        }
        try publish { _ in false }
    }

    /// How many bytes of segments a run keeps staged ahead of publication when a target is an
    /// object store (their parts in flight, their spool files on local disk).
    static let stageAheadBytes: Int64 = 64 << 20

    /// Decides, for each target that needs `segment`, whether it already holds it (the same
    /// bytes), holds something else under its name (a conflict), or gets a copy; and writes
    /// the copies. Nothing is published or recorded yet.
    private func write(_ segment: VerifiedSegment, to needing: [TargetRun]) -> Batch {
        let name = segment.name.description
        let batch = Batch(segment)
        var copyTo: [TargetRun] = []
        for run in needing {
            do {
                try checkFence(run, name: segment.name, firstLSN: segment.header.firstLSN, lastLSN: segment.lastLSN, path: segment.path)
                try checkTargetFollows(run, segment)
                guard let size = try run.store.stat(name)?.size else { copyTo.append(run); continue }
                if let at = try StoreComparison.firstDifference(run.store, name, segment.path, length: max(size, segment.length)) {
                    throw ShipError(.corruption, "conflict: the target already has \(name) with other bytes (\(size) bytes, the source's \(segment.length); they differ from offset \(at)); nothing was overwritten",
                                    target: run.name, path: run.store.address(of: name), offset: at,
                                    hint: "a forked master, a second master shipping into this inbox, or a damaged copy: compare the files, move the wrong one aside, and rerun")
                }
                batch.entries.append((run, .present))
                run.expected = ChainPosition(segment)
            } catch {
                batch.stop(run, error)
            }
        }
        let written = SegmentCopier.write(segment, to: copyTo.map { SegmentCopier.Destination(store: $0.store, finalName: name) })
        for (run, result) in zip(copyTo, written) {
            switch result {
            case .success(let pending):
                batch.entries.append((run, .written(batch.pending.count)))
                batch.pending.append(pending)
                run.expected = ChainPosition(segment)
            case .failure(let e):
                batch.stop(run, e)
            }
        }
        return batch
    }

    /// Publishes what `batch` proved, records it, and saves the state.
    private func commit(_ batch: Batch) throws {
        let name = batch.segment.name.description
        let proven = batch.proven()
        for (run, entry) in batch.entries {
            guard run.isLive else {
                if case .written(let i) = entry, case .success(let upload) = proven[i] { upload.abort() }
                continue
            }
            do {
                switch entry {
                case .present:
                    run.result.alreadyPresent.append(name)
                    emit(.alreadyPresent(target: run.name, file: name))
                    try recordSealed(batch.segment, on: run, copied: false)
                case .written(let i):
                    let upload = try proven[i].get()
                    let publication = try upload.publish(replace: false)
                    if let how = upload.verification { run.state.lastVerification = how }
                    if publication == .alreadyThere {
                        // Another run (another state directory) published the same bytes first.
                        run.result.alreadyPresent.append(name)
                        emit(.alreadyPresent(target: run.name, file: name))
                        try recordSealed(batch.segment, on: run, copied: false)
                        continue
                    }
                    run.result.shipped.append(name)
                    emit(.shipped(target: run.name, file: name, bytes: batch.segment.length, firstLSN: batch.segment.header.firstLSN, lastLSN: batch.segment.lastLSN))
                    try recordSealed(batch.segment, on: run, copied: true)
                case .failed(let e):
                    throw e
                }
            } catch {
                fail(run, error)
            }
        }
        try saveState()
    }

    /// The next segment must continue what the target already has. When it does not, the
    /// source no longer holds what the target needs (a gap), or it forked (corruption).
    func checkTargetFollows(_ run: TargetRun, _ segment: VerifiedSegment) throws {
        guard let position = run.expected else { return }
        do {
            try position.checkFollowed(by: segment.header, name: segment.name, path: segment.path)
        } catch let e as FormatError {
            var error = ShipError(e, target: run.name, context: "the target holds up to \(position.segment), the source's next segment is \(segment.name.sealed)")
            if e.kind == .gap {
                error.hint = "the source no longer has what this target needs; restore those segments into the source, or run `binlog-ship forget \(run.name)` to restart the target from the source's oldest segment"
            }
            throw error
        }
    }

    /// The target holds `segment`, verified: remove the partial it replaces (warning when the
    /// partial was not a prefix of it) and move the target's position.
    private func recordSealed(_ segment: VerifiedSegment, on run: TargetRun, copied: Bool) throws {
        let partial = TargetKeys.partialName(for: segment.name)
        if let size = try run.store.stat(partial)?.size {
            if try size > segment.dataEnd || !StoreComparison.samePrefix(run.store, partial, segment.path, length: size) {
                let w = ShipError(.divergence, "the partial copy \(partial) the target held is not a prefix of the sealed segment; a replica that applied it may hold a transaction the master undid",
                                  target: run.name, path: run.store.address(of: partial),
                                  hint: "check that replica against the master (replica-apply reports divergence); rebuild it from a snapshot if needed")
                run.result.warnings.append(w)
                emit(.failed(w))
            }
            try run.store.delete(partial)
            run.result.removed.append(partial)
            emit(.removed(target: run.name, file: partial, reason: "replaced by the sealed segment"))
        }
        let now = microsecondsNow()
        run.position = ChainPosition(segment)
        run.state.record(run.position!, at: now)
        if run.state.partial?.file == partial { run.state.partial = nil }
        if copied {
            run.state.segmentsShipped += 1
            run.state.bytesShipped += segment.length
        }
    }
}

/// Verifies the next source segment on another thread while the current one is copied and
/// fsynced, so the disk and the CPU work at the same time. Verification only reads the source.
/// `@unchecked Sendable`: the thread writes `result` once before `done.leave()`, and `segment()`
/// reads it only after `done.wait()`; the group orders the two, and nothing else is mutable.
final class Prefetch: @unchecked Sendable {
    let entry: BinlogDirectory.Entry
    private let done = DispatchGroup()
    private var result: Result<VerifiedSegment, Error>?

    init(_ entry: BinlogDirectory.Entry, verifier: SegmentVerifier?) {
        self.entry = entry
        done.enter()
        Thread {
            self.result = Result { try VerifiedSegment(entry: entry, verifier: verifier) }
            self.done.leave()
        }.start()
    }

    /// Waits for the verification; throws what it found.
    func segment() throws -> VerifiedSegment {
        done.wait()
        return try result!.get()
    }
}

/// One sealed segment on its way to the targets that need it (`ShipRun.shipSealed`).
/// `@unchecked Sendable`: only the proving thread of `startProving` runs beside the owner; it
/// reads `pending` (complete before the thread starts, never changed after) and writes `results`,
/// which the owner reads only after `proving.wait()` in `proven()`.
final class Batch: @unchecked Sendable {
    enum Entry {
        /// The target already holds the same bytes.
        case present
        /// A temp file was written: `pending[index]`, being proven.
        case written(Int)
        /// The target cannot take this segment; it stops here, once the segment before is
        /// committed (a failure found one segment ahead must not undo the one before it).
        case failed(ShipError)
    }

    let segment: VerifiedSegment
    var entries: [(run: TargetRun, entry: Entry)] = []
    var pending: [SegmentCopier.Pending] = []
    private var results: [Result<TargetUpload, ShipError>] = []
    private var proving: DispatchGroup?

    init(_ segment: VerifiedSegment) { self.segment = segment }

    func stop(_ run: TargetRun, _ error: Error) {
        entries.append((run, .failed(shipError(error, target: run.name))))
        run.stopping = true
    }

    /// fsyncs and reads back the temp files, then stages what each proven upload can send
    /// before it is published (`TargetUpload.stage`), on another thread.
    func startProving() {
        let group = DispatchGroup()
        proving = group
        group.enter()
        // A thread of its own: proving blocks in fsync, and must not wait for a pool thread.
        Thread {
            self.results = SegmentCopier.prove(self.pending, stage: true)
            group.leave()
        }.start()
    }

    /// Waits for the proofs: one result per `pending`, in order.
    func proven() -> [Result<TargetUpload, ShipError>] {
        proving?.wait()
        return proving == nil ? SegmentCopier.prove(pending, stage: true) : results
    }

    /// Deletes every temp file (the run stops before publishing them).
    func discardAll() {
        proving?.wait()
        pending.forEach { $0.discard() }
    }
}
