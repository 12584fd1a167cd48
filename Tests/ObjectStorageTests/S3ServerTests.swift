import Crypto
import Foundation
import LogshipTestSupport
@testable import ObjectStorage
import XCTest

/// The same client scenarios against each real S3-compatible server on the loopback: moto,
/// SeaweedFS and `rclone serve s3` (which ignores If-None-Match). A server that cannot start skips
/// its test with the reason; every other failure fails. Seeded content; the seed is printed.
final class S3ServerTests: XCTestCase {
    func testMoto() throws { try runScenarios(.moto) }
    func testSeaweedFS() throws { try runScenarios(.seaweedfs) }
    func testRclone() throws { try runScenarios(.rclone) }

    /// moto keeps object locks: the lock is reported by HEAD, and delete refuses with `.retained`.
    func testObjectLockIsReportedAsRetainedOnMoto() throws {
        let server: S3TestServer
        do { server = try S3TestServer.start(.moto) } catch let e as S3TestServer.Unavailable { throw XCTSkip("moto cannot start: \(e.description)") }
        let client = try S3Client(ServerFixture(server: server).configuration(bucket: "locked"))
        try client.createBucket(objectLock: true)
        let until = Date().addingTimeInterval(86_400).timeIntervalSince1970.rounded()
        _ = try client.put("seg/kept", Data("kept".utf8), retention: S3Retention(mode: .compliance, until: Date(timeIntervalSince1970: until)))
        let info = try XCTUnwrap(client.head("seg/kept"))
        XCTAssertEqual(info.lockMode, "COMPLIANCE")
        XCTAssertEqual(info.retainUntil?.timeIntervalSince1970, until)
        XCTAssertTrue(info.isRetained())
        XCTAssertThrowsError(try client.delete("seg/kept")) { error in
            XCTAssertEqual((error as? ObjectStorageError)?.kind, .retained, "\(error)")
            XCTAssertEqual((error as? ObjectStorageError)?.key, "seg/kept")
        }
        XCTAssertEqual(try client.get("seg/kept"), Data("kept".utf8))
        _ = try client.put("seg/free", Data("free".utf8))
        try client.delete("seg/free")
        XCTAssertNil(try client.head("seg/free"))
    }

    func runScenarios(_ kind: S3TestServer.Kind) throws {
        let server: S3TestServer
        do { server = try S3TestServer.start(kind) } catch let e as S3TestServer.Unavailable {
            throw XCTSkip("\(kind.rawValue) cannot start: \(e.description)")
        }
        var random = SeededRandom()
        let seed = random.seed
        let fixture = ServerFixture(server: server)
        let scenarios: [(String, () throws -> Void)] = [
            ("missing bucket", { try self.missingBucket(fixture) }),
            ("basic objects", { try self.basicObjects(fixture, &random) }),
            ("put if absent", { try self.putIfAbsent(fixture, &random) }),
            ("multipart", { try self.multipart(fixture, &random) }),
            ("wrong credentials", { try self.wrongCredentials(fixture) }),
            ("clock skew", { try self.clockSkew(fixture) }),
        ]
        for (name, scenario) in scenarios {
            do { try scenario() } catch {
                XCTFail("\(kind.rawValue), \(name) (LOGSHIP_SEED=\(seed)): \(error)")
            }
        }
    }

    func missingBucket(_ f: ServerFixture) throws {
        let client = try f.client(bucket: "no-such-bucket")
        XCTAssertThrowsError(try client.list(prefix: "x/")) { error in
            let e = error as? ObjectStorageError
            XCTAssertEqual(e?.kind, .noSuchBucket, "\(error)")
            XCTAssertEqual(e?.bucket, "no-such-bucket")
            XCTAssertEqual(e?.hint, "create bucket no-such-bucket at \(f.server.endpoint.absoluteString), or fix the bucket name or endpoint")
        }
    }

