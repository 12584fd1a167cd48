import BinlogFormat
import Foundation
import ObjectStorage

/// A target that is a prefix in an S3-compatible bucket (`s3://bucket/prefix`). Keys are object
/// names under the prefix (nothing nested below it is an object of the target). Uploads are
/// staged locally (`S3Upload`) and become visible only through one put-if-absent of the whole
/// object (or a multipart upload, which S3 shows only once complete), so a reader never sees a
/// partial object. The client is made on first use: `ShipConfig.openStore` cannot throw, and a
/// missing credential must surface as the first call's error naming the target.
public final class S3Store: TargetStore, @unchecked Sendable {
    public let name: String
    public let location: String
    let s3Address: S3Address
    private let settings: S3TargetSettings
    private let environment: [String: String]
    private let home: String
    /// Guards `opened`, `support` and `retainedKeys` (uploads run on several threads).
    private let lock = NSLock()
    private var opened: Result<S3Client, ShipError>?
    private var support: Result<ConditionalPutSupport, ShipError>?
    private var retainedKeys: [String] = []

    /// The store for a configured `s3://` target; nothing is contacted yet.
    public init(target: ShipTarget, environment: [String: String] = ProcessInfo.processInfo.environment,
                home: String = FileManager.default.homeDirectoryForCurrentUser.path) {
        name = target.name
        s3Address = S3Address(target.path) ?? S3Address("s3://invalid")!
        location = s3Address.description
        settings = target.s3 ?? S3TargetSettings()
        self.environment = environment
        self.home = home
    }

