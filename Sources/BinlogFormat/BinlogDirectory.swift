import Foundation
import LogshipSystem

/// A directory of segments: the master's binlog, or a replica's inbox.
public struct BinlogDirectory {
    public let path: String

    public init(path: String) { self.path = path }

    /// A segment file found in the directory.
    public struct Entry: Sendable {
        public var name: SegmentName
        public var path: String
        public var size: Int64

        public init(name: SegmentName, path: String, size: Int64) {
            self.name = name
            self.path = path
            self.size = size
        }
    }

    /// Segment files in log order; partial copies of active segments (`<sealed name>.partial`,
    /// entries named by the segment they copy); and names that are neither (temp files excluded).
    public func list() throws -> (segments: [Entry], partials: [Entry], unrecognized: [String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw FormatError(.invalidArgument, "no such directory", path: path, hint: "check the path; a binlog directory is created by `binlog-writer init`")
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw ioError("list directory", path: path)
        }
        var segments: [Entry] = []
        var partials: [Entry] = []
        var unrecognized: [String] = []
        for n in names.sorted() {
            if n.hasPrefix(".tmp-") { continue }
            if n == CommitMark.fileName { continue }   // the master's committed mark (§12)
            if EpochHistory.parseFileName(n) != nil { continue }   // epoch history (§10), not a segment
            let partial = SegmentName.parsePartial(n)
            guard var name = partial ?? SegmentName.parse(n) else { unrecognized.append(n); continue }
            var st = stat()
            var full = path + "/" + n
            if stat(full, &st) != 0 {
                guard errno == ENOENT else { throw ioError("stat", path: full) }
                // Renamed since the listing: an active segment sealed by a concurrent rotate is
                // listed under its sealed name (once); anything else that vanished is left out.
                guard partial == nil, name.isActive, stat(path + "/" + name.sealed.description, &st) == 0 else { continue }
                (name, full) = (name.sealed, path + "/" + name.sealed.description)
                if segments.contains(where: { $0.name == name }) { continue }
            }
            try RegularFile.require(st.st_mode, path: full)
            let entry = Entry(name: name, path: full, size: Int64(st.st_size))
            if partial != nil { partials.append(entry) } else { segments.append(entry) }
        }
        var seen = Set<SegmentName>()
        segments.removeAll { !seen.insert($0.name).inserted }
        segments.sort { $0.name < $1.name }
        partials.sort { $0.name < $1.name }
        return (segments, partials, unrecognized)
    }

    /// What `verify` found: the LSN range that is intact, and the first problem if any.
    public struct VerifyReport: Sendable {
        public enum Outcome: Sendable, Equatable {
            case clean
            case gap
            case corruption
        }
        public var outcome: Outcome = .clean
        public var segmentsChecked = 0
        public var sealedSegments = 0
        public var activeSegment: String?
        public var firstLSN: UInt64?
        public var lastLSN: UInt64?
        public var lastCommitTime: Int64?
        public var transactions: UInt64 = 0
        public var bytes: Int64 = 0
        public var sourceID: UUID?
        public var problem: FormatError?
        public var warnings: [String] = []
        /// Partial copies of active segments found beside the segments (§8): not part of the
        /// chain verified here; replica-apply and `binlog-ship verify` read them.
        public var partialCopies: [PartialCopy] = []
    }

    /// A `<sealed name>.partial` file: the committed prefix of an active segment, shipped by
    /// `binlog-ship --include-active` (docs/SHIPPING.md).
    public struct PartialCopy: Sendable, Equatable {
        public var fileName: String
        /// The segment it is a copy of.
        public var segment: SegmentName
        /// True when that segment, sealed, or a later one is present: the copy is stale.
        public var superseded: Bool

        public init(fileName: String, segment: SegmentName, superseded: Bool) {
            self.fileName = fileName
            self.segment = segment
            self.superseded = superseded
        }
    }

