import Crypto
import Foundation

/// The signature of a snapshot file (docs/FORMAT.md §11), kept beside it as
/// `snapshot-<LSN>.sig` and, in a bucket, inside the snapshot's metadata object.
///
/// A snapshot is made on a replica, which holds only the master's public key, so it is signed
/// with a key of the replica's own (`keys/snapshot.key`, made by the first signed snapshot); a
/// restore trusts the public halves it was given (`keys/snapshots/*.pub`, or
/// `restore --snapshot-key`). The signed message binds the file's bytes to the position it holds:
///
///     "LSHPSNP1" (8) ‖ SHA-256 of the file (32) ‖ LSN (u64 BE) ‖ epoch (u32 BE) ‖
///     source id (16) ‖ commit time (i64 BE, µs) ‖ file size (u64 BE)
///
/// The segment the snapshot ends in links it to the master's signed chain: a restore checks that
/// the next segment it replays continues that one (AppliedSegment), so a genuine snapshot cannot
/// be combined with another master's segments either.
public struct SnapshotSignature: Codable, Equatable, Sendable {
    public var format = "logship-snapshot-signature"
    public var version = 1
    /// The snapshot's file name (`snapshot-<LSN>.db`).
    public var file: String
    /// SHA-256 of the file, lowercase hex.
    public var sha256: String
    public var bytes: Int64
    public var lsn: UInt64
    public var epoch: UInt32
    public var sourceID: UUID
    public var commitTime: Int64
    /// The replica key's id (16 hex digits) and the Ed25519 signature (base64) over `message`.
    public var keyID: String
    public var signature: String

    public static let domain: [UInt8] = Array("LSHPSNP1".utf8)

    /// The bytes signed: see the type's documentation.
    public static func message(sha256 hex: String, lsn: UInt64, epoch: UInt32, sourceID: UUID, commitTime: Int64, bytes: Int64) -> [UInt8]? {
        guard let digest = hexBytes(hex), digest.count == 32 else { return nil }
        var m = domain + digest
        m += withUnsafeBytes(of: lsn.bigEndian, Array.init)
        m += withUnsafeBytes(of: epoch.bigEndian, Array.init)
        m += withUnsafeBytes(of: sourceID.uuid, Array.init)
        m += withUnsafeBytes(of: commitTime.bigEndian, Array.init)
        m += withUnsafeBytes(of: UInt64(bitPattern: bytes).bigEndian, Array.init)
        return m
    }

    /// Signs a snapshot described by its position and digest.
    public static func sign(file: String, sha256: String, bytes: Int64, lsn: UInt64, epoch: UInt32, sourceID: UUID, commitTime: Int64,
                            with signer: SegmentSigner) throws -> SnapshotSignature {
        guard let m = message(sha256: sha256, lsn: lsn, epoch: epoch, sourceID: sourceID, commitTime: commitTime, bytes: bytes) else {
            throw FormatError(.invalidArgument, "not a SHA-256 digest: \(sha256)")
        }
        let sig = try signer.key.signature(for: m)
        return SnapshotSignature(file: file, sha256: sha256, bytes: bytes, lsn: lsn, epoch: epoch, sourceID: sourceID, commitTime: commitTime,
                                 keyID: SegmentSignature.keyIDText(signer.keyID), signature: Data(sig).base64EncodedString())
    }

