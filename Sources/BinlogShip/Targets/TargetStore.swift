import BinlogFormat
import Foundation

/// One object a target holds: its key (a file name in a directory, an object name under a
/// bucket prefix) and its size in bytes.
public struct TargetObject: Equatable, Sendable {
    public var key: String
    public var size: Int64

    public init(key: String, size: Int64) {
        self.key = key
        self.size = size
    }
}

/// What a backend guarantees beyond the contract every backend keeps (docs/SHIPPING.md
/// "Target backends"). Status and the purge decision name the ones that hold.
public struct TargetCapabilities: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The store itself refuses to create an object whose key exists (link(2), `If-None-Match: *`);
    /// without it the backend checks first, which is only safe under the source's lock.
    public static let conditionalPut = TargetCapabilities(rawValue: 1 << 0)
    /// The store returns a checksum of what it stored, so a copy is verified without a read-back.
    public static let serverChecksum = TargetCapabilities(rawValue: 1 << 1)
    /// Objects may be under a retention lock: `delete` can be refused, and that is not an error.
    public static let objectLock = TargetCapabilities(rawValue: 1 << 2)
    /// A published object survives a power loss once `publish` returns (fsync of file and directory).
    public static let durablePublish = TargetCapabilities(rawValue: 1 << 3)
    /// No conditional put: the backend looks (HEAD) before it puts and compares after, which
    /// never overwrites as long as one writer ships to the target (the source's lock).
    public static let headThenPut = TargetCapabilities(rawValue: 1 << 4)

    /// The capabilities held, in words, in a fixed order.
    public var names: [String] {
        let all: [(TargetCapabilities, String)] = [(.conditionalPut, "conditional put"), (.serverChecksum, "server-side checksum"),
                                                   (.objectLock, "object lock"), (.durablePublish, "durable publish"),
                                                   (.headThenPut, "head-then-put (one writer per target)")]
        return all.filter { contains($0.0) }.map(\.1)
    }

    public var description: String { names.isEmpty ? "none" : names.joined(separator: ", ") }
}

/// What `TargetUpload.publish` did.
public enum TargetPublication: Equatable, Sendable {
    /// The object is now visible under its key.
    case published
    /// An object with the same bytes was already there (another run published it first): success.
    case alreadyThere
}

/// An object being written: invisible under its key until `publish`, so a reader never sees
/// a partial object. Bodies go in chunks at increasing offsets (a large segment is never held
/// in memory whole; an object store maps chunks onto a multipart upload).
public protocol TargetUpload: AnyObject {
    /// The key the object is published under.
    var key: String { get }
    /// Writes `bytes` at `offset` of the staged object.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Copies up to `count` bytes of `file` at `offset` to the same offset of the staged
    /// object; returns how many (0 at the end of `file`). A backend may copy in the kernel.
    func copy(from file: FileDescriptor, at offset: Int64, count: Int) throws -> Int
    /// Makes the staged bytes durable where the backend can, checks they are `length` bytes,
    /// and hands them to `check` as stored (a read-back); returns what `check` returned.
    func seal(length: Int64, check: (UnsafeRawBufferPointer) throws -> Bool) throws -> Bool
    /// Optional, after `seal`: sends what can travel without becoming visible under `key` (an
    /// object store's multipart parts), so that a run can send the next segment while the one
    /// before is published. A backend with nothing to send early does nothing (the default).
    func stage() throws
    /// Makes the object visible under `key`. With `replace: false` an existing object is never
    /// overwritten: the same bytes are `.alreadyThere`, other bytes a `.corruption` conflict
    /// naming the first differing offset. `replace: true` is for `.partial` copies only.
    func publish(replace: Bool) throws -> TargetPublication
    /// Drops the staged object; nothing becomes visible. Safe to call more than once.
    func abort()
    /// After `publish`, how the backend confirmed the stored bytes beyond `seal`'s check (an S3
    /// server's SHA-256 or ETag, or a read-back), for the ship state; nil when nothing more was done.
    var verification: String? { get }
}

