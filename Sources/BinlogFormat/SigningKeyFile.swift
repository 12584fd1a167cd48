import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Signing key files (docs/OPERATIONS.md, "Signing and encryption"). Text, three lines:
///
///     logship-ed25519-private-key 1          (or logship-ed25519-public-key 1)
///     key-id 0123456789abcdef
///     <base64 of the 32 raw key bytes>
///
/// A private key file must be a regular file owned by the user and closed to group and others
/// (mode 0600 or 0400); a public key file must not be writable by group or others (whoever can
/// replace it decides what is genuine). Keys are never printed: messages name the file and the
/// key id only.
public enum SigningKeyFile {
    public static let privateTag = "logship-ed25519-private-key 1"
    public static let publicTag = "logship-ed25519-public-key 1"

    /// Writes a new key pair: `privatePath` (0600, created exclusively) and `publicPath` (0644).
    /// Returns the key id. Refuses to overwrite either file.
    @discardableResult
    public static func generate(privatePath: String, publicPath: String) throws -> String {
        for p in [privatePath, publicPath] where access(p, F_OK) == 0 {
            throw FormatError(.invalidArgument, "\(p) already exists; key files are never overwritten", path: p,
                              hint: "move the old key away first, or choose another path")
        }
        let key = Curve25519.Signing.PrivateKey()
        let id = SegmentSignature.keyIDText(SegmentSignature.keyID(of: key.publicKey))
        try write("\(privateTag)\nkey-id \(id)\n\(key.rawRepresentation.base64EncodedString())\n", to: privatePath, mode: 0o600)
        do {
            try write("\(publicTag)\nkey-id \(id)\n\(key.publicKey.rawRepresentation.base64EncodedString())\n", to: publicPath, mode: 0o644)
        } catch {
            unlink(privatePath)
            throw error
        }
        return id
    }

    /// Writes `key` as a public key file at `path` (0644, never overwriting). Returns its key id.
    @discardableResult
    public static func writePublic(_ key: Curve25519.Signing.PublicKey, to path: String) throws -> String {
        let id = SegmentSignature.keyIDText(SegmentSignature.keyID(of: key))
        try write("\(publicTag)\nkey-id \(id)\n\(key.rawRepresentation.base64EncodedString())\n", to: path, mode: 0o644)
        return id
    }

    /// Reads a private key, refusing a file others can read or write.
    public static func readPrivate(_ path: String) throws -> SegmentSigner {
        let raw = try read(path, tag: privateTag, forbidden: 0o077, what: "a private key must be readable by its owner only (chmod 600)")
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.bytes) else {
            throw FormatError(.corrupted, "\(path) does not hold a valid Ed25519 private key", path: path)
        }
        let signer = SegmentSigner(key)
        guard signer.keyID == raw.id else {
            throw FormatError(.corrupted, "\(path) says key id \(SegmentSignature.keyIDText(raw.id)) but its key has id \(SegmentSignature.keyIDText(signer.keyID))", path: path)
        }
        return signer
    }

    /// Reads a public key, refusing a file that group or others can write.
    public static func readPublic(_ path: String) throws -> Curve25519.Signing.PublicKey {
        let raw = try read(path, tag: publicTag, forbidden: 0o022, what: "a trusted public key must not be writable by group or others (chmod 644)")
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw.bytes) else {
            throw FormatError(.corrupted, "\(path) does not hold a valid Ed25519 public key", path: path)
        }
        guard SegmentSignature.keyID(of: key) == raw.id else {
            throw FormatError(.corrupted, "\(path) says key id \(SegmentSignature.keyIDText(raw.id)) but its key has id \(SegmentSignature.keyIDText(SegmentSignature.keyID(of: key)))", path: path)
        }
        return key
    }

    static func read(_ path: String, tag: String, forbidden: mode_t, idLength: Int = 8, what: String) throws -> (bytes: [UInt8], id: [UInt8]) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw FormatError(e == ELOOP ? .invalidArgument : .io, "unable to open key file \(path): \(String(cString: strerror(e)))" + (e == ELOOP ? " (a symbolic link; key files are opened without following links)" : ""), path: path)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError(.invalidArgument, "key file \(path) is not a regular file", path: path)
        }
        guard st.st_uid == geteuid() || geteuid() == 0 else {
            throw FormatError(.io, "key file \(path) belongs to uid \(st.st_uid), not to this user (uid \(geteuid())); refused", path: path)
        }
        guard st.st_mode & forbidden == 0 else {
            throw FormatError(.io, "key file \(path) has mode \(String(st.st_mode & 0o777, radix: 8)); refused: \(what)", path: path)
        }
        var data = [UInt8](repeating: 0, count: 4096)
        let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0, n < 4096, let text = String(bytes: data[0..<n], encoding: .utf8) else {
            throw FormatError(.corrupted, "\(path) is not a logship key file", path: path)
        }
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count == 3, lines[0] == tag, lines[1].hasPrefix("key-id "), let id = hexBytes(String(lines[1].dropFirst(7))), id.count == idLength,
              let raw = Data(base64Encoded: lines[2]), raw.count == 32 else {
            throw FormatError(.corrupted, "\(path) is not a logship key file (expected a first line \"\(tag)\")", path: path)
        }
        return (Array(raw), id)
    }

    private static func hexBytes(_ s: String) -> [UInt8]? {
        guard s.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            guard let b = UInt8(s[i..<j], radix: 16) else { return nil }
            out.append(b)
            i = j
        }
        return out
    }

    /// Writes `text` to a temp file created with `mode` (never wider, whatever the umask),
    /// fsyncs it, links it into place (failing if the name exists) and fsyncs the directory.
    static func write(_ text: String, to path: String, mode: mode_t) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw FormatError(.io, "unable to create \(tmp): \(String(cString: strerror(errno)))", path: tmp)
        }
        defer { unlink(tmp) }
        let bytes = Array(text.utf8)
        let ok = fchmod(fd, mode) == 0 && bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count && fsync(fd) == 0
        let e = errno
        close(fd)
        guard ok else { throw FormatError(.io, "unable to write \(tmp): \(String(cString: strerror(e)))", path: tmp) }
        guard link(tmp, path) == 0 else {
            throw FormatError(errno == EEXIST ? .invalidArgument : .io, "unable to create \(path): \(String(cString: strerror(errno)))", path: path)
        }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
