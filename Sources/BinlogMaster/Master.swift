import BinlogApply
import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import LogshipSystem

/// A master data directory opened for writing: the one SQLite connection, the change
/// capture, and the active binlog segment. Every committed transaction gets the next LSN
/// and reaches the binlog (fsynced, by default) before SQLite commits it, so a transaction
/// is never in the database without being in the binlog.
///
/// Usable from many threads (`@unchecked Sendable`, see docs/MASTER.md "Many writers"):
/// `transaction`/`write` calls from concurrent threads are group-committed (each runs its
/// body on its own thread in a savepoint of one SQLite transaction, one fsync and one COMMIT
/// for the group, each caller answered only once its frame is durable); `execute`, `read`,
/// `rotate` and `close` take the connection alone, after committing an open group. One
/// process per directory is enforced by an OS lock held from `open` to `close`.
public final class Master: @unchecked Sendable {
    /// Settings for one open; nil fields take the directory's `master.json` values.
    public struct Options {
        /// How long `open` waits for another writer to release the directory.
        public var lockTimeout: Double = 10
        public var syncBinlog: Int?
        public var segmentSize: Int64?
        /// Digest markers every N transactions / T seconds (0 = off); nil takes master.json's.
        public var digestEvery: Int?
        public var digestInterval: Double?
        /// Semi-synchronous acknowledgement (Master+SemiSync.swift); nil = off.
        public var semiSync: SemiSync?
        public init(lockTimeout: Double = 10, syncBinlog: Int? = nil, segmentSize: Int64? = nil,
                    digestEvery: Int? = nil, digestInterval: Double? = nil, semiSync: SemiSync? = nil) {
            self.semiSync = semiSync
            self.lockTimeout = lockTimeout
            self.syncBinlog = syncBinlog
            self.segmentSize = segmentSize
            self.digestEvery = digestEvery
            self.digestInterval = digestInterval
        }
    }

    /// What one committed transaction got.
    public struct CommitInfo: Equatable, Sendable {
        public var lsn: UInt64
        public var commitTime: Int64
        public var events: Int
    }

    public let directory: MasterDirectory
    public let identity: MasterDirectory.Identity
    public internal(set) var recovery = RecoveryReport()
    public internal(set) var lastLSN: UInt64 = 0
    public internal(set) var lastCommitTime: Int64 = 0
    public var syncBinlog: Int
    public var segmentSize: Int64

    let queue: DatabaseQueue
    let capture = ChangeCapture()
    /// The authorizer that classifies and screens the user's statements.
    let statementGuard = StatementGuard()
    /// The active segment grows in zero-filled steps of this size (see SegmentWriter).
    var preallocationStep: Int64 { min(4 << 20, segmentSize) }
    var writer: SegmentWriter?
    var lastSealed: (name: SegmentName, footer: SegmentFooter)?
    var commitsSinceSync = 0
    var state = TransactionState()
    var digestSchedule = DigestSchedule()
    /// Group commit (Master+Group.swift): who holds the connection, who waits for it, and the
    /// group open in SQLite. `groupCondition` guards the counters and the tickets.
    let groupCondition = NSCondition()
    var slotBusy = false
    var slotOwner: pthread_t?
    var waitingMembers = 0
    var waitingExclusive = 0
    var openGroup: OpenGroup?
    var inGroupMember = false
    var groupCounts = (groups: 0, transactions: 0)
    /// Every binlog fsync a commit waited for, for `processMetrics` (SyncLatency.swift).
    public let syncLatency = SyncLatency()
    /// At most this many transactions share one fsync (the rest collect for the next group).
    public var maxGroupSize = 256
    /// The key sealed segments are signed with: `signing.key` in the master directory, when there.
    var signer: SegmentSigner?
    /// Set when the master runs with `Options.semiSync` (Master+SemiSync.swift).
    var semiSyncWaiter: SemiSyncWaiter?
    /// The key new segments' frames are encrypted with: `encryption.key`, when there.
    var cipher: SegmentCipher?
    /// `binlog/.committed`, rewritten after every commit (Master+CommitMark.swift).
    var commitMark: CommitMarkWriter?
    /// The last LSN this master fdatasynced and committed (the mark's durable LSN).
    var durableLSN: UInt64 = 0
    private let lock: DirectoryLock
    private var closed = false

