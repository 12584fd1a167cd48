import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LogshipTestSupport
@testable import ObjectStorage
import XCTest

/// Uploads read from a source in pieces (one part in memory at a time) and the multipart uploads
/// a killed run leaves, listed and aborted; against moto. Seeded content; the seed is printed.
final class S3StreamingTests: XCTestCase {
    /// Records the largest request body sent, passing everything on.
    final class RecordingTransport: HTTPTransport, @unchecked Sendable {
        let inner = URLSessionTransport(timeout: 20)
        private let lock = NSLock()
        private(set) var largestBody = 0
        func send(_ request: URLRequest) throws -> HTTPResponse {
            lock.lock()
            largestBody = max(largestBody, request.httpBody?.count ?? 0)
            lock.unlock()
            return try inner.send(request)
        }
    }

    private func fixture() throws -> ServerFixture {
        do { return ServerFixture(server: try S3TestServer.start(.moto)) } catch let e as S3TestServer.Unavailable {
            throw XCTSkip("moto cannot start: \(e.description)")
        }
    }

    /// A body of 3.4 parts goes up with no read and no request body larger than one part; the
    /// stored object is the body, verified by its multipart ETag; the same body again is
    /// "already there", a different one a conflict.
    func testStreamedUploadHoldsOnePartAtATime() throws {
        let f = try fixture()
        _ = try f.client()
        var config = f.configuration()
        config.partSize = 5 << 20
        config.multipartThreshold = 5 << 20
        let transport = RecordingTransport()
        let client = try S3Client(config, transport: transport)
        var random = SeededRandom()
        let data = randomData(17 << 20 + 4321, &random)
        var largestRead = 0
        let source = S3BodySource(size: Int64(data.count)) { offset, count in
            largestRead = max(largestRead, count)
            return data.subdata(in: Int(offset)..<min(data.count, Int(offset) + count))
        }
        let result = try client.putIfAbsent("stream/one", source: source, support: .enforced)
        XCTAssertTrue(result.created, "seed \(random.seed)")
        XCTAssertEqual(result.verification, .multipartETag)
        XCTAssertEqual(largestRead, 5 << 20, "reads are at most one part")
        XCTAssertLessThanOrEqual(transport.largestBody, 5 << 20, "request bodies are at most one part")
        XCTAssertEqual(try client.get("stream/one"), data, "seed \(random.seed)")
        let again = try client.putIfAbsent("stream/one", source: source, support: .enforced)
        XCTAssertFalse(again.created)
        XCTAssertEqual(again.verification, .multipartETag)
        var other = data
        other[7 << 20] ^= 1
        let otherSource = S3BodySource(size: Int64(other.count)) { offset, count in other.subdata(in: Int(offset)..<min(other.count, Int(offset) + count)) }
        XCTAssertThrowsError(try client.putIfAbsent("stream/one", source: otherSource, support: .headThenPut)) {
            XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .alreadyExists, "\($0)")
        }
        XCTAssertEqual(try client.listMultipartUploads(prefix: "stream/"), [], "no upload left behind")
    }

    /// An upload started and never completed (a killed run) is listed under its prefix, is not an
    /// object, and is gone once aborted.
    func testUnfinishedUploadsAreListedAndAborted() throws {
        let f = try fixture()
        let client = try f.client()
        let id = try client.createMultipartUpload("left/seg-1")
        _ = try client.uploadPart("left/seg-1", uploadId: id, number: 1, Data(repeating: 7, count: 5 << 20))
        let other = try client.createMultipartUpload("elsewhere/seg-1")
        XCTAssertEqual(try client.listMultipartUploads(prefix: "left/"), [S3PendingUpload(key: "left/seg-1", uploadId: id)])
        XCTAssertNil(try client.head("left/seg-1"), "an unfinished upload is no object")
        try client.abortMultipartUpload("left/seg-1", uploadId: id)
        XCTAssertEqual(try client.listMultipartUploads(prefix: "left/"), [])
        XCTAssertEqual(try client.listMultipartUploads(prefix: "elsewhere/"), [S3PendingUpload(key: "elsewhere/seg-1", uploadId: other)])
    }
}
