import BinlogFormat
import Foundation
import LogshipSystem

/// Signed snapshots (docs/FORMAT.md §11, docs/OPERATIONS.md "Signing and encryption"). A
/// replica that requires signatures signs every snapshot it takes with a key of its own,
/// `keys/snapshot.key` (made by its first snapshot, 0600), whose public half is
/// `keys/snapshots/snapshot.pub`; the signature is `snapshot-<LSN>.sig` beside the file. A restore
/// on such a replica refuses (exit 3) a snapshot that is unsigned, signed by a key not in
/// `keys/snapshots/`, or whose bytes or position differ from what was signed.
extension ReplicaDirectory {
    /// The replica's private key for snapshots.
    public var snapshotKeyPath: String { keysPath + "/snapshot.key" }
    /// Public keys trusted for snapshots (not for segments: keys/*.pub are the master's).
    public var snapshotKeysPath: String { keysPath + "/snapshots" }

    /// The key snapshots are signed with: nil when this replica neither requires signatures nor
    /// has a snapshot key; made on first use when it requires signatures. Returns whether it was made.
    func snapshotSigner() throws -> (signer: SegmentSigner, created: Bool)? {
        let exists = access(snapshotKeyPath, F_OK) == 0
        guard exists || identity?.requireSignatures == true else { return nil }
        do {
            var created = false
            if !exists {
                try FilePermissions.createDirectory(keysPath)
                try FilePermissions.createDirectory(snapshotKeysPath)
                try SigningKeyFile.generate(privatePath: snapshotKeyPath, publicPath: snapshotKeysPath + "/snapshot.pub")
                created = true
            }
            return (try SigningKeyFile.readPrivate(snapshotKeyPath), created)
        } catch let e as FormatError {
            throw ReplicaError(e, while: "reading the snapshot signing key \(snapshotKeyPath)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "creating the snapshot signing key in \(keysPath)")
        }
    }

    /// A new snapshot key (`snapshot --new-key`): the current one's public half stays trusted as
    /// `keys/snapshots/<key id>.pub` (the snapshots it signed still restore), its private half is
    /// deleted, and a new pair takes its place. Returns the retired key id (nil when there was no
    /// key) and the new one. A crash in between leaves no key, and the next snapshot makes one.
    func rotateSnapshotKey() throws -> (retired: String?, new: String) {
        do {
            try FilePermissions.createDirectory(keysPath)
            try FilePermissions.createDirectory(snapshotKeysPath)
            var retired: String?
            if access(snapshotKeyPath, F_OK) == 0 {
                let old = try SigningKeyFile.readPrivate(snapshotKeyPath)
                let id = SegmentSignature.keyIDText(old.keyID)
                let kept = snapshotKeysPath + "/\(id).pub"
                if access(kept, F_OK) != 0 { try SigningKeyFile.writePublic(old.publicKey, to: kept) }
                for path in [snapshotKeyPath, snapshotKeysPath + "/snapshot.pub"] where unlink(path) != 0 && errno != ENOENT {
                    throw ioError("remove \(path)", path: path)
                }
                try DurableFile.syncDirectory(keysPath)
                try DurableFile.syncDirectory(snapshotKeysPath)
                retired = id
            }
            let id = try SigningKeyFile.generate(privatePath: snapshotKeyPath, publicPath: snapshotKeysPath + "/snapshot.pub")
            return (retired, id)
        } catch let e as FormatError {
            throw ReplicaError(e, while: "making a new snapshot key in \(keysPath)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "making a new snapshot key in \(keysPath)")
        }
    }

    /// Copies public key files into `keys/snapshots/` (restore from a bucket trusts the keys it was given).
    public func trustSnapshotKeys(_ files: [String]) throws {
        guard !files.isEmpty else { return }
        do {
            try FilePermissions.createDirectory(keysPath)
            try FilePermissions.createDirectory(snapshotKeysPath)
            for file in files {
                let key = try SigningKeyFile.readPublic(file)
                let id = SegmentSignature.keyIDText(SegmentSignature.keyID(of: key))
                let text = try String(contentsOfFile: file, encoding: .utf8)
                try DurableFile.publish(Array(text.utf8), to: snapshotKeysPath + "/\(id).pub")
            }
        } catch let e as FormatError {
            throw ReplicaError(e, while: "trusting snapshot keys")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "trusting snapshot keys")
        } catch let e as ReplicaError {
            throw e
        } catch {
            throw ReplicaError(.notFound, "unable to read a snapshot key: \(error.localizedDescription)")
        }
    }
}

extension Snapshot {
    /// `snapshot-<LSN>.sig` beside `snapshot-<LSN>.db`.
    public static func signaturePath(for path: String) -> String {
        (path.hasSuffix(suffix) ? String(path.dropLast(suffix.count)) : path) + ".sig"
    }