/// One shipping target's storage, addressed by keys, never by paths. Every backend passes the
/// conformance suite (Tests/BinlogShipTests/Targets/TargetStoreConformance.swift); shipping,
/// verification, purge and fencing use nothing else (docs/SHIPPING.md "Target backends").
/// Calls are blocking; `beginUpload` and an upload's calls may run on several threads at once,
/// one thread per upload.
public protocol TargetStore: AnyObject {
    /// The configured target's name, for errors.
    var name: String { get }
    /// Where the target is, for messages and the state file (a directory path, a URL).
    var location: String { get }
    /// What this backend guarantees beyond the contract.
    var capabilities: TargetCapabilities { get }
    /// `capabilities` when known without writing to the store (a remote store probes the server
    /// on first use); nil when finding out would take a probe.
    var knownCapabilities: TargetCapabilities? { get }
    /// The directory the objects are files in, for tools that read a directory of segments in
    /// place (verification); nil for a remote store, whose objects are then downloaded.
    var localDirectory: String? { get }
    /// Where the object under `key` is, for messages (a file's path, an object's URL).
    func address(of key: String) -> String

    /// Throws `.notFound` when the target is not there (an unmounted disk, a missing bucket);
    /// a backend never creates its target.
    func checkReachable() throws
    /// Every object, sorted by key. Keys of segments and partial copies that are not plain
    /// objects (a FIFO in a directory) are an error naming them.
    func list() throws -> [TargetObject]
    /// The object under `key`, nil when there is none.
    func stat(_ key: String) throws -> TargetObject?
    /// `range` of the object under `key` (the whole object when nil); fewer bytes when the range
    /// passes its end; `.notFound` when there is no such object.
    func read(_ key: String, range: Range<Int64>?) throws -> [UInt8]
    /// Starts an upload for `key` (see `TargetUpload`).
    func beginUpload(_ key: String) throws -> TargetUpload
    /// Deletes the object under `key` durably; no error when it is not there.
    func delete(_ key: String) throws
    /// Removes what interrupted uploads left behind (temp files of dead processes, abandoned
    /// multipart uploads); returns their names. Never touches a published object.
    func removeStaleUploads() -> [String]
    /// True when the object under `key` is the local file at `path` itself (the same inode), not
    /// a copy: a target that is the source must not count as holding a copy.
    func isSameFile(_ key: String, as path: String) -> Bool
}

extension TargetStore {
    /// Uploads `bytes` under `key` in one go.
    @discardableResult
    public func put(_ key: String, _ bytes: [UInt8], replace: Bool = false) throws -> TargetPublication {
        let upload = try beginUpload(key)
        do {
            try bytes.withUnsafeBytes { try upload.write($0, at: 0) }
            guard try upload.seal(length: Int64(bytes.count), check: { Array($0) == bytes }) else {
                throw ShipError(.corruption, "unable to upload \(key): the stored bytes read back differently", target: name, path: address(of: key),
                                hint: "the target's storage returned other bytes than were written; check it before shipping there again")
            }
            return try upload.publish(replace: replace)
        } catch {
            upload.abort()
            throw shipError(error, target: name)
        }
    }

    /// The whole object under `key`.
    public func read(_ key: String) throws -> [UInt8] { try read(key, range: nil) }

    /// A remote store has no local directory.
    public var localDirectory: String? { nil }
    /// A backend whose capabilities are fixed knows them without a probe.
    public var knownCapabilities: TargetCapabilities? { capabilities }
    /// A store with nothing to clean up.
    public func removeStaleUploads() -> [String] { [] }
    /// A store outside the local file system holds no local file.
    public func isSameFile(_ key: String, as path: String) -> Bool { false }
}

extension TargetUpload {
    /// `seal`'s read-back is all a backend without a remote copy checks.
    public var verification: String? { nil }

    /// Nothing to send before `publish` (a directory: `publish` is a rename).
    public func stage() throws {}

    /// Reads into a buffer and writes: for backends that cannot copy from a file directly.
    public func copy(from file: FileDescriptor, at offset: Int64, count: Int) throws -> Int {
        let bytes = try file.read(at: offset, count: count)
        try bytes.withUnsafeBytes { try write($0, at: offset) }
        return bytes.count
    }
}
