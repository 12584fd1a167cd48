import Foundation

/// One entry of a listing.
public struct S3ListEntry: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var etag: String
}

/// What HEAD says about an object.
public struct S3ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// The ETag without quotes: the MD5 of a single-part object, `md5-of-md5s-N` for a multipart one.
    public var etag: String
    /// Base64 SHA-256 when the server keeps one (x-amz-checksum-sha256).
    public var checksumSHA256: String?
    /// Object lock: mode (GOVERNANCE/COMPLIANCE), retain-until date, legal hold, when returned.
    public var lockMode: String?
    public var retainUntil: Date?
    public var legalHold: Bool

    /// True when an object lock keeps this object from being deleted at `date`.
    public func isRetained(at date: Date = Date()) -> Bool {
        legalHold || (retainUntil.map { $0 > date } ?? false)
    }
}

/// How a put-if-absent is protected against overwriting an object written meanwhile.
public enum ConditionalPutSupport: String, Sendable {
    /// The server honours `If-None-Match: *`: the put is atomic against a concurrent writer.
    case enforced = "if-none-match"
    /// The server ignores it: HEAD before the put and a checksum check after. A writer racing in
    /// the window between the two can be overwritten; the check after reports it.
    case headThenPut = "head-then-put"
}

/// How the content of a stored object was confirmed to be what was sent.
public enum PutVerification: String, Sendable {
    /// The server returned x-amz-checksum-sha256 and it matched.
    case checksumSHA256 = "sha256"
    /// The single-part ETag (an MD5) matched.
    case etagMD5 = "etag-md5"
    /// The multipart ETag (MD5 of the parts' MD5s, with the part count) matched, each part's
    /// ETag checked against its MD5.
    case multipartETag = "multipart-etag"
    /// Every part's SHA-256 was checked by the server (it echoed x-amz-checksum-sha256), and the
    /// object's multipart ETag is the one of those parts.
    case partChecksumSHA256 = "part-sha256"
    /// Nothing usable came back, so the object was read back and compared byte for byte.
    case readBack = "read-back"
}

/// The outcome of a put.
public struct PutResult: Sendable, Equatable {
    /// False when put-if-absent found the same content already there (a rerun after a crash).
    public var created: Bool
    public var etag: String
    public var verification: PutVerification
    public var guarantee: ConditionalPutSupport?
}

/// An object lock to put on a new object: mode and retain-until date (the bucket must have been
/// created with object lock enabled).
public struct S3Retention: Sendable, Equatable {
    public enum Mode: String, Sendable { case governance = "GOVERNANCE", compliance = "COMPLIANCE" }
    public var mode: Mode
    public var until: Date

    public init(mode: Mode, until: Date) {
        self.mode = mode
        self.until = until
    }

    var headers: [(String, String)] {
        [("x-amz-object-lock-mode", mode.rawValue), ("x-amz-object-lock-retain-until-date", ISO8601DateFormatter().string(from: until))]
    }
}
