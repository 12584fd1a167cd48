import CCurl
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import ObjectStorage
import XCTest

/// A transport that answers from a script and records what it was asked.
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    enum Step { case respond(Int, String, [String: String]), fail(TransportFailure.Kind) }
    private let lock = NSLock()
    private var steps: [Step]
    private(set) var requests: [URLRequest] = []

    init(_ steps: [Step]) { self.steps = steps }

    func send(_ request: URLRequest) throws -> HTTPResponse {
        lock.lock(); defer { lock.unlock() }
        requests.append(request)
        guard !steps.isEmpty else { return HTTPResponse(status: 200, headers: [:], body: Data()) }
        switch steps.removeFirst() {
        case .respond(let status, let body, let headers): return HTTPResponse(status: status, headers: headers, body: Data(body.utf8))
        case .fail(let kind): throw TransportFailure(kind: kind, detail: "scripted \(kind)")
        }
    }
}

/// Retries, backoff and error classification, without a server.
final class RetryTests: XCTestCase {
    final class Sleeps: @unchecked Sendable { var delays: [TimeInterval] = [] }

    func client(_ transport: ScriptedTransport, attempts: Int = 4, sleeps: Sleeps = Sleeps(), now: Date = Date()) throws -> S3Client {
        var config = S3Configuration(name: "offsite", endpoint: URL(string: "http://127.0.0.1:9")!, region: "us-east-1", bucket: "logs",
                                     credentials: S3Credentials(accessKeyId: "AKID", secretAccessKey: "secret"))
        config.retry = RetryPolicy(maxAttempts: attempts, baseDelay: 0.1, maxDelay: 0.3)
        return try S3Client(config, transport: transport, now: { now }, sleep: { sleeps.delays.append($0) })
    }

    static func error(_ code: String) -> String { "<?xml version=\"1.0\"?><Error><Code>\(code)</Code><Message>m</Message></Error>" }

    func testThrottlingServerErrorsAndDroppedConnectionsAreRetriedWithBoundedJitter() throws {
        let transport = ScriptedTransport([.respond(503, Self.error("SlowDown"), [:]), .respond(500, Self.error("InternalError"), [:]),
                                           .fail(.dropped), .fail(.truncated), .respond(429, "", [:]), .respond(200, "", ["etag": "\"x\""])])
        let sleeps = Sleeps()
        let c = try client(transport, attempts: 6, sleeps: sleeps)
        _ = try c.perform(S3Client.Call(method: "DELETE", key: "k", operation: "delete"))
        XCTAssertEqual(transport.requests.count, 6)
        XCTAssertEqual(sleeps.delays.count, 5)
        for (i, d) in sleeps.delays.enumerated() {
            XCTAssertGreaterThanOrEqual(d, 0)
            XCTAssertLessThanOrEqual(d, min(0.3, 0.1 * pow(2, Double(i))), "retry \(i + 1)")
        }
        XCTAssertEqual(RetryPolicy(maxAttempts: 6, baseDelay: 0.1, maxDelay: 0.3).ceiling(beforeRetry: 3), 0.3)
        XCTAssertEqual(RetryPolicy(maxAttempts: 6, baseDelay: 0.1, maxDelay: 0.3).ceiling(beforeRetry: 2), 0.2)
    }

    func testExhaustedRetriesNameTheOperationTargetBucketAndKey() throws {
        let transport = ScriptedTransport(Array(repeating: .respond(503, Self.error("SlowDown"), [:]), count: 3))
        XCTAssertThrowsError(try client(transport, attempts: 3).get("seg/0001")) { error in
            let e = error as? ObjectStorageError
            XCTAssertEqual(e?.kind, .unavailable)
            XCTAssertEqual(e?.description, """
            target offsite: unable to get after 3 attempts: HTTP 503 SlowDown: m (bucket logs, key seg/0001, S3 code SlowDown)
            HINT: the server is throttling; lower the bandwidth or rerun later
            """)
        }
        XCTAssertEqual(transport.requests.count, 3)
    }