    /// Checks the signature against `keys` (trusted public keys) and the record against what the
    /// file is: its name, SHA-256, size and position. Throws a corruption error naming the file
    /// and what differs; `path` is the snapshot file, read whole for its digest.
    public func verify(path: String, sha256 actual: String, bytes actualBytes: Int64, lsn actualLSN: UInt64, epoch actualEpoch: UInt32,
                       sourceID actualSource: UUID, commitTime actualTime: Int64, keys: [Curve25519.Signing.PublicKey]) throws {
        let name = (path as NSString).lastPathComponent
        guard format == "logship-snapshot-signature", version == 1 else {
            throw FormatError(.corrupted, "the signature of \(name) is not a logship snapshot signature (version 1)", path: path)
        }
        let trusted = Dictionary(keys.map { (SegmentSignature.keyIDText(SegmentSignature.keyID(of: $0)), $0) }, uniquingKeysWith: { a, _ in a })
        guard let key = trusted[keyID] else {
            throw FormatError(.corrupted, "snapshot \(name) is signed by key id \(keyID), which is not trusted for snapshots here (trusted: \(trusted.isEmpty ? "none" : trusted.keys.sorted().joined(separator: ", ")))",
                              path: path, hint: "give the public key of the replica that took it (its keys/snapshots/<id>.pub) if it is genuine")
        }
        guard let m = SnapshotSignature.message(sha256: sha256, lsn: lsn, epoch: epoch, sourceID: sourceID, commitTime: commitTime, bytes: bytes),
              let sig = Data(base64Encoded: signature), key.isValidSignature(sig, for: m) else {
            throw FormatError(.corrupted, "bad signature on snapshot \(name): its signature record was changed after key id \(keyID) signed it, or is forged", path: path)
        }
        var differs: [String] = []
        if file != name { differs.append("it names \(file)") }
        if sha256 != actual { differs.append("SHA-256 \(actual), signed \(sha256)") }
        if bytes != actualBytes { differs.append("\(actualBytes) bytes, signed \(bytes)") }
        if lsn != actualLSN || epoch != actualEpoch || sourceID != actualSource || commitTime != actualTime {
            differs.append("position LSN \(actualLSN) epoch \(actualEpoch), signed LSN \(lsn) epoch \(epoch)")
        }
        guard differs.isEmpty else {
            throw FormatError(.corrupted, "snapshot \(name) is not the file key id \(keyID) signed: " + differs.joined(separator: "; "),
                              path: path, hint: "the snapshot was changed after it was taken; restore from another snapshot, or move this one away")
        }
    }

    /// SHA-256 of the file at `path`, lowercase hex, read in 4 MiB pieces.
    public static func sha256(file path: String) throws -> String {
        try hashed(path, what: "compute its SHA-256") { _ in }.sha256
    }

    /// Reads the file at `path` in 4 MiB pieces, hashing each and handing it to `each`; returns
    /// the SHA-256 (lowercase hex) and the bytes read.
    private static func hashed(_ path: String, what: String, each: (Data) throws -> Void) throws -> (sha256: String, bytes: Int64) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FormatError(.io, "unable to open \(path) to \(what)", path: path)
        }
        defer { try? handle.close() }
        var hash = SHA256()
        var bytes: Int64 = 0
        while true {
            let data: Data
            do { data = try handle.read(upToCount: 4 << 20) ?? Data() } catch {
                throw FormatError(.io, "unable to read \(path): \(error)", path: path)
            }
            if data.isEmpty { break }
            hash.update(data: data)
            try each(data)
            bytes += Int64(data.count)
        }
        return (hash.finalize().map { String(format: "%02x", $0) }.joined(), bytes)
    }

    /// Copies the file at `path` to `destination` (an existing file, overwritten) and returns
    /// the SHA-256 (lowercase hex) and size of the bytes copied: a signature checked against
    /// these is a check of the copy itself, whatever happens to `path` afterwards.
    public static func copy(file path: String, to destination: String) throws -> (sha256: String, bytes: Int64) {
        guard let output = FileHandle(forWritingAtPath: destination) else {
            throw FormatError(.io, "unable to open \(destination) to copy \(path) into it", path: destination)
        }
        defer { try? output.close() }
        do { try output.truncate(atOffset: 0) } catch {
            throw FormatError(.io, "unable to truncate \(destination): \(error)", path: destination)
        }
        return try hashed(path, what: "copy it") { data in
            do { try output.write(contentsOf: data) } catch {
                throw FormatError(.io, "unable to copy \(path) to \(destination): \(error)", path: destination)
            }
        }
    }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let b = UInt8(String(decoding: chars[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}
