import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// The layout of a replica directory:
///
///     replica.json   identity and settings
///     inbox/         shipped segments (a binlog-ship target)
///     store.db       the snapshot store: the master's tables as of the applied LSN (WAL mode)
///     snapshots/     snapshot-<LSN in hex>.db, consistent copies of the store
///     state.json     last run, last success, last error (for status and check)
///     lock           flock'ed by the one replica-apply at work; holds its pid
///     keys/          trusted public keys (*.pub) when replica.json requires signatures
public struct ReplicaDirectory {
    public let path: String
    public var identityPath: String { path + "/replica.json" }
    public var storePath: String { path + "/store.db" }
    public var snapshotsPath: String { path + "/snapshots" }
    public var statePath: String { path + "/state.json" }
    public var lockPath: String { path + "/lock" }
    public var keysPath: String { path + "/keys" }
    /// More encryption keys (`*.key`, 0600) besides replica.json's `decryptKey`: a rotated
    /// master's new key goes here before its first segment arrives, and apply reads both.
    public var encryptionKeysPath: String { path + "/encryption-keys" }
    public var inboxPath: String { identity.map { $0.inbox.hasPrefix("/") ? $0.inbox : path + "/" + $0.inbox } ?? path + "/inbox" }

    public private(set) var identity: Identity?

