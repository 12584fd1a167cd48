import BinlogFormat
import Foundation
import LogshipSystem

/// Chooses, from what a bucket holds, the one snapshot and the segments a restore needs, from
/// each segment's header and footer (two ranged reads) and the snapshots' metadata, without
/// downloading a segment or a snapshot. The restore then downloads exactly that selection into
/// a scratch replica directory and runs the local planner and checks on it (Restore.plan,
/// Restore.execute), which decide the exact LSN. A target outside what the bucket covers is
/// refused here, with the window, before anything is downloaded.
public struct RemoteRestorePlan {
    /// What to restore to; the same bounds as the local restore (inclusive).
    public enum Goal: Sendable {
        case lsn(UInt64)
        case time(Int64)
        case latest
    }

    /// One sealed segment in the bucket, as its header and footer describe it.
    public struct Span: Codable, Equatable, Sendable {
        public var key: String
        public var epoch: UInt32
        public var firstLSN: UInt64
        /// The footer's last LSN, cut at the epoch's end when a later epoch forked before it.
        public var lastLSN: UInt64
        public var lastCommitTime: Int64
        public var bytes: Int64
    }

    /// What to download.
    public struct Selection: Codable, Sendable {
        public var snapshot: RemoteSnapshot?
        public var segments: [Span]
        /// The target LSN when it is known before replaying (nil for a time: the local planner finds it).
        public var targetLSN: UInt64?
        public var windowFromLSN: UInt64
        public var windowToLSN: UInt64
        public var windowToTime: Int64?
        public var bytes: Int64 { (snapshot?.bytes ?? 0) + segments.reduce(0) { $0 + $1.bytes } }
    }

    public let segments: TargetStore
    public let snapshots: RemoteSnapshots

    public init(segments: TargetStore, snapshots: RemoteSnapshots) {
        self.segments = segments
        self.snapshots = snapshots
    }

    /// Every sealed segment of the newest master under the prefix, in (epoch, sequence) order.
    public func spans() throws -> (source: UUID?, spans: [Span]) {
        try segments.checkReachable()
        let objects = try segments.list()
        var history: EpochHistory?
        if let newest = objects.compactMap({ o in EpochHistory.parseFileName(o.key).map { ($0, o.key) } }).max(by: { $0.0 < $1.0 }) {
            history = try? JSONDecoder().decode(EpochHistory.self, from: Data(try segments.read(newest.1)))
        }
        let sealed = objects.compactMap { o in SegmentName.parse(o.key).flatMap { $0.isActive ? nil : (o, $0) } }.sorted { $0.1 < $1.1 }
        var described: [(UUID, Span)] = []
        for (object, name) in sealed {
            guard object.size >= Int64(SegmentHeader.size + SegmentFooter.size) else {
                throw ShipError(.corruption, "\(object.key) is \(object.size) bytes, shorter than a header and a footer", target: segments.name,
                                path: segments.address(of: object.key), hint: "the object is damaged; remove it and ship it again from the master")
            }
            do {
                let head = try segments.read(object.key, range: 0..<Int64(SegmentHeader.size))
                let header = try head.withUnsafeBytes { try SegmentHeader.decode($0) }
                // A signed segment (version 3) ends in a longer footer (docs/FORMAT.md §5.1).
                let footerSize = Int64(SegmentFooter.size(forVersion: header.version))
                guard object.size >= Int64(SegmentHeader.size) + footerSize else {
                    throw ShipError(.corruption, "\(object.key) is \(object.size) bytes, shorter than a header and a footer", target: segments.name,
                                    path: segments.address(of: object.key), hint: "the object is damaged; remove it and ship it again from the master")
                }
                let tail = try segments.read(object.key, range: object.size - footerSize..<object.size)
                let footer = try tail.withUnsafeBytes { try SegmentFooter.decode($0, offset: object.size - footerSize, version: header.version) }
                guard header.epoch == name.epoch, header.sequence == name.sequence else {
                    throw ShipError(.corruption, "\(object.key)'s header says epoch \(header.epoch) sequence \(header.sequence)", target: segments.name,
                                    path: segments.address(of: object.key), offset: 0, hint: "the object is not the segment it is named after; remove it and ship again")
                }
                let last = min(footer.lastLSN, history?.end(of: header.epoch) ?? .max)
                guard footer.transactionCount > 0, header.firstLSN <= last else { continue }
                described.append((header.sourceID, Span(key: object.key, epoch: header.epoch, firstLSN: header.firstLSN, lastLSN: last,
                                                       lastCommitTime: footer.lastCommitTime, bytes: object.size)))
            } catch let e as FormatError {
                throw ShipError(e, target: segments.name, context: "reading \(segments.address(of: object.key))")
            }
        }
        let source = described.last?.0
        return (source, described.filter { $0.0 == source }.map(\.1))
    }

