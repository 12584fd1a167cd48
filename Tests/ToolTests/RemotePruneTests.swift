import Foundation
import LogshipTestSupport
import XCTest

/// `replica-apply prune --remote s3://…` (issue 13): the snapshots uploaded to a bucket are judged
/// by the retention policy, dry run by default; `--confirm` deletes metadata and database object
/// of what goes; what a restore needs (the newest state's start, the window) stays, and
/// `restore --source` still works afterwards. On moto.
final class RemotePruneTests: XCTestCase {
    private let bucket = "logship-prune"

    func testBucketSnapshotsArePrunedByThePolicyAndRestoresStillWork() throws {
        let server = try S3TestServer.startWithBucket(.moto, bucket: bucket)
        let env = server.toolEnvironment()
        func ok(_ tool: String, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ToolRunner.Result {
            let r = try ToolRunner.run(tool, args, environment: env)
            XCTAssertEqual(r.status, 0, "\(tool) \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)", file: file, line: line)
            return r
        }
        let dir = TestDirectory("remote-prune")
        let url = "s3://\(bucket)/logs"
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        let replica = dir.sub("replica")
        _ = try ok("replica-apply", ["init", replica, "--source", url])
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        var lsns: [UInt64] = []
        for round in 0..<3 {
            try master.exec((0..<5).map { "INSERT INTO t (v) VALUES ('round \(round) row \($0)');" }.joined(separator: "\n"))
            try master.rotate()
            _ = try ok("binlog-ship", ["--source", master.path, "--target", "off=\(url)"])
            _ = try ok("replica-apply", ["apply", replica])
            _ = try ok("replica-apply", ["snapshot", replica, "--upload", url])
            lsns.append(master.lastLSN)
        }
        let s3 = try server.client(bucket: bucket)
        func bucketSnapshots() throws -> [String] { try s3.list(prefix: "logs/snapshots/").map { String($0.key.dropFirst("logs/snapshots/".count)) }.sorted() }
        func name(_ lsn: UInt64) -> String { "snapshot-" + String(format: "%016llx", lsn) }
        XCTAssertEqual(try bucketSnapshots(), lsns.flatMap { [name($0) + ".db", name($0) + ".json"] }.sorted())

        // Dry run: the two older ones would go (one daily class keeps the newest), nothing changes.
        let dry = try ok("replica-apply", ["prune", replica, "--daily", "1", "--remote", url])
        for lsn in lsns.dropLast() {
            XCTAssertTrue(dry.stdout.contains("would delete \(url)/snapshots/\(name(lsn)).db (LSN \(lsn)"), dry.stdout)
        }
        XCTAssertTrue(dry.stdout.contains("keeping \(url)/snapshots/\(name(lsns[2])).db (LSN \(lsns[2])"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("starts the restore of the newest state"), dry.stdout)
        XCTAssertEqual(try bucketSnapshots().count, 6, "a dry run deletes nothing")

        // --json matches docs/JSON.md.
        let json = try ok("replica-apply", ["prune", replica, "--daily", "1", "--remote", url, "--json"])
        let output = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8))
        let rows = try XCTUnwrap(try JSONSchemaDocsTests.documented()["replica-apply prune --json"])
        XCTAssertEqual(JSONSchemaDocsTests.validate(output, rows), [], json.stdout)
        let remote = try XCTUnwrap((output as? [String: Any])?["remoteSnapshots"] as? [[String: Any]])
        XCTAssertEqual(remote.map { $0["delete"] as? Bool }, [true, true, false])

        // A window of an hour keeps every snapshot committed in it.
        let windowed = try ok("replica-apply", ["prune", replica, "--daily", "1", "--window", "1h", "--remote", url])
        XCTAssertFalse(windowed.stdout.contains("would delete \(url)"), windowed.stdout)
        XCTAssertTrue(windowed.stdout.contains("committed inside the window"), windowed.stdout)

        // Confirmed, with the oldest pinned: only the middle one goes, metadata and database.
        let confirmed = try ok("replica-apply", ["prune", replica, "--daily", "1", "--pin", String(lsns[0]), "--remote", url, "--confirm"])
        XCTAssertTrue(confirmed.stdout.contains("deleted \(url)/snapshots/\(name(lsns[1])).db"), confirmed.stdout)
        XCTAssertEqual(try bucketSnapshots(), [lsns[0], lsns[2]].flatMap { [name($0) + ".db", name($0) + ".json"] }.sorted())

        // The bucket still restores: the newest state, and the pinned snapshot's LSN.
        try FileManager.default.createDirectory(atPath: dir.sub("new"), withIntermediateDirectories: false)
        let latest = dir.sub("new/latest.db")
        _ = try ok("replica-apply", ["restore", "--source", url, latest, "--latest"])
        XCTAssertEqual(try TableDigest.digest(path: latest), try master.digest(at: master.lastLSN, scratch: dir))
        let pinned = dir.sub("new/pinned.db")
        _ = try ok("replica-apply", ["restore", "--source", url, pinned, "--to-lsn", String(lsns[0])])
        XCTAssertEqual(try TableDigest.digest(path: pinned), try master.digest(at: lsns[0], scratch: dir))

        let bad = try ToolRunner.run("replica-apply", ["prune", replica, "--daily", "1", "--remote", "/srv/bucket"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
    }
}
