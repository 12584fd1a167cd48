import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import ObjectStorage
import XCTest

/// What S3Store adds to the contract: errors lifted into shipping errors with their exit codes,
/// object-locked objects retained rather than failing, the server's verification recorded.
final class S3StoreTests: XCTestCase {
    /// SeaweedFS checks signatures (moto does not): a wrong secret is a configuration error
    /// (exit 64) naming the target and where the credentials came from.
    func testWrongCredentialsAreAConfigurationErrorNamingTheTarget() throws {
        let fixture = try S3TargetFixture(.seaweedfs)
        let store = fixture.store(secret: "not-the-secret")
        XCTAssertThrowsError(try store.checkReachable()) { error in
            let e = error as? ShipError
            XCTAssertEqual(e?.kind, .config, "\(error)")
            XCTAssertEqual(e?.exitStatus.rawValue, 64)
            XCTAssertEqual(e?.target, "s3")
            XCTAssertTrue(e?.message.contains("S3 code SignatureDoesNotMatch") ?? false, "\(error)")
            XCTAssertEqual(e?.hint, "check the access key and secret (from environment) and the region us-east-1")
        }
    }

    /// A missing bucket is a target not found (exit 15) whose hint says to create it; never created.
    func testAMissingBucketIsNotFoundAndNotCreated() throws {
        let fixture = try S3TargetFixture(.moto)
        let store = fixture.store(bucket: "absent")
        XCTAssertThrowsError(try store.list()) { error in
            let e = error as? ShipError
            XCTAssertEqual(e?.kind, .notFound, "\(error)")
            XCTAssertEqual(e?.exitStatus.rawValue, 15)
            XCTAssertEqual(e?.hint, "create bucket absent at \(fixture.server.endpoint.absoluteString), or fix the bucket name or endpoint")
        }
        XCTAssertThrowsError(try S3Client(fixture.configuration(bucket: "absent")).list()) {
            XCTAssertEqual(($0 as? ObjectStorageError)?.kind, .noSuchBucket, "the store did not create the bucket")
        }
    }