    func testClientErrorsAreNotRetriedAndAreClassified() throws {
        let cases: [(String, Int, ObjectStorageError.Kind)] = [
            ("InvalidAccessKeyId", 403, .credentials), ("SignatureDoesNotMatch", 403, .credentials), ("AccessDenied", 403, .accessDenied),
            ("NoSuchBucket", 404, .noSuchBucket), ("RequestTimeTooSkewed", 403, .clockSkew), ("InvalidArgument", 400, .rejected),
        ]
        for (code, status, kind) in cases {
            let transport = ScriptedTransport([.respond(status, Self.error(code), [:])])
            XCTAssertThrowsError(try client(transport).list(prefix: "p/"), code) { error in
                XCTAssertEqual((error as? ObjectStorageError)?.kind, kind, code)
                XCTAssertEqual((error as? ObjectStorageError)?.code, code)
            }
            XCTAssertEqual(transport.requests.count, 1, code)
        }
        let html = ScriptedTransport([.respond(404, "<html><body>Not Found</body></html>", [:])])
        XCTAssertThrowsError(try client(html).list()) { XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .notS3) }
        let refused = ScriptedTransport([.fail(.refused), .fail(.refused)])
        XCTAssertThrowsError(try client(refused, attempts: 2).list()) { error in
            XCTAssertEqual((error as? ObjectStorageError)?.kind, .notS3)
            XCTAssertEqual((error as? ObjectStorageError)?.hint, "check the endpoint URL and that the S3 server is running and reachable")
        }
    }

    func testRequestsAreSignedWithPathOrVirtualHostAddressing() throws {
        let transport = ScriptedTransport([.respond(200, "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", [:])])
        _ = try client(transport).list(prefix: "a b/")
        let url = transport.requests.first?.url?.absoluteString
        XCTAssertEqual(url, "http://127.0.0.1:9/logs?list-type=2&max-keys=1000&prefix=a%20b%2F")
        XCTAssertTrue(transport.requests.first?.value(forHTTPHeaderField: "Authorization")?.hasPrefix("AWS4-HMAC-SHA256 Credential=AKID/") ?? false)
        var config = S3Configuration(name: "v", endpoint: URL(string: "https://s3.example.com")!, region: "eu-west-1", bucket: "logs",
                                     addressing: .virtualHost, credentials: S3Credentials(accessKeyId: "A", secretAccessKey: "S"))
        config.retry.maxAttempts = 1
        let v = try S3Client(config, transport: transport)
        XCTAssertEqual(v.location("seg/1").host, "logs.s3.example.com")
        XCTAssertEqual(v.location("seg/1").path, "/seg/1")
        XCTAssertEqual(try client(transport).location("seg/1").path, "/logs/seg/1")
    }

    func testBadOptionsAreRefusedBeforeAnyRequest() {
        var config = S3Configuration(name: "x", endpoint: URL(string: "ftp://h")!, region: "r", bucket: "b",
                                     credentials: S3Credentials(accessKeyId: "A", secretAccessKey: "S"))
        XCTAssertThrowsError(try S3Client(config)) { XCTAssertEqual(($0 as? ObjectStorageError)?.message, "unable to use endpoint ftp://h: not an http(s) URL") }
        config.endpoint = URL(string: "http://h")!
        config.partSize = 1 << 20
        XCTAssertThrowsError(try S3Client(config)) { XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .config) }
    }

    /// libcurl already fails on most short bodies; this check catches the rest (a body that ends
    /// where the connection closed, with no error from below).
    func testABodyShorterThanItsContentLengthIsTruncated() {
        let short = HTTPResponse(status: 200, headers: ["content-length": "10"], body: Data("12345".utf8))
        XCTAssertThrowsError(try CurlTransport.checkLength(short, method: "GET")) { error in
            XCTAssertEqual((error as? TransportFailure)?.kind, .truncated)
            XCTAssertEqual((error as? TransportFailure)?.detail, "body of 5 bytes, Content-Length 10")
        }
        XCTAssertNoThrow(try CurlTransport.checkLength(HTTPResponse(status: 200, headers: ["content-length": "10"], body: Data()), method: "HEAD"))
        XCTAssertNoThrow(try CurlTransport.checkLength(HTTPResponse(status: 200, headers: ["content-length": "5"], body: Data("12345".utf8)), method: "GET"))
    }

    /// The transport keeps the last response's headers (after a 100 Continue), lowercases their
    /// names and joins a repeated one; libcurl's failures map to what the retries expect.
    func testCurlHeadersAndFailureKinds() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nETag: \"abc\"\r\nX-Amz-Meta: a\r\nx-amz-meta: b\r\nContent-Length: 0\r\n\r\n"
        var bytes = Array(raw.utf8)
        let headers = bytes.withUnsafeMutableBytes { p in
            CurlTransport.headers(ccurl_buf(data: p.baseAddress!.assumingMemoryBound(to: CChar.self), len: p.count, cap: p.count, failed: 0))
        }
        XCTAssertEqual(headers, ["etag": "\"abc\"", "x-amz-meta": "a, b", "content-length": "0"])
        XCTAssertEqual(CurlTransport.kind(7), .refused)
        XCTAssertEqual(CurlTransport.kind(28), .timedOut)
        XCTAssertEqual(CurlTransport.kind(52), .dropped)
        XCTAssertEqual(CurlTransport.kind(56), .dropped)
        XCTAssertEqual(CurlTransport.kind(18), .truncated)
        XCTAssertEqual(CurlTransport.kind(60), .other)
    }

    func testBandwidthLimitKeepsTheAverageRate() {
        let limiter = BandwidthLimiter(bytesPerSecond: 1_000_000)
        let start = Date()
        for _ in 0..<4 { limiter.acquire(100_000) }
        // 300 KB had to be sent before the fourth request could start: at 1 MB/s, 0.3 s at least.
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.29)
    }
}