    func basicObjects(_ f: ServerFixture, _ random: inout SeededRandom) throws {
        let client = try f.client()
        let bodies = (0..<5).map { i in (String(format: "seg/%016x", i), randomData(1000 + i * 517, &random)) }
        for (key, data) in bodies {
            let result = try client.put(key, data)
            XCTAssertTrue([.checksumSHA256, .etagMD5].contains(result.verification), "\(result)")
        }
        _ = try client.put("other/x", Data("x".utf8))
        let listed = try client.list(prefix: "seg/", pageSize: 2)
        XCTAssertEqual(listed.map(\.key), bodies.map(\.0))
        XCTAssertEqual(listed.map(\.size), bodies.map { Int64($0.1.count) })
        let (key, data) = bodies[3]
        let info = try XCTUnwrap(client.head(key))
        XCTAssertEqual(info.size, Int64(data.count))
        XCTAssertEqual(info.etag, SigV4Signer.hex(Insecure.MD5.hash(data: data)))
        if let sum = info.checksumSHA256 { XCTAssertEqual(sum, Data(SHA256.hash(data: data)).base64EncodedString()) }
        XCTAssertEqual(try client.get(key), data)
        XCTAssertEqual(try client.get(key, range: 10...99), data.subdata(in: 10..<100))
        XCTAssertNil(try client.head("seg/missing"))
        XCTAssertThrowsError(try client.get("seg/missing")) { XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .noSuchKey) }
        var unsigned = f.configuration()
        unsigned.payloadSigning = .unsigned
        let body = randomData(3000, &random)
        XCTAssertEqual(try S3Client(unsigned).put("other/unsigned", body).created, true)
        XCTAssertEqual(try client.get("other/unsigned"), body)
        try client.delete(key)
        XCTAssertNil(try client.head(key))
        XCTAssertEqual(try client.list(prefix: "seg/").count, 4)
    }

    func putIfAbsent(_ f: ServerFixture, _ random: inout SeededRandom) throws {
        let client = try f.client()
        let support = try client.probeConditionalPut(probeKey: "probe/conditional")
        print("\(f.server.kind.rawValue): conditional put support \(support.rawValue)")
        if f.server.kind == .rclone { XCTAssertEqual(support, .headThenPut, "rclone serve s3 ignores If-None-Match") }
        XCTAssertNil(try client.head("probe/conditional"), "the probe is removed")
        let data = randomData(4096, &random)
        XCTAssertEqual(try client.putIfAbsent("pia/a", data, support: support).created, true)
        let again = try client.putIfAbsent("pia/a", data, support: support)
        XCTAssertEqual(again.created, false, "the same content again is a rerun, not a conflict")
        var other = data
        other[0] ^= 0xFF
        XCTAssertThrowsError(try client.putIfAbsent("pia/a", other, support: support)) { error in
            XCTAssertEqual((error as? ObjectStorageError)?.kind, .alreadyExists, "\(error)")
            XCTAssertEqual((error as? ObjectStorageError)?.key, "pia/a")
        }
        XCTAssertEqual(try client.get("pia/a"), data, "never overwritten")
    }

    func multipart(_ f: ServerFixture, _ random: inout SeededRandom) throws {
        var config = f.configuration()
        config.partSize = 5 << 20
        config.multipartThreshold = 5 << 20
        let client = try S3Client(config)
        let data = randomData((11 << 20) + 123, &random)
        let result = try client.putIfAbsent("big/one", data, support: .headThenPut)
        XCTAssertTrue(result.created)
        XCTAssertTrue([.multipartETag, .readBack].contains(result.verification), "\(result)")
        XCTAssertEqual(try client.head("big/one")?.size, Int64(data.count))
        XCTAssertEqual(try client.get("big/one"), data)
        XCTAssertEqual(try client.get("big/one", range: 5_242_870...5_242_889), data.subdata(in: 5_242_870..<5_242_890))
        var other = data
        other[data.count - 1] ^= 1
        XCTAssertThrowsError(try client.putIfAbsent("big/one", other, support: .headThenPut)) {
            XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .alreadyExists)
        }
        // Where the server honours If-None-Match, CompleteMultipartUpload must honour it too: the
        // conditional completion of an upload whose key got taken meanwhile is refused.
        if try client.probeConditionalPut(probeKey: "probe/multipart") == .enforced {
            XCTAssertThrowsError(try client.store("big/one", other, conditional: true)) {
                XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .alreadyExists, "\($0)")
            }
        }
        XCTAssertEqual(try client.get("big/one"), data, "never overwritten")

        // Streamed, each part carries its SHA-256; SeaweedFS checks it and says so, the others
        // leave the check to the part's ETag.
        let source = S3BodySource(size: Int64(data.count)) { offset, count in data.subdata(in: Int(offset)..<min(data.count, Int(offset) + count)) }
        let streamed = try client.putIfAbsent("big/two", source: source, support: .headThenPut)
        XCTAssertTrue(streamed.created)
        if f.server.kind == .seaweedfs {
            XCTAssertEqual(streamed.verification, .partChecksumSHA256, "SeaweedFS checks x-amz-checksum-sha256 on parts")
        } else {
            XCTAssertTrue([.partChecksumSHA256, .multipartETag, .readBack].contains(streamed.verification), "\(streamed)")
        }
        XCTAssertEqual(try client.get("big/two"), data)
        XCTAssertFalse(try client.putIfAbsent("big/two", source: source, support: .headThenPut).created, "the same bytes again")
    }

    func wrongCredentials(_ f: ServerFixture) throws {
        guard f.server.checksCredentials else { return print("\(f.server.kind.rawValue): accepts any signature, wrong-credential case not applicable") }
        var config = f.configuration()
        config.credentials.secretAccessKey = "not-the-secret"
        XCTAssertThrowsError(try S3Client(config).list()) { error in
            let e = error as? ObjectStorageError
            XCTAssertEqual(e?.kind, .credentials, "\(error)")
            XCTAssertEqual(e?.hint, "check the access key and secret (from explicit) and the region us-east-1")
        }
        config.credentials.accessKeyId = "UNKNOWNKEY"
        XCTAssertThrowsError(try S3Client(config).list()) { XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .credentials, "\($0)") }
    }
}

