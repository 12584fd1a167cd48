import BinlogApply
import BinlogFormat
import Foundation

/// What a replica's inbox holds: sealed segments, and the committed prefix of the segment the
/// master is still writing (`<sealed name>.partial` from `binlog-ship --include-active`, or a
/// `.binlog.active` file), which the sealed segment supersedes once it arrives.
public struct Inbox {
    public let path: String

    public init(path: String) { self.path = path }

    /// One segment in the inbox, with what its header and footer say.
    public struct Segment {
        public var name: SegmentName
        public var path: String
        public var size: Int64
        public var isPartial: Bool
        public var header: SegmentHeader
        public var footer: SegmentFooter?
        /// The fork point when this segment's epoch ended (a later epoch began after it): the
        /// last LSN of this segment that belongs to the history; readers stop there.
        public var end: UInt64?
        /// Last LSN to use: from the footer when sealed (capped at `end`); nil for a partial
        /// segment until read.
        public var lastLSN: UInt64? { footer.map { min($0.lastLSN, end ?? .max) } }
        public var fileName: String { (path as NSString).lastPathComponent }
    }

    /// A segment file that cannot even be opened: its header or footer is damaged, it is
    /// truncated, or its name disagrees with its header.
    public struct Unreadable: Sendable {
        public var name: SegmentName
        public var path: String
        public var error: FormatError
        public var fileName: String { (path as NSString).lastPathComponent }
    }

    /// The inbox in log order. One damaged file does not hide the segments around it: it is
    /// listed as unreadable, and whoever needs it stops there.
    public struct Listing {
        public var entries: [Result<Segment, UnreadableError>]
        /// File names that are not segments (skipped).
        public var ignored: [String]

        public var segments: [Segment] { entries.compactMap { try? $0.get() } }
    }

    /// `Unreadable` as an error, for `Result`.
    public struct UnreadableError: Error {
        public var file: Unreadable
    }

    /// Parses an inbox file name: a segment name, or a sealed name followed by `.partial`.
    static func parse(_ fileName: String) -> (name: SegmentName, partial: Bool)? {
        if let n = SegmentName.parsePartial(fileName) { return (n, true) }
        guard let n = SegmentName.parse(fileName) else { return nil }
        return (n, n.isActive)
    }

