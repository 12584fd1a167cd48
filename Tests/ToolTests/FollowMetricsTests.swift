import Foundation
import LogshipTestSupport
import XCTest

/// `/metrics` over HTTP in the long-running modes (issue 17): `binlog-writer serve
/// --metrics-listen` (the master's status plus its fsync latency histogram and commit groups)
/// and `binlog-ship --follow --metrics-listen` (`status --prometheus`, current). Each exposition
/// passes the format checker and, where installed, `promtool check metrics`; each process still
/// stops cleanly on SIGTERM.
final class FollowMetricsTests: XCTestCase {
    /// A tool started in the background, stopped with SIGTERM.
    final class Background {
        let process = Process()
        private let err = Pipe()

        /// `tool` is a built tool's name, or with `absolute` the executable's path.
        init(_ tool: String, _ args: [String], environment: [String: String]? = nil, absolute: Bool = false) throws {
            process.executableURL = URL(fileURLWithPath: absolute ? tool : ToolRunner.path(tool))
            process.arguments = args
            if let environment { process.environment = environment }
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        /// SIGTERM, then the exit status and stderr.
        func stop() -> (Int32, String) {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    /// A free loopback port, from the kernel (bind to port 0, read it, close).
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 } }
        XCTAssertTrue(bound)
        return UInt16(bigEndian: addr.sin_port)
    }

    /// Scrapes `listen` until `done` holds for a well-formed exposition (polling: no timing asserted).
    static func scrape(_ listen: String, until done: (PrometheusExposition.Parsed) -> Bool) throws -> (String, PrometheusExposition.Parsed)? {
        for _ in 0..<400 {
            let r = try ToolRunner.runProcess("/usr/bin/curl", ["-sf", "http://\(listen)/metrics"])
            if r.status == 0, let parsed = try? PrometheusExposition.parse(r.stdout), done(parsed) { return (r.stdout, parsed) }
            usleep(50_000)
        }
        return nil
    }

    func testServeReportsSyncLatencyAndCommitGroups() throws {
        let dir = TestDirectory("metrics-serve")
        let m = dir.sub("master")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", m, "--digest-every", "0", "--digest-interval", "0"]).status, 0)
        let listen = "127.0.0.1:\(try Self.freePort())"
        let server = try Background("binlog-writer", ["serve", m, "--metrics-listen", listen])
        let label = ["master": m]
        // Before any commit: the histogram exists, empty.
        let (_, empty) = try XCTUnwrap(try Self.scrape(listen) { $0.value("logship_master_sync_duration_seconds_count", label) != nil }, "no /metrics")
        XCTAssertEqual(empty.value("logship_master_sync_duration_seconds_count", label), 0)
        XCTAssertEqual(empty.families.first { $0.name == "logship_master_sync_duration_seconds" }?.type, "histogram")
        // Commits through the server's socket; each waits for the fsync of its group.
        for sql in ["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t (v) VALUES ('a')", "INSERT INTO t (v) VALUES ('b')"] {
            let r = try ToolRunner.run("binlog-writer", ["exec", m, sql])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let (text, p) = try XCTUnwrap(try Self.scrape(listen) { $0.value("logship_master_transactions_total", label) == 3 }, "the commits never showed")
        XCTAssertNil(try PrometheusExposition.promtoolProblems(text))
        let groups = try XCTUnwrap(p.value("logship_master_commit_groups_total", label))
        XCTAssertGreaterThan(groups, 0)
        XCTAssertEqual(p.value("logship_master_sync_duration_seconds_count", label), groups, "sync-binlog 1: one fsync per commit group")
        XCTAssertEqual(p.value("logship_master_sync_duration_seconds_bucket", label.merging(["le": "+Inf"]) { a, _ in a }), groups)
        XCTAssertGreaterThan(try XCTUnwrap(p.value("logship_master_sync_duration_seconds_sum", label)), 0)
        XCTAssertEqual(p.value("logship_master_last_lsn", label), 3)
        let (status, stderr) = server.stop()
        XCTAssertEqual(status, 0, stderr)
        // Bad address: exit 64 before anything opens.
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["serve", m, "--metrics-listen", "localhost"]).status, 64)
    }

    func testShipFollowServesItsStatusOverHTTP() throws {
        let dir = TestDirectory("metrics-ship-follow")
        let m = dir.sub("master"), a = dir.sub("a")
        try FileManager.default.createDirectory(atPath: a, withIntermediateDirectories: true)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", m, "--digest-every", "0", "--digest-interval", "0"]).status, 0)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a')"]).status, 0)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["rotate", m]).status, 0)
        let listen = "127.0.0.1:\(try Self.freePort())"
        let flags = ["--source", m, "--target", "a=" + a]
        let follower = try Background("binlog-ship", flags + ["--follow", "--quiet", "--metrics-listen", listen])
        let target = { (p: PrometheusExposition.Parsed) in p.samples.first { $0.name == "logship_ship_shipped_segments_total" && $0.labels["target"] == "a" }?.value }
        let (text, first) = try XCTUnwrap(try Self.scrape(listen) { target($0) == 1 }, "the sealed segment was never counted")
        XCTAssertNil(try PrometheusExposition.promtoolProblems(text))
        let status = try ToolRunner.run("binlog-ship", ["status"] + flags + ["--prometheus"])
        XCTAssertEqual(first.families.map(\.name), try PrometheusExposition.parse(status.stdout).families.map(\.name), "the same families as status")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", m, "INSERT INTO t (v) VALUES ('b')"]).status, 0)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["rotate", m]).status, 0)
        XCTAssertNotNil(try Self.scrape(listen) { target($0) == 2 }, "the endpoint follows the state")
        let (code, stderr) = follower.stop()
        XCTAssertEqual(code, 0, stderr)
        let usage = try ToolRunner.run("binlog-ship", flags + ["--metrics-listen", listen])
        XCTAssertEqual(usage.status, 64, "--metrics-listen without --follow: \(usage.stderr)")
    }
}
