import Foundation

/// Every failure of the S3 client: what went wrong, which target, bucket and key it concerns and,
/// where the operator can act, a hint. Shaped like `ShipError` (a kind, a message, the subject
/// and a hint) so the S3 target can lift it into the shipping error with its exit code.
public struct ObjectStorageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The server rejected the credentials: unknown access key or a signature that does not match.
        case credentials = "wrong credentials"
        /// The credentials are valid but lack a permission (403 AccessDenied).
        case accessDenied = "access denied"
        /// The bucket does not exist (NoSuchBucket).
        case noSuchBucket = "no such bucket"
        /// The object does not exist (NoSuchKey, or 404 on a key).
        case noSuchKey = "no such key"
        /// The local clock is too far from the server's for Signature V4 (RequestTimeTooSkewed).
        case clockSkew = "clock skew"
        /// The endpoint does not speak S3: not XML, an unexpected answer, or nothing listening.
        case notS3 = "not an S3 endpoint"
        /// A put-if-absent found an object with different content under the key.
        case alreadyExists = "already exists"
        /// What the server stored disagrees with what was sent (checksum, ETag or read-back).
        case checksumMismatch = "checksum mismatch"
        /// The object is under an object lock (retention or legal hold) and cannot be deleted yet.
        case retained
        /// Retries were exhausted on 5xx, throttling, dropped connections or truncated bodies.
        case unavailable
        /// Missing credentials, a bad endpoint URL or option.
        case config = "configuration error"
        /// Any other request the server refused (the S3 error code is in the message).
        case rejected
    }

    public var kind: Kind
    public var message: String
    /// The target name as the user configured it, when known.
    public var target: String?
    public var bucket: String?
    public var key: String?
    /// The S3 error code the server returned (`NoSuchBucket`, `SlowDown`...), when it returned one.
    public var code: String?
    public var hint: String?

    public init(_ kind: Kind, _ message: String, target: String? = nil, bucket: String? = nil, key: String? = nil,
                code: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.target = target
        self.bucket = bucket
        self.key = key
        self.code = code
        self.hint = hint
    }

    public var description: String {
        var text = (target.map { "target \($0): " } ?? "") + message
        var subject: [String] = []
        if let bucket { subject.append("bucket \(bucket)") }
        if let key { subject.append("key \(key)") }
        if let code { subject.append("S3 code \(code)") }
        if !subject.isEmpty { text += " (" + subject.joined(separator: ", ") + ")" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}
