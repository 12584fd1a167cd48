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
        /// Last LSN: from the footer when sealed; nil for a partial segment until read.
        public var lastLSN: UInt64? { footer?.lastLSN }
        public var fileName: String { (path as NSString).lastPathComponent }
    }

    /// Parses an inbox file name: a segment name, or a sealed name followed by `.partial`.
    static func parse(_ fileName: String) -> (name: SegmentName, partial: Bool)? {
        if fileName.hasSuffix(".partial") {
            guard let n = SegmentName.parse(String(fileName.dropLast(".partial".count))), !n.isActive else { return nil }
            return (n, true)
        }
        guard let n = SegmentName.parse(fileName) else { return nil }
        return (n, n.isActive)
    }

    /// Lists the inbox in log order, reading each segment's header (and footer when sealed).
    /// A partial copy is dropped when its sealed segment is present. Unknown names are skipped.
    public func segments() throws -> (segments: [Segment], ignored: [String]) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw FormatError(.invalidArgument, "no such inbox directory", path: path, hint: "the inbox is where binlog-ship delivers segments")
        }
        var byKey: [SegmentName: (file: String, partial: Bool)] = [:]
        var ignored: [String] = []
        for file in names.sorted() {
            if file.hasPrefix(".tmp-") || file.hasPrefix(".") { continue }
            guard let (name, partial) = Self.parse(file) else { ignored.append(file); continue }
            let key = name.sealed
            if let existing = byKey[key] {
                if existing.partial && !partial { byKey[key] = (file, partial) } else if !existing.partial && partial { ignored.append(file) } else { ignored.append(file) }
            } else {
                byKey[key] = (file, partial)
            }
        }
        var result: [Segment] = []
        for (key, entry) in byKey.sorted(by: { $0.key < $1.key }) {
            let full = path + "/" + entry.file
            let reader = try SegmentReader(path: full)
            var st = stat()
            guard stat(full, &st) == 0 else { throw ioError("stat", path: full) }
            result.append(Segment(name: key, path: full, size: Int64(st.st_size), isPartial: entry.partial,
                                  header: reader.header, footer: entry.partial ? nil : reader.footer))
        }
        return (result, ignored)
    }

    /// Checks continuity from segment to segment (sequence, LSNs, hash chain) over the whole
    /// listing; returns the index of the first segment that does not follow its predecessor,
    /// with the error, or nil when the chain is whole.
    public static func firstBreak(in segments: [Segment]) -> (index: Int, error: FormatError)? {
        for i in segments.indices.dropFirst() {
            let p = segments[i - 1]
            do {
                let reader = try SegmentReader(path: segments[i].path)
                try BinlogDirectory.checkLink(from: (p.name, p.footer, p.header), to: reader,
                                              entry: BinlogDirectory.Entry(name: segments[i].name, path: segments[i].path, size: segments[i].size))
            } catch let e as FormatError {
                return (i, e)
            } catch {
                return (i, FormatError(.io, "\(error)", path: segments[i].path))
            }
        }
        return nil
    }
}
