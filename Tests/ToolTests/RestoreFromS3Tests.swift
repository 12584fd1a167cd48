import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import ObjectStorage
import XCTest

/// Restore on a machine with nothing but the bucket's address: a replica uploads a snapshot
/// (`snapshot --upload`), the segments before it are gone from the bucket (purged), and
/// `restore --source s3://… OUT` plans from the snapshot's metadata and the segments' headers
/// and footers, downloads only the snapshot and the tail, checks and publishes. Outside the
/// window it refuses (exit 2) and writes nothing; a damaged snapshot object is refused (exit 3).
/// Run on moto and SeaweedFS.
final class RestoreFromS3Tests: XCTestCase {
    private let bucket = "logship-restore"

    private func start(_ kind: S3TestServer.Kind) throws -> S3TestServer { try S3TestServer.startWithBucket(kind, bucket: bucket) }

    private func client(_ server: S3TestServer) throws -> S3Client { try server.client(bucket: bucket) }

    private func run(_ tool: String, _ args: [String], _ server: S3TestServer) throws -> ToolRunner.Result {
        try ToolRunner.run(tool, args, environment: server.toolEnvironment())
    }

    private func ok(_ tool: String, _ args: [String], _ server: S3TestServer, file: StaticString = #filePath, line: UInt = #line) throws -> ToolRunner.Result {
        let r = try run(tool, args, server)
        XCTAssertEqual(r.status, 0, "\(tool) \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        return r
    }

    /// Master shipped to s3://bucket/logs in two rounds; a replica snapshots after the first and
    /// uploads it; the segments wholly before the snapshot are deleted from the bucket.
    private func scenario(_ kind: S3TestServer.Kind) throws -> (S3TestServer, TestDirectory, ToolMaster, snapshotLSN: UInt64) {
        let server = try start(kind)
        let dir = TestDirectory("restore-s3-\(kind.rawValue)")
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        let url = "s3://\(bucket)/logs"
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        for _ in 0..<3 { try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 6)) }
        try master.rotate()
        _ = try ok("binlog-ship", ["--source", master.path, "--target", "off=\(url)"], server)
        let replica = dir.sub("replica")
        _ = try ok("replica-apply", ["init", replica], server)
        _ = try ok("replica-apply", ["fetch", replica, "--source", url], server)
        _ = try ok("replica-apply", ["apply", replica], server)
        let snap = try ok("replica-apply", ["snapshot", replica, "--upload", url], server)
        XCTAssertTrue(snap.stdout.contains("uploaded \(url)/snapshots/snapshot-"), snap.stdout)
        let again = try ok("replica-apply", ["snapshot", replica, "--upload", url], server)
        XCTAssertTrue(again.stdout.contains("already uploaded"), again.stdout)
        let snapshotLSN = master.lastLSN
        for _ in 0..<3 { try master.exec("UPDATE t SET v = randomblob(1400) WHERE id % 3 = 0; INSERT INTO t (v) VALUES (randomblob(1500));") }
        try master.rotate()
        _ = try ok("binlog-ship", ["--source", master.path, "--target", "off=\(url)"], server)
        let s3 = try client(server)
        for segment in try master.sealedSegments() where segment.lastLSN <= snapshotLSN { try s3.delete("logs/" + segment.name) }
        return (server, dir, master, snapshotLSN)
    }

    private func restores(_ kind: S3TestServer.Kind) throws {
        let (server, dir, master, snapshotLSN) = try scenario(kind)
        let url = "s3://\(bucket)/logs"
        let tail = try master.sealedSegments().filter { $0.lastLSN > snapshotLSN }

        let latest = dir.sub("new-machine/latest.db")
        try FileManager.default.createDirectory(atPath: dir.sub("new-machine"), withIntermediateDirectories: true)
        let r = try ok("replica-apply", ["restore", "--source", url, latest, "--latest"], server)
        XCTAssertTrue(r.stdout.contains("start from  snapshot snapshot-"), r.stdout)
        XCTAssertTrue(r.stdout.contains("download    \(tail.count) segments"), r.stdout)
        XCTAssertTrue(r.stdout.contains("restored \(latest) at LSN \(master.lastLSN)"), r.stdout)
        XCTAssertEqual(try TableDigest.digest(path: latest), try master.digest(at: master.lastLSN, scratch: dir))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.sub("new-machine")).sorted(), ["latest.db"], "scratch left behind")

        // Between the snapshot and the end, by LSN and by time.
        let middle = snapshotLSN + (master.lastLSN - snapshotLSN) / 2
        let byLSN = dir.sub("new-machine/lsn.db")
        _ = try ok("replica-apply", ["restore", "--source", url, byLSN, "--to-lsn", String(middle)], server)
        XCTAssertEqual(try TableDigest.digest(path: byLSN), try master.digest(at: middle, scratch: dir))
        let commit = try XCTUnwrap(master.commits.first { $0.lsn == middle })
        let expected = try XCTUnwrap(master.commits.last { $0.commitTime <= commit.commitTime }).lsn
        let byTime = dir.sub("new-machine/time.db")
        let t = try ok("replica-apply", ["restore", "--source", url, byTime, "--to-time", formatTimestamp(commit.commitTime)], server)
        XCTAssertTrue(t.stdout.contains("at LSN \(expected)"), t.stdout)
        XCTAssertEqual(try TableDigest.digest(path: byTime), try master.digest(at: expected, scratch: dir))

        // Before the snapshot the bucket no longer covers: refused, with the window, nothing written.
        let early = dir.sub("new-machine/early.db")
        let refused = try run("replica-apply", ["restore", "--source", url, early, "--to-lsn", "2"], server)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("LSN 2 cannot be restored from \(url): the bucket covers LSN \(snapshotLSN)…\(master.lastLSN)"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: early))
    }

    private func damagedSnapshot(_ kind: S3TestServer.Kind) throws {
        let (server, dir, _, _) = try scenario(kind)
        let s3 = try client(server)
        let key = try XCTUnwrap(try s3.list(prefix: "logs/snapshots/").map(\.key).first { $0.hasSuffix(".db") })
        var bytes = try s3.get(key)
        bytes[bytes.count / 2] ^= 0xFF
        _ = try s3.put(key, bytes)
        let out = dir.sub("damaged.db")
        let r = try run("replica-apply", ["restore", "--source", "s3://\(bucket)/logs", out, "--latest"], server)
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("SHA-256"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// Wrong credentials, a missing bucket and an endpoint that is not S3 each stop restore
    /// --source and fetch with the documented exit code and a hint that names the fix; nothing is written.
    func testWrongCredentialsMissingBucketAndNotS3OnSeaweedFS() throws {
        let server = try start(.seaweedfs)
        let dir = TestDirectory("restore-s3-errors")
        let out = dir.sub("out.db")
        let wrong = try ToolRunner.run("replica-apply", ["restore", "--source", "s3://\(bucket)/logs", out, "--latest"],
                                       environment: server.toolEnvironment(secret: "not-the-secret"))
        XCTAssertEqual(wrong.status, 64, wrong.stderr)
        XCTAssertTrue(wrong.stderr.contains("check the access key and secret"), wrong.stderr)
        let missing = try run("replica-apply", ["restore", "--source", "s3://no-such-bucket/logs", out, "--latest"], server)
        XCTAssertEqual(missing.status, 15, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("create bucket no-such-bucket"), missing.stderr)
        var web = server.toolEnvironment()
        web["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(try S3TestServer.freePort())"
        let refused = try ToolRunner.run("replica-apply", ["restore", "--source", "s3://\(bucket)/logs", out, "--latest"], environment: web)
        XCTAssertEqual(refused.status, 15, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("check the endpoint URL"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let replica = dir.sub("replica")
        XCTAssertEqual(try run("replica-apply", ["init", replica], server).status, 0)
        let fetch = try ToolRunner.run("replica-apply", ["fetch", replica, "--source", "s3://\(bucket)/logs"], environment: server.toolEnvironment(secret: "x"))
        XCTAssertEqual(fetch.status, 64, fetch.stderr)
    }

    func testRestoreFromSnapshotAndTailOnMoto() throws { try restores(.moto) }
    func testRestoreFromSnapshotAndTailOnSeaweedFS() throws { try restores(.seaweedfs) }
    func testDamagedSnapshotObjectIsRefusedOnMoto() throws { try damagedSnapshot(.moto) }
}
