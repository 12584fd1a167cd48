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
        // The same from logship.yml (`snapshots: {upload: …}`), as cron runs it without flags.
        let yml = dir.sub("logship.yml")
        try "snapshots:\n  upload: \(url)\n  keep: 2\n".write(toFile: yml, atomically: true, encoding: .utf8)
        var configured = server.toolEnvironment()
        configured["LOGSHIP_CONFIG"] = yml
        let fromConfig = try ToolRunner.run("replica-apply", ["snapshot", replica], environment: configured)
        XCTAssertEqual(fromConfig.status, 0, fromConfig.stderr)
        XCTAssertTrue(fromConfig.stdout.contains("already uploaded \(url)/snapshots/snapshot-"), fromConfig.stdout)
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

    /// Issue 14 from the bucket: a signing replica uploads its signed snapshot (the signature in
    /// the metadata); `restore --source --verify-key --snapshot-key` restores from it; without the
    /// snapshot key, or with the snapshot object replaced and its metadata's SHA-256 made to match
    /// (what someone with write access to the bucket can do), it refuses with exit 3.
    func testSignedSnapshotFromTheBucketOnMoto() throws {
        let server = try start(.moto)
        let dir = TestDirectory("restore-s3-signed")
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        let url = "s3://\(bucket)/logs"
        _ = try ToolRunner.run("binlog-writer", ["keygen", master.path])
        let pub = master.path + "/signing.pub"
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for i in 0..<20 { try master.exec("INSERT INTO t (v) VALUES ('row-\(i)-" + String(repeating: "x", count: 300) + "')") }
        try master.rotate()
        _ = try ok("binlog-ship", ["--source", master.path, "--target", "off=\(url)", "--verify-key", pub], server)
        let replica = dir.sub("replica")
        _ = try ok("replica-apply", ["init", replica, "--verify-key", pub], server)
        _ = try ok("replica-apply", ["fetch", replica, "--source", url], server)
        _ = try ok("replica-apply", ["apply", replica], server)
        let snap = try ok("replica-apply", ["snapshot", replica, "--upload", url], server)
        XCTAssertTrue(snap.stdout.contains("signed with snapshot key id"), snap.stdout)
        let snapshotLSN = master.lastLSN
        for i in 0..<5 { try master.exec("UPDATE t SET v = 'changed-\(i)' WHERE id = \(i + 1)") }
        try master.rotate()
        _ = try ok("binlog-ship", ["--source", master.path, "--target", "off=\(url)", "--verify-key", pub], server)
        let s3 = try client(server)
        for segment in try master.sealedSegments() where segment.lastLSN <= snapshotLSN { try s3.delete("logs/" + segment.name) }
        let snapshotKey = replica + "/keys/snapshots/snapshot.pub"
        try FileManager.default.createDirectory(atPath: dir.sub("new"), withIntermediateDirectories: false)

        let good = dir.sub("new/good.db")
        let r = try ok("replica-apply", ["restore", "--source", url, good, "--latest", "--verify-key", pub, "--snapshot-key", snapshotKey], server)
        XCTAssertTrue(r.stdout.contains("start from  snapshot snapshot-"), r.stdout)
        XCTAssertEqual(try TableDigest.digest(path: good), try master.digest(at: master.lastLSN, scratch: dir))

        let untrusted = dir.sub("new/untrusted.db")
        let u = try run("replica-apply", ["restore", "--source", url, untrusted, "--latest", "--verify-key", pub], server)
        XCTAssertEqual(u.status, 3, u.stderr)
        XCTAssertTrue(u.stderr.contains("not trusted for snapshots"), u.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: untrusted))

        // Replace the snapshot object with a changed copy and fix its metadata's SHA-256.
        let dbKey = try XCTUnwrap(try s3.list(prefix: "logs/snapshots/").map(\.key).first { $0.hasSuffix(".db") })
        let metaKey = String(dbKey.dropLast(3)) + ".json"
        var bytes = [UInt8](try s3.get(dbKey))
        let needle = Array("row-3-".utf8)
        let at = try XCTUnwrap((0..<(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle })
        bytes.replaceSubrange(at..<(at + needle.count), with: Array("ROW-3-".utf8))
        var meta = try JSONSerialization.jsonObject(with: try s3.get(metaKey)) as! [String: Any]
        meta["sha256"] = try SnapshotSignature.sha256(file: { let p = dir.sub("forged.db"); try Data(bytes).write(to: URL(fileURLWithPath: p)); return p }())
        try s3.delete(dbKey)
        try s3.delete(metaKey)
        _ = try s3.put(dbKey, Data(bytes))
        _ = try s3.put(metaKey, try JSONSerialization.data(withJSONObject: meta))
        let forged = dir.sub("new/forged.db")
        let f = try run("replica-apply", ["restore", "--source", url, forged, "--latest", "--verify-key", pub, "--snapshot-key", snapshotKey], server)
        XCTAssertEqual(f.status, 3, f.stderr)
        XCTAssertTrue(f.stderr.contains("is not the file key id") && f.stderr.contains("SHA-256"), f.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: forged))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.sub("new")).sorted(), ["good.db"], "scratch left behind")
    }

    /// A restore killed (SIGKILL) after downloading leaves its scratch directory; the next
    /// restore into the same directory removes it, and succeeds. Failed before: the scratch
    /// directory stayed for good (its cleanup is a `defer`, which SIGKILL skips).
    func testScratchOfAKilledRestoreIsRemovedByTheNextOnMoto() throws {
        let (server, dir, master, _) = try scenario(.moto)
        let url = "s3://\(bucket)/logs"
        let machine = dir.sub("machine")
        try FileManager.default.createDirectory(atPath: machine, withIntermediateDirectories: false)
        var env = server.toolEnvironment()
        env["LOGSHIP_CRASH_AT"] = "restore.after-download"
        let killed = try ToolRunner.run("replica-apply", ["restore", "--source", url, machine + "/db.sqlite", "--latest"], environment: env)
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertTrue(killed.stderr.contains("crash point restore.after-download reached"), killed.stderr)
        let left = try FileManager.default.contentsOfDirectory(atPath: machine)
        XCTAssertEqual(left.count, 1, "\(left)")
        XCTAssertTrue(left.first?.hasPrefix(".restore-scratch-") ?? false, "\(left)")
        // A scratch directory of a restore that still runs (this test process's pid) is kept.
        let live = machine + "/.restore-scratch-\(getpid())"
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: live + "/replica.json", contents: Data("{}".utf8))
        let r = try ok("replica-apply", ["restore", "--source", url, machine + "/db.sqlite", "--latest"], server)
        XCTAssertTrue(r.stdout.contains("at LSN \(master.lastLSN)"), r.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: machine).sorted(), [".restore-scratch-\(getpid())", "db.sqlite"])
    }

    func testRestoreFromSnapshotAndTailOnMoto() throws { try restores(.moto) }
    func testRestoreFromSnapshotAndTailOnSeaweedFS() throws { try restores(.seaweedfs) }
    func testDamagedSnapshotObjectIsRefusedOnMoto() throws { try damagedSnapshot(.moto) }
}
