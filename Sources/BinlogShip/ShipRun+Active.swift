import BinlogFormat
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

extension ShipRun {
    /// `--include-active`: ships the committed prefix of the active segment as
    /// `<sealed name>.partial` to every target that holds all sealed segments before it.
    /// Committed means up to the master's committed mark (SQLite's COMMIT succeeded), and the
    /// active file is fsynced before the copy unless the mark says the master did that itself,
    /// so a partial never holds a transaction that the master may still undo or that a power
    /// loss on the master could take back.
    func shipActive(_ listing: ShipSource.Listing) throws {
        guard let active = listing.active else { return }
        let lastSealed = listing.sealed.last?.name
        let needing = targets.filter { $0.isLive && $0.position?.segment == lastSealed }
        guard !needing.isEmpty else { return }
        let segment: VerifiedSegment
        let source: FileDescriptor
        do {
            source = try RegularFile.open(active.path)
            let header = try SegmentReader(path: active.path).header
            let committed = shipper.source.committedLimit(active: active.name, firstLSN: header.firstLSN)
            defer { committed.release() }
            if let reason = committed.reason {
                let w = ShipError(.notFound, reason, path: active.path, hint: "restart the master with this logship, or ship without --include-active")
                for run in needing { run.result.warnings.append(w) }
                emit(.failed(w))
            }
            segment = try VerifiedSegment(entry: active, committedThrough: committed.limit)
            guard segment.transactionCount > 0 else { return }
            if segment.lastLSN > committed.durable { try source.sync() }
            if let last = listing.sealed.last {
                try VerifiedSegment.position(of: last).checkFollowed(by: segment.header, name: active.name, path: active.path)
            }
        } catch where access(active.path, F_OK) != 0 {
            // Sealed (renamed) while this run looked at it: the next run ships the sealed segment.
            return
        } catch {
            sourceError = shipError(error, context: "active segment \(active.name) cannot be shipped")
            emit(.failed(sourceError!))
            return
        }
        let file = TargetKeys.partialName(for: active.name)
        var copyTo: [TargetRun] = []
        for run in needing {
            do {
                try checkFence(run, name: segment.name, firstLSN: segment.header.firstLSN, lastLSN: segment.lastLSN, path: segment.path)
                try checkTargetFollows(run, segment)
                if try partialIsCurrent(file, on: run, segment) { continue }
                copyTo.append(run)
            } catch {
                fail(run, error)
            }
        }
        let results = SegmentCopier.copy(segment, from: source, to: copyTo.map { SegmentCopier.Destination(store: $0.store, finalName: file) })
        for (run, result) in zip(copyTo, results) {
            do {
                try result.get().publish(replace: true)
                run.result.partial = file
                emit(.shippedPartial(target: run.name, file: file, bytes: segment.length, firstLSN: segment.header.firstLSN, lastLSN: segment.lastLSN))
                let now = microsecondsNow()
                run.state.partial = ShipState.PartialRecord(file: file, lastLSN: segment.lastLSN, lastCommitTime: formatTimestamp(segment.lastCommitTime),
                                                            bytes: segment.length, checksum: ChainPosition.hex(segment.checksum), shippedAt: formatTimestamp(now))
            } catch {
                fail(run, error)
            }
        }
        try saveState()
    }

    /// True when the target's partial already holds exactly this prefix, or more of the active
    /// segment than the master's mark lets ship now (below). A partial that is not a prefix of
    /// the active segment means the master undid a transaction a replica may have applied: a
    /// warning, and the partial is replaced.
    ///
    /// A partial longer than the committed prefix but byte for byte a prefix of the active file
    /// holds frames shipped while no master ran, which are committed (the next open's recovery
    /// keeps every complete frame). A master that has just taken the lock and not yet written
    /// its mark (it does so once recovery is done) still shows the previous master's mark,
    /// which can stop before those frames. Such a partial is kept as it is until the mark
    /// passes it: replacing it with the shorter prefix would take an acknowledged transaction
    /// back off the target, and calling it a divergence stopped `--follow` (issue 15, seen as a
    /// semi-sync commit never acknowledged after the master was killed).
    private func partialIsCurrent(_ file: String, on run: TargetRun, _ segment: VerifiedSegment) throws -> Bool {
        guard let size = try run.store.stat(file)?.size else { return false }
        // Compared with the file as it is now, beyond the committed prefix when the partial is longer.
        let isPrefix = try StoreComparison.samePrefix(run.store, file, segment.path, length: size)
        if !isPrefix {
            let w = ShipError(.divergence, "the partial copy \(file) the target held is not a prefix of the active segment now; a replica that applied it may hold a transaction the master undid",
                              target: run.name, path: run.store.address(of: file), hint: "check that replica against the master (replica-apply reports divergence); rebuild it from a snapshot if needed")
            run.result.warnings.append(w)
            emit(.failed(w))
            return false
        }
        if size > segment.dataEnd { return true }
        return size == segment.dataEnd && run.state.partial?.file == file
    }
}
