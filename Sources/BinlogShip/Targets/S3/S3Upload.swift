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
/// The body goes to the client as one buffer: the client's put takes whole bodies, and its
/// checks (SHA-256, MD5, multipart ETag) are computed over them. A segment is at most the
/// master's segment size (64 MiB by default), so this holds one segment per target in memory
/// while it is published.
final class S3Upload: TargetUpload {
    let key: String
    private let store: S3Store
    private let spool: FileDescriptor
    private var done = false
    private(set) var verification: String?

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

    /// `replace: false` is put-if-absent (If-None-Match or HEAD-then-put, as probed): the same
    /// bytes already there are `.alreadyThere`, other bytes a conflict naming the first
    /// differing offset. `replace: true` (a newer partial copy) is a plain put.
    func publish(replace: Bool) throws -> TargetPublication {
        guard !done else {
            throw ShipError(.io, "unable to publish \(key): the upload was already published or aborted", target: store.name)
        }
        done = true
        let body = Data(try spool.read(at: 0, count: Int(try spool.size())))
        let object = store.s3Address.prefix + key
        let result: PutResult
        if replace {
            result = try store.call { try $0.put(object, body) }
        } else {
            let support = try store.conditionalPutSupport()
            do {
                let c = try store.client()
                result = try c.putIfAbsent(object, body, support: support)
            } catch let e as ObjectStorageError where e.kind == .alreadyExists {
                throw try conflict(body, e)
            } catch let e as ObjectStorageError {
                throw store.lift(e)
            }
        }
        verification = result.verification.rawValue
        return result.created ? .published : .alreadyThere
    }

    /// Another object holds the key: reads it to name the first offset where it differs.
    private func conflict(_ body: Data, _ e: ObjectStorageError) throws -> ShipError {
        let existing = try store.read(key)
        let at = zip(existing, body).prefix { $0 == $1 }.count
        return ShipError(.corruption, "conflict: the target already has \(key) with other bytes (\(existing.count) bytes, the upload's \(body.count); they differ from offset \(at)); nothing was overwritten",
                         target: store.name, path: store.address(of: key), offset: Int64(at),
                         hint: "another program or master writes under this prefix; compare the objects, move the wrong one aside, and rerun")
    }

    func abort() { done = true }
}