extension S3ServerTests {
    func clockSkew(_ f: ServerFixture) throws {
        guard f.server.checksCredentials else { return print("\(f.server.kind.rawValue): checks no signature time, clock-skew case not applicable") }
        let config = f.configuration()
        let skewed = try S3Client(config, now: { Date().addingTimeInterval(-3600) })
        XCTAssertThrowsError(try skewed.list(prefix: "seg/")) { error in
            let e = error as? ObjectStorageError
            XCTAssertEqual(e?.kind, .clockSkew, "\(error)")
            XCTAssertEqual(e?.hint, "set this machine's clock right (chrony or systemd-timesyncd); Signature V4 allows 15 minutes of skew")
        }
    }
}

/// A server with a bucket made for the test, and clients for it.
final class ServerFixture {
    let server: S3TestServer
    let bucket = "logship-test"

    init(server: S3TestServer) { self.server = server }

    func configuration(bucket: String? = nil) -> S3Configuration {
        var config = S3Configuration(name: "test-\(server.kind.rawValue)", endpoint: server.endpoint, region: server.region,
                                     bucket: bucket ?? self.bucket, credentials: S3Credentials(accessKeyId: server.accessKey, secretAccessKey: server.secretKey))
        config.retry = RetryPolicy(maxAttempts: 3, baseDelay: 0.05, maxDelay: 0.2)
        config.requestTimeout = 20
        return config
    }

    private var created = false

    func client(bucket: String? = nil) throws -> S3Client {
        let client = try S3Client(configuration(bucket: bucket))
        if bucket == nil, !created {
            try client.createBucket()
            created = true
        }
        return client
    }
}

func randomData(_ count: Int, _ random: inout SeededRandom) -> Data {
    var words = [UInt64](repeating: 0, count: (count + 7) / 8)
    for i in words.indices { words[i] = random.next() }
    return words.withUnsafeBytes { Data($0.prefix(count)) }
}
