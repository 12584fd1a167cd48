import Foundation
import LogshipTestSupport
@testable import ObjectStorage
import XCTest

/// Faults between the client and a real server (through `S3FaultProxy`): dropped uploads,
/// 500/503 SlowDown, lost and truncated answers. Retries get the object through whole; when the
/// retries run out, nothing is visible under the key. Uses moto, else SeaweedFS.
final class S3FaultTests: XCTestCase {
    var server: S3TestServer!
    var proxy: S3FaultProxy!
    var random = SeededRandom()

    override func setUpWithError() throws {
        var reasons: [String] = []
        for kind in [S3TestServer.Kind.moto, .seaweedfs] {
            do { server = try S3TestServer.start(kind); break } catch let e as S3TestServer.Unavailable { reasons.append(e.description) }
        }
        guard server != nil else { throw XCTSkip("no S3 test server can start: " + reasons.joined(separator: "; ")) }
        proxy = try S3FaultProxy(upstreamPort: server.port)
        try client(attempts: 1).createBucket()
    }

    override func tearDown() {
        if let run = testRun, run.failureCount > 0 { print("S3FaultTests seed: LOGSHIP_SEED=\(random.seed); proxy log:\n" + proxy.log.joined(separator: "\n")) }
        proxy = nil
        server = nil
    }

    func client(attempts: Int, partSize: Int = 5 << 20) throws -> S3Client {
        var config = S3Configuration(name: "faulty", endpoint: URL(string: "http://127.0.0.1:\(proxy.port)")!, region: server.region,
                                     bucket: "faults", credentials: S3Credentials(accessKeyId: server.accessKey, secretAccessKey: server.secretKey))
        config.retry = RetryPolicy(maxAttempts: attempts, baseDelay: 0.01, maxDelay: 0.05)
        config.partSize = partSize
        config.multipartThreshold = partSize
        config.requestTimeout = 10
        return try S3Client(config)
    }

    func testUploadSurvivesDroppedBodiesServerErrorsAndThrottling() throws {
        let data = randomData(300_000, &random)
        proxy.inject([.init("PUT", "/faults/seg/1", .dropMidRequestBody), .init("PUT", "/faults/seg/1", .status(503, "SlowDown")),
                      .init("PUT", "/faults/seg/1", .status(500, "InternalError"))])
        let result = try client(attempts: 5).putIfAbsent("seg/1", data, support: .headThenPut)
        XCTAssertTrue(result.created)
        XCTAssertEqual(proxy.pending, 0, "every fault fired")
        XCTAssertEqual(proxy.log.filter { $0.hasPrefix("PUT /faults/seg/1") }.count, 4)
        XCTAssertEqual(try client(attempts: 1).get("seg/1"), data)
    }

    func testLostAnswerToAPutIsARerunNotADuplicate() throws {
        let data = randomData(50_000, &random)
        let c = try client(attempts: 4)
        let support = try c.probeConditionalPut(probeKey: "probe")
        proxy.inject([.init("PUT", "/faults/seg/2", .dropResponse)])
        let result = try c.putIfAbsent("seg/2", data, support: support)
        XCTAssertEqual(proxy.pending, 0)
        XCTAssertEqual(try c.get("seg/2"), data)
        XCTAssertEqual(try c.list(prefix: "seg/2").count, 1)
        // With the server's guarantee the retry finds the object the lost answer created.
        if support == .enforced { XCTAssertFalse(result.created) }
    }

    func testTruncatedDownloadIsRetried() throws {
        let data = randomData(200_000, &random)
        let c = try client(attempts: 3)
        _ = try c.put("seg/3", data)
        proxy.inject([.init("GET", "/faults/seg/3", .truncateResponse)])
        XCTAssertEqual(try c.get("seg/3"), data)
        XCTAssertEqual(proxy.pending, 0)
    }

    func testExhaustedRetriesLeaveNoObjectVisible() throws {
        let data = randomData(100_000, &random)
        proxy.inject([.init("PUT", "/faults/seg/4", .dropMidRequestBody), .init("PUT", "/faults/seg/4", .status(503, "SlowDown")),
                      .init("PUT", "/faults/seg/4", .dropMidRequestBody)])
        XCTAssertThrowsError(try client(attempts: 3).putIfAbsent("seg/4", data, support: .headThenPut)) { error in
            XCTAssertEqual((error as? ObjectStorageError)?.kind, .unavailable, "\(error)")
            XCTAssertEqual((error as? ObjectStorageError)?.key, "seg/4")
        }
        XCTAssertEqual(proxy.pending, 0)
        XCTAssertNil(try client(attempts: 1).head("seg/4"), "no partial object under the key")
    }

    func testMultipartRetriesAPartAndAbortsWhenAPartNeverGetsThrough() throws {
        let data = randomData((10 << 20) + 7, &random)
        proxy.inject([.init("PUT", "partNumber=2", .dropMidRequestBody)])
        XCTAssertTrue(try client(attempts: 3).putIfAbsent("big/ok", data, support: .headThenPut).created)
        XCTAssertEqual(try client(attempts: 1).get("big/ok"), data)
        proxy.inject([.init("PUT", "partNumber=2", .status(500, "InternalError")), .init("PUT", "partNumber=2", .dropMidRequestBody)])
        XCTAssertThrowsError(try client(attempts: 2).putIfAbsent("big/failed", data, support: .headThenPut)) {
            XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .unavailable, "\($0)")
        }
        XCTAssertEqual(proxy.pending, 0)
        XCTAssertTrue(proxy.log.contains { $0.hasPrefix("DELETE /faults/big/failed?uploadId=") }, "the upload was aborted")
        XCTAssertNil(try client(attempts: 1).head("big/failed"), "no partial object under the key")
    }
}