    /// What `open` had to do to bring the binlog and the database into agreement.
    public struct RecoveryReport: Sendable {
        public var tornTailBytes: Int64 = 0
        public var tornTailReason: String?
        public var redone: ClosedRange<UInt64>?
        public var completedSeal: String?
        public var removedTemporaries: [String] = []
        public var isEmpty: Bool { tornTailBytes == 0 && redone == nil && completedSeal == nil && removedTemporaries.isEmpty }
    }

    static func configuration(forApply: Bool) -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = !forApply
        config.busyMode = .timeout(10)
        config.label = "logship-master"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            // The binlog is fsynced before every commit and redone into the database after a
            // crash, so SQLite need not fsync its WAL on each commit as well (NORMAL still
            // keeps the database consistent; only the newest commits can be lost, and recovery
            // replays them from the binlog).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return config
    }

    /// Opens a master: takes the lock, reconciles binlog and database, installs capture.
    public static func open(_ path: String, options: Options = Options()) throws -> Master {
        let directory = MasterDirectory(path: path)
        let identity = try directory.readIdentity()
        let lock: DirectoryLock
        do {
            lock = try DirectoryLock(path: directory.lockPath, timeout: options.lockTimeout)
        } catch let busy as DirectoryLock.Busy {
            throw MasterError(.busy, "the data directory is locked by another binlog-writer" + (busy.holderPID.map { " (pid \($0))" } ?? ""),
                              hint: "wait for it to finish, or raise --lock-timeout; the lock is released automatically when that process exits")
        } catch let e as FormatError {
            throw MasterError(e, while: "locking \(directory.path)")
        } catch let e as SystemError {
            throw MasterError(e, while: "locking \(directory.path)")
        }
        let queue: DatabaseQueue
        do {
            var config = configuration(forApply: false)
            // A commit group's SQLite transaction stays open between the members' accesses to
            // the connection (Master+Group.swift).
            config.allowsUnsafeTransactions = true
            queue = try DatabaseQueue(path: directory.databasePath, configuration: config)
        } catch {
            if let e = error as? DatabaseError, isDiskFull(e, under: directory.path) {
                throw MasterError(.diskFull, "unable to open \(directory.databasePath): \(error)",
                                  hint: "free space on this file system; nothing acknowledged was lost, and the next run resumes")
            }
            throw MasterError(.io, "unable to open \(directory.databasePath): \(error)")
        }
        let master = Master(directory: directory, identity: identity, lock: lock, queue: queue, options: options)
        do {
            if access(directory.signingKeyPath, F_OK) == 0 {
                do { master.signer = try SigningKeyFile.readPrivate(directory.signingKeyPath) } catch let e as FormatError {
                    throw MasterError(e, while: "reading the signing key")
                }
            }
            if access(directory.encryptionKeyPath, F_OK) == 0 {
                // In the keyring too: recovery reads (and redoes) the master's own encrypted frames.
                do { master.cipher = try EncryptionKeyFile.read(directory.encryptionKeyPath, register: true) } catch let e as FormatError {
                    throw MasterError(e, while: "reading the encryption key")
                }
            }
            // Retired keys: the active segment may be one of theirs (it is finished with its own
            // key, and the next segment gets the new one), and recovery may redo from their segments.
            do { try EncryptionKeyFile.registerAll(in: directory.retiredEncryptionKeysPath) } catch let e as FormatError {
                throw MasterError(e, while: "reading the retired encryption keys in \(directory.retiredEncryptionKeysPath)")
            }
            try master.recover()
            try master.openCommitMark()
            try master.startSemiSync(options.semiSync)
            try queue.inDatabase { db in
                try master.prepareDigestMarkers(db, options: options)
                master.capture.descriptors = try ChangeCapture.loadDescriptors(db)
                master.capture.install(on: db)
                try master.statementGuard.install(on: db)
            }
        } catch {
            master.abandon()
            throw error
        }
        return master
    }

    private init(directory: MasterDirectory, identity: MasterDirectory.Identity, lock: DirectoryLock, queue: DatabaseQueue, options: Options) {
        self.directory = directory
        self.identity = identity
        self.lock = lock
        self.queue = queue
        self.syncBinlog = options.syncBinlog ?? identity.syncBinlog
        self.segmentSize = options.segmentSize ?? identity.segmentSizeBytes
    }

    deinit { if !closed { try? close() } }

    /// Gives up a master whose open failed: the hook may not be installed, so only the
    /// connection and the lock are released.
    private func abandon() {
        closed = true
        try? queue.close()
        lock.release()
    }

    /// Throws unless the master is open.
    func ensureOpen() throws {
        if closed { throw MasterError(.invalid, "the master is closed", hint: "open it again with Master.open") }
    }

    /// Makes everything appended durable, releases the database and the lock.
    public func close() throws {
        guard !closed else { return }
        try exclusive { try closeAlone() }
    }

    private func closeAlone() throws {
        guard !closed else { return }
        closed = true
        if let writer { try? writer.sync() }
        try queue.inDatabase { db in
            if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") }
            capture.uninstall(from: db)
            statementGuard.uninstall(from: db)
        }
        try queue.close()
        lock.release()
    }

    /// Reads the master's database without writing (GRDB read access).
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try ensureOpen()
        return try exclusive { try queue.inDatabase { db in try body(db) } }
    }

    // MARK: - Segments

    func activeWriter() throws -> SegmentWriter {
        if let writer { return writer }
        let sequence = (lastSealed?.name.sequence ?? 0) + 1
        var header = SegmentHeader(sourceID: identity.sourceID, epoch: identity.epoch, sequence: sequence, firstLSN: lastLSN + 1,
                                   createdAt: microsecondsNow(), previousChecksum: lastSealed?.footer.segmentChecksum ?? 0)
        header.version = newSegmentVersion
        if let cipher {
            header.version = SegmentHeader.encryptedVersion
            header.encryptionKeyID = cipher.keyID
        }
        do {
            let w = try SegmentWriter.create(directory: directory.binlogPath, header: header, cipher: cipher)
            w.preallocationStep = preallocationStep
            writer = w
            return w
        } catch let e as FormatError {
            throw MasterError(e, while: "starting segment \(sequence)")
        } catch let e as SystemError {
            throw MasterError(e, while: "starting segment \(sequence)")
        }
    }

    /// Seals the active segment if it holds at least one transaction (and, with
    /// `ifOlderThan`, only if it was started at least that many seconds ago).
    /// Returns the sealed segment's name and footer, or nil when there was nothing to seal.
    @discardableResult
    public func rotate(ifOlderThan seconds: Double? = nil) throws -> (name: SegmentName, footer: SegmentFooter)? {
        try ensureOpen()
        return try exclusive { try rotateAlone(ifOlderThan: seconds) }
    }

    private func rotateAlone(ifOlderThan seconds: Double?) throws -> (name: SegmentName, footer: SegmentFooter)? {
        guard state.isIdle else { throw MasterError(.invalid, "cannot rotate inside a transaction") }
        guard let writer, writer.transactionCount > 0 else { return nil }
        // A segment started "in the future" means the clock went back since: its age is unknown,
        // and waiting for the clock to catch up could hold it back (unshipped) for hours; seal it.
        let age = Double(microsecondsNow() - writer.header.createdAt) / 1e6
        if let seconds, age >= 0, age < seconds { return nil }
        let sealedBefore = lastSealed?.name
        try writeRotationMarker()
        // The marker's commit may have sealed the segment by size already.
        if self.writer == nil, let sealed = lastSealed, sealed.name != sealedBefore { return sealed }
        return try sealActive()
    }

    @discardableResult
    func sealActive() throws -> (name: SegmentName, footer: SegmentFooter)? {
        guard let writer else { return nil }
        do {
            let footer = try writer.seal(signer: signer)
            lastSealed = (writer.name.sealed, footer)
            self.writer = nil
            // The next transaction goes to a new segment: its descriptors start afresh.
            capture.encoder.startSegment()
            commitsSinceSync = 0
            return (writer.name.sealed, footer)
        } catch let e as FormatError {
            throw MasterError(e, while: "sealing \(writer.name)")
        } catch let e as SystemError {
            throw MasterError(e, while: "sealing \(writer.name)")
        }
    }
}
