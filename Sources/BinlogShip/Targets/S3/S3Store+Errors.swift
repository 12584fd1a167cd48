import Foundation
import ObjectStorage

extension S3Store {
    /// The shipping error for a client error: the kind picks the exit code (docs/SHIPPING.md
    /// "S3 targets"): credentials, permissions, configuration and clock skew are the user's to
    /// fix (64); a missing bucket or an endpoint that is not S3 is a target not found (15); an
    /// object in the way or a checksum that disagrees is a conflict (3); exhausted retries and
    /// other refusals are I/O errors (14). The message keeps bucket, key and S3 code; the hint
    /// is the client's, which names the fix.
    func lift(_ e: ObjectStorageError) -> ShipError {
        var subject: [String] = []
        if let bucket = e.bucket { subject.append("bucket \(bucket)") }
        if let code = e.code { subject.append("S3 code \(code)") }
        let message = e.message + (subject.isEmpty ? "" : " (" + subject.joined(separator: ", ") + ")")
        return ShipError(Self.kind(of: e.kind), message, target: name, path: e.key.map { self.objectAddress($0) } ?? location, hint: e.hint)
    }

    /// `s3://bucket/key` for a full object key (the client's keys include the prefix).
    func objectAddress(_ fullKey: String) -> String { S3Address.scheme + s3Address.bucket + "/" + fullKey }

    static func kind(of kind: ObjectStorageError.Kind) -> ShipError.Kind {
        switch kind {
        case .credentials, .accessDenied, .config, .clockSkew: return .config
        case .noSuchBucket, .notS3, .noSuchKey: return .notFound
        case .alreadyExists, .checksumMismatch: return .corruption
        case .unavailable, .rejected, .retained: return .io
        }
    }
}