    /// The signature record beside `path`, nil when there is none.
    public static func signature(of path: String) throws -> SnapshotSignature? {
        let sigPath = signaturePath(for: path)
        guard let data = FileManager.default.contents(atPath: sigPath) else { return nil }
        guard let record = try? JSONDecoder().decode(SnapshotSignature.self, from: data) else {
            throw ReplicaError(.corruption, "\(sigPath) is not a logship snapshot signature",
                               hint: "move the snapshot and its .sig away, and take a new snapshot")
        }
        return record
    }

    /// Signs `snap` and publishes its `.sig` durably, unless one is there already.
    @discardableResult
    static func sign(_ snap: Snapshot, with signer: SegmentSigner) throws -> SnapshotSignature {
        if let existing = try signature(of: snap.path) { return existing }
        do {
            let record = try SnapshotSignature.sign(file: (snap.path as NSString).lastPathComponent, sha256: try SnapshotSignature.sha256(file: snap.path),
                                                    bytes: snap.bytes, lsn: snap.lsn, epoch: snap.epoch, sourceID: snap.sourceID,
                                                    commitTime: snap.commitTime, with: signer)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try DurableFile.publish(Array(try encoder.encode(record)) + [10], to: signaturePath(for: snap.path))
            return record
        } catch let e as FormatError {
            throw ReplicaError(e, while: "signing \(snap.path)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "signing \(snap.path)")
        }
    }

    /// Checks `snap`'s signature against the keys in `dir`'s `keys/snapshots/`: refused (exit 3)
    /// when unsigned, signed by another key, or when the file's SHA-256, size or position differ
    /// from what was signed.
    public static func verifySignature(_ snap: Snapshot, in dir: ReplicaDirectory) throws {
        try verifySignature(snap, in: dir, sha256: try SnapshotSignature.sha256(file: snap.path), bytes: snap.bytes)
    }

    /// Copies `snap` to `destination` and checks its signature against the bytes copied (not
    /// against the file by name, which may be replaced between a check and a later read).
    static func copyVerified(_ snap: Snapshot, to destination: String, in dir: ReplicaDirectory) throws {
        let copied: (sha256: String, bytes: Int64)
        do { copied = try SnapshotSignature.copy(file: snap.path, to: destination) } catch let e as FormatError {
            throw ReplicaError(e, while: "copying snapshot \((snap.path as NSString).lastPathComponent)")
        }
        try verifySignature(snap, in: dir, sha256: copied.sha256, bytes: copied.bytes)
    }

    /// The check of `verifySignature(_:in:)` against a given digest and size.
    static func verifySignature(_ snap: Snapshot, in dir: ReplicaDirectory, sha256: String, bytes: Int64) throws {
        guard let record = try signature(of: snap.path) else {
            throw ReplicaError(.corruption, "snapshot \(snap.path) is not signed (no \((signaturePath(for: snap.path) as NSString).lastPathComponent)); signatures are required here",
                               hint: "a snapshot taken before this replica signed snapshots, or a forged one; move it away (the restore then starts from an older snapshot or the segments), or take a new snapshot")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.snapshotKeysPath)) ?? []).filter { $0.hasSuffix(".pub") }.sorted()
        do {
            let keys = try names.map { try SigningKeyFile.readPublic(dir.snapshotKeysPath + "/" + $0) }
            try record.verify(path: snap.path, sha256: sha256, bytes: bytes, lsn: snap.lsn,
                              epoch: snap.epoch, sourceID: snap.sourceID, commitTime: snap.commitTime, keys: keys)
        } catch let e as FormatError {
            throw ReplicaError(e, while: "checking the signature of snapshot \((snap.path as NSString).lastPathComponent)")
        }
    }
}