    /// The selection for `goal`; `.gap` with the window when the bucket does not cover it.
    public func select(_ goal: Goal) throws -> Selection {
        let (source, spans) = try spans()
        let all = try snapshots.list()
        let snaps = all.filter { $0.sourceID == (source ?? all.last?.sourceID) }
        // Unbroken runs of segments: a run ends where the next segment does not start at or
        // before the LSN after the run's last.
        var runs: [[Span]] = []
        for span in spans {
            if let lastRun = runs.last, let tail = lastRun.last, span.firstLSN <= tail.lastLSN + 1, span.lastLSN > tail.lastLSN {
                runs[runs.count - 1].append(span)
            } else if runs.last?.last.map({ span.lastLSN <= $0.lastLSN && span.firstLSN <= $0.lastLSN + 1 }) == true {
                continue  // wholly inside what the run covers already (an ended epoch's copy)
            } else {
                runs.append([span])
            }
        }
        func run(after start: UInt64) -> [Span]? { runs.first { $0.first!.firstLSN <= start + 1 && start < $0.last!.lastLSN } }
        func reach(_ start: UInt64) -> UInt64 { run(after: start)?.last?.lastLSN ?? start }
        var starts: [(lsn: UInt64, time: Int64?, snapshot: RemoteSnapshot?)] = snaps.map { ($0.lsn, $0.commitTime, $0) }
        if runs.first?.first?.firstLSN == 1 { starts.insert((0, nil, nil), at: 0) }
        guard let earliest = starts.map(\.lsn).min() else {
            throw ShipError(.gap, "nothing is restorable from \(segments.location): no snapshot in \(snapshots.store.location), and the segments do not start at LSN 1"
                            + (spans.first.map { " (the first, \($0.key), starts at LSN \($0.firstLSN))" } ?? " (there are none)"),
                            target: segments.name, hint: "upload snapshots with `replica-apply snapshot REPLICA --upload \(segments.location)`, and keep segments from the oldest snapshot on")
        }
        let latest = starts.map { reach($0.lsn) }.max() ?? earliest
        let latestTime = spans.last(where: { $0.lastLSN == latest })?.lastCommitTime ?? snaps.last(where: { $0.lsn == latest })?.commitTime
        func window() -> String {
            "the bucket covers LSN \(earliest)…\(latest)" + (latestTime.map { " (the newest commit \(formatTimestamp($0)))" } ?? "")
        }
        var selection = Selection(snapshot: nil, segments: [], targetLSN: nil, windowFromLSN: earliest, windowToLSN: latest, windowToTime: latestTime)
        switch goal {
        case .latest, .lsn:
            var target = latest
            if case .lsn(let n) = goal { target = n }
            guard let start = starts.filter({ $0.lsn == target || ($0.lsn < target && reach($0.lsn) >= target) }).max(by: { $0.lsn < $1.lsn }) else {
                throw ShipError(.gap, "LSN \(target) cannot be restored from \(segments.location): \(window())", target: segments.name,
                                hint: "restore to a point inside the window; nothing was downloaded")
            }
            selection.snapshot = start.snapshot
            selection.targetLSN = target
            selection.segments = start.lsn == target ? [] : (run(after: start.lsn) ?? []).filter { $0.lastLSN > start.lsn && $0.firstLSN <= target }
        case .time(let t):
            guard let lt = latestTime, t <= lt else {
                throw ShipError(.gap, "no transaction in \(segments.location) is known to be the last before \(formatTimestamp(t)): \(window())", target: segments.name,
                                hint: "a later time may be reached once more segments are shipped; use --to-lsn or --latest to restore the newest state on purpose")
            }
            // The newest start committed at or before t (the empty database when t is after the
            // first segment's first commit, which the local planner decides exactly).
            let candidates = starts.filter { $0.time.map { $0 <= t } ?? true }
            guard let start = candidates.max(by: { $0.lsn < $1.lsn }) else {
                throw ShipError(.gap, "\(formatTimestamp(t)) is before the earliest restorable commit: \(window())", target: segments.name,
                                hint: "restore to a time inside the window; nothing was downloaded")
            }
            selection.snapshot = start.snapshot
            // Segments after the start up to and including the first one that ends after t.
            var needed: [Span] = []
            for span in run(after: start.lsn) ?? [] where span.lastLSN > start.lsn {
                needed.append(span)
                if span.lastCommitTime > t { break }
            }
            selection.segments = needed
        }
        return selection
    }

    /// Downloads `selection` into a replica directory's `inbox` and `snapshotsDirectory`, each
    /// object verified (segments whole and linked, the snapshot by SHA-256) and published durably.
    public func download(_ selection: Selection, inbox: String, snapshotsDirectory: String) throws {
        if let snapshot = selection.snapshot {
            try snapshots.download(snapshot, to: snapshotsDirectory + "/" + snapshot.key)
        }
        _ = try RemoteFetch(store: segments, inbox: inbox, only: Set(selection.segments.map(\.key))).run()
    }
}
