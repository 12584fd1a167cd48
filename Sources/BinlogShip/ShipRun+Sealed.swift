import BinlogFormat
import Foundation

extension ShipRun {
    /// Ships sealed segments in log order. Each segment some target lacks is verified once
    /// (and linked to the one before it), then copied to every target that needs it. The
    /// source's first problem stops the run there: nothing after a damaged segment or a gap
    /// is shipped anywhere.
    func shipSealed(_ listing: ShipSource.Listing) throws {
        var previous: ChainPosition?
        var upcoming: Prefetch?
        for (index, entry) in listing.sealed.enumerated() {
            let needing = targets.filter { $0.isLive && $0.needs(entry.name) }
            guard !needing.isEmpty else { previous = nil; continue }
            let segment: VerifiedSegment
            do {
                segment = try upcoming.flatMap { $0.entry.name == entry.name ? $0 : nil }?.segment() ?? VerifiedSegment(entry: entry)
                upcoming = index + 1 < listing.sealed.count ? Prefetch(listing.sealed[index + 1]) : nil
                let before = try previous ?? (index > 0 ? VerifiedSegment.position(of: listing.sealed[index - 1]) : nil)
                try before?.checkFollowed(by: segment.header, name: entry.name, path: entry.path)
            } catch {
                sourceError = shipError(error, context: "source segment \(entry.name) cannot be shipped")
                emit(.failed(sourceError!))
                return
            }
            previous = ChainPosition(segment)
            ship(segment, to: needing)
            try saveState()
        }
    }

    private func ship(_ segment: VerifiedSegment, to needing: [TargetRun]) {
        let name = segment.name.description
        var copyTo: [TargetRun] = []
        for run in needing {
            do {
                try checkTargetFollows(run, segment)
                guard let size = try run.directory.size(of: name) else { copyTo.append(run); continue }
                let existing = run.directory.path + "/" + name
                if let at = try FileComparison.firstDifference(existing, segment.path, length: max(size, segment.length)) {
                    throw ShipError(.corruption, "conflict: the target already has \(name) with other bytes (\(size) bytes, the source's \(segment.length); they differ from offset \(at)); nothing was overwritten",
                                    target: run.name, path: existing, offset: at,
                                    hint: "a forked master, a second master shipping into this inbox, or a damaged copy: compare the files, move the wrong one aside, and rerun")
                }
                run.result.alreadyPresent.append(name)
                emit(.alreadyPresent(target: run.name, file: name))
                try recordSealed(segment, on: run, copied: false)
            } catch {
                fail(run, error)
            }
        }
        let results = SegmentCopier.copy(segment, to: copyTo.map { SegmentCopier.Destination(directory: $0.directory, finalName: name) })
        for (run, result) in zip(copyTo, results) {
            do {
                try run.directory.publish(temp: try result.get(), as: name, replace: false)
                run.result.shipped.append(name)
                emit(.shipped(target: run.name, file: name, bytes: segment.length, firstLSN: segment.header.firstLSN, lastLSN: segment.lastLSN))
                try recordSealed(segment, on: run, copied: true)
            } catch {
                fail(run, error)
            }
        }
    }

    /// The next segment must continue what the target already has. When it does not, the
    /// source no longer holds what the target needs (a gap), or it forked (corruption).
    func checkTargetFollows(_ run: TargetRun, _ segment: VerifiedSegment) throws {
        guard let position = run.position else { return }
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
        let partial = TargetDirectory.partialName(for: segment.name)
        if let size = try run.directory.size(of: partial) {
            let path = run.directory.path + "/" + partial
            if try size > segment.dataEnd || !FileComparison.samePrefix(path, segment.path, length: size) {
                let w = ShipError(.divergence, "the partial copy \(partial) the target held is not a prefix of the sealed segment; a replica that applied it may hold a transaction the master undid",
                                  target: run.name, path: path,
                                  hint: "check that replica against the master (replica-apply reports divergence); rebuild it from a snapshot if needed")
                run.result.warnings.append(w)
                emit(.failed(w))
            }
            try run.directory.remove(partial)
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
final class Prefetch {
    let entry: BinlogDirectory.Entry
    private let done = DispatchGroup()
    private var result: Result<VerifiedSegment, Error>?

    init(_ entry: BinlogDirectory.Entry) {
        self.entry = entry
        done.enter()
        DispatchQueue.global().async {
            self.result = Result { try VerifiedSegment(entry: entry) }
            self.done.leave()
        }
    }

    /// Waits for the verification; throws what it found.
    func segment() throws -> VerifiedSegment {
        done.wait()
        return try result!.get()
    }
}
