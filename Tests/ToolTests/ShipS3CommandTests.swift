import BinlogFormat
import Foundation
import LogshipTestSupport
import ObjectStorage
import XCTest

/// `binlog-ship` to an `s3://bucket/prefix` target on a real S3-compatible server on the
/// loopback (SeaweedFS, which checks signatures), as an operator runs it: endpoint and
/// credentials in the AWS variables, never on the command line. Skipped, with the reason, only
/// when the server cannot start.
final class ShipS3CommandTests: XCTestCase {
    private var server: S3TestServer!
    private let bucket = "logship-ship"

    override func setUpWithError() throws {
        do { server = try S3TestServer.start(.seaweedfs) } catch let e as S3TestServer.Unavailable {
            throw XCTSkip("seaweedfs cannot start: \(e.description)")
        }
        let config = S3Configuration(name: "setup", endpoint: server.endpoint, region: server.region, bucket: bucket, addressing: .path,
                                     credentials: S3Credentials(accessKeyId: server.accessKey, secretAccessKey: server.secretKey))
        try S3Client(config).createBucket()
    }

    override func tearDown() { server = nil }

    private func environment(secret: String? = nil) -> [String: String] {
        server.toolEnvironment(secret: secret)
    }

    private func ship(_ args: [String], secret: String? = nil) throws -> ToolRunner.Result {
        try ToolRunner.run("binlog-ship", args, environment: environment(secret: secret))
    }

    /// The objects under `prefix`, by name, with their bytes.
    private func objects(_ prefix: String) throws -> [String: Data] {
        let client = try server.client(bucket: bucket, name: "check")
        var out: [String: Data] = [:]
        for e in try client.list(prefix: prefix) { out[String(e.key.dropFirst(prefix.count))] = try client.get(e.key) }
        return out
    }

    /// `status` of an S3 target writes nothing (it printed its guarantees by writing and deleting
    /// a probe object on every run); the guarantees come from the last ship run's state. A
    /// `.logship-probe-*` object a killed run left is removed by the next ship run.
    func testStatusWritesNothingAndStaleProbesAreRemoved() throws {
        let dir = TestDirectory("ship-s3-probe")
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(3000));\n", count: 4))
        try master.rotate()
        let common = ["--source", master.path, "--target", "off=s3://\(bucket)/logs"]
        let client = try server.client(bucket: bucket, name: "plant")
        _ = try client.put("logs/.logship-probe-4242-17", Data("probe 1".utf8))
        let shipped = try ship(common)
        XCTAssertEqual(shipped.status, 0, shipped.stderr)
        XCTAssertNil(try objects("logs/").keys.first { $0.hasPrefix(".logship-probe-") }, "the killed run's probe object is gone")
        XCTAssertTrue(shipped.stdout.contains(".logship-probe-4242-17"), shipped.stdout)

        let proxy = try S3FaultProxy(upstreamPort: server.port)
        var env = environment()
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(proxy.port)"
        let status = try ToolRunner.run("binlog-ship", ["status"] + common, environment: env)
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("guarantees    conditional put, server-side checksum, object lock"), status.stdout)
        let writes = proxy.log.filter { $0.hasPrefix("PUT") || $0.hasPrefix("DELETE") || $0.hasPrefix("POST") }
        XCTAssertEqual(writes, [], "status wrote to the bucket: \(proxy.log)")
    }

    /// ship, status, verify, check and purge --confirm against the bucket; every sealed segment
    /// lands byte for byte under the prefix, and purge keeps only the newest sealed one.
    func testShipStatusVerifyCheckPurgeOnABucket() throws {
        let dir = TestDirectory("ship-s3")
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(3000));\n", count: 8))
        try master.rotate()
        let sealed = try master.sealedSegments()
        XCTAssertGreaterThan(sealed.count, 2)
        let common = ["--source", master.path, "--target", "off=s3://\(bucket)/logs"]

        let shipped = try ship(common)
        XCTAssertEqual(shipped.status, 0, shipped.stderr)
        let held = try objects("logs/")
        XCTAssertEqual(held.keys.sorted(), sealed.map(\.name))
        for s in sealed { XCTAssertEqual(held[s.name], try Data(contentsOf: URL(fileURLWithPath: s.path)), s.name) }
        let state = try String(contentsOfFile: master.path + "/ship/state.json", encoding: .utf8)
        XCTAssertTrue(state.contains("\"lastVerification\""), state)

        let status = try ship(["status"] + common)
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("guarantees    conditional put, server-side checksum, object lock"), status.stdout)
        XCTAssertTrue(status.stdout.contains("s3://\(bucket)/logs"), status.stdout)
        XCTAssertFalse(status.stdout.contains(server.secretKey) || status.stderr.contains(server.secretKey), "the secret is never printed")

        let verify = try ship(["verify", "off"] + common)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.hasPrefix("clean: off (s3://\(bucket)/logs)"), verify.stdout)
        let check = try ship(["check", "--max-lag", "1h"] + common)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)

        let purge = try ship(["purge", "--older-than", "0s", "--confirm"] + common)
        XCTAssertEqual(purge.status, 0, purge.stdout + purge.stderr)
        XCTAssertEqual(try master.sealedSegments().map(\.name), [sealed.last!.name], "only the newest sealed segment stays")
        XCTAssertEqual(try objects("logs/").keys.sorted(), sealed.map(\.name), "the bucket keeps every copy")
    }

    /// A wrong secret exits 64 naming the target and the fix; a missing bucket exits 15.
    func testWrongCredentialsAndAMissingBucketExitWithTheirCodes() throws {
        let dir = TestDirectory("ship-s3-errors")
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try master.rotate()

        let wrong = try ship(["--source", master.path, "--target", "off=s3://\(bucket)/logs"], secret: "wrong-secret")
        XCTAssertEqual(wrong.status, 64, wrong.stderr)
        XCTAssertTrue(wrong.stderr.contains("target off: "), wrong.stderr)
        XCTAssertTrue(wrong.stderr.contains("HINT: check the access key and secret (from environment)"), wrong.stderr)
        XCTAssertFalse(wrong.stderr.contains("wrong-secret"), "the secret is never printed")

        let missing = try ship(["--source", master.path, "--target", "off=s3://absent-bucket/logs"])
        XCTAssertEqual(missing.status, 15, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("target off: "), missing.stderr)
        XCTAssertTrue(missing.stderr.contains("HINT: create bucket absent-bucket at \(server.endpoint.absoluteString)"), missing.stderr)
    }
}
