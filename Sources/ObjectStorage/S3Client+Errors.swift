import Foundation

/// One failed attempt: whether another try may help, and the error to report if not.
struct AttemptFailure: Error {
    var retryable: Bool
    private var make: @Sendable (Int) -> ObjectStorageError

    func error(attempts: Int) -> ObjectStorageError { make(attempts) }

    init(fixed: ObjectStorageError) {
        retryable = false
        make = { _ in fixed }
    }

    /// Below HTTP: every kind is worth another try (a dropped connection, a timeout, a short body,
    /// a server restarting); after the last try, a refused connection says the endpoint is wrong.
    init(transport f: TransportFailure, call: S3Client.Call, client: S3Client) {
        retryable = true
        let endpoint = client.configuration.endpoint.absoluteString
        make = { attempts in
            switch f.kind {
            case .refused:
                return client.makeError(.notS3, "unable to \(call.operation): cannot connect to \(endpoint) (\(f.detail))", key: call.key,
                                        hint: "check the endpoint URL and that the S3 server is running and reachable")
            default:
                return client.makeError(.unavailable, "unable to \(call.operation) after \(attempts) attempts: \(f.detail)", key: call.key,
                                        hint: "the network or the server is failing; rerun later, or raise the timeout or the attempt count")
            }
        }
    }

    /// An HTTP error status, classified by the S3 error code in its body.
    init(errorResponse r: HTTPResponse, call: S3Client.Call, client: S3Client) {
        let document = S3ErrorDocument(r.body)
        let code = document?.code ?? r.header("x-amz-error-code")
        let throttled = r.status == 429 || r.status == 503 || ["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"].contains(code ?? "")
        let transient = r.status >= 500 || ["RequestTimeout", "InternalError", "BadDigest", "XAmzContentSHA256Mismatch"].contains(code ?? "")
        retryable = throttled || transient
        make = { attempts in
            if throttled || transient {
                return client.makeError(.unavailable, "unable to \(call.operation) after \(attempts) attempts: HTTP \(r.status)"
                                        + (document.map { " \($0.code): \($0.message)" } ?? ""), key: call.key, code: code,
                                        hint: throttled ? "the server is throttling; lower the bandwidth or rerun later" : "the server is failing; rerun later")
            }
            if let skew = Self.clockSkew(r, client: client) {
                let off = skew == 0 ? "too far off the server's" : "\(skew) s off the server's"
                return client.makeError(.clockSkew, "unable to \(call.operation): this machine's clock is \(off) (HTTP \(r.status)"
                                        + (document.map { " \($0.code): \($0.message)" } ?? "") + ")", key: call.key, code: code,
                                        hint: "set this machine's clock right (chrony or systemd-timesyncd); Signature V4 allows 15 minutes of skew")
            }
            return Self.classify(status: r.status, body: r.body, document: document, code: code, call: call, client: client)
        }
    }

    /// Seconds between the server's Date header and the signing clock, when a 4xx comes with more
    /// than Signature V4's 15 minutes between them (0 when the skew is known but not its size).
    /// Not every server says RequestTimeTooSkewed (rclone answers AccessDenied, a HEAD carries no
    /// code at all); the Date header tells anyway.
    static func clockSkew(_ r: HTTPResponse, client: S3Client) -> Int? {
        if r.status == 403, let doc = S3ErrorDocument(r.body), doc.code == "AccessDenied",
           doc.message.lowercased().contains("request time") {
            // rclone's words for RequestTimeTooSkewed, with no Date header to measure by.
            return 0
        }
        guard (400..<500).contains(r.status), let text = r.header("date") else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let serverDate = f.date(from: text) else { return nil }
        let skew = Int(client.now().timeIntervalSince(serverDate).rounded())
        return abs(skew) > 15 * 60 ? skew : nil
    }

    static func classify(status: Int, body: Data, document: S3ErrorDocument?, code: String?, call: S3Client.Call,
                         client: S3Client) -> ObjectStorageError {
        let config = client.configuration
        let op = "unable to \(call.operation)"
        let said = document.map { ": \($0.code): \($0.message)" } ?? ": HTTP \(status)"
        switch code {
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidSecurity", "AuthorizationHeaderMalformed":
            return client.makeError(.credentials, op + said, key: call.key, code: code,
                                    hint: "check the access key and secret (from \(config.credentials.source)) and the region \(config.region)")
        case "AccessDenied", "AllAccessDisabled":
            return client.makeError(.accessDenied, op + said, key: call.key, code: code,
                                    hint: "grant the permissions listed in docs/SHIPPING.md (\"Minimal IAM policy\") on bucket \(config.bucket)")
        case "NoSuchBucket":
            return client.makeError(.noSuchBucket, op + said, key: call.key, code: code,
                                    hint: "create bucket \(config.bucket) at \(config.endpoint.absoluteString), or fix the bucket name or endpoint")
        case "NoSuchKey":
            return client.makeError(.noSuchKey, op + said, key: call.key, code: code, hint: nil)
        case "RequestTimeTooSkewed":
            return client.makeError(.clockSkew, op + said, key: call.key, code: code,
                                    hint: "set this machine's clock right (chrony or systemd-timesyncd); Signature V4 allows 15 minutes of skew")
        case "PreconditionFailed", "ConditionalRequestConflict":
            return client.makeError(.alreadyExists, op + said, key: call.key, code: code,
                                    hint: "an object already holds this key; logship never overwrites one")
        case "ObjectLocked", "InvalidObjectState":
            return client.makeError(.retained, op + said, key: call.key, code: code,
                                    hint: "the object is under an object lock; it can be removed once its retention ends")
        case nil where !body.isEmpty:
            return client.makeError(.notS3, op + ": HTTP \(status) with a body that is not an S3 error document", key: call.key,
                                    hint: "check that \(config.endpoint.absoluteString) is an S3 endpoint (not a web page or proxy) and the addressing style (path or virtual-host)")
        case nil where status == 403:
            return client.makeError(.credentials, op + ": HTTP 403 without a reason (a HEAD carries none)", key: call.key,
                                    hint: "check the credentials (from \(config.credentials.source)), their permissions and this machine's clock")
        default:
            return client.makeError(.rejected, op + said, key: call.key, code: code, hint: nil)
        }
    }
}
