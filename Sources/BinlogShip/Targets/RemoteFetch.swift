import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies the sealed segments and epoch histories a remote source (a bucket prefix that
/// binlog-ship writes, or any other `TargetStore`) holds into a replica's inbox directory.
/// Each segment is downloaded in bounded chunks to a temp file in the inbox, fsynced, read
/// whole (checksums, footer, name against header) and linked to the segment before it; only
/// then is it renamed into place and the directory fsynced. It stops at the first gap or
/// mismatch and names it; nothing after it is fetched. A segment already in the inbox is kept
/// when its size matches (it was fetched, or shipped, before) and is a conflict otherwise.
public struct RemoteFetch {
    /// What one pass did.
    public struct Outcome: Equatable, Sendable {
        /// Keys downloaded and published into the inbox, in order.
        public var fetched: [String] = []
        /// Keys that were already in the inbox with the same size.
        public var present: [String] = []
    }

    /// Bytes read from the store per request: bounds memory whatever the segment size.
    public static let chunkSize = 4 << 20

    public let store: TargetStore
    public let inbox: String
    /// When set, only these segment keys are fetched (a restore's selection; they must follow
    /// one another); every epoch history is fetched either way.
    public var only: Set<String>?
    /// The segment the store applied last: segments before it (in (epoch, sequence) order) are
    /// not fetched, whether or not the inbox still holds them (`prune` deletes applied ones).
    public var appliedSegment: String?

    public init(store: TargetStore, inbox: String, only: Set<String>? = nil, appliedSegment: String? = nil) {
        self.store = store
        self.inbox = inbox
        self.only = only
        self.appliedSegment = appliedSegment
    }

    /// One pass over the source: every sealed segment and epoch history not yet in the inbox.
    public func run() throws -> Outcome {
        try store.checkReachable()
        let objects = try store.list()
        var outcome = Outcome()
        let applied = appliedSegment.flatMap(SegmentName.parse)
        for object in objects where EpochHistory.parseFileName(object.key) != nil {
            if try isPresent(object) { continue }
            try DurableFile.publish(try store.read(object.key), to: localPath(object.key))
            outcome.fetched.append(object.key)
        }
        let segments = objects.compactMap { o in SegmentName.parse(o.key).flatMap { $0.isActive ? nil : (o, $0) } }
            .filter { only?.contains($0.0.key) ?? true }
            .filter { entry in applied.map { entry.1 >= $0 } ?? true }
            .sorted { $0.1 < $1.1 }
        var previous: (name: SegmentName, footer: SegmentFooter?, header: SegmentHeader)?
        for (object, name) in segments {
            let present = try isPresent(object)
            let path = present ? localPath(object.key) : try download(object)
            do {
                let reader = try SegmentReader(path: path)
                try check(reader, name: name, size: object.size, after: previous, verify: !present)
                previous = (name, reader.footer, reader.header)
            } catch {
                if !present { unlink(path) }
                throw shipError(error, target: store.name)
            }
            if present { outcome.present.append(object.key); continue }
            try DurableFile.rename(path, to: localPath(object.key))
            try DurableFile.syncDirectory(inbox)
            outcome.fetched.append(object.key)
        }
        return outcome
    }

    private func localPath(_ key: String) -> String { inbox + "/" + key }

    /// True when the inbox holds `object` already; a file of another size is a conflict.
    private func isPresent(_ object: TargetObject) throws -> Bool {
        var info = stat()
        guard lstat(localPath(object.key), &info) == 0 else {
            guard errno == ENOENT else {
                throw ShipError(.io, "unable to look at \(object.key) in the inbox: \(String(cString: strerror(errno)))", path: localPath(object.key))
            }
            return false
        }
        guard Int64(info.st_size) == object.size else {
            throw ShipError(.divergence, "unable to fetch \(object.key): the inbox holds \(info.st_size) bytes under that name, the source \(object.size)",
                            target: store.name, path: localPath(object.key),
                            hint: "the inbox and \(store.address(of: object.key)) disagree; find out which copy is right before applying (never overwritten)")
        }
        return true
    }

    /// Streams the object to a temp file in the inbox, fsynced; returns the temp file's path.
    private func download(_ object: TargetObject) throws -> String {
        let temp = DurableFile.temporaryPath(for: localPath(object.key))
        do {
            let file = try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: FilePermissions.file)
            try store.copy(object.key, size: object.size, to: file, verb: "fetch",
                           hint: "the object changed or was cut short while it was read; run again, and check the source if it persists")
            try file.sync()
            return temp
        } catch {
            unlink(temp)
            throw shipError(error, target: store.name)
        }
    }

    /// The segment under `name` is whole (when `verify`), is what its name says, and follows `previous`.
    private func check(_ reader: SegmentReader, name: SegmentName, size: Int64,
                       after previous: (name: SegmentName, footer: SegmentFooter?, header: SegmentHeader)?, verify: Bool) throws {
        // A segment already in the inbox was checked when it arrived, and apply reads it whole again.
        if verify { try reader.verifyAll(decode: false) }
        guard reader.header.epoch == name.epoch, reader.header.sequence == name.sequence, reader.fileSize == size else {
            throw ShipError(.corruption, "unable to fetch \(name): its header says epoch \(reader.header.epoch) sequence \(reader.header.sequence)",
                            target: store.name, path: store.address(of: name.description), offset: 0,
                            hint: "the object under that key is not the segment it is named after; remove it from the source and ship again")
        }
        if let previous {
            try BinlogDirectory.checkLink(from: previous, to: reader,
                                          entry: BinlogDirectory.Entry(name: name, path: store.address(of: name.description), size: size))
        }
    }
}
