import BinlogFormat
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// The master's binlog directory that segments are shipped from. Accepts a master data
/// directory (`<master>/binlog` is used), its binlog directory, or any binlog directory (a
/// replica inbox) that says it is one: it holds segments, partial copies or an epoch history.
/// Anything else is refused before anything is created for it (issue 12: an arbitrary directory
/// taken for an empty binlog made `check` report ok while nothing shipped).
public struct ShipSource: Sendable {
    /// The path as given.
    public let path: String
    public let binlogPath: String
    /// The directory that is the source as a whole: the master data directory when there is
    /// one, else the binlog directory. No target may be it, lie inside it, or contain it.
    public let root: String
    /// The master data directory, when the source is a master (or its `binlog/`).
    public let masterPath: String?
    /// Where state and lock live unless configured: `<master>/ship` for a master data
    /// directory, `<binlog dir>.ship` beside a bare binlog directory.
    public let defaultStateDirectory: String

    public init(path given: String) throws {
        let p = ShipTarget.normalize(given)
        guard Self.isDirectory(p) else {
            throw ShipError(.notFound, "source \(p) is not a directory", path: p,
                            hint: "give the master data directory (made by `binlog-writer init`) or its binlog directory")
        }
        path = p
        let parent = (p as NSString).deletingLastPathComponent
        if Self.isMaster(p) {
            (masterPath, binlogPath) = (p, p + "/binlog")
        } else if (p as NSString).lastPathComponent == "binlog" && Self.isMaster(parent) {
            (masterPath, binlogPath) = (parent, p)
        } else if try Self.holdsBinlogFiles(p) {
            (masterPath, binlogPath) = (nil, p)
        } else if Self.isDirectory(p + "/binlog"), try Self.holdsBinlogFiles(p + "/binlog") {
            // A master directory that lost master.json still ships what its binlog holds.
            (masterPath, binlogPath) = (p, p + "/binlog")
        } else {
            throw ShipError(.notFound, "source \(p) is not a master data directory or a binlog directory: it has no master.json and holds no segment or epoch history",
                            path: p, hint: "give the master data directory (made by `binlog-writer init`), its binlog/ directory, or an inbox that holds segments; nothing was created")
        }
        root = masterPath ?? binlogPath
        defaultStateDirectory = masterPath.map { $0 + "/ship" } ?? p + ".ship"
        if let masterPath { FilePermissions.warnIfOpen(masterPath) }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// A master data directory says so with its identity file (contents are the writer's
    /// business: shipping must work even when the database is gone).
    private static func isMaster(_ path: String) -> Bool {
        var st = stat()
        return stat(path + "/master.json", &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// A binlog directory says so with a segment, a partial copy or an epoch history in it.
    private static func holdsBinlogFiles(_ path: String) throws -> Bool {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw ShipError(.io, "unable to list the source directory \(path): \(error.localizedDescription)", path: path)
        }
        return names.contains { SegmentName.parse($0) != nil || SegmentName.parsePartial($0) != nil || EpochHistory.parseFileName($0) != nil }
    }

    /// The source's segments: sealed ones in log order, and the active one being written.
    public struct Listing: Sendable {
        public var sealed: [BinlogDirectory.Entry]
        /// The active segment, when it is the newest and not also present sealed.
        public var active: BinlogDirectory.Entry?

        /// The sealed segments after `name` (all of them for nil).
        public func sealed(after name: SegmentName?) -> ArraySlice<BinlogDirectory.Entry> {
            guard let name else { return sealed[...] }
            return sealed[(sealed.firstIndex { $0.name > name } ?? sealed.endIndex)...]
        }
    }

    /// How far the active segment `name`, which begins at `firstLSN`, may be shipped: up to the
    /// master's committed mark (`binlog/.committed`, docs/FORMAT.md §12), so a transaction the
    /// master appended and then undid (its fsync or COMMIT failed) never reaches a target.
    /// When no master runs (its lock is free), every complete transaction is committed (the next
    /// open's recovery keeps it): the lock is then held shared until the caller has read the
    /// frames (`release`), so no master starts meanwhile. A running master without a mark ships
    /// none of its active segment (`reason` says why); a bare binlog directory that no master
    /// writes (an inbox) ships all of it.
    public func committedLimit(active name: SegmentName, firstLSN: UInt64) -> CommittedLimit {
        if let masterPath, let hold = DirectoryLock.holdSharedIfFree(path: masterPath + "/lock") {
            // Durable: unknown (a master killed before its fsync); the shipper fsyncs.
            return CommittedLimit(limit: .max, durable: 0, reason: nil, hold: hold)
        }
        // A master runs (or none ever did): its mark, read after the lock was found held, is at
        // least as new as any commit before this call.
        switch CommitMark.read(binlogDirectory: binlogPath) {
        case .mark(let mark):
            return CommittedLimit(limit: mark.committedLimit(for: name, firstLSN: firstLSN), durable: mark.durableLimit(for: name, firstLSN: firstLSN))
        case .missing:
            guard masterPath != nil else { return CommittedLimit(limit: .max, durable: 0) }
            return CommittedLimit(limit: firstLSN &- 1, durable: 0,
                                  reason: "the running master has not written its committed mark \(CommitMark.path(binlogDirectory: binlogPath)) (a master started by an older logship); its active segment is shipped once it stops or is restarted")
        case .damaged:
            return CommittedLimit(limit: firstLSN &- 1, durable: 0,
                                  reason: "the master's committed mark \(CommitMark.path(binlogDirectory: binlogPath)) does not read as one; the active segment is not shipped until the master rewrites it (its next commit, or when it opens)")
        }
    }

    /// What `committedLimit` found.
    public struct CommittedLimit {
        /// The last LSN of the active segment that may be shipped.
        public var limit: UInt64
        /// The last LSN the master fsynced itself; the shipper fsyncs the file before shipping beyond it.
        public var durable: UInt64
        /// Why nothing of the active segment may be shipped, when that is so.
        public var reason: String?
        /// The master's lock, held shared while no master runs.
        var hold: DirectoryLock.SharedHold?

        init(limit: UInt64, durable: UInt64, reason: String? = nil, hold: DirectoryLock.SharedHold? = nil) {
            self.limit = limit
            self.durable = durable
            self.reason = reason
            self.hold = hold
        }

        /// Lets a master start again (call once the frames up to `limit` are read).
        public func release() { hold?.release() }
    }

    public func list() throws -> Listing {
        var segments: [BinlogDirectory.Entry] = []
        // The master renames its active segment when it seals it; a listing that catches the
        // rename between reading the directory and a stat fails, and a second look succeeds.
        for attempt in 1...3 {
            do {
                segments = try BinlogDirectory(path: binlogPath).list().segments
                break
            } catch let e as FormatError {
                if e.kind == .io && attempt < 3 { usleep(50_000); continue }
                // A FIFO or a directory named like a segment (RegularFile): named, exit 3.
                if e.kind == .corrupted { throw ShipError(e, context: "unable to list the source") }
                throw ShipError(e.kind == .invalidArgument ? .notFound : .io, "unable to list the source: \(e.message)", path: binlogPath, hint: e.hint)
            } catch let e as SystemError {
                if e.kind == .io && attempt < 3 { usleep(50_000); continue }
                // A FIFO or a directory named like a segment (RegularFile): named, exit 3.
                if e.kind == .notRegularFile { throw ShipError(e, context: "unable to list the source") }
                throw ShipError(.io, "unable to list the source: \(e.message)", path: binlogPath, hint: e.hint)
            }
        }
        let sealed = segments.filter { !$0.name.isActive }
        var active: BinlogDirectory.Entry?
        if let last = segments.last, last.name.isActive, !sealed.contains(where: { $0.name == last.name.sealed }) { active = last }
        return Listing(sealed: sealed, active: active)
    }
}

/// Where a chain of segments ends, which is what the next segment must follow: the same
/// source, the next sequence (or a new epoch), the next LSN and the previous checksum
/// (docs/FORMAT.md §9). Kept per target in the state file.
struct ChainPosition: Equatable, Sendable {
    var segment: SegmentName
    var sourceID: UUID
    var lastLSN: UInt64
    var lastCommitTime: Int64
    var checksum: UInt64

    init(segment: SegmentName, sourceID: UUID, lastLSN: UInt64, lastCommitTime: Int64, checksum: UInt64) {
        self.segment = segment
        self.sourceID = sourceID
        self.lastLSN = lastLSN
        self.lastCommitTime = lastCommitTime
        self.checksum = checksum
    }

    init(_ segment: VerifiedSegment) {
        self.init(segment: segment.name.sealed, sourceID: segment.header.sourceID, lastLSN: segment.lastLSN,
                  lastCommitTime: segment.lastCommitTime, checksum: segment.checksum)
    }

    /// Throws `.gap` when segments or LSNs are missing between this position and `header`,
    /// `.corrupted` for anything else that does not follow (another source, an overlap, a
    /// broken hash chain).
    func checkFollowed(by header: SegmentHeader, name: SegmentName, path: String) throws {
        guard header.sourceID == sourceID else {
            throw FormatError(.corrupted, "\(name) comes from source \(header.sourceID), \(segment) from \(sourceID)", path: path, offset: 16,
                              hint: "a segment from another master; check that every host ships from the right master")
        }
        if header.epoch == segment.epoch && header.sequence != segment.sequence &+ 1 {
            guard header.sequence > segment.sequence else {
                throw FormatError(.corrupted, "\(name) carries sequence \(header.sequence), not after \(segment)", path: path, offset: 40)
            }
            let missing = (segment.sequence + 1...header.sequence - 1).map { SegmentName(epoch: header.epoch, sequence: $0).description }
            throw FormatError(.gap, "segment" + (missing.count == 1 ? " \(missing[0]) is" : "s \(missing.first!) … \(missing.last!) are") + " missing between \(segment) and \(name)",
                              path: path, hint: "restore the missing segments into the source from a backup or another replica; nothing after the gap is shipped")
        }
        guard header.epoch >= segment.epoch else {
            throw FormatError(.corrupted, "\(name) has epoch \(header.epoch), older than \(segment)", path: path, offset: 32)
        }
        if header.epoch > segment.epoch {
            // An epoch switch after a promotion (docs/FAILOVER.md): the new epoch begins at or
            // before the end of this one, without a hash link. Where exactly is in the history
            // file, which shipping carries and fences check and replica-apply follows.
            if header.firstLSN > lastLSN &+ 1 {
                throw FormatError(.gap, "LSNs \(lastLSN + 1)…\(header.firstLSN - 1) are missing between \(segment) and \(name) (epoch \(header.epoch) begins at \(header.firstLSN))", path: path, offset: 48)
            }
            return
        }
        if header.firstLSN != lastLSN &+ 1 {
            if header.firstLSN > lastLSN &+ 1 {
                throw FormatError(.gap, "LSNs \(lastLSN + 1)…\(header.firstLSN - 1) are missing between \(segment) and \(name)", path: path, offset: 48)
            }
            throw FormatError(.corrupted, "\(name) starts at LSN \(header.firstLSN), overlapping \(segment) which ends at \(lastLSN)", path: path, offset: 48)
        }
        guard header.previousChecksum == checksum else {
            throw FormatError(.corrupted, "hash chain broken: \(name) expects previous checksum \(Self.hex(header.previousChecksum)), \(segment) has \(Self.hex(checksum))",
                              path: path, offset: 64, hint: "a segment was substituted, or this comes from a forked master")
        }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A source segment read end to end and found intact (header, every frame checksum and
/// transaction rule, and for a sealed segment the footer and the segment checksum).
struct VerifiedSegment {
    let name: SegmentName
    let path: String
    let header: SegmentHeader
    /// The footer of a sealed segment; nil when this is the committed prefix of the active one.
    let footer: SegmentFooter?
    /// End of the frames: the footer offset, or the end of the last complete transaction.
    let dataEnd: Int64
    /// XXH3-64 of bytes 0..<dataEnd (the footer's segment checksum when sealed).
    let checksum: UInt64
    let lastLSN: UInt64
    let lastCommitTime: Int64
    let transactionCount: UInt64

    /// Bytes a copy holds: the whole sealed file, or the committed prefix.
    var length: Int64 { footer.map { dataEnd + Int64($0.encodedSize) } ?? dataEnd }

    /// Reads and checks `entry`; for an active segment, only its committed prefix counts: its
    /// complete transactions up to LSN `committedThrough` (the master's committed mark).
    init(entry: BinlogDirectory.Entry, verifier: SegmentVerifier? = nil, committedThrough: UInt64 = .max) throws {
        let reader = try SegmentReader(path: entry.path)
        if entry.name.isActive {
            while reader.lastLSN < committedThrough, try reader.next(decode: false) != nil {}
        } else {
            try reader.verifyAll(decode: false)
        }
        name = entry.name
        path = entry.path
        header = reader.header
        footer = entry.name.isActive ? nil : reader.footer
        dataEnd = reader.offset
        checksum = reader.checksumSoFar
        lastLSN = reader.lastLSN
        lastCommitTime = reader.transactionCount > 0 ? reader.lastCommitTime : (reader.footer?.lastCommitTime ?? reader.header.createdAt)
        transactionCount = reader.transactionCount
        if !entry.name.isActive, reader.footer == nil {
            throw FormatError(.corrupted, "sealed segment has no footer", path: entry.path)
        }
        if let verifier, !entry.name.isActive { try verifier.check(reader) }
    }

    /// Header and footer only (no frames read): enough to link the next segment to it.
    static func position(of entry: BinlogDirectory.Entry) throws -> ChainPosition {
        let reader = try SegmentReader(path: entry.path)
        guard let footer = reader.footer else { throw FormatError(.corrupted, "sealed segment has no footer", path: entry.path) }
        return ChainPosition(segment: entry.name, sourceID: reader.header.sourceID, lastLSN: footer.lastLSN,
                             lastCommitTime: footer.lastCommitTime, checksum: footer.segmentChecksum)
    }
}
