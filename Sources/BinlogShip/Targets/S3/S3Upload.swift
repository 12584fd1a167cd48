import BinlogFormat
import Foundation
import ObjectStorage
#if canImport(Glibc)
import Glibc
#endif

/// An upload into an `S3Store`: chunks are staged in a local spool file (unlinked as soon as it
/// is open, so a killed run leaves nothing behind on this machine), `seal` checks them in
/// place, and `publish` sends the whole object with one put-if-absent (a multipart upload above
/// the client's threshold, which S3 makes visible only on completion). Nothing is under the key
/// before `publish`. What the server's answer proved about the stored bytes is `verification`.
///
/// The body goes to the client as a source it reads from the spool: at or under the client's
/// multipart threshold as one buffer (one PUT), above it one part at a time (checksums are
/// computed in a streaming pass), so publishing holds at most max(threshold, part size) bytes
/// per target in memory, whatever the segment's size.
final class S3Upload: TargetUpload {
    let key: String
    private let store: S3Store
    private let spool: FileDescriptor
    private var done = false
    private(set) var verification: String?
    /// The parts `stage` sent, with the mapping they were read from, until `publish` or `abort`.
    private var staged: (upload: S3StagedUpload, body: S3BodySource)?

    init(store: S3Store, key: String) throws {
        self.store = store
        self.key = key
        let path = NSTemporaryDirectory() + "/logship-s3-\(getpid())-\(UUID().uuidString)"
        spool = try FileDescriptor(path: path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
        guard unlink(path) == 0 else { throw ioError("unlink the spool file", path: path) }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try spool.write(bytes, at: offset)
    }

    /// The kernel copies from the segment into the spool (`copy_file_range`), without the bytes
    /// passing through this process; reads and writes where it cannot.
    func copy(from file: FileDescriptor, at offset: Int64, count: Int) throws -> Int {
        try copyStaged(from: file, at: offset, count: count, into: spool).count
    }

    /// Checks the staged length and hands the staged bytes to `check` through a mapping; the
    /// server's copy is checked by `publish` (its checksum, ETag or a read-back).
    func seal(length: Int64, check: (UnsafeRawBufferPointer) throws -> Bool) throws -> Bool {
        let size = try spool.size()
        guard size == length else {
            throw ShipError(.corruption, "unable to seal \(key): \(size) bytes staged, expected \(length)", target: store.name,
                            path: store.address(of: key), hint: "the local spool lost data (is \(NSTemporaryDirectory()) full?); rerun")
        }
        guard size > 0 else { return try [UInt8]().withUnsafeBytes { try check($0) } }
        guard let base = mmap(nil, Int(size), PROT_READ, MAP_SHARED | MAP_POPULATE, spool.fd, 0), base != MAP_FAILED else {
            throw ioError("map for checking", path: spool.path)
        }
        defer { munmap(base, Int(size)) }
        return try check(UnsafeRawBufferPointer(start: base, count: Int(size)))
    }

    /// Sends the parts of an object above the client's multipart threshold without completing
    /// the upload, so they travel while the segment before this one is still being published;
    /// `publish` completes it (or aborts it when the key is taken), `abort` drops it. Nothing
    /// is visible under the key until then. A body at or under the threshold is one PUT, which
    /// is visible at once, so it waits for `publish`.
    func stage() throws {
        guard !done, staged == nil else { return }
        let size = try spool.size()
        guard let client = try? store.client(), size > Int64(client.configuration.multipartThreshold) else { return }
        let mapping = try SpoolMapping(spool, size: size)
        let body = S3BodySource(size: size) { offset, count in mapping.data(at: offset, count: count) }
        staged = (try store.call { try $0.stageParts(store.s3Address.prefix + key, source: body) }, body)
    }

    /// `replace: false` is put-if-absent (If-None-Match or HEAD-then-put, as probed): the same
    /// bytes already there are `.alreadyThere`, other bytes a conflict naming the first
    /// differing offset. `replace: true` (a newer partial copy) is a plain put.
    func publish(replace: Bool) throws -> TargetPublication {
        guard !done else {
            throw ShipError(.io, "unable to publish \(key): the upload was already published or aborted", target: store.name)
        }
        done = true
        if let (upload, body) = staged, !replace {
            staged = nil
            return recorded(try putIfAbsent(body) { try $0.putIfAbsent(staged: upload, source: body, support: $1) })
        }
        if let (upload, _) = staged {
            staged = nil
            try store.client().abort(upload)
        }
        // The body is read through a mapping of the spool: a part is handed to the client (hashed,
        // sent) without being copied out first. Each Data keeps the mapping alive until it is freed.
        let size = try spool.size()
        let mapping = try SpoolMapping(spool, size: size)
        let body = S3BodySource(size: size) { offset, count in mapping.data(at: offset, count: count) }
        let object = store.s3Address.prefix + key
        if replace { return recorded(try store.call { try $0.put(object, source: body) }) }
        return recorded(try putIfAbsent(body) { try $0.putIfAbsent(object, source: body, support: $1) })
    }

    /// Runs a put-if-absent with the client and the probed guarantee: another object under the
    /// key becomes a conflict naming the first differing offset, other client errors name the target.
    private func putIfAbsent(_ body: S3BodySource, _ put: (S3Client, ConditionalPutSupport) throws -> PutResult) throws -> PutResult {
        let support = try store.conditionalPutSupport()
        do {
            return try put(try store.client(), support)
        } catch let e as ObjectStorageError where e.kind == .alreadyExists {
            throw try conflict(body)
        } catch let e as ObjectStorageError {
            throw store.lift(e)
        }
    }

    /// Keeps what the server's answer proved, and says whether this put made the object.
    private func recorded(_ result: PutResult) -> TargetPublication {
        verification = result.verification.rawValue
        return result.created ? .published : .alreadyThere
    }

    /// Another object holds the key: compares it with the staged bytes a window at a time to
    /// name the first offset where they differ.
    private func conflict(_ body: S3BodySource) throws -> ShipError {
        let existing = try store.stat(key)?.size ?? 0
        let window: Int64 = 1 << 20
        var at: Int64 = 0
        while at < min(existing, body.size) {
            let theirs = try store.read(key, range: at..<min(at + window, existing))
            let ours = try body.read(at, Int(min(window, body.size - at)))
            let same = zip(theirs, ours).prefix { $0 == $1 }.count
            at += Int64(same)
            if same < min(theirs.count, ours.count) || theirs.isEmpty { break }
        }
        return ShipError(.corruption, "conflict: the target already has \(key) with other bytes (\(existing) bytes, the upload's \(body.size); they differ from offset \(at)); nothing was overwritten",
                         target: store.name, path: store.address(of: key), offset: at,
                         hint: "another program or master writes under this prefix; compare the objects, move the wrong one aside, and rerun")
    }

    func abort() {
        done = true
        if let (upload, _) = staged, let client = try? store.client() { client.abort(upload) }
        staged = nil
    }
}

/// A read-only mapping of a spool file, unmapped when the last `Data` made from it is freed.
final class SpoolMapping: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer?
    private let size: Int

    init(_ spool: FileDescriptor, size: Int64) throws {
        self.size = Int(size)
        guard size > 0 else { base = nil; return }
        guard let p = mmap(nil, Int(size), PROT_READ, MAP_SHARED, spool.fd, 0), p != MAP_FAILED else {
            throw ioError("map the spool for upload", path: spool.path)
        }
        base = p
    }

    deinit { if let base { munmap(base, size) } }

    /// `count` bytes at `offset` (fewer past the end), sharing the mapping's memory.
    func data(at offset: Int64, count: Int) -> Data {
        guard let base, offset < Int64(size), count > 0 else { return Data() }
        let n = min(count, size - Int(offset))
        return Data(bytesNoCopy: base + Int(offset), count: n, deallocator: .custom { _, _ in withExtendedLifetime(self) {} })
    }
}
