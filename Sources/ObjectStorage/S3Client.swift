import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An S3-compatible client over libcurl (`CurlTransport`): Signature V4, retries with backoff and
/// jitter, a bandwidth limit, and errors that name the target, bucket and key. Operations are in
/// `S3Client+Objects.swift` (list, head, get, put, delete) and `S3Client+Multipart.swift`.
/// Synchronous; one client may be used from several threads.
public final class S3Client: @unchecked Sendable {
    public let configuration: S3Configuration
    let transport: HTTPTransport
    let signer: SigV4Signer
    let limiter: BandwidthLimiter?
    /// The clock used for signing; tests move it to provoke RequestTimeTooSkewed.
    let now: @Sendable () -> Date
    /// Sleeps between retries; tests replace it to stay fast.
    let sleep: @Sendable (TimeInterval) -> Void
    private let randomLock = NSLock()
    private var random = SystemRandomNumberGenerator()

    public init(_ configuration: S3Configuration, transport: HTTPTransport? = nil,
                now: @escaping @Sendable () -> Date = { Date() },
                sleep: @escaping @Sendable (TimeInterval) -> Void = { Thread.sleep(forTimeInterval: $0) }) throws {
        try configuration.validate()
        self.configuration = configuration
        self.transport = transport ?? CurlTransport(timeout: configuration.requestTimeout)
        self.signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        self.limiter = configuration.bandwidthLimit.map(BandwidthLimiter.init(bytesPerSecond:))
        self.now = now
        self.sleep = sleep
    }

    /// One S3 call before signing: method, key (nil for the bucket), query and extra headers.
    struct Call {
        var method: String
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body = Data()
        /// What this call is, for messages: "put", "list", "upload part 3".
        var operation: String
        /// The body's SHA-256 in hex when the caller has it already (signing needs it).
        var bodySHA256Hex: String? = nil
    }

    /// The host header and the encoded path for a key under the configured addressing.
    func location(_ key: String?) -> (host: String, path: String) {
        let endpoint = configuration.endpoint
        var host = endpoint.host ?? ""
        if let port = endpoint.port { host += ":\(port)" }
        let base = endpoint.path.hasSuffix("/") ? String(endpoint.path.dropLast()) : endpoint.path
        let encodedKey = key.map { "/" + S3Encoding.encode($0, keepSlash: true) } ?? "/"
        switch configuration.addressing {
        case .path:
            let bucketPath = base + "/" + S3Encoding.encode(configuration.bucket, keepSlash: false)
            return (host, key == nil ? bucketPath : bucketPath + encodedKey)
        case .virtualHost:
            return (configuration.bucket + "." + host, base + encodedKey)
        }
    }

    /// The signed URLRequest for a call at a given time.
    func urlRequest(_ call: Call, date: Date) throws -> URLRequest {
        let (host, path) = location(call.key)
        let payloadHash = configuration.payloadSigning == .unsigned && !call.body.isEmpty
            ? SigV4Signer.unsignedPayload : (call.bodySHA256Hex ?? SigV4Signer.sha256Hex(call.body))
        var signable = SignableRequest(method: call.method, encodedPath: path, query: call.query,
                                       headers: [("host", host)] + call.headers, payloadHash: payloadHash)
        signer.sign(&signable, date: date)
        let query = SigV4Signer.canonicalQuery(call.query)
        let scheme = configuration.endpoint.scheme?.lowercased() ?? "https"
        guard let url = URL(string: "\(scheme)://\(host)\(path)" + (query.isEmpty ? "" : "?\(query)")) else {
            throw ObjectStorageError(.config, "unable to build a URL for \(call.operation)", target: configuration.name,
                                     bucket: configuration.bucket, key: call.key, hint: "check the endpoint and the key for unusual characters")
        }
        var request = URLRequest(url: url, timeoutInterval: configuration.requestTimeout)
        request.httpMethod = call.method
        for (name, value) in signable.headers where name.lowercased() != "host" { request.setValue(value, forHTTPHeaderField: name) }
        if !call.body.isEmpty || call.method == "PUT" || call.method == "POST" {
            request.httpBody = call.body
            if signable.header("content-type") == nil { request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type") }
        }
        return request
    }

    /// Sends a call, retrying what is worth retrying, and returns the first answer that is neither
    /// a retryable failure nor an error status (errors become `ObjectStorageError`). Statuses in
    /// `accept` (404 for HEAD, 412 for conditional puts) are returned rather than thrown.
    func perform(_ call: Call, accept: Set<Int> = []) throws -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            let outcome = attemptOnce(call, accept: accept)
            switch outcome {
            case .success(let response): return response
            case .failure(let failure):
                guard failure.retryable, attempt < configuration.retry.maxAttempts else { throw failure.error(attempts: attempt) }
                randomLock.lock()
                let delay = configuration.retry.delay(beforeRetry: attempt, using: &random)
                randomLock.unlock()
                sleep(delay)
            }
        }
    }

    private func attemptOnce(_ call: Call, accept: Set<Int>) -> Result<HTTPResponse, AttemptFailure> {
        do {
            let request = try urlRequest(call, date: now())
            limiter?.acquire(call.body.count)
            let response = try transport.send(request)
            limiter?.account(response.body.count)
            if (200..<300).contains(response.status) || accept.contains(response.status) { return .success(response) }
            return .failure(AttemptFailure(errorResponse: response, call: call, client: self))
        } catch let e as ObjectStorageError {
            return .failure(AttemptFailure(fixed: e))
        } catch let f as TransportFailure {
            return .failure(AttemptFailure(transport: f, call: call, client: self))
        } catch {
            return .failure(AttemptFailure(fixed: makeError(.unavailable, "unable to \(call.operation): \(error)", key: call.key)))
        }
    }

    /// An error about this client's target and bucket.
    func makeError(_ kind: ObjectStorageError.Kind, _ message: String, key: String?, code: String? = nil,
                   hint: String? = nil) -> ObjectStorageError {
        ObjectStorageError(kind, message, target: configuration.name, bucket: configuration.bucket, key: key, code: code, hint: hint)
    }
}