    /// No credentials anywhere: the first call fails with a configuration error naming the variables.
    func testNoCredentialsIsAConfigurationError() throws {
        let home = TestDirectory("s3-no-credentials")
        let store = S3Store(target: ShipTarget(name: "off-site", path: "s3://b/p"), environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:9"], home: home.path)
        XCTAssertThrowsError(try store.list()) { error in
            let e = error as? ShipError
            XCTAssertEqual(e?.kind, .config, "\(error)")
            XCTAssertEqual(e?.target, "off-site")
            XCTAssertTrue(e?.hint?.contains("export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") ?? false, "\(error)")
        }
    }

    /// A delete refused by an object lock leaves the object, is recorded as retained, and is no error.
    func testAnObjectUnderALockIsRetainedNotAnError() throws {
        let fixture = try S3TargetFixture(.moto)
        let client = try S3Client(fixture.configuration(bucket: "locked"))
        try client.createBucket(objectLock: true)
        let store = fixture.store(bucket: "locked")
        let key = segmentName(1) + ".partial"
        _ = try client.put(store.s3Address.prefix + key, Data([1, 2, 3]), retention: S3Retention(mode: .compliance, until: Date().addingTimeInterval(3600)))
        try store.put(segmentName(2) + ".partial", [4], replace: true)
        try store.delete(key)
        try store.delete(segmentName(2) + ".partial")
        XCTAssertEqual(store.retained, [key])
        XCTAssertEqual(try store.list().map(\.key), [key], "the locked object stays, the other one went")
    }

    /// A published upload says how the server confirmed it; nothing is under the key before.
    func testPublishRecordsTheServersVerification() throws {
        let fixture = try S3TargetFixture(.moto)
        let store = fixture.store()
        var random = SeededRandom()
        let data = (0..<3000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let upload = try store.beginUpload(segmentName(1))
        try data.withUnsafeBytes { try upload.write($0, at: 0) }
        XCTAssertTrue(try upload.seal(length: Int64(data.count)) { Array($0) == data }, "seed \(random.seed)")
        XCTAssertNil(try store.stat(segmentName(1)))
        XCTAssertEqual(try upload.publish(replace: false), .published)
        XCTAssertTrue(["sha256", "etag-md5"].contains(upload.verification ?? ""), "\(upload.verification ?? "nil")")
        XCTAssertEqual(store.address(of: segmentName(1)), "s3://logship-target/run/p1/" + segmentName(1))
    }

    /// A killed run's multipart uploads directly under the prefix are aborted by the next run's
    /// clean-up (nothing was visible); uploads nested deeper or under other prefixes are left.
    func testStaleMultipartUploadsUnderThePrefixAreAborted() throws {
        let fixture = try S3TargetFixture(.moto)
        let store = fixture.store()
        let client = try S3Client(fixture.configuration(bucket: fixture.bucket))
        let prefix = store.s3Address.prefix
        let killed = try client.createMultipartUpload(prefix + segmentName(3))
        _ = try client.uploadPart(prefix + segmentName(3), uploadId: killed, number: 1, Data(repeating: 1, count: 5 << 20))
        let nested = try client.createMultipartUpload(prefix + "snapshots/s1")
        let elsewhere = try client.createMultipartUpload("other/" + segmentName(3))
        XCTAssertEqual(try store.list(), [])
        XCTAssertEqual(store.removeStaleUploads(), [segmentName(3) + " (multipart upload \(killed))"])
        XCTAssertEqual(try client.listMultipartUploads(prefix: prefix), [S3PendingUpload(key: prefix + "snapshots/s1", uploadId: nested)])
        XCTAssertEqual(try client.listMultipartUploads(prefix: "other/"), [S3PendingUpload(key: "other/" + segmentName(3), uploadId: elsewhere)])
        XCTAssertEqual(store.removeStaleUploads(), [], "nothing left to abort")
    }

    /// A segment above the multipart threshold (16 MiB) is streamed from the spool in parts and
    /// recorded as verified by its multipart ETag.
    func testALargeSegmentIsStreamedInPartsAndVerified() throws {
        let fixture = try S3TargetFixture(.moto)
        let store = fixture.store()
        var random = SeededRandom()
        let data = (0..<((17 << 20) + 99)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let upload = try store.beginUpload(segmentName(1))
        try data.withUnsafeBytes { try upload.write($0, at: 0) }
        XCTAssertTrue(try upload.seal(length: Int64(data.count)) { _ in true })
        XCTAssertEqual(try upload.publish(replace: false), .published)
        XCTAssertEqual(upload.verification, "multipart-etag", "seed \(random.seed)")
        XCTAssertEqual(try store.read(segmentName(1)), data, "seed \(random.seed)")
        let client = try S3Client(fixture.configuration(bucket: fixture.bucket))
        XCTAssertEqual(try client.listMultipartUploads(prefix: store.s3Address.prefix), [])
    }

    /// A large upload staged before publication: its parts are on the server, nothing is under
    /// the key until `publish` completes it; the same bytes staged again are "already there",
    /// an aborted stage leaves no upload. What a run does with the next segment while it
    /// publishes the one before.
    func testAStagedUploadIsInvisibleUntilPublished() throws {
        let fixture = try S3TargetFixture(.moto)
        let store = fixture.store()
        let client = try S3Client(fixture.configuration(bucket: fixture.bucket))
        let prefix = store.s3Address.prefix
        var random = SeededRandom()
        let data = (0..<((9 << 20) + 5)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        func staged(_ key: String) throws -> TargetUpload {
            let upload = try store.beginUpload(key)
            try data.withUnsafeBytes { try upload.write($0, at: 0) }
            XCTAssertTrue(try upload.seal(length: Int64(data.count)) { _ in true })
            try upload.stage()
            return upload
        }
        let upload = try staged(segmentName(1))
        XCTAssertNil(try store.stat(segmentName(1)), "staged parts are no object")
        XCTAssertEqual(try client.listMultipartUploads(prefix: prefix).map(\.key), [prefix + segmentName(1)])
        XCTAssertEqual(try upload.publish(replace: false), .published)
        XCTAssertEqual(upload.verification, "multipart-etag")
        XCTAssertEqual(try store.read(segmentName(1)), data, "seed \(random.seed)")
        XCTAssertEqual(try staged(segmentName(1)).publish(replace: false), .alreadyThere)
        try staged(segmentName(2)).abort()
        XCTAssertNil(try store.stat(segmentName(2)))
        XCTAssertEqual(try client.listMultipartUploads(prefix: prefix), [], "no upload left behind")
    }
}
