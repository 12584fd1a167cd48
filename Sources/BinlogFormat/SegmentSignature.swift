import Crypto
import Foundation

/// Ed25519 signatures of sealed segments (docs/FORMAT.md §5.1).
///
/// The signed message is
///
///     "LSHPSIG1" (8 bytes) ‖ header (80 bytes) ‖ SHA-256 of bytes 0..<footer offset (32 bytes) ‖ footer bytes 0..<88
///
/// The header names the source id, epoch, sequence and first LSN; the SHA-256 covers header and
/// every frame; the footer bytes hold last LSN, counts, the XXH3 checksums and the key id. The
/// XXH3 checksums guard against accidents only: a forger can find XXH3 collisions, which is why
/// the signature covers a SHA-256 of the data and not the footer's checksum alone.
public enum SegmentSignature {
    public static let domain: [UInt8] = Array("LSHPSIG1".utf8)

    public static func message(header: [UInt8], contentSHA256: [UInt8], footer: SegmentFooter) -> [UInt8] {
        precondition(header.count == SegmentHeader.size && contentSHA256.count == 32)
        return domain + header + contentSHA256 + Array(footer.signedPart())
    }

    /// The id of a public key: the first 8 bytes of SHA-256 of its 32 raw bytes.
    public static func keyID(of publicKey: Curve25519.Signing.PublicKey) -> [UInt8] {
        Array(SHA256.hash(data: publicKey.rawRepresentation).prefix(8))
    }

    public static func keyIDText(_ id: [UInt8]) -> String {
        id.map { String(format: "%02x", $0) }.joined()
    }
}

/// The private key a master signs sealed segments with.
public struct SegmentSigner: @unchecked Sendable {
    let key: Curve25519.Signing.PrivateKey
    public let keyID: [UInt8]

    public init(_ key: Curve25519.Signing.PrivateKey) {
        self.key = key
        keyID = SegmentSignature.keyID(of: key.publicKey)
    }

    public var publicKey: Curve25519.Signing.PublicKey { key.publicKey }

    /// Fills in `footer`'s key id and signature.
    public func sign(_ footer: inout SegmentFooter, header: [UInt8], contentSHA256: [UInt8]) throws {
        footer.keyID = keyID
        footer.signature = Array(repeating: 0, count: 64)
        let message = SegmentSignature.message(header: header, contentSHA256: contentSHA256, footer: footer)
        footer.signature = Array(try key.signature(for: message))
    }
}

/// The public keys a reader trusts, by key id. With `required` set, an unsigned segment or one
/// whose key is not trusted is refused; signatures that do not verify are always refused.
public struct SegmentVerifier: @unchecked Sendable {
    public private(set) var keys: [[UInt8]: Curve25519.Signing.PublicKey] = [:]
    public var required: Bool

    public init(keys: [Curve25519.Signing.PublicKey] = [], required: Bool = true) {
        self.required = required
        for k in keys { self.keys[SegmentSignature.keyID(of: k)] = k }
    }

    public var keyIDs: [String] { keys.keys.map(SegmentSignature.keyIDText).sorted() }

    /// Checks the signature of a sealed segment that `reader` has read to its end (`verifyAll`).
    /// An active segment or a partial copy carries no signature: refused when `required`.
    public func check(_ reader: SegmentReader) throws {
        guard let footer = reader.footer else {
            guard !required else {
                throw FormatError(.corrupted, "segment is not sealed, so it carries no signature; signatures are required here",
                                  path: reader.path, hint: "signed replicas apply sealed segments only; the active segment is applied once the master seals it")
            }
            return
        }
        guard footer.isSigned else {
            guard !required else {
                throw FormatError(.corrupted, "segment is not signed (format version \(reader.header.version)); signatures are required here (trusted key ids \(keyIDs.joined(separator: ", ")))",
                                  path: reader.path, offset: reader.dataEndOffset, hint: "a segment written before the master had a signing key, or a forged one; see docs/OPERATIONS.md, \"Signing and encryption\"")
            }
            return
        }
        let id = SegmentSignature.keyIDText(footer.keyID)
        guard let key = keys[footer.keyID] else {
            guard !required && keys.isEmpty else {
                throw FormatError(.corrupted, "segment is signed by key id \(id), which is not trusted here (trusted: \(keyIDs.isEmpty ? "none" : keyIDs.joined(separator: ", ")))",
                                  path: reader.path, offset: reader.dataEndOffset + 80, hint: "add the master's public key \(id) to the trusted keys if it is genuine (key rotation)")
            }
            return
        }
        guard let digest = reader.contentSHA256 else {
            throw FormatError(.corrupted, "segment was not read to its end before its signature was checked", path: reader.path)
        }
        let message = SegmentSignature.message(header: reader.header.encoded(), contentSHA256: digest, footer: footer)
        guard key.isValidSignature(footer.signature, for: message) else {
            throw FormatError(.corrupted, "bad signature: the segment was changed after key id \(id) signed it, or the signature is forged",
                              path: reader.path, offset: reader.dataEndOffset + 88)
        }
    }
}
