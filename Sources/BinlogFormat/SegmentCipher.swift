import Crypto
import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// Per-frame encryption of segment payloads (docs/FORMAT.md §3.1), ChaCha20-Poly1305 through
/// swift-crypto. A version-4 segment whose header has flag bit 0 set carries, in header bytes
/// 36..<40, the id of the 32-byte key its frames are sealed with.
///
/// Each segment gets its own key: HKDF-SHA256 of the master key, salted with header bytes
/// 16..<48 (source id, epoch, key id, sequence), info "logship frame key 1". Each frame's stored
/// payload is `nonce (12 random bytes) ‖ ciphertext ‖ tag (16)`, the additional data the 32-byte
/// frame header prefix (LSN, commit time, flags, lengths): a frame moved, renumbered or carried to
/// another segment or source does not open. The nonce is random, not derived from the LSN, because
/// a master that undoes an append (a failed commit, crash recovery) writes the same LSN again with
/// other bytes, and a shipped `.partial` copy may already hold the first version.
public struct SegmentCipher: @unchecked Sendable {
    public static let nonceSize = 12
    public static let tagSize = 16
    /// Bytes a sealed frame adds to its payload.
    public static let overhead = nonceSize + tagSize
    static let info = Array("logship frame key 1".utf8)

    let key: SymmetricKey
    /// 4 bytes: the first 4 of HMAC-SHA256(key, "logship key id 1"); names the key, reveals nothing of it.
    public let keyID: [UInt8]

    public init(keyBytes: [UInt8]) {
        precondition(keyBytes.count == 32)
        key = SymmetricKey(data: keyBytes)
        keyID = Self.keyID(of: key)
    }

    static func keyID(of key: SymmetricKey) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array("logship key id 1".utf8), using: key).prefix(4))
    }

    public var keyIDText: String { SegmentSignature.keyIDText(keyID) }

    /// The key the frames of the segment with this (encoded) header are sealed with.
    public func segmentKey(header: [UInt8]) -> SymmetricKey {
        precondition(header.count == SegmentHeader.size)
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: Array(header[16..<48]), info: Self.info, outputByteCount: 32)
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plain`, authenticated together with `aad`.
    public static func seal(_ plain: UnsafeRawBufferPointer, aad: [UInt8], key: SymmetricKey, nonce: [UInt8]? = nil) throws -> [UInt8] {
        let n = try nonce.map { try ChaChaPoly.Nonce(data: $0) } ?? ChaChaPoly.Nonce()
        let box = try ChaChaPoly.seal(plain, using: key, nonce: n, authenticating: aad)
        return Array(box.combined)
    }

    /// The plaintext of a sealed frame payload; nil when it does not open (wrong key, or changed).
    public static func open(_ stored: UnsafeRawBufferPointer, aad: [UInt8], key: SymmetricKey) -> [UInt8]? {
        guard stored.count >= overhead, let box = try? ChaChaPoly.SealedBox(combined: stored),
              let plain = try? ChaChaPoly.open(box, using: key, authenticating: aad) else { return nil }
        return Array(plain)
    }
}

/// The encryption keys this process holds, by key id: what readers decrypt with. A tool fills it
/// from its `--decrypt-key` files (or replica.json's) before it reads a segment.
public enum SegmentKeyring {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var keys: [[UInt8]: SegmentCipher] = [:]

    public static func add(_ cipher: SegmentCipher) {
        lock.lock(); defer { lock.unlock() }
        keys[cipher.keyID] = cipher
    }

    public static func cipher(for id: [UInt8]) -> SegmentCipher? {
        lock.lock(); defer { lock.unlock() }
        return keys[id]
    }

    public static func removeAll() {
        lock.lock(); defer { lock.unlock() }
        keys = [:]
    }

    public static var keyIDs: [String] {
        lock.lock(); defer { lock.unlock() }
        return keys.keys.map(SegmentSignature.keyIDText).sorted()
    }
}

/// Encryption key files: text, three lines, mode 0600 or 0400, owned by the user:
///
///     logship-chacha20poly1305-key 1
///     key-id 01234567
///     <base64 of the 32 key bytes>
public enum EncryptionKeyFile {
    public static let tag = "logship-chacha20poly1305-key 1"

    /// Writes a new random key to `path` (0600, never overwriting). Returns its key id.
    @discardableResult
    public static func generate(_ path: String) throws -> String {
        guard access(path, F_OK) != 0 else {
            throw FormatError(.invalidArgument, "\(path) already exists; key files are never overwritten", path: path,
                              hint: "move the old key away first, or choose another path")
        }
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Array($0) }
        let cipher = SegmentCipher(keyBytes: bytes)
        try SigningKeyFile.write("\(tag)\nkey-id \(cipher.keyIDText)\n\(Data(bytes).base64EncodedString())\n", to: path, mode: 0o600)
        return cipher.keyIDText
    }

    /// Retires the key at `path` into `retiredDirectory` (as `<key id>.key`, 0600, in a 0700
    /// directory) and puts a new random key in its place, so that the old one is never off the
    /// disk: the master still reads (and finishes) the segments it encrypted. The copy is durable
    /// before the new key replaces the old by a rename. Rerun after a crash in between, it finds
    /// the retired copy already there and goes on. Returns the two key ids.
    public static func rotate(_ path: String, retiredDirectory: String) throws -> (retired: String, new: String) {
        let old = try read(path)
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw FormatError(.io, "unable to read \(path): \(error.localizedDescription)", path: path)
        }
        do { try FilePermissions.createDirectory(retiredDirectory) } catch let e as SystemError {
            throw FormatError(.io, "unable to create \(retiredDirectory): \(e.message)", path: retiredDirectory)
        }
        let retiredPath = retiredDirectory + "/\(old.keyIDText).key"
        if access(retiredPath, F_OK) == 0 {
            guard try read(retiredPath).keyID == old.keyID else {
                throw FormatError(.corrupted, "\(retiredPath) holds another key than its name says", path: retiredPath)
            }
        } else {
            try SigningKeyFile.write(text, to: retiredPath, mode: 0o600)
        }
        let fresh = path + ".new-\(getpid())"
        unlink(fresh)
        let id = try generate(fresh)
        do {
            try DurableFile.rename(fresh, to: path)
            let dir = (path as NSString).deletingLastPathComponent
            try DurableFile.syncDirectory(dir.isEmpty ? "." : dir)
        } catch let e as SystemError {
            unlink(fresh)
            throw FormatError(.io, "unable to put the new key in place of \(path): \(e.message)", path: path)
        }
        return (old.keyIDText, id)
    }

    /// Every `*.key` in `directory` (none when it does not exist), read as `read` does and added
    /// to the keyring: retired keys, for reading the segments they encrypted.
    @discardableResult
    public static func registerAll(in directory: String) throws -> [SegmentCipher] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".key") }.sorted()
        return try names.map { try read(directory + "/" + $0, register: true) }
    }

    /// Reads a key, refusing a file others can read or write (exit 14), and adds it to the keyring
    /// when `register` is set.
    public static func read(_ path: String, register: Bool = false) throws -> SegmentCipher {
        let raw = try SigningKeyFile.read(path, tag: tag, forbidden: 0o077, idLength: 4,
                                          what: "an encryption key must be readable by its owner only (chmod 600)")
        let cipher = SegmentCipher(keyBytes: raw.bytes)
        guard cipher.keyID == raw.id else {
            throw FormatError(.corrupted, "\(path) says key id \(SegmentSignature.keyIDText(raw.id)) but its key has id \(cipher.keyIDText)", path: path)
        }
        if register { SegmentKeyring.add(cipher) }
        return cipher
    }
}
