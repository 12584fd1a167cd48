import BinlogFormat
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// What `Shipper.follow` keeps between passes to ship the active segment incrementally: a
/// reader of the active segment that resumes where it stopped (`SegmentReader.resume`: only
/// new frames are read and verified, an incomplete last frame is "not yet", and nothing beyond
/// the master's committed mark is read: such frames may still be undone), and how many
/// bytes each directory target's partial copy holds. Anything unexpected (the segment sealed
/// or renamed, damage, a partial that is not the size it should be, a write that fails) hands
/// back to a full run, which checks everything and reports the problem in the usual way.
final class ActiveTail {
    struct Target {
        var name: String
        var store: TargetStore
        /// The partial copy's path in the target directory.
        var file: String
        /// Bytes the partial holds: always the end of a complete transaction.
        var end: Int64
    }

    enum Outcome {
        case shipped(ShipReport)
        case nothingNew
        case needsFullRun
    }

    let activeName: SegmentName
    let activePath: String
    let partialName: String
    private let reader: SegmentReader
    private let source: FileDescriptor
    private var targets: [Target]
    private var stateSavedAt = Date.distantPast
    private var unsaved = false

    /// After a full run that went well: follows the active segment when every target holds its
    /// partial copy in a local directory; nil otherwise (no active segment, an S3 target, a
    /// target that does not hold the partial), and the follower keeps to full runs.
    init?(after report: ShipReport, shipper: Shipper) {
        guard let listing = try? shipper.source.list(), let active = listing.active else { return nil }
        let name = TargetKeys.partialName(for: active.name)
        var targets: [Target] = []
        for target in shipper.config.targets {
            let store = shipper.config.openStore(target)
            guard let dir = store.localDirectory else { return nil }
            let file = dir + "/" + name
            var st = stat()
            guard stat(file, &st) == 0 else { return nil }
            targets.append(Target(name: target.name, store: store, file: file, end: Int64(st.st_size)))
        }
        let reader: SegmentReader
        do {
            reader = try SegmentReader(path: active.path)
            source = try RegularFile.open(active.path)
            let committed = shipper.source.committedLimit(active: active.name, firstLSN: reader.header.firstLSN)
            defer { committed.release() }
            guard committed.reason == nil else { return nil }
            while reader.lastLSN < committed.limit, try reader.next(decode: false) != nil {}
        } catch { return nil }
        // The master undid a transaction the partials hold (or they are not prefixes): a full run decides.
        let end = reader.offset
        guard !reader.isSealed, targets.allSatisfy({ $0.end >= Int64(SegmentHeader.size) && $0.end <= end }) else { return nil }
        self.reader = reader
        activeName = active.name
        activePath = active.path
        partialName = name
        self.targets = targets
    }

    /// Ships the transactions committed since the last pass to every target.
    func shipNew(_ shipper: Shipper) -> Outcome {
        guard access(activePath, F_OK) == 0 else { return .needsFullRun }   // sealed (renamed) or removed
        // Only what the master committed (its mark) leaves it: frames beyond may still be undone.
        let committed = shipper.source.committedLimit(active: activeName, firstLSN: reader.header.firstLSN)
        guard committed.reason == nil else { return .needsFullRun }   // no hold comes with a reason
        do {
            // Complete frames up to the limit stay as they are once read: a master that starts
            // now keeps them (recovery) and only appends after them.
            defer { committed.release() }
            try readCommitted(upTo: committed.limit)
        } catch {
            return .needsFullRun
        }
        if reader.isSealed { return .needsFullRun }
        let end = reader.offset
        guard targets.contains(where: { $0.end < end }) else { return .nothingNew }
        var report = ShipReport(targets: [], sourceError: nil)
        do {
            // Only durable frames leave the master: with a relaxed --sync-binlog (or an older
            // mark) the master has not fsynced them itself.
            if reader.lastLSN > committed.durable { try source.sync() }
            for i in targets.indices where targets[i].end < end {
                let t = targets[i]
                let bytes = try source.read(at: t.end, count: Int(end - t.end))
                guard bytes.count == Int(end - t.end) else { return .needsFullRun }
                try append(bytes, to: t)
                var result = ShipReport.TargetResult(name: t.name, path: t.store.location)
                result.partial = partialName
                result.lastLSN = reader.lastLSN
                result.durableLSN = reader.lastLSN
                report.targets.append(result)
                shipper.onEvent(.shippedPartial(target: t.name, file: partialName, bytes: end, firstLSN: reader.header.firstLSN, lastLSN: reader.lastLSN))
                targets[i].end = end
            }
        } catch {
            return .needsFullRun
        }
        unsaved = true
        try? saveState(shipper, force: false)
        return .shipped(report)
    }

    /// Reads on to LSN `limit`. A reader stopped at the mark has not reached the end it knew of,
    /// so `resume` (which looks again at the file) does nothing at first; when the frames it
    /// knew of run out before the mark, it looks again once.
    private func readCommitted(upTo limit: UInt64) throws {
        for _ in 0..<2 {
            try reader.resume()
            while reader.lastLSN < limit, try reader.next(decode: false) != nil {}
            if reader.lastLSN >= limit { return }
        }
    }

    /// Writes `bytes` at the end of the partial copy, fsyncs it and reads it back. The partial
    /// must still be the size this follower left it (nobody else writes there while the
    /// follower holds the source's lock); a torn append (kill -9) leaves a longer prefix that
    /// ends in an incomplete frame, which readers take for "not yet" and the next full run
    /// replaces.
    private func append(_ bytes: [UInt8], to t: Target) throws {
        let file = try FileDescriptor(path: t.file, flags: O_RDWR)
        guard try file.size() == t.end else {
            throw ShipError(.io, "the partial copy changed size under the follower", path: t.file)
        }
        try file.write(bytes, at: t.end)
        try file.sync()
        guard try file.read(at: t.end, count: bytes.count) == bytes else {
            throw ShipError(.io, "the partial copy did not read back as written", path: t.file)
        }
    }

    /// Records each target's partial in the state, at most once a second (`force`: now).
    /// The partial copies themselves are the truth; the record is what `status` shows.
    func saveState(_ shipper: Shipper, force: Bool) throws {
        guard unsaved, force || stateSavedAt.timeIntervalSinceNow < -1 else { return }
        var state = try ShipState.load(directory: shipper.stateDirectory) ?? ShipState(source: shipper.source.binlogPath)
        let now = formatTimestamp(microsecondsNow())
        for t in targets {
            guard var s = state.targets[t.name] else { continue }
            s.partial = ShipState.PartialRecord(file: partialName, lastLSN: reader.lastLSN, lastCommitTime: formatTimestamp(reader.lastCommitTime),
                                                bytes: t.end, checksum: ChainPosition.hex(reader.checksumSoFar), shippedAt: now)
            state.targets[t.name] = s
        }
        try state.save(directory: shipper.stateDirectory)
        stateSavedAt = Date()
        unsaved = false
    }
}
