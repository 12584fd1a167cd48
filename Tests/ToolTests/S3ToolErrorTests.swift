import Foundation
import LogshipTestSupport
import XCTest

/// Issue 13's error cases through the built tools: a clock too far off for Signature V4 (the
/// fault proxy answers 403 RequestTimeTooSkewed, as S3 does; moto cannot be told to), and an
/// endpoint that is a web server answering every request with an HTML page. `binlog-ship`,
/// `replica-apply fetch` and `restore --source` each stop with the documented exit code (64 for
/// the clock, which the user fixes; 15 for an endpoint that is not S3), a message naming the
/// target or source and a hint naming the fix, and write nothing. Also `binlog-ship
/// --max-bandwidth`.
final class S3ToolErrorTests: XCTestCase {
    private let bucket = "logship-errors"

    /// A master with two sealed segments.
    private func master(_ dir: TestDirectory) throws -> ToolMaster {
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 6))
        try master.rotate()
        return master
    }

    func testClockSkewStopsEachToolWithExit64AndTheFix() throws {
        let server = try S3TestServer.startWithBucket(.moto, bucket: bucket)
        let proxy = try S3FaultProxy(upstreamPort: server.endpoint.port!)
        var env = server.toolEnvironment()
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(proxy.port)"
        let dir = TestDirectory("s3-skew")
        let master = try master(dir)
        let url = "s3://\(bucket)/logs"
        let skewed = S3FaultProxy.Fault.status(403, "RequestTimeTooSkewed")

        proxy.inject([.init("GET", "", skewed)])
        let ship = try ToolRunner.run("binlog-ship", ["--source", master.path, "--target", "offsite=\(url)"], environment: env)
        XCTAssertEqual(ship.status, 64, ship.stdout + ship.stderr)
        for s in ["offsite", "RequestTimeTooSkewed", "set this machine's clock right", "15 minutes"] {
            XCTAssertTrue(ship.stderr.contains(s), "binlog-ship: no \"\(s)\" in \(ship.stderr)")
        }
        XCTAssertEqual(try server.client(bucket: bucket).list(prefix: "logs/").count, 0, "nothing was uploaded")

        // Shipped for real (no fault), then the replica side meets the skew.
        XCTAssertEqual(try ToolRunner.run("binlog-ship", ["--source", master.path, "--target", "offsite=\(url)"], environment: env).status, 0)
        let replica = dir.sub("replica")
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", replica]).status, 0)
        proxy.inject([.init("GET", "", skewed)])
        let fetch = try ToolRunner.run("replica-apply", ["fetch", replica, "--source", url], environment: env)
        XCTAssertEqual(fetch.status, 64, fetch.stderr)
        XCTAssertTrue(fetch.stderr.contains(url) && fetch.stderr.contains("set this machine's clock right"), fetch.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: replica + "/inbox"), [], "nothing fetched")

        proxy.inject([.init("GET", "", skewed)])
        let out = dir.sub("restored.db")
        let restore = try ToolRunner.run("replica-apply", ["restore", "--source", url, out, "--latest"], environment: env)
        XCTAssertEqual(restore.status, 64, restore.stderr)
        XCTAssertTrue(restore.stderr.contains("set this machine's clock right"), restore.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertEqual(proxy.pending, 0, "every injected fault fired: \(proxy.log)")
    }

    func testAnEndpointServingHTMLIsNotS3WithExit15() throws {
        let dir = TestDirectory("s3-html")
        let port = try S3TestServer.freePort()
        let script = dir.sub("web.py")
        try """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                def answer(self):
                    body = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body>It works!</body></html>"
                    n = int(self.headers.get("Content-Length") or 0)
                    if n: self.rfile.read(n)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD": self.wfile.write(body)
                do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = answer
                def log_message(self, *a): pass
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let web = Process()
        web.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        web.arguments = ["python3", script, String(port)]
        web.standardOutput = FileHandle.nullDevice
        web.standardError = FileHandle.nullDevice
        do { try web.run() } catch { throw XCTSkip("python3 cannot start: \(error)") }
        defer { web.terminate(); web.waitUntilExit() }
        var env = ProcessInfo.processInfo.environment
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(port)"
        env["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE"
        env["AWS_SECRET_ACCESS_KEY"] = "secret"
        env["AWS_REGION"] = "us-east-1"
        env["AWS_PROFILE"] = nil
        // Waits (bounded) for the web server to listen.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/")!)) == nil { usleep(100_000) }
        let master = try master(dir)
        let url = "s3://\(bucket)/logs"

        let ship = try ToolRunner.run("binlog-ship", ["--source", master.path, "--target", "offsite=\(url)"], environment: env)
        XCTAssertEqual(ship.status, 15, ship.stdout + ship.stderr)
        for s in ["offsite", "not a ListBucketResult", "check that http://127.0.0.1:\(port) is an S3 endpoint"] {
            XCTAssertTrue(ship.stderr.contains(s), "binlog-ship: no \"\(s)\" in \(ship.stderr)")
        }
        let replica = dir.sub("replica")
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", replica]).status, 0)
        let fetch = try ToolRunner.run("replica-apply", ["fetch", replica, "--source", url], environment: env)
        XCTAssertEqual(fetch.status, 15, fetch.stderr)
        XCTAssertTrue(fetch.stderr.contains(url) && fetch.stderr.contains("is an S3 endpoint"), fetch.stderr)
        let out = dir.sub("restored.db")
        let restore = try ToolRunner.run("replica-apply", ["restore", "--source", url, out, "--latest"], environment: env)
        XCTAssertEqual(restore.status, 15, restore.stderr)
        XCTAssertTrue(restore.stderr.contains("is an S3 endpoint"), restore.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// `--max-bandwidth` on the command line: a bad rate is a usage error (64); a rate reaches the
    /// upload. Proof that it is applied, without a timed upper bound: 3 segments of about 4 KiB
    /// at 4 KiB/s cannot arrive in under a second (a lower bound a slow machine only makes safer).
    func testMaxBandwidthFlag() throws {
        let bad = try ToolRunner.run("binlog-ship", ["--source", "/nonexistent", "--target", "s3://b/p", "--max-bandwidth", "10485760"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--max-bandwidth takes bytes per second with a unit"), bad.stderr)
        let server = try S3TestServer.startWithBucket(.moto, bucket: bucket)
        let dir = TestDirectory("s3-bandwidth")
        let master = try master(dir)
        let bytes = try master.sealedSegments().reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int) ?? 0) }
        XCTAssertGreaterThan(bytes, 8 << 10)
        let started = Date()
        let ship = try ToolRunner.run("binlog-ship", ["--source", master.path, "--target", "s3://\(bucket)/logs", "--max-bandwidth", "4KiB/s"],
                                      environment: server.toolEnvironment())
        XCTAssertEqual(ship.status, 0, ship.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1.0, "\(bytes) bytes at 4 KiB/s")
        XCTAssertEqual(try server.client(bucket: bucket).list(prefix: "logs/").filter { $0.key.hasSuffix(".binlog") }.count, try master.sealedSegments().count)
    }
}
