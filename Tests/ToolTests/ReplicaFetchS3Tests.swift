import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import ObjectStorage
import XCTest

/// The pipeline through a bucket, as operators run it: binlog-writer -> binlog-ship to
/// s3://bucket/prefix -> two replicas in other directories, each `replica-apply fetch` +
/// `apply` -> digests equal to the master's at their LSN. A gap in the bucket stops fetch
/// naming the missing segment (exit 2); a damaged object is refused (exit 3). Run on moto and
/// SeaweedFS; skipped, with the reason, only when a server cannot start.
final class ReplicaFetchS3Tests: XCTestCase {
    private let bucket = "logship-pull"

    private func start(_ kind: S3TestServer.Kind) throws -> S3TestServer { try S3TestServer.startWithBucket(kind, bucket: bucket) }

    private func client(_ server: S3TestServer) throws -> S3Client { try server.client(bucket: bucket) }

    private func environment(_ server: S3TestServer) -> [String: String] { server.toolEnvironment() }

    private func run(_ tool: String, _ args: [String], _ server: S3TestServer) throws -> ToolRunner.Result {
        try ToolRunner.run(tool, args, environment: environment(server))
    }

    /// A master with several sealed segments, shipped to s3://bucket/logs.
    private func shippedMaster(_ dir: TestDirectory, _ server: S3TestServer) throws -> ToolMaster {
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 12))
        try master.rotate()
        let shipped = try run("binlog-ship", ["--source", master.path, "--target", "off=s3://\(bucket)/logs"], server)
        XCTAssertEqual(shipped.status, 0, shipped.stderr)
        return master
    }

    private func pipeline(_ kind: S3TestServer.Kind) throws {
        let server = try start(kind)
        let dir = TestDirectory("fetch-\(kind.rawValue)")
        let master = try shippedMaster(dir, server)
        let last = try XCTUnwrap(master.sealedSegments().last).lastLSN
        let expected = try master.digest(at: last, scratch: dir)
        for name in ["east", "west"] {
            let replica = dir.sub("elsewhere-\(name)/replica")
            XCTAssertEqual(try run("replica-apply", ["init", replica], server).status, 0)
            let fetched = try run("replica-apply", ["fetch", replica, "--source", "s3://\(bucket)/logs"], server)
            XCTAssertEqual(fetched.status, 0, fetched.stderr)
            let applied = try run("replica-apply", ["apply", replica], server)
            XCTAssertEqual(applied.status, 0, applied.stderr)
            XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), expected, "\(kind) replica \(name)")
            let again = try run("replica-apply", ["fetch", replica, "--source", "s3://\(bucket)/logs"], server)
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertTrue(again.stdout.contains("fetched 0 object(s)"), again.stdout)
            // --json: the schema in docs/JSON.md, checked as JSONSchemaDocsTests checks the others.
            let json = try run("replica-apply", ["fetch", replica, "--source", "s3://\(bucket)/logs", "--json"], server)
            XCTAssertEqual(json.status, 0, json.stderr)
            let rows = try XCTUnwrap(try JSONSchemaDocsTests.documented()["replica-apply fetch --json"])
            let output = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8))
            XCTAssertEqual(JSONSchemaDocsTests.validate(output, rows), [], json.stdout)
            XCTAssertEqual((output as? [String: Any])?["fetched"] as? [String], [], json.stdout)
        }
    }

    private func gapAndDamage(_ kind: S3TestServer.Kind) throws {
        let server = try start(kind)
        let dir = TestDirectory("fetch-bad-\(kind.rawValue)")
        let master = try shippedMaster(dir, server)
        let sealed = try master.sealedSegments()
        XCTAssertGreaterThan(sealed.count, 3)
        let s3 = try client(server)

        // A segment missing in the middle: fetch stops before it, naming it, exit 2.
        try s3.delete("logs/" + sealed[2].name)
        let replica = dir.sub("replica")
        XCTAssertEqual(try run("replica-apply", ["init", replica], server).status, 0)
        let gap = try run("replica-apply", ["fetch", replica, "--source", "s3://\(bucket)/logs"], server)
        XCTAssertEqual(gap.status, 2, gap.stderr)
        let missing = SegmentName.parse(sealed[2].name)!
        XCTAssertTrue(gap.stderr.contains("segments \(missing.sequence)…\(missing.sequence) of epoch \(missing.epoch) are missing before \(sealed[3].name)"), gap.stderr)
        let inbox = try FileManager.default.contentsOfDirectory(atPath: replica + "/inbox").sorted()
        XCTAssertEqual(inbox, [sealed[0].name, sealed[1].name])

        // The object put back with one byte flipped: refused, never published, exit 3.
        var damaged = try Data(contentsOf: URL(fileURLWithPath: sealed[2].path))
        damaged[damaged.count / 2] ^= 0xFF
        _ = try s3.put("logs/" + sealed[2].name, damaged)
        let bad = try run("replica-apply", ["fetch", replica, "--source", "s3://\(bucket)/logs"], server)
        XCTAssertEqual(bad.status, 3, bad.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: replica + "/inbox").sorted(), inbox)
    }

    /// docs/OPERATIONS.md's drill block is tools/dr-drill byte for byte, and the script, run on an
    /// empty directory with only the bucket's address and the AWS variables, rebuilds the master
    /// from an uploaded snapshot and the segments after it (those before it purged from the bucket).
    func testDisasterRecoveryDrillAsDocumented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let script = try String(contentsOfFile: root + "/tools/dr-drill", encoding: .utf8)
        let doc = try String(contentsOfFile: root + "/docs/OPERATIONS.md", encoding: .utf8)
        let block = try XCTUnwrap(doc.components(separatedBy: "<!-- dr-drill begin -->\n```bash\n").dropFirst().first?
            .components(separatedBy: "```\n<!-- dr-drill end -->").first)
        XCTAssertEqual(block, script, "docs/OPERATIONS.md's drill differs from tools/dr-drill")

        let server = try start(.moto)
        let dir = TestDirectory("dr-drill")
        let url = "s3://\(bucket)/logs"
        let master = try shippedMaster(dir, server)
        // A replica uploads a snapshot; the master writes on; the segments before the snapshot
        // are gone from the bucket (purged): the drill must start from the snapshot.
        let replica = dir.sub("old-replica")
        for args in [["init", replica], ["fetch", replica, "--source", url], ["apply", replica], ["snapshot", replica, "--upload", url]] {
            let r = try run("replica-apply", args, server)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
        }
        let snapshotLSN = try XCTUnwrap(master.sealedSegments().last).lastLSN
        try master.exec(String(repeating: "UPDATE t SET v = randomblob(1400) WHERE id % 4 = 1; INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 6))
        try master.rotate()
        XCTAssertEqual(try run("binlog-ship", ["--source", master.path, "--target", "off=\(url)"], server).status, 0)
        for segment in try master.sealedSegments() where segment.lastLSN <= snapshotLSN { try client(server).delete("logs/" + segment.name) }
        let last = try XCTUnwrap(master.sealedSegments().last).lastLSN
        XCTAssertGreaterThan(last, snapshotLSN)
        var env = environment(server)
        env["PATH"] = ToolRunner.productsDirectory + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        let target = dir.sub("new-machine/drill")
        let r = try ToolRunner.runProcess("/bin/bash", [root + "/tools/dr-drill", url, target], environment: env)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("start from  snapshot snapshot-"), r.stdout)
        XCTAssertEqual(try TableDigest.digest(path: target + "/restored.db"), try master.digest(at: last, scratch: dir))
    }

    /// `init --source` records the bucket in replica.json; then `apply` fetches before applying (one
    /// cron line), and `apply --follow` polls the bucket: a segment shipped later is applied
    /// without any other command. `fetch` without --source uses the recorded one.
    func testInitSourceThenApplyFetchesAndFollowPolls() throws {
        let server = try start(.moto)
        let dir = TestDirectory("fetch-init-source")
        let url = "s3://\(bucket)/logs"
        let master = try shippedMaster(dir, server)
        let replica = dir.sub("replica")
        XCTAssertEqual(try run("replica-apply", ["init", replica, "--source", url], server).status, 0)
        let identity = try String(contentsOfFile: replica + "/replica.json", encoding: .utf8)
        XCTAssertTrue(identity.contains("\"source\" : \"\(url)\""), identity)
        let applied = try run("replica-apply", ["apply", replica], server)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(applied.stdout.contains("fetched \(try master.sealedSegments().count) object(s) from \(url)"), applied.stdout)
        var last = try XCTUnwrap(master.sealedSegments().last).lastLSN
        XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), try master.digest(at: last, scratch: dir))
        let again = try run("replica-apply", ["fetch", replica], server)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("fetched 0 object(s)"), again.stdout)
        let upToDate = try run("replica-apply", ["status", replica], server)
        XCTAssertTrue(upToDate.stdout.contains("remote      \(url): newest \(try master.sealedSegments().last!.name) (up to LSN \(last)"), upToDate.stdout)
        XCTAssertTrue(upToDate.stdout.contains(", 0 segments not fetched yet"), upToDate.stdout)

        // New segments in the bucket: status counts them, check fails once they are older than --max-lag.
        let before = try master.sealedSegments().count
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 6))
        try master.rotate()
        XCTAssertEqual(try run("binlog-ship", ["--source", master.path, "--target", "off=\(url)"], server).status, 0)
        let waiting = try master.sealedSegments().count - before
        let behind = try run("replica-apply", ["status", replica], server)
        XCTAssertTrue(behind.stdout.contains(", \(waiting) segments not fetched yet"), behind.stdout)
        XCTAssertEqual(try run("replica-apply", ["check", replica, "--max-lag", "1h"], server).status, 0)
        usleep(1_100_000)
        let late = try run("replica-apply", ["check", replica, "--max-lag", "1s"], server)
        XCTAssertEqual(late.status, 5, late.stderr)
        XCTAssertTrue(late.stderr.contains("is not fetched yet; \(waiting) segments wait in the bucket"), late.stderr)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.path("replica-apply"))
        process.arguments = ["apply", replica, "--follow", "--poll-interval", "1s"]
        process.environment = environment(server)
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        last = try XCTUnwrap(master.sealedSegments().last).lastLSN
        // Waits (bounded) for the follower to reach the master's last sealed LSN, as a monitor would.
        func waitForFollower(_ round: String) throws {
            let deadline = Date().addingTimeInterval(60)
            var reached: Int?
            while Date() < deadline {
                let status = try run("replica-apply", ["status", replica, "--json"], server)
                reached = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["appliedLSN"] as? Int
                if reached == Int(last) { break }
                usleep(200_000)
            }
            XCTAssertEqual(reached, Int(last), "--follow did not fetch and apply the new segments (\(round))")
        }
        try waitForFollower("waiting in the bucket when it started")
        // A segment shipped while the follower runs: its next poll of the bucket fetches it.
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 4))
        try master.rotate()
        XCTAssertEqual(try run("binlog-ship", ["--source", master.path, "--target", "off=\(url)"], server).status, 0)
        last = try XCTUnwrap(master.sealedSegments().last).lastLSN
        try waitForFollower("shipped while it ran")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), try master.digest(at: last, scratch: dir))
    }

    /// `status --json` and `--prometheus` of a replica with a remote source carry the bucket's
    /// view (issue 13): before any fetch the bucket's newest LSN and the whole lag, and no fetch
    /// time; after `apply` (which fetches) the fetch time and no lag; with the endpoint gone,
    /// `reachable` false and the error, the last fetch time kept. The JSON matches docs/JSON.md.
    func testStatusJSONAndPrometheusCarryTheRemoteView() throws {
        let server = try start(.moto)
        let dir = TestDirectory("fetch-status-remote")
        let url = "s3://\(bucket)/logs"
        let master = try shippedMaster(dir, server)
        let sealed = try master.sealedSegments()
        let last = try XCTUnwrap(sealed.last).lastLSN
        let replica = dir.sub("replica")
        XCTAssertEqual(try run("replica-apply", ["init", replica, "--source", url], server).status, 0)
        let rows = try XCTUnwrap(try JSONSchemaDocsTests.documented()["replica-apply status --json"])
        func status(_ env: [String: String]? = nil) throws -> [String: Any] {
            let r = try ToolRunner.run("replica-apply", ["status", replica, "--json"], environment: env ?? environment(server))
            XCTAssertEqual(r.status, 0, r.stderr)
            let output = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
            XCTAssertEqual(JSONSchemaDocsTests.validate(output, rows), [], r.stdout)
            return try XCTUnwrap((output as? [String: Any])?["remote"] as? [String: Any], r.stdout)
        }
        let before = try status()
        XCTAssertEqual(before["source"] as? String, url)
        XCTAssertEqual(before["reachable"] as? Bool, true)
        XCTAssertTrue(before["lastFetchAt"] is NSNull, "\(before)")
        XCTAssertEqual(before["newestSegment"] as? String, sealed.last!.name)
        XCTAssertEqual(before["newestLSN"] as? Int, Int(last))
        XCTAssertEqual(before["notFetchedSegments"] as? Int, sealed.count)
        XCTAssertEqual(before["lagLSNs"] as? Int, Int(last))
        XCTAssertGreaterThanOrEqual(before["lagSeconds"] as? Double ?? -1, 0)

        let startedAt = microsecondsNow()
        XCTAssertEqual(try run("replica-apply", ["apply", replica], server).status, 0)
        let after = try status()
        let fetchedAt = try XCTUnwrap(parseTimestamp(try XCTUnwrap(after["lastFetchAt"] as? String)))
        XCTAssertGreaterThanOrEqual(fetchedAt, startedAt - 1_000_000)
        XCTAssertEqual(after["lastFetchObjects"] as? Int, sealed.count)
        XCTAssertEqual(after["notFetchedSegments"] as? Int, 0)
        XCTAssertEqual(after["lagLSNs"] as? Int, 0)
        XCTAssertEqual(after["lagSeconds"] as? Double, 0)

        let prom = try run("replica-apply", ["status", replica, "--prometheus"], server)
        XCTAssertEqual(prom.status, 0, prom.stderr)
        let labels = "{replica=\"\(replica)\",source=\"\(url)\"}"
        for line in ["logship_replica_remote_reachable\(labels) 1", "logship_replica_remote_lag_lsns\(labels) 0",
                     "logship_replica_remote_newest_lsn\(labels) \(last)", "logship_replica_remote_not_fetched_segments\(labels) 0"] {
            XCTAssertTrue(prom.stdout.contains(line + "\n"), "no \(line) in\n\(prom.stdout)")
        }
        XCTAssertTrue(prom.stdout.contains("logship_replica_remote_last_fetch_time_seconds\(labels) "), prom.stdout)

        var gone = environment(server)
        gone["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(try S3TestServer.freePort())"
        let down = try status(gone)
        XCTAssertEqual(down["reachable"] as? Bool, false)
        XCTAssertTrue((down["error"] as? String)?.contains("check the endpoint URL") ?? false, "\(down)")
        XCTAssertEqual(down["lastFetchAt"] as? String, after["lastFetchAt"] as? String, "the last good fetch is kept")
        XCTAssertTrue(down["lagLSNs"] is NSNull, "\(down)")
    }

    /// `fetch` after `prune` removed applied segments from the inbox does not download them
    /// again: it starts at the segment the store applied last. Counted at a proxy in front of
    /// the server. Failed before: every pruned segment was fetched again on each pass.
    func testFetchSkipsSegmentsTheStoreAppliedAfterPrune() throws {
        let server = try start(.moto)
        let proxy = try S3FaultProxy(upstreamPort: server.endpoint.port!)
        var env = environment(server)
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(proxy.port)"
        let dir = TestDirectory("fetch-after-prune")
        let url = "s3://\(bucket)/logs"
        let master = try shippedMaster(dir, server)
        let sealed = try master.sealedSegments()
        XCTAssertGreaterThan(sealed.count, 2)
        let replica = dir.sub("replica")
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", replica, "--source", url]).status, 0)
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["apply", replica], environment: env).status, 0)
        XCTAssertEqual(try appliedLSN(ofStore: replica + "/store.db"), sealed.last!.lastLSN)
        // What prune does to applied segments: gone from the inbox (all but the last one applied).
        for s in sealed.dropLast() { XCTAssertEqual(unlink(replica + "/inbox/" + s.name), 0) }
        let before = proxy.log.count
        let again = try ToolRunner.run("replica-apply", ["fetch", replica, "--json"], environment: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        let gets = proxy.log.dropFirst(before).filter { $0.hasPrefix("GET ") && $0.contains(".binlog") }
        XCTAssertEqual(gets, [], "segments the store holds were downloaded again")
        let output = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(output?["fetched"] as? [String], [], again.stdout)
        // New segments are still fetched, and apply continues from the store.
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 4))
        try master.rotate()
        XCTAssertEqual(try run("binlog-ship", ["--source", master.path, "--target", "off=\(url)"], server).status, 0)
        let applied = try ToolRunner.run("replica-apply", ["apply", replica], environment: env)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), try master.digest(at: master.lastLSN, scratch: dir))
    }

    /// A poll interval without a unit and a source that is not s3:// are usage errors (exit 64).
    /// `fetch --follow --metrics-listen`: the loop's passes, objects and bytes at /metrics
    /// (promtool-clean), counting a segment shipped while it runs; SIGTERM stops it with 0.
    func testFetchFollowServesItsMetricsOverHTTP() throws {
        let server = try start(.moto)
        let dir = TestDirectory("fetch-metrics")
        let url = "s3://\(bucket)/logs"
        let master = try shippedMaster(dir, server)
        let replica = dir.sub("replica")
        XCTAssertEqual(try run("replica-apply", ["init", replica], server).status, 0)
        let listen = "127.0.0.1:\(try FollowMetricsTests.freePort())"
        let fetcher = try FollowMetricsTests.Background("replica-apply", ["fetch", replica, "--source", url, "--follow", "--quiet",
                                                                          "--poll-interval", "1s", "--metrics-listen", listen],
                                                        environment: environment(server))
        let labels = ["source": url, "replica": replica]
        let sizes = { try master.sealedSegments().reduce(0.0) { $0 + Double(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int)) } }
        let count = Double(try master.sealedSegments().count)
        let (text, p) = try XCTUnwrap(try FollowMetricsTests.scrape(listen) { $0.value("logship_fetch_objects_total", labels) == count }, "never fetched")
        XCTAssertNil(try PrometheusExposition.promtoolProblems(text))
        XCTAssertEqual(p.value("logship_fetch_bytes_total", labels), try sizes())
        XCTAssertGreaterThan(try XCTUnwrap(p.value("logship_fetch_last_success_time_seconds", labels)), 0)
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 6))
        try master.rotate()
        XCTAssertEqual(try run("binlog-ship", ["--source", master.path, "--target", "off=\(url)"], server).status, 0)
        let total = Double(try master.sealedSegments().count)
        let later = try XCTUnwrap(try FollowMetricsTests.scrape(listen) { $0.value("logship_fetch_objects_total", labels) == total }, "the new segments were never counted").1
        XCTAssertEqual(later.value("logship_fetch_bytes_total", labels), try sizes())
        XCTAssertGreaterThan(try XCTUnwrap(later.value("logship_fetch_passes_total", labels)), 1)
        let (status, stderr) = fetcher.stop()
        XCTAssertEqual(status, 0, stderr)
        XCTAssertEqual(try run("replica-apply", ["fetch", replica, "--source", url, "--metrics-listen", listen], server).status, 64)
    }

    func testPollIntervalNeedsAUnitAndSourceMustBeS3() throws {
        let noUnit = try ToolRunner.run("replica-apply", ["fetch", "/nonexistent", "--source", "s3://b/p", "--poll-interval", "2"])
        XCTAssertEqual(noUnit.status, 64)
        XCTAssertTrue(noUnit.stderr.contains("--poll-interval takes a duration with a unit, like 2s or 1m"), noUnit.stderr)
        let local = try ToolRunner.run("replica-apply", ["fetch", "/nonexistent", "--source", "/srv/inbox"])
        XCTAssertEqual(local.status, 64)
        XCTAssertTrue(local.stderr.contains("--source takes s3://bucket/prefix"), local.stderr)
    }

    func testPipelineThroughMotoToTwoReplicas() throws { try pipeline(.moto) }
    func testPipelineThroughSeaweedFSToTwoReplicas() throws { try pipeline(.seaweedfs) }
    func testGapAndDamagedObjectOnMoto() throws { try gapAndDamage(.moto) }
    func testGapAndDamagedObjectOnSeaweedFS() throws { try gapAndDamage(.seaweedfs) }
}
