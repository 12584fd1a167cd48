import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// The layout of a master data directory:
///
///     master.json    identity and settings (written durably, never rewritten by exec)
///     master.db      the SQLite database (WAL mode)
///     binlog/        segments: EEEEEEEE-SSSSSSSSSSSSSSSS.binlog, one .binlog.active
///     lock           flock'ed by the one writer; holds its pid
///     signing.key    optional: the Ed25519 key sealed segments are signed with (0600);
///     signing.pub    its public key, for replicas (binlog-writer keygen)
public struct MasterDirectory {
    public let path: String
    public var identityPath: String { path + "/master.json" }
    public var databasePath: String { path + "/master.db" }
    public var binlogPath: String { path + "/binlog" }
    public var lockPath: String { path + "/lock" }
    public var signingKeyPath: String { path + "/signing.key" }
    public var signingPublicKeyPath: String { path + "/signing.pub" }
    /// The key frames are encrypted with, when there (docs/FORMAT.md §3.1).
    public var encryptionKeyPath: String { path + "/encryption.key" }
    /// Keys retired by `keygen --encryption --rotate` (`<key id>.key`): read, never written with.
    public var retiredEncryptionKeysPath: String { path + "/encryption-keys" }

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    /// The master's identity and settings.
    public struct Identity: Codable, Equatable {
        public var format = "logship-master"
        public var formatVersion = 1
        public var sourceID: UUID
        public var epoch: UInt32
        public var createdAt: String
        /// The active segment is sealed once it reaches this size.
        public var segmentSizeBytes: Int64
        /// fsync the binlog every N commits (1 = every commit, the default; 0 = never, leave it to the OS).
        public var syncBinlog: Int
        /// A digest marker every N transactions (absent or 0 = off; docs/REPLICA.md).
        public var digestEveryTransactions: Int?
        /// A digest marker on the first commit this many seconds after the last one (absent or 0 = off).
        public var digestIntervalSeconds: Double?
    }

    public static let defaultSegmentSize: Int64 = 64 << 20
    /// Digest markers are on by default: one on the first commit 5 minutes after the last, and one
    /// on every rotate that follows new transactions (docs/REPLICA.md, "Continuous verification").
    public static let defaultDigestInterval: Double = 300

    /// Creates a new master; refuses a directory that already holds anything of a master.
    @discardableResult
    public static func initialize(at path: String, segmentSize: Int64 = defaultSegmentSize, syncBinlog: Int = 1,
                                  sourceID: UUID = UUID(), digestEvery: Int = 0, digestInterval: Double = MasterDirectory.defaultDigestInterval) throws -> Identity {
        let dir = MasterDirectory(path: path)
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw MasterError(.exists, "\(dir.path) exists and is not a directory") }
            let contents = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
            guard contents.isEmpty else {
                throw MasterError(.exists, "\(dir.path) is not empty (\(contents.sorted().prefix(5).joined(separator: ", ")))",
                                  hint: "init never touches an existing directory; choose a new path")
            }
            // An empty directory made beforehand is made owner-only, as initdb does.
            _ = chmod(dir.path, FilePermissions.directory)
        } else {
            do { try FilePermissions.createDirectory(dir.path) } catch {
                throw MasterError(.io, "unable to create \(dir.path): \(error)")
            }
        }
        guard segmentSize >= 4096 else { throw MasterError(.invalid, "segment size must be at least 4096 bytes") }
        guard syncBinlog >= 0 else { throw MasterError(.invalid, "--sync-binlog must be 0 or more") }
        guard digestEvery >= 0, digestInterval >= 0 else { throw MasterError(.invalid, "--digest-every and --digest-interval must be 0 (off) or more") }
        var identity = Identity(sourceID: sourceID, epoch: 1, createdAt: formatTimestamp(microsecondsNow()),
                                segmentSizeBytes: segmentSize, syncBinlog: syncBinlog)
        if digestEvery > 0 || digestInterval > 0 {
            identity.digestEveryTransactions = digestEvery
            identity.digestIntervalSeconds = digestInterval
        }
        do {
            try FilePermissions.createDirectory(dir.binlogPath)
            // SQLite would create the database with the umask's mode, and its -wal and -shm files
            // with the database's: created first, all three are FilePermissions.file.
            try FilePermissions.createFileIfMissing(dir.databasePath)
            let queue = try DatabaseQueue(path: dir.databasePath, configuration: Master.configuration(forApply: false))
            try queue.write { db in
                try AppliedPosition.createTable(db, initial: AppliedPosition(sourceID: sourceID, epoch: 1, lsn: 0, commitTime: 0, appliedAt: microsecondsNow()))
            }
            try queue.close()
            try DurableFile.syncDirectory(dir.binlogPath)
            try dir.writeIdentity(identity)
        } catch let e as FormatError {
            throw MasterError(e, while: "initializing \(dir.path)")
        } catch let e as SystemError {
            throw MasterError(e, while: "initializing \(dir.path)")
        } catch let e as MasterError {
            throw e
        } catch {
            throw MasterError(.io, "unable to initialize \(dir.path): \(error)")
        }
        return identity
    }

    func writeIdentity(_ identity: Identity) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(identity)
        try DurableFile.publish(Array(data) + [10], to: identityPath)
    }

    /// What to do with a directory that is not a master, by what it holds: `init` only takes a new
    /// or empty directory, and a replica becomes a master by promotion, not by init.
    private func notAMasterHint() -> String {
        switch DirectoryKind.of(path) {
        case .replica:
            return "\(path) is a replica directory; a replica becomes a master by promotion (`replica-apply promote \(path) --to NEW_DIR`, docs/FAILOVER.md), "
                + "or create a master elsewhere with `binlog-writer init NEW_DIR`"
        case .master, .other: return "check the path; a new master needs a new or empty directory: `binlog-writer init NEW_DIR`"
        case .empty: return "create one with `binlog-writer init \(path)`"
        }
    }

    /// Reads `master.json`, telling a wrong path from a damaged file.
    public func readIdentity() throws -> Identity {
        guard let data = FileManager.default.contents(atPath: identityPath) else {
            if FileManager.default.fileExists(atPath: path) {
                throw MasterError(.notFound, "\(path) is not a master data directory (no master.json)",
                                  hint: notAMasterHint())
            }
            throw MasterError(.notFound, "no such directory: \(path)", hint: "check the path, or create a master with `binlog-writer init`")
        }
        do {
            let identity = try JSONDecoder().decode(Identity.self, from: data)
            guard identity.format == "logship-master", identity.formatVersion == 1 else {
                throw MasterError(.invalid, "\(identityPath) is format \(identity.format) version \(identity.formatVersion)")
            }
            FilePermissions.warnIfOpen(path)
            return identity
        } catch let e as MasterError {
            throw e
        } catch {
            throw MasterError(.io, "\(identityPath) is damaged: \(error)")
        }
    }
}