    /// Lists the inbox in log order, reading each segment's header (and footer when sealed).
    /// A partial copy is dropped when its sealed segment is present. Unknown names are skipped.
    /// Throws only when the inbox itself cannot be read.
    public func list() throws -> Listing {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw FormatError(.invalidArgument, "no such inbox directory", path: path, hint: "the inbox is where binlog-ship delivers segments")
        }
        var byKey: [SegmentName: (file: String, partial: Bool)] = [:]
        var ignored: [String] = []
        for file in names.sorted() {
            if file.hasPrefix(".") { continue }   // .tmp-* files of a shipper at work
            if EpochHistory.parseFileName(file) != nil { continue }   // epoch history, read by chain()
            guard let (name, partial) = Self.parse(file) else { ignored.append(file); continue }
            let key = name.sealed
            if let existing = byKey[key] {
                // The sealed segment supersedes a partial or active copy of itself.
                if existing.partial && !partial { byKey[key] = (file, partial) }
                ignored.append(existing.partial && !partial ? existing.file : file)
            } else {
                byKey[key] = (file, partial)
            }
        }
        var entries: [Result<Segment, UnreadableError>] = []
        for (key, entry) in byKey.sorted(by: { $0.key < $1.key }) {
            let full = path + "/" + entry.file
            do {
                // A partial copy replaced by its sealed segment since the listing is read sealed.
                let reader = try SegmentReader(path: full)
                let partial = entry.partial && reader.path == full
                entries.append(.success(Segment(name: key, path: reader.path, size: reader.fileSize, isPartial: partial,
                                                header: reader.header, footer: partial ? nil : reader.footer)))
            } catch {
                let e = error as? FormatError ?? (error as? SystemError).map(FormatError.init) ?? FormatError(.io, "\(error)", path: full)
                entries.append(.failure(UnreadableError(file: Unreadable(name: key, path: full, error: e.at(path: full)))))
            }
        }
        return Listing(entries: entries, ignored: ignored)
    }

    /// The segments that carry a store at `start` forward, in order, and the first problem
    /// that stops the chain (nil when it is whole up to the newest segment). See `follow`.
    public func chain(after start: UInt64?, source: (id: UUID, epoch: UInt32)?) throws -> (segments: [Segment], problem: ReplicaError?) {
        let c = try follow(after: start, source: source)
        return (c.segments, c.problem)
    }

    /// The segments that carry a store at `start` forward along the newest epoch history in
    /// the inbox (docs/FAILOVER.md), the first problem that stops them, and what an older epoch
    /// wrote past its fork point:
    ///
    /// - segments wholly at or below `start` are skipped (already applied), and so is a damaged
    ///   file when the next readable segment starts at or below `start + 1`;
    /// - a segment of an epoch that ended (a later epoch forked from it) is used only up to the
    ///   fork point (`Segment.end`); what it holds beyond is listed in `diverged`, never applied;
    /// - a damaged file, a segment of another source, of an epoch no history names, a missing
    ///   LSN range or a broken link (sequence, overlap, hash chain, epoch switch) ends the chain.
    ///
    /// With `start` nil the chain begins at the inbox's first segment (restore, status window).
    /// With `applied` (the segment the store applied its last transaction from), the chain must
    /// continue that segment or link to it (`appliedLinkProblem`), whatever the inbox holds now.
    public func follow(after start: UInt64?, source: (id: UUID, epoch: UInt32)?, applied: AppliedSegment? = nil) throws -> Chain {
        let listing: Listing
        let found: (history: EpochHistory, path: String)?
        do {
            listing = try list()
            found = try EpochHistory.newest(in: path)
        } catch let e as FormatError { throw ReplicaError(e, while: "reading the inbox") } catch let e as SystemError { throw ReplicaError(e, while: "reading the inbox") }
        var chain = Chain(history: found?.history)
        let timeline = found?.history
        if let source, let problem = Self.storeProblem(timeline, found?.path, source: source, start: start ?? 0) {
            chain.problem = problem
            return chain
        }
        // Cap every segment of an ended epoch at its fork point; drop what lies wholly beyond.
        let entries: [Result<Segment, UnreadableError>] = listing.entries.compactMap { entry in
            guard case .success(var s) = entry, let end = timeline?.end(of: s.name.epoch) else { return entry }
            s.end = end
            if s.header.firstLSN > end {
                chain.diverged.append(Diverged(segment: s.fileName, epoch: s.name.epoch, forkLSN: end, firstLSN: s.header.firstLSN, lastLSN: s.footer?.lastLSN))
                return nil
            }
            if let last = s.footer?.lastLSN, last > end {
                chain.diverged.append(Diverged(segment: s.fileName, epoch: s.name.epoch, forkLSN: end, firstLSN: end + 1, lastLSN: last))
            }
            return .success(s)
        }
        var first = 0
        if let start {
            while first < entries.count && isApplied(entries, first, start: start) { first += 1 }
        }
        // Checked at the first segment that passes `admit` (another source says so first), or
        // after the loop when nothing follows the store's position.
        var appliedToCheck = start == nil ? nil : applied
        let expectedSource = source?.id ?? timeline?.sourceID
        for entry in entries[first...] {
            let segment: Segment
            switch entry {
            case .failure(let u):
                chain.problem = ReplicaError(u.file.error, while: "opening \(u.file.fileName)")
                return chain
            case .success(let s):
                segment = s
            }
            if let problem = admit(segment, source: expectedSource ?? chain.segments.first?.header.sourceID, timeline: timeline, storeEpoch: source?.epoch) {
                chain.problem = problem
                return chain
            }
            if let a = appliedToCheck {
                appliedToCheck = nil
                if let problem = appliedLinkProblem(a, entries: entries, next: segment) { chain.problem = problem; return chain }
            }
            if let previous = chain.segments.last {
                if let problem = link(from: previous, to: segment, timeline: timeline) { chain.problem = problem; return chain }
            } else if let start, segment.header.firstLSN > start + 1 {
                chain.problem = ReplicaError(.gap, "LSNs \(start + 1)…\(segment.header.firstLSN - 1) are missing: the store is at LSN \(start) and the inbox continues at \(segment.fileName)",
                                             hint: "those segments were lost or purged before this replica applied them; ship them again, or rebuild the replica from a snapshot of another one")
                return chain
            }
            chain.segments.append(segment)
        }
        if let a = appliedToCheck { chain.problem = appliedLinkProblem(a, entries: entries, next: nil) }
        return chain
    }

    /// True when the store at `start` holds everything of `entries[i]`: a segment ending at or
    /// below `start`, or a damaged file whose next readable segment starts at or below `start + 1`.
    private func isApplied(_ entries: [Result<Segment, UnreadableError>], _ i: Int, start: UInt64) -> Bool {
        switch entries[i] {
        case .success(let s):
            return s.lastLSN.map { $0 <= start } ?? false
        case .failure:
            guard let next = entries[(i + 1)...].lazy.compactMap({ try? $0.get() }).first else { return false }
            return next.header.firstLSN <= start + 1
        }
    }

    /// Checks that `next` follows `previous`; a missing range is a gap naming its LSNs.
    private func link(from previous: Segment, to next: Segment, timeline: EpochHistory?) -> ReplicaError? {
        if next.name.epoch != previous.name.epoch {
            return switchProblem(from: previous, to: next, timeline: timeline)
        }
        do {
            let reader = try SegmentReader(path: next.path)
            try BinlogDirectory.checkLink(from: (previous.name, previous.footer, previous.header), to: reader,
                                          entry: BinlogDirectory.Entry(name: next.name, path: next.path, size: next.size))
            return nil
        } catch let e as FormatError {
            if e.kind == .gap, let last = previous.lastLSN, next.header.firstLSN > last + 1 {
                return ReplicaError(.gap, "LSNs \(last + 1)…\(next.header.firstLSN - 1) are missing: the inbox has \(previous.fileName) (up to LSN \(last)) and then \(next.fileName) (from LSN \(next.header.firstLSN))",
                                    hint: "the segments between them were not shipped, or were lost; ship them (nothing after the gap is applied until then)")
            }
            return ReplicaError(e, while: "checking that \(next.fileName) follows \(previous.fileName)")
        } catch let e as SystemError {
            return ReplicaError(e, while: "checking that \(next.fileName) follows \(previous.fileName)")
        } catch {
            return ReplicaError(.io, "checking \(next.fileName): \(error)")
        }
    }
}