    /// The client, made once; a configuration error (no credentials, a bad endpoint) is kept and rethrown.
    func client() throws -> S3Client {
        try locked {
            if opened == nil {
                opened = Result {
                    do {
                        let configuration = try settings.configuration(target: ShipTarget(name: name, path: location), address: s3Address,
                                                                       environment: environment, home: home)
                        return try S3Client(configuration)
                    } catch let e as ObjectStorageError { throw lift(e) }
                }.mapError { $0 as? ShipError ?? shipError($0, target: name) }
            }
            return try opened!.get()
        }
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Runs one client call, lifting its error into a `ShipError` naming this target.
    func call<T>(_ body: (S3Client) throws -> T) throws -> T {
        let c = try client()
        do { return try body(c) } catch let e as ObjectStorageError { throw lift(e) }
    }

    /// How put-if-absent is protected on this server: probed once per process, with a
    /// short-lived object under the prefix written twice with `If-None-Match: *`.
    func conditionalPutSupport() throws -> ConditionalPutSupport {
        if let known = locked({ support }) { return try known.get() }
        let probeKey = s3Address.prefix + ".logship-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let result = Result { try call { try $0.probeConditionalPut(probeKey: probeKey) } }.mapError { $0 as? ShipError ?? shipError($0, target: name) }
        locked { support = result }
        return try result.get()
    }

    /// Conditional put when the server enforces `If-None-Match: *`, else HEAD-then-put (safe with
    /// one writer per prefix, which the source's lock gives). Object lock: a delete may be refused
    /// and is then reported as retained. Unknown (nothing) when the bucket cannot be reached.
    public var capabilities: TargetCapabilities {
        switch try? conditionalPutSupport() {
        case .enforced?: return [.conditionalPut, .serverChecksum, .objectLock]
        case .headThenPut?: return [.headThenPut, .serverChecksum, .objectLock]
        case nil: return []
        }
    }

    /// The capabilities once this process has probed the server (a ship run), else nil: status
    /// reads the ship state instead of writing a probe object on every run.
    public var knownCapabilities: TargetCapabilities? {
        guard case .success? = locked({ support }) else { return nil }
        return capabilities
    }

    /// Keys of objects retention kept when they were deleted (an object lock), oldest first.
    public var retained: [String] { locked { retainedKeys } }

    public func address(of key: String) -> String { location + "/" + key }

    /// Lists the prefix: a missing bucket is `.notFound`, never created.
    public func checkReachable() throws {
        _ = try call { try $0.list(prefix: s3Address.prefix, pageSize: 1000) }
    }

    public func list() throws -> [TargetObject] {
        let entries = try call { try $0.list(prefix: s3Address.prefix) }
        return entries.compactMap { e -> TargetObject? in
            let key = String(e.key.dropFirst(s3Address.prefix.count))
            guard !key.isEmpty, !key.contains("/"), !key.hasPrefix(".logship-") else { return nil }
            return TargetObject(key: key, size: e.size)
        }.sorted { $0.key < $1.key }
    }

    public func stat(_ key: String) throws -> TargetObject? {
        try call { try $0.head(s3Address.prefix + key) }.map { TargetObject(key: key, size: $0.size) }
    }

    public func read(_ key: String, range: Range<Int64>?) throws -> [UInt8] {
        let c = try client(), object = s3Address.prefix + key
        do {
            guard let range else { return Array(try c.get(object)) }
            guard !range.isEmpty else { return [] }
            return Array(try c.get(object, range: range.lowerBound...(range.upperBound - 1)))
        } catch let e as ObjectStorageError where e.kind == .noSuchKey {
            throw ShipError(.notFound, "unable to read \(key): the target has no such object", target: name, path: address(of: key))
        } catch let e as ObjectStorageError where e.code == "InvalidRange" {
            return []  // A range that starts at or past the end: fewer bytes, as the contract says.
        } catch let e as ObjectStorageError where e.kind == .notS3 && range != nil {
            // Some servers (rclone serve s3) answer a range that passes the end with 200 and the
            // bytes that exist, which the client refuses; ask again for the range cut at the end.
            guard let range, let size = try stat(key)?.size, range.upperBound > size else { throw lift(e) }
            return try read(key, range: range.lowerBound..<max(range.lowerBound, size))
        } catch let e as ObjectStorageError {
            throw lift(e)
        }
    }

    public func beginUpload(_ key: String) throws -> TargetUpload {
        do { return try S3Upload(store: self, key: key) } catch { throw shipError(error, target: name) }
    }

    /// Aborts the multipart uploads a killed run left under the prefix (S3 keeps, and bills,
    /// their parts until aborted); they were never visible as objects. Only keys directly under
    /// the prefix are touched: those are this target's, and the source's lock makes this run
    /// their only writer. A server that refuses the listing (a policy without
    /// s3:ListBucketMultipartUploads) leaves them to the bucket's lifecycle rules.
    public func removeStaleUploads() -> [String] {
        guard let c = try? client() else { return [] }
        // Probe objects of runs killed between the probe's PUT and its DELETE: only a ship run,
        // under the source's lock, probes this prefix, so every one found here is a dead run's.
        let probes = ((try? c.list(prefix: s3Address.prefix + ".logship-probe-")) ?? []).compactMap { entry -> String? in
            let key = String(entry.key.dropFirst(s3Address.prefix.count))
            guard !key.contains("/"), (try? c.delete(entry.key)) != nil else { return nil }
            return key + " (conditional-put probe object)"
        }
        guard let pending = try? c.listMultipartUploads(prefix: s3Address.prefix) else { return probes }
        return probes + pending.compactMap { upload -> String? in
            let key = String(upload.key.dropFirst(s3Address.prefix.count))
            guard upload.key.hasPrefix(s3Address.prefix), !key.isEmpty, !key.contains("/") else { return nil }
            guard (try? c.abortMultipartUpload(upload.key, uploadId: upload.uploadId)) != nil else { return nil }
            return key + " (multipart upload " + upload.uploadId + ")"
        }
    }

    /// Deletes `key`; an object under an object lock is left, recorded in `retained`, and is
    /// no error: the bucket's retention decides when it goes, not logship.
    public func delete(_ key: String) throws {
        let c = try client()
        do { try c.delete(s3Address.prefix + key) } catch let e as ObjectStorageError where e.kind == .retained {
            locked { retainedKeys.append(key) }
        } catch let e as ObjectStorageError {
            throw lift(e)
        }
    }
}

extension S3Store {
    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: (ShipTarget, S3Store)] = [:]

    /// One store per configured target and process: `openStore` is called per command step
    /// (status, each segment of a purge plan), and the client and the conditional-put probe are
    /// made once. Guarded by `cacheLock`.
    static func shared(_ target: ShipTarget) -> S3Store {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let entry = cache[target.name], entry.0 == target { return entry.1 }
        let store = S3Store(target: target)
        cache[target.name] = (target, store)
        return store
    }
}
