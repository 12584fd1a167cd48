import Foundation

/// Where a bucket is and how to talk to it. Defaults suit AWS; a MinIO, SeaweedFS or Ceph
/// endpoint usually wants `addressing: .path`.
public struct S3Configuration: Sendable {
    /// Virtual-host style puts the bucket in the host name (`bucket.s3.example.com/key`), path
    /// style in the path (`s3.example.com/bucket/key`).
    public enum Addressing: String, Sendable { case path, virtualHost = "virtual-host" }

    /// How a body is covered by the signature: its SHA-256 (the server rejects a body changed in
    /// flight) or `UNSIGNED-PAYLOAD` (cheaper; integrity then rests on the checksum headers).
    public enum PayloadSigning: String, Sendable { case sha256, unsigned }

    /// The target's name as the user wrote it, used in errors.
    public var name: String
    public var endpoint: URL
    public var region: String
    public var bucket: String
    public var addressing: Addressing
    public var credentials: S3Credentials
    public var payloadSigning: PayloadSigning = .sha256
    /// Bodies larger than this go up in parts (S3 allows single PUTs up to 5 GiB); a streamed
    /// body (`S3BodySource`) is held in memory whole only up to this size.
    public var multipartThreshold: Int = 8 << 20
    /// The size of each part but the last (S3's minimum is 5 MiB).
    public var partSize: Int = 8 << 20
    /// How many parts of a streamed body are in flight at once (each held in memory while it is
    /// sent): one request at a time left the link idle while the client hashed and the server
    /// stored (binlog-ship reached half of awscli's throughput, tools/bench/s3).
    public var partConcurrency: Int = 4
    public var retry: RetryPolicy = RetryPolicy()
    /// Seconds without progress on one request before it is abandoned (and retried).
    public var requestTimeout: TimeInterval = 60
    /// Average bytes per second sent and received, nil for no limit.
    public var bandwidthLimit: Int?

    public init(name: String, endpoint: URL, region: String, bucket: String, addressing: Addressing = .path,
                credentials: S3Credentials) {
        self.name = name
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.addressing = addressing
        self.credentials = credentials
    }

    /// Checks what a server would reject less clearly.
    public func validate() throws {
        guard let scheme = endpoint.scheme?.lowercased(), ["http", "https"].contains(scheme), endpoint.host != nil else {
            throw ObjectStorageError(.config, "unable to use endpoint \(endpoint.absoluteString): not an http(s) URL",
                                     target: name, hint: "write the endpoint as https://host[:port]")
        }
        guard !bucket.isEmpty, !bucket.contains("/") else {
            throw ObjectStorageError(.config, "unable to use bucket name \"\(bucket)\"", target: name,
                                     hint: "name the bucket alone; a key prefix goes after it (s3://bucket/prefix)")
        }
        guard partSize >= 5 << 20 else {
            throw ObjectStorageError(.config, "unable to use part size \(partSize): S3 requires at least 5 MiB (5242880 bytes)",
                                     target: name, bucket: bucket, hint: "raise the part size to 5 MiB or more")
        }
        if let bandwidthLimit, bandwidthLimit <= 0 {
            throw ObjectStorageError(.config, "unable to use bandwidth limit \(bandwidthLimit)", target: name,
                                     hint: "give a positive number of bytes per second, or no limit")
        }
    }
}

/// Exponential backoff with full jitter: before retry n (1-based) the client sleeps a random
/// time in [0, min(maxDelay, baseDelay·2^(n-1))], so many clients throttled together spread out.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first one included.
    public var maxAttempts: Int = 6
    public var baseDelay: TimeInterval = 0.2
    public var maxDelay: TimeInterval = 10

    public init(maxAttempts: Int = 6, baseDelay: TimeInterval = 0.2, maxDelay: TimeInterval = 10) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The ceiling of the jittered delay before retry `retry` (1-based).
    public func ceiling(beforeRetry retry: Int) -> TimeInterval {
        min(maxDelay, baseDelay * pow(2, Double(max(0, retry - 1))))
    }

    /// A delay drawn uniformly in [0, ceiling].
    public func delay<G: RandomNumberGenerator>(beforeRetry retry: Int, using generator: inout G) -> TimeInterval {
        let top = ceiling(beforeRetry: retry)
        return top <= 0 ? 0 : Double.random(in: 0...top, using: &generator)
    }
}
