import BinlogFormat
import Crypto
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// What a planner needs to choose a snapshot in a bucket without downloading it: published as
/// `snapshot-<LSN, 16 hex digits>.json` beside `snapshot-<LSN>.db`, after the database object,
/// so a metadata object always names a database object that is whole.
public struct RemoteSnapshot: Codable, Equatable, Sendable {
    /// The database object's key under the snapshots prefix.
    public var key: String
    /// The master the snapshot's rows came from.
    public var sourceID: UUID
    public var epoch: UInt32
    /// The last LSN the snapshot holds.
    public var lsn: UInt64
    /// That transaction's commit time, microseconds since 1970 (UTC).
    public var commitTime: Int64
    public var bytes: Int64
    /// SHA-256 of the database object, lowercase hex: checked after every download.
    public var sha256: String
    /// The replica's signature of the snapshot (its `.sig`), when it signs snapshots; a restore
    /// that requires signatures checks it (docs/FORMAT.md §11). Absent in older metadata.
    public var signature: SnapshotSignature?

    public init(key: String, sourceID: UUID, epoch: UInt32, lsn: UInt64, commitTime: Int64, bytes: Int64, sha256: String, signature: SnapshotSignature? = nil) {
        self.signature = signature
        self.key = key
        self.sourceID = sourceID
        self.epoch = epoch
        self.lsn = lsn
        self.commitTime = commitTime
        self.bytes = bytes
        self.sha256 = sha256
    }

    /// The metadata object's key for a database object's key.
    static func metadataKey(for key: String) -> String {
        (key.hasSuffix(".db") ? String(key.dropLast(3)) : key) + ".json"
    }
}

/// Snapshots in the `snapshots/` folder under a remote source's prefix (`s3://bucket/prefix/snapshots`),
/// beside the segments binlog-ship writes there (shipping lists only keys directly under its
/// prefix, so it never sees them). Uploads are put-if-absent and checked by SHA-256 twice: the
/// staged bytes before publishing, the server's checksum or a read-back when publishing.
public struct RemoteSnapshots {
    /// The store over the snapshots folder.
    public let store: TargetStore

    public init(store: TargetStore) { self.store = store }

    /// The snapshots folder of the remote source `source` (`s3://bucket/prefix`).
    public static func s3(source: String) -> RemoteSnapshots {
        var base = source
        while base.hasSuffix("/") { base.removeLast() }
        return RemoteSnapshots(store: S3Store(target: ShipTarget(name: "snapshots", path: base + "/snapshots")))
    }

    /// SHA-256 of the file at `path`, lowercase hex, read in 4 MiB pieces.
    public static func sha256(file path: String) throws -> String {
        let file = try RegularFile.open(path)
        var hash = SHA256(), at: Int64 = 0
        while true {
            let bytes = try file.read(at: at, count: 4 << 20)
            if bytes.isEmpty { break }
            hash.update(data: bytes)
            at += Int64(bytes.count)
        }
        return hex(hash.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// Uploads the snapshot file at `path` as `metadata.key`, then its metadata. A snapshot whose
    /// metadata is already in the bucket is left as it is (`.alreadyThere`); the same key with
    /// other bytes is a conflict, never overwritten.
    @discardableResult
    public func upload(file path: String, metadata: RemoteSnapshot) throws -> TargetPublication {
        try store.checkReachable()
        let metaKey = RemoteSnapshot.metadataKey(for: metadata.key)
        if try store.stat(metaKey) != nil { return .alreadyThere }
        let file = try RegularFile.open(path)
        let upload = try store.beginUpload(metadata.key)
        let publication: TargetPublication
        do {
            var at: Int64 = 0
            while at < metadata.bytes {
                let n = try upload.copy(from: file, at: at, count: Int(min(Int64(4 << 20), metadata.bytes - at)))
                guard n > 0 else { break }
                at += Int64(n)
            }
            let staged = try upload.seal(length: metadata.bytes) { Self.hex(SHA256.hash(data: $0)) == metadata.sha256 }
            guard staged else {
                throw ShipError(.corruption, "unable to upload \(metadata.key): the staged copy's SHA-256 differs from the snapshot's", target: store.name,
                                path: store.address(of: metadata.key), hint: "the snapshot file changed while it was read, or local storage is failing; take a new snapshot")
            }
            publication = try upload.publish(replace: false)
        } catch {
            upload.abort()
            throw shipError(error, target: store.name)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try store.put(metaKey, Array(try encoder.encode(metadata)) + [10])
        } catch let e as ShipError where e.kind == .corruption {
            throw e  // another run's metadata with other bytes: never overwritten
        }
        return publication
    }

    /// Every snapshot whose metadata is in the bucket, oldest LSN first. Metadata that does not
    /// read is an error naming it: a planner must not quietly skip a snapshot it was told of.
    public func list() throws -> [RemoteSnapshot] {
        try store.checkReachable()
        var result: [RemoteSnapshot] = []
        for object in try store.list() where object.key.hasPrefix("snapshot-") && object.key.hasSuffix(".json") {
            let bytes = try store.read(object.key)
            guard let meta = try? JSONDecoder().decode(RemoteSnapshot.self, from: Data(bytes)),
                  RemoteSnapshot.metadataKey(for: meta.key) == object.key else {
                throw ShipError(.corruption, "unable to read the snapshot metadata \(object.key): not a logship snapshot description",
                                target: store.name, path: store.address(of: object.key),
                                hint: "remove the object (and its .db) from the bucket, or upload the snapshot again")
            }
            result.append(meta)
        }
        return result.sorted { $0.lsn < $1.lsn }
    }

    /// Downloads `snapshot` to `path` (a temp file beside it, fsynced, SHA-256 and size checked,
    /// renamed, directory fsynced).
    public func download(_ snapshot: RemoteSnapshot, to path: String) throws {
        let temp = DurableFile.temporaryPath(for: path)
        do {
            let file = try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: FilePermissions.file)
            var hash = SHA256()
            try store.copy(snapshot.key, size: snapshot.bytes, to: file, verb: "download",
                           hint: "the object is shorter than its metadata says; upload the snapshot again, or restore from another one") { hash.update(data: $0) }
            let sum = Self.hex(hash.finalize())
            guard sum == snapshot.sha256 else {
                throw ShipError(.corruption, "unable to download \(snapshot.key): its SHA-256 is \(sum), the metadata says \(snapshot.sha256)",
                                target: store.name, path: store.address(of: snapshot.key),
                                hint: "the object in the bucket is damaged; remove it and its .json, or restore from another snapshot")
            }
            try file.sync()
            let parent = (path as NSString).deletingLastPathComponent
            // The signature first: a snapshot file is never there without the .sig it came with.
            if let signature = snapshot.signature {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let sigPath = (path.hasSuffix(".db") ? String(path.dropLast(3)) : path) + ".sig"
                try DurableFile.publish(Array(try encoder.encode(signature)) + [10], to: sigPath)
            }
            try DurableFile.rename(temp, to: path)
            try DurableFile.syncDirectory(parent.isEmpty ? "." : parent)
        } catch {
            unlink(temp)
            throw shipError(error, target: store.name)
        }
    }
}