    /// Checks every segment (checksums, frames, footers), the hash chain between them,
    /// sequence and LSN continuity, and that all come from one source. Stops at the first
    /// problem: a missing segment or LSN range is a gap; anything else is corruption.
    /// With `verifier`, each sealed segment's signature is checked too (an active segment
    /// carries none yet: a note says so).
    public func verify(decode: Bool = true, expectedSource: UUID? = nil, verifier: SegmentVerifier? = nil) throws -> VerifyReport {
        var report = VerifyReport()
        var (segments, partials, unrecognized) = try list()
        for n in unrecognized { report.warnings.append("ignored \(n): not a segment name") }
        report.partialCopies = partials.map { p in
            PartialCopy(fileName: (p.path as NSString).lastPathComponent, segment: p.name,
                        superseded: segments.contains { !$0.name.isActive && $0.name >= p.name })
        }
        // An active copy next to its sealed segment is superseded by it (a shipped partial
        // segment that the sealed one later replaced): read the sealed one only.
        let sealedNames = Set(segments.filter { !$0.name.isActive }.map(\.name))
        segments.removeAll { entry in
            guard entry.name.isActive, sealedNames.contains(entry.name.sealed) else { return false }
            report.warnings.append("ignored \(entry.name): superseded by the sealed \(entry.name.sealed)")
            return true
        }
        var previous: (name: SegmentName, footer: SegmentFooter?, header: SegmentHeader)?
        for (index, entry) in segments.enumerated() {
            let reader: SegmentReader
            do {
                reader = try SegmentReader(path: entry.path)
                if let expected = expectedSource ?? report.sourceID, reader.header.sourceID != expected {
                    throw FormatError(.corrupted, "segment comes from source \(reader.header.sourceID), the others from \(expected)",
                                      path: entry.path, offset: 16, hint: "a segment from another master was put here")
                }
                if let p = previous {
                    try Self.checkLink(from: p, to: reader, entry: entry)
                }
                if entry.name.isActive && index != segments.count - 1 {
                    throw FormatError(.corrupted, "active segment \(entry.name) is not the last segment", path: entry.path)
                }
                // An encrypted segment whose key this process does not hold is checked for integrity
                // (checksums, chain, LSNs, counts, signature) but not decoded (docs/FORMAT.md §3.1).
                let decodeThis = decode && (reader.header.encryptionKeyID.map { SegmentKeyring.cipher(for: $0) != nil } ?? true)
                let note = "encrypted with key id \(SegmentSignature.keyIDText(reader.header.encryptionKeyID ?? [])), not held here: integrity checked, events not decoded"
                if decode && !decodeThis && !report.warnings.contains(where: { $0.hasSuffix(note) }) {
                    report.warnings.append("\(entry.name) and later segments " + note)
                }
                while let tx = try reader.next(decode: decodeThis) {
                    if report.firstLSN == nil { report.firstLSN = tx.lsn }
                    report.lastLSN = tx.lsn
                    report.lastCommitTime = tx.commitTime
                    report.transactions += 1
                }
                if let verifier {
                    if reader.isSealed { try verifier.check(reader) } else { report.warnings.append("\(entry.name): active, not signed until it is sealed") }
                }
                if let torn = reader.tornTailOffset, !reader.tornTailIsZeros {
                    report.warnings.append("\(entry.name): incomplete tail from offset \(torn) (\(reader.tornTailReason ?? "")); not yet committed")
                }
            } catch let e as FormatError {
                report.problem = e.at(path: entry.path)
                report.outcome = e.kind == .gap ? .gap : .corruption
                return report
            } catch let e as SystemError {
                report.problem = FormatError(e)
                report.outcome = .corruption
                return report
            }
            report.sourceID = report.sourceID ?? reader.header.sourceID
            report.segmentsChecked += 1
            report.bytes += entry.size
            if entry.name.isActive { report.activeSegment = entry.name.description } else { report.sealedSegments += 1 }
            previous = (entry.name, reader.footer, reader.header)
        }
        return report
    }

    /// Checks that `reader` follows the segment `p` (sequence, LSNs, hash chain): a missing
    /// segment or LSN range throws `.gap`, anything else that does not fit `.corrupted`.
    public static func checkLink(from p: (name: SegmentName, footer: SegmentFooter?, header: SegmentHeader), to reader: SegmentReader, entry: Entry) throws {
        let h = reader.header
        if h.epoch == p.header.epoch && h.sequence != p.header.sequence &+ 1 {
            guard h.sequence > p.header.sequence else {
                throw FormatError(.corrupted, "\(entry.name) carries sequence \(h.sequence), not after \(p.header.sequence)", path: entry.path, offset: 40)
            }
            throw FormatError(.gap, "segments \(p.header.sequence + 1)…\(h.sequence - 1) of epoch \(h.epoch) are missing before \(entry.name)", path: entry.path,
                              hint: "ship the missing segments, or restore them from another copy")
        }
        guard let footer = p.footer else {
            throw FormatError(.corrupted, "segment \(p.name) is followed by \(entry.name) but was never sealed", path: entry.path)
        }
        if h.epoch > p.header.epoch {
            // An epoch switch (§10): the new epoch begins at or before the older one's end (its
            // fork point, named by the history file), and starts a new hash chain.
            if h.firstLSN > footer.lastLSN &+ 1 {
                throw FormatError(.gap, "LSNs \(footer.lastLSN + 1)…\(h.firstLSN - 1) are missing between \(p.name) and \(entry.name)", path: entry.path, offset: 48)
            }
            return
        }
        if footer.lastLSN == UInt64.max || h.firstLSN != footer.lastLSN + 1 {
            if footer.lastLSN < UInt64.max && h.firstLSN > footer.lastLSN + 1 {
                throw FormatError(.gap, "LSNs \(footer.lastLSN + 1)…\(h.firstLSN - 1) are missing between \(p.name) and \(entry.name)", path: entry.path, offset: 48)
            }
            throw FormatError(.corrupted, "\(entry.name) starts at LSN \(h.firstLSN), overlapping \(p.name) which ends at \(footer.lastLSN)", path: entry.path, offset: 48)
        }
        if h.previousChecksum != footer.segmentChecksum {
            throw FormatError(.corrupted, "hash chain broken: \(entry.name) expects previous checksum \(hex(h.previousChecksum, width: 16)), \(p.name) has \(hex(footer.segmentChecksum, width: 16))",
                              path: entry.path, offset: 64, hint: "a segment was substituted or comes from a forked master")
        }
    }
}