    /// Identity and settings of a replica.
    public struct Identity: Codable, Equatable {
        public var format = "logship-replica"
        public var formatVersion = 1
        public var createdAt: String
        /// The inbox, relative to the replica directory or absolute.
        public var inbox: String
        /// A remote source (`s3://bucket/prefix`) that `apply` fetches from before each pass; nil
        /// when segments are shipped into the inbox.
        public var source: String?
        /// When true, only sealed segments signed by a key in keys/ are applied (docs/OPERATIONS.md,
        /// "Signing and encryption"); absent or false: signatures are not checked.
        public var requireSignatures: Bool?
        /// The encryption key file (absolute path) encrypted segments are read with; the key itself
        /// is never stored here (docs/OPERATIONS.md, "Signing and encryption").
        public var decryptKey: String?
    }

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    /// Creates a replica directory with an empty inbox; refuses a non-empty directory.
    @discardableResult
    /// With `verifyKeys` (public key files), the replica requires signatures: each key is
    /// copied to keys/<key id>.pub.
    public static func initialize(at path: String, inbox: String? = nil, source: String? = nil, verifyKeys: [String] = [],
                                  decryptKey: String? = nil) throws -> ReplicaDirectory {
        var dir = ReplicaDirectory(path: path)
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ReplicaError(.exists, "\(dir.path) exists and is not a directory") }
            let contents = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
            guard contents.isEmpty else {
                throw ReplicaError(.exists, "\(dir.path) is not empty (\(contents.sorted().prefix(5).joined(separator: ", ")))",
                                   hint: "init never touches an existing directory; choose a new path")
            }
            // An empty directory made beforehand is made owner-only, as initdb does.
            _ = chmod(dir.path, FilePermissions.directory)
        }
        do {
            try FilePermissions.createDirectory(dir.path)
            // Read the keys before anything is created: a bad key file leaves no half-made replica.
            let keys = try verifyKeys.map(SigningKeyFile.readPublic)
            if let decryptKey { _ = try EncryptionKeyFile.read(decryptKey) }
            var identity = Identity(createdAt: formatTimestamp(microsecondsNow()), inbox: inbox ?? "inbox", source: source)
            identity.decryptKey = decryptKey.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
            if !keys.isEmpty { identity.requireSignatures = true }
            dir.identity = identity
            try FilePermissions.createDirectory(dir.inboxPath)
            try FilePermissions.createDirectory(dir.snapshotsPath)
            if !keys.isEmpty {
                try FilePermissions.createDirectory(dir.keysPath)
                for (file, key) in zip(verifyKeys, keys) {
                    let id = SegmentSignature.keyIDText(SegmentSignature.keyID(of: key))
                    let text = try String(contentsOfFile: file, encoding: .utf8)
                    try DurableFile.publish(Array(text.utf8), to: dir.keysPath + "/\(id).pub")
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try DurableFile.publish(Array(try encoder.encode(identity)) + [10], to: dir.identityPath)
            try DurableFile.syncDirectory(dir.path)
        } catch let e as FormatError {
            throw ReplicaError(e, while: "initializing \(dir.path)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "initializing \(dir.path)")
        } catch let e as ReplicaError {
            throw e
        } catch {
            throw ReplicaError(.io, "unable to initialize \(dir.path): \(error.localizedDescription)")
        }
        return dir
    }

    /// Opens an existing replica directory, telling a wrong path from a damaged one.
    public static func open(_ path: String) throws -> ReplicaDirectory {
        var dir = ReplicaDirectory(path: path)
        guard let data = FileManager.default.contents(atPath: dir.identityPath) else {
            if FileManager.default.fileExists(atPath: dir.path) {
                throw ReplicaError(.notFound, "\(dir.path) is not a replica directory (no replica.json)",
                                   hint: notAReplicaHint(dir.path))
            }
            throw ReplicaError(.notFound, "no such directory: \(dir.path)", hint: "check the path, or create a replica with `replica-apply init`")
        }
        guard let identity = try? JSONDecoder().decode(Identity.self, from: data), identity.format == "logship-replica", identity.formatVersion == 1 else {
            throw ReplicaError(.corruption, "\(dir.identityPath) is damaged or not a logship replica identity")
        }
        dir.identity = identity
        FilePermissions.warnIfOpen(dir.path)
        if let key = identity.decryptKey {
            do { _ = try EncryptionKeyFile.read(key, register: true) } catch let e as FormatError {
                throw ReplicaError(e, while: "reading the decryption key named in \(dir.identityPath)")
            }
        }
        do { try EncryptionKeyFile.registerAll(in: dir.encryptionKeysPath) } catch let e as FormatError {
            throw ReplicaError(e, while: "reading the encryption keys in \(dir.encryptionKeysPath)")
        }
        return dir
    }

    /// The signature check this replica's apply and restore make: nil when it does not require
    /// signatures; else every keys/*.pub is trusted (none there: every segment is refused).
    public func verifier() throws -> SegmentVerifier? {
        guard identity?.requireSignatures == true else { return nil }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: keysPath)) ?? []).filter { $0.hasSuffix(".pub") }.sorted()
        do {
            return SegmentVerifier(keys: try names.map { try SigningKeyFile.readPublic(keysPath + "/" + $0) }, required: true)
        } catch let e as FormatError {
            throw ReplicaError(e, while: "reading the trusted keys in \(keysPath)")
        }
    }

    /// What to do with a directory that is not a replica, by what it holds: `init` only takes a
    /// new or empty directory, so suggesting it for a master's or any non-empty one would be wrong.
    static func notAReplicaHint(_ path: String) -> String {
        switch DirectoryKind.of(path) {
        case .master:
            return "\(path) is a master data directory; a replica lives in a directory of its own: "
                + "`replica-apply init NEW_DIR`, then ship into it with `binlog-ship --source \(path) --target NEW_DIR/inbox`"
        case .replica, .other: return "check the path; a new replica needs a new or empty directory: `replica-apply init NEW_DIR`"
        case .empty: return "create one with `replica-apply init \(path)`"
        }
    }

    /// GRDB configuration of a store: WAL so that reports read while apply writes, foreign
    /// keys off (cascades are in the binlog), and a busy timeout for readers' checkpoints.
    public static func storeConfiguration(readonly: Bool = false) -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = false
        config.readonly = readonly
        config.busyMode = .timeout(10)
        config.label = "logship-store"
        if !readonly {
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                // Each batch is fsynced at commit: the applied position is durable with its rows.
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try ApplyEngine.prepareConnection(db)
            }
        }
        return config
    }
}

extension ReplicaDirectory {
    /// Creates an empty store in WAL mode under a temp name, fsyncs it and renames it into
    /// place. Created in place, a kill -9 while SQLite switched the new file to WAL left a store
    /// with a hot rollback journal, which read-only openers (report, status, snapshot) cannot
    /// roll back: they failed until the next apply (found by tools/torture apply-crash). A crash
    /// now leaves only a temp file, removed here on the next call. Call under the replica's lock.
    func createStoreIfMissing() throws {
        guard !FileManager.default.fileExists(atPath: storePath) else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where name.hasPrefix(".tmp-") && name.contains("-store.db") {
            unlink(path + "/" + name)
        }
        let temp = DurableFile.temporaryPath(for: storePath)
        do {
            try FilePermissions.createFileIfMissing(temp)   // SQLite would use the umask (and -wal, -shm follow it)
            let queue = try DatabaseQueue(path: temp)
            try queue.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
            try queue.close()
            try FileDescriptor(path: temp, flags: O_RDONLY).sync()
            CrashPoint.reach("store.before-rename")
            try DurableFile.rename(temp, to: storePath)
            try DurableFile.syncDirectory(path)
        } catch {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) }
            throw error
        }
    }
}
