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
    /// Records the largest request body sent and how many part uploads were in flight at once
    /// (each held `partDelay` seconds, so that parts sent together overlap); fails the part
    /// numbered `failPart` (403, not retried); passes everything else on.
    final class RecordingTransport: HTTPTransport, @unchecked Sendable {
        let inner = CurlTransport(timeout: 20)
        private let lock = NSLock()
        private(set) var largestBody = 0
        private(set) var inFlight = 0, mostInFlight = 0
        var partDelay: TimeInterval = 0
        var failPart: Int?
        func send(_ request: URLRequest) throws -> HTTPResponse {
            let query = request.url?.query ?? ""
            let isPart = query.contains("partNumber=")
            if let failPart, query.contains("partNumber=\(failPart)&") || query.hasSuffix("partNumber=\(failPart)") {
                return HTTPResponse(status: 403, headers: [:], body: Data("<Error><Code>AccessDenied</Code><Message>denied by the test</Message></Error>".utf8))
            }
            lock.lock()
            largestBody = max(largestBody, request.httpBody?.count ?? 0)
            if isPart { inFlight += 1; mostInFlight = max(mostInFlight, inFlight) }
            lock.unlock()
            defer { if isPart { lock.lock(); inFlight -= 1; lock.unlock() } }
            if isPart && partDelay > 0 { Thread.sleep(forTimeInterval: partDelay) }
            return try inner.send(request)
        }
    }

    /// Counts the largest read of a source (reads come from several threads).
    final class ReadRecord: @unchecked Sendable {
        private let lock = NSLock()
        private var largest = 0
        func saw(_ count: Int) { lock.lock(); largest = max(largest, count); lock.unlock() }
        var largestRead: Int { lock.lock(); defer { lock.unlock() }; return largest }
    }

    private func fixture() throws -> ServerFixture {
        do { return ServerFixture(server: try S3TestServer.start(.moto)) } catch let e as S3TestServer.Unavailable {
            throw XCTSkip("moto cannot start: \(e.description)")
        }
    }

    /// moto's configuration (its bucket made) with 5 MiB parts and threshold, S3's smallest.
    private func smallParts(_ f: ServerFixture) throws -> S3Configuration {
        _ = try f.client()
        var config = f.configuration()
        config.partSize = 5 << 20
        config.multipartThreshold = 5 << 20
        return config
    }

    /// `bytes` as a body read in pieces.
    private func source(_ bytes: Data) -> S3BodySource {
        S3BodySource(size: Int64(bytes.count)) { offset, count in bytes.subdata(in: Int(offset)..<min(bytes.count, Int(offset) + count)) }
    }

    /// A body of 3.4 parts goes up with no read and no request body larger than one part, and
    /// more than one but at most `partConcurrency` parts in flight; the stored object is the body,
    /// verified by its multipart ETag; the same body again is "already there", a different one a
    /// conflict.
    func testStreamedUploadHoldsAFewPartsAtATime() throws {
        let f = try fixture()
        var config = try smallParts(f)
        config.partConcurrency = 3
        let transport = RecordingTransport()
        transport.partDelay = 0.2
        let client = try S3Client(config, transport: transport)
        var random = SeededRandom()
        let data = randomData(17 << 20 + 4321, &random)
        let reads = ReadRecord()
        let source = S3BodySource(size: Int64(data.count)) { offset, count in
            reads.saw(count)
            return data.subdata(in: Int(offset)..<min(data.count, Int(offset) + count))
        }
        let result = try client.putIfAbsent("stream/one", source: source, support: .enforced)
        XCTAssertTrue(result.created, "seed \(random.seed)")
        XCTAssertEqual(result.verification, .multipartETag)
        XCTAssertEqual(reads.largestRead, 5 << 20, "reads are at most one part")
        XCTAssertLessThanOrEqual(transport.largestBody, 5 << 20, "request bodies are at most one part")
        XCTAssertGreaterThan(transport.mostInFlight, 1, "parts go up side by side")
        XCTAssertLessThanOrEqual(transport.mostInFlight, 3, "at most partConcurrency parts in flight")
        XCTAssertEqual(try client.get("stream/one"), data, "seed \(random.seed)")
        let again = try client.putIfAbsent("stream/one", source: source, support: .enforced)
        XCTAssertFalse(again.created)
        XCTAssertEqual(again.verification, .multipartETag)
        var other = data
        other[7 << 20] ^= 1
        let otherSource = self.source(other)
        XCTAssertThrowsError(try client.putIfAbsent("stream/one", source: otherSource, support: .headThenPut)) {
            XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .alreadyExists, "\($0)")
        }
        XCTAssertEqual(try client.listMultipartUploads(prefix: "stream/"), [], "no upload left behind")
    }

    /// Staged parts are no object until completed: nothing under the key, nothing listed, the
    /// upload pending. Completing puts the body there; staging the same body again completes
    /// nothing ("already there") and a different body is a conflict, and either way the staged
    /// upload is aborted, under both guarantees. An abandoned stage is aborted without a trace.
    func testStagedPartsAreInvisibleUntilPutIfAbsentCompletesThem() throws {
        let f = try fixture()
        let config = try smallParts(f)
        let client = try S3Client(config)
        var random = SeededRandom()
        let data = randomData(11 << 20 + 17, &random)
        let staged = try client.stageParts("staged/one", source: source(data))
        XCTAssertEqual(staged.parts.count, 3)
        XCTAssertNil(try client.head("staged/one"), "staged parts are no object")
        XCTAssertEqual(try client.list(prefix: "staged/").map(\.key), [])
        XCTAssertEqual(try client.listMultipartUploads(prefix: "staged/"), [S3PendingUpload(key: "staged/one", uploadId: staged.uploadId)])
        let result = try client.putIfAbsent(staged: staged, source: source(data), support: .enforced)
        XCTAssertTrue(result.created)
        XCTAssertEqual(result.verification, .multipartETag)
        XCTAssertEqual(try client.get("staged/one"), data, "seed \(random.seed)")
        XCTAssertEqual(try client.listMultipartUploads(prefix: "staged/"), [])

        var other = data
        other[6 << 20] ^= 1
        for support in [ConditionalPutSupport.enforced, .headThenPut] {
            let same = try client.putIfAbsent(staged: try client.stageParts("staged/one", source: source(data)), source: source(data), support: support)
            XCTAssertFalse(same.created, "\(support)")
            XCTAssertThrowsError(try client.putIfAbsent(staged: try client.stageParts("staged/one", source: source(other)), source: source(other), support: support)) {
                XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .alreadyExists, "\(support): \($0)")
            }
            XCTAssertEqual(try client.listMultipartUploads(prefix: "staged/"), [], "\(support): the staged uploads were aborted")
        }
        XCTAssertEqual(try client.get("staged/one"), data, "never overwritten; seed \(random.seed)")

        client.abort(try client.stageParts("staged/two", source: source(other)))
        XCTAssertNil(try client.head("staged/two"))
        XCTAssertEqual(try client.listMultipartUploads(prefix: "staged/"), [])
    }

    /// Answers part uploads with an `x-amz-checksum-sha256` of the test's choosing, as a server
    /// that checks part checksums does (moto does not): the request's own, or another.
    final class EchoingTransport: HTTPTransport, @unchecked Sendable {
        let inner = CurlTransport(timeout: 20)
        let wrong: Bool
        init(wrong: Bool) { self.wrong = wrong }
        func send(_ request: URLRequest) throws -> HTTPResponse {
            var response = try inner.send(request)
            if request.url?.query?.contains("partNumber=") == true, let sent = request.value(forHTTPHeaderField: "x-amz-checksum-sha256") {
                response.headers["x-amz-checksum-sha256"] = wrong ? String(sent.reversed()) : sent
            }
            return response
        }
    }

    /// A server that echoes each part's SHA-256 has checked the parts: the upload is recorded
    /// as `part-sha256`. One that echoes another SHA-256 fails the upload as a checksum
    /// mismatch, aborted, nothing visible.
    func testPartChecksumsTheServerEchoesVerifyTheParts() throws {
        let f = try fixture()
        let config = try smallParts(f)
        var random = SeededRandom()
        let data = randomData(11 << 20 + 3, &random)
        let source = self.source(data)
        let good = try S3Client(config, transport: EchoingTransport(wrong: false))
        XCTAssertEqual(try good.putIfAbsent("echo/good", source: source, support: .enforced).verification, .partChecksumSHA256)
        XCTAssertEqual(try good.get("echo/good"), data, "seed \(random.seed)")
        let bad = try S3Client(config, transport: EchoingTransport(wrong: true))
        XCTAssertThrowsError(try bad.putIfAbsent("echo/bad", source: source, support: .enforced)) { error in
            XCTAssertEqual((error as? ObjectStorageError)?.kind, .checksumMismatch, "\(error)")
            XCTAssertTrue("\(error)".contains("x-amz-checksum-sha256"), "\(error)")
        }
        XCTAssertNil(try good.head("echo/bad"), "nothing visible under the key")
        XCTAssertEqual(try good.listMultipartUploads(prefix: "echo/"), [], "the upload was aborted")
    }

    /// One part refused while others are in flight: the upload is aborted once they end, the
    /// error is the part's, nothing is visible under the key and no upload is left.
    func testAFailedPartAbortsTheWholeUpload() throws {
        let f = try fixture()
        let config = try smallParts(f)
        let transport = RecordingTransport()
        transport.failPart = 3
        transport.partDelay = 0.1
        let client = try S3Client(config, transport: transport)
        var random = SeededRandom()
        let data = randomData(26 << 20, &random)
        let source = self.source(data)
        XCTAssertThrowsError(try client.putIfAbsent("stream/failed", source: source, support: .enforced)) { error in
            XCTAssertTrue("\(error)".contains("upload part 3"), "\(error)")
        }
        XCTAssertNil(try client.head("stream/failed"), "nothing visible under the key")
        XCTAssertEqual(try client.listMultipartUploads(prefix: "stream/"), [], "the upload was aborted")
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
