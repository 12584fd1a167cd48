import Foundation
import LogshipTestSupport
import XCTest

/// `status --prometheus` of binlog-writer, binlog-ship and replica-apply: exact values for a
/// small setup, checked against what the test did (LSNs it committed, files on disk, the wall
/// clock around a commit), and every output parsed as the exposition format.
final class PrometheusOutputTests: XCTestCase {
    @discardableResult
    private func run(_ tool: String, _ args: [String], status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> ToolRunner.Result {
        let r = try ToolRunner.run(tool, args)
        XCTAssertEqual(r.status, status, "\(tool) \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        return r
    }

    private func metrics(_ tool: String, _ args: [String]) throws -> (text: String, parsed: PrometheusExposition.Parsed) {
        let text = try run(tool, args).stdout
        XCTAssertNil(try PrometheusExposition.promtoolProblems(text), "\(tool) \(args.joined(separator: " "))")
        return (text, try PrometheusExposition.parse(text))
    }

    private func size(_ path: String) throws -> Double {
        Double(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
    }

    static let masterFamilies = ["last_lsn", "transactions_total", "last_commit_time_seconds", "binlog_bytes", "active_segment_bytes", "segments", "epoch",
                                 "last_marker_lsn", "recovery_pending", "fenced"].map { "logship_master_" + $0 }

    func testMasterMetricsBeforeAndAfterCommits() throws {
        let dir = TestDirectory("prom-master")
        let m = dir.sub("master")
        try run("binlog-writer", ["init", m, "--digest-every", "2", "--digest-interval", "0"])
        let label = ["master": m]
        let empty = try metrics("binlog-writer", ["status", m, "--prometheus"])
        XCTAssertEqual(empty.parsed.families.map(\.name), Self.masterFamilies)
        XCTAssertTrue(empty.parsed.families.allSatisfy { $0.type == ($0.name.hasSuffix("_total") ? "counter" : "gauge") && !$0.help.isEmpty })
        for name in Self.masterFamilies where name != "logship_master_epoch" {
            XCTAssertEqual(empty.parsed.value(name, label), 0, "\(name) before any commit")
        }
        XCTAssertEqual(empty.parsed.value("logship_master_epoch", label), 1)

        try run("binlog-writer", ["exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"])
        try run("binlog-writer", ["exec", m, "INSERT INTO t (v) VALUES ('a')"])
        let before = Date().timeIntervalSince1970
        try run("binlog-writer", ["exec", m, "INSERT INTO t (v) VALUES ('b')"])
        let after = Date().timeIntervalSince1970
        let p = try metrics("binlog-writer", ["status", m, "--prometheus"])
        XCTAssertTrue(p.text.contains("logship_master_last_lsn{master=\"\(m)\"} 3\n"), p.text)
        XCTAssertTrue(p.text.contains("logship_master_last_marker_lsn{master=\"\(m)\"} 2\n"), "every 2 transactions: LSN 2 carried one\n" + p.text)
        XCTAssertTrue(p.text.contains("logship_master_segments{master=\"\(m)\"} 1\n"), p.text)
        let commit = try XCTUnwrap(p.parsed.value("logship_master_last_commit_time_seconds", label))
        XCTAssertTrue(commit >= before - 0.001 && commit <= after + 0.001, "commit time \(commit) outside [\(before), \(after)]")
        let active = try XCTUnwrap(p.parsed.value("logship_master_active_segment_bytes", label))
        let activeFile = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: m + "/binlog").first { $0.hasSuffix(".binlog.active") })
        let activeFileSize = try size(m + "/binlog/" + activeFile)
        XCTAssertTrue(active > 0 && active <= activeFileSize, "active bytes \(active), file \(activeFileSize)")
        XCTAssertEqual(p.parsed.value("logship_master_binlog_bytes", label), active, "no sealed segment yet")
    }

    func testMasterMetricsCountSealedSegmentsByTheirFileSize() throws {
        let dir = TestDirectory("prom-sealed")
        let m = dir.sub("master")
        try run("binlog-writer", ["init", m, "--digest-every", "0", "--digest-interval", "0"])
        try run("binlog-writer", ["exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"])
        try run("binlog-writer", ["rotate", m])
        try run("binlog-writer", ["exec", m, "INSERT INTO t (v) VALUES ('a')"])
        try run("binlog-writer", ["rotate", m])
        let sealed = try FileManager.default.contentsOfDirectory(atPath: m + "/binlog").filter { $0.hasSuffix(".binlog") }
        XCTAssertEqual(sealed.count, 2, "\(sealed)")
        let p = try metrics("binlog-writer", ["status", m, "--prometheus"]).parsed
        let label = ["master": m]
        XCTAssertEqual(p.value("logship_master_last_lsn", label), 2)
        XCTAssertEqual(p.value("logship_master_segments", label), 2)
        XCTAssertEqual(p.value("logship_master_active_segment_bytes", label), 0)
        XCTAssertEqual(p.value("logship_master_binlog_bytes", label), try sealed.map { try size(m + "/binlog/" + $0) }.reduce(0, +))
        XCTAssertEqual(p.value("logship_master_last_marker_lsn", label), 0, "markers are off")
    }

    func testShipMetricsPerTargetWithOneFailingTarget() throws {
        let dir = TestDirectory("prom-ship")
        let m = dir.sub("master")
        try run("binlog-writer", ["init", m, "--digest-every", "0", "--digest-interval", "0"])
        try run("binlog-writer", ["exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"])
        try run("binlog-writer", ["exec", m, "INSERT INTO t (v) VALUES ('a')"])
        try run("binlog-writer", ["rotate", m])
        let sealed = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: m + "/binlog").first { $0.hasSuffix(".binlog") })
        try FileManager.default.createDirectory(atPath: dir.sub("a"), withIntermediateDirectories: true)
        let flags = ["--source", m, "--target", "a=" + dir.sub("a"), "--target", "b=" + dir.sub("not-mounted/inbox")]
        try run("binlog-ship", flags, status: 15)   // b's directory does not exist; a ships
        try run("binlog-writer", ["exec", m, "INSERT INTO t (v) VALUES ('b')"])   // LSN 3, in the active segment

        let out = try metrics("binlog-ship", ["status"] + flags + ["--prometheus"])
        let p = out.parsed
        XCTAssertTrue(p.families.allSatisfy { $0.type == ($0.name.hasSuffix("_total") ? "counter" : "gauge") && !$0.help.isEmpty })
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try run("binlog-ship", ["status"] + flags + ["--json"]).stdout.utf8)) as? [String: Any])
        let source = try XCTUnwrap(json["source"] as? String)
        let src = ["source": source], a = ["source": source, "target": "a"], b = ["source": source, "target": "b"]
        let master = try metrics("binlog-writer", ["status", m, "--prometheus"]).parsed
        let activeBytes = try XCTUnwrap(master.value("logship_master_active_segment_bytes", ["master": m]))
        XCTAssertGreaterThan(activeBytes, 0)

        XCTAssertTrue(out.text.contains("logship_ship_source_last_lsn{source=\"\(source)\"} 3\n"), out.text)
        XCTAssertEqual(p.value("logship_ship_source_last_commit_time_seconds", src), master.value("logship_master_last_commit_time_seconds", ["master": m]))
        XCTAssertEqual(p.value("logship_ship_source_problem", src), 0)
        XCTAssertEqual(p.value("logship_ship_last_run_failed", src), 1, "the last run failed for b")
        XCTAssertGreaterThan(try XCTUnwrap(p.value("logship_ship_last_run_time_seconds", src)), 0)

        // a holds the sealed segment (LSN 2) and lacks the active one's LSN 3.
        XCTAssertTrue(out.text.contains("logship_ship_last_lsn{source=\"\(source)\",target=\"a\"} 2\n"), out.text)
        XCTAssertEqual(p.value("logship_ship_behind_lsns", a), 1)
        XCTAssertEqual(p.value("logship_ship_behind_segments", a), 0)
        XCTAssertEqual(p.value("logship_ship_behind_bytes", a), activeBytes)
        let lag = try XCTUnwrap(p.value("logship_ship_lag_seconds", a))
        let newest = try XCTUnwrap(p.value("logship_ship_source_last_commit_time_seconds", src))
        let held = try XCTUnwrap(p.value("logship_ship_last_commit_time_seconds", a))
        XCTAssertEqual(lag, newest - held, accuracy: 1e-5)
        XCTAssertGreaterThan(try XCTUnwrap(p.value("logship_ship_last_success_time_seconds", a)), 0)
        XCTAssertEqual(p.value("logship_ship_last_attempt_failed", a), 0)
        XCTAssertEqual(p.value("logship_ship_last_error_time_seconds", a), 0)
        XCTAssertEqual(p.value("logship_ship_target_guarantee", ["source": source, "target": "a", "guarantee": "durable publish"]), 1)
        XCTAssertEqual(p.value("logship_ship_target_configured", a), 1)

        // b holds nothing: infinitely behind, never succeeded, its last attempt failed.
        XCTAssertTrue(out.text.contains("logship_ship_lag_seconds{source=\"\(source)\",target=\"b\"} +Inf\n"), out.text)
        XCTAssertEqual(p.value("logship_ship_last_lsn", b), 0)
        XCTAssertEqual(p.value("logship_ship_behind_lsns", b), 3)
        XCTAssertEqual(p.value("logship_ship_behind_segments", b), 1)
        XCTAssertEqual(p.value("logship_ship_behind_bytes", b), try size(m + "/binlog/" + sealed) + activeBytes)
        XCTAssertEqual(p.value("logship_ship_last_success_time_seconds", b), 0)
        XCTAssertEqual(p.value("logship_ship_last_attempt_failed", b), 1)
        XCTAssertGreaterThan(try XCTUnwrap(p.value("logship_ship_last_error_time_seconds", b)), 0)
        XCTAssertEqual(p.value("logship_ship_last_attempt_time_seconds", b), p.value("logship_ship_last_attempt_time_seconds", a))

        // Counters from the state: a got the sealed segment, b one error per run that failed for it.
        XCTAssertEqual(p.value("logship_ship_shipped_segments_total", a), 1)
        XCTAssertEqual(p.value("logship_ship_shipped_bytes_total", a), try size(m + "/binlog/" + sealed))
        XCTAssertEqual(p.value("logship_ship_errors_total", a), 0)
        XCTAssertEqual(p.value("logship_ship_shipped_segments_total", b), 0)
        XCTAssertEqual(p.value("logship_ship_errors_total", b), 1)
        try run("binlog-ship", flags, status: 15)
        let again = try metrics("binlog-ship", ["status"] + flags + ["--prometheus"]).parsed
        XCTAssertEqual(again.value("logship_ship_errors_total", b), 2)
        XCTAssertEqual(again.value("logship_ship_shipped_segments_total", a), 1, "nothing new to ship")
    }

    func testReplicaMetricsCarryTheLastSuccessTime() throws {
        let f = try ReplicaCLIFixture("prom-replica")
        let label = ["replica": f.replica]
        let never = try metrics("replica-apply", ["status", f.replica, "--prometheus"]).parsed
        XCTAssertEqual(never.value("logship_replica_last_success_time_seconds", label), 0, "never ran")
        XCTAssertEqual(never.value("logship_replica_last_run_time_seconds", label), 0, "never ran")

        try f.runWorkload(400)
        let segments = try f.master.sealedSegments()
        XCTAssertGreaterThanOrEqual(segments.count, 3, f.context)
        try f.shipAll(upToLSN: segments[0].lastLSN)
        let before = Date().timeIntervalSince1970
        f.assertExit(try f.apply(), 0)
        let after = Date().timeIntervalSince1970
        let p = try metrics("replica-apply", ["status", f.replica, "--prometheus"]).parsed
        let success = try XCTUnwrap(p.value("logship_replica_last_success_time_seconds", label))
        XCTAssertTrue(success >= before - 0.001 && success <= after + 0.001, "last success \(success) outside [\(before), \(after)]")
        XCTAssertEqual(p.value("logship_replica_last_run_time_seconds", label), success)
        XCTAssertEqual(p.value("logship_replica_last_run_failed", label), 0)
        XCTAssertTrue(p.families.allSatisfy { $0.type == ($0.name.hasSuffix("_total") ? "counter" : "gauge") && !$0.help.isEmpty })

        // A gap: the failed run moves the last run, not the last success.
        try f.shipAll()
        try FileManager.default.removeItem(atPath: f.inbox + "/" + segments[1].name)
        f.assertExit(try f.apply(), 2)
        let failed = try metrics("replica-apply", ["status", f.replica, "--prometheus"]).parsed
        XCTAssertEqual(failed.value("logship_replica_last_success_time_seconds", label), success)
        XCTAssertGreaterThan(try XCTUnwrap(failed.value("logship_replica_last_run_time_seconds", label)), success)
        XCTAssertEqual(failed.value("logship_replica_last_run_failed", label), 1)
    }

    func testTheExpositionCheckerRefusesWhatTheCollectorWould() {
        let good = "# HELP x_a A.\n# TYPE x_a gauge\nx_a{l=\"v\\\"q\"} 1\nx_a{l=\"w\"} +Inf\n"
        XCTAssertNoThrow(try PrometheusExposition.parse(good))
        for bad in ["x_a 1\n",                                              // no HELP/TYPE
                    "# HELP x_a A.\n# TYPE x_a gauge\nx_a one\n",           // not a number
                    "# HELP x_a A.\n# TYPE x_a gauge\nx_a{l=v} 1\n",        // unquoted label
                    "# HELP x_a A.\n# TYPE x_a gauge\nx_a 1",               // no final newline
                    "# HELP x_a A.\n# TYPE x_a gauge\n# HELP x_b B.\n# TYPE x_b gauge\nx_a 1\n",   // family split
                    "# HELP x_a A.\n# TYPE x_a gauge\n# TYPE x_a gauge\nx_a 1\n"] {
            XCTAssertThrowsError(try PrometheusExposition.parse(bad), bad)
        }
    }

    /// `--metrics-file`: each stage's status goes to a file the textfile collector can read at any
    /// moment (whole, published by rename), and a report run records when it ran, how long it took,
    /// its exit code and its last success, which a failing run keeps (issue 17).
    func testMetricsFilesForEveryStageAndForReportRuns() throws {
        let f = try ReplicaCLIFixture("prom-files")
        try f.master.exec("""
            CREATE TABLE expenses(id INTEGER PRIMARY KEY, spent_at TEXT, amount_cents INTEGER, category TEXT, currency TEXT, merchant TEXT);
            INSERT INTO expenses VALUES (1, '2026-01-03', 1250, 'food', 'EUR', 'Bakery');
            """)
        try f.master.rotate()
        try run("binlog-ship", ["--source", f.master.path, "--target", "a=" + f.inbox])
        try run("replica-apply", [f.replica])
        let out = f.dir.sub("metrics")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let ship = ["--source", f.master.path, "--target", "a=" + f.inbox]
        for (tool, args, file, family) in [("binlog-writer", ["status", f.master.path], "master.prom", "logship_master_last_lsn"),
                                           ("binlog-ship", ["status"] + ship, "ship.prom", "logship_ship_last_success_time_seconds"),
                                           ("replica-apply", ["status", f.replica], "replica.prom", "logship_replica_last_success_time_seconds")] {
            let r = try run(tool, args + ["--metrics-file", out + "/" + file])
            XCTAssertEqual(r.stdout, "", "\(tool): --metrics-file prints nothing")
            let written = try PrometheusExposition.parse(try String(contentsOfFile: out + "/" + file, encoding: .utf8))
            let printed = try metrics(tool, args + ["--prometheus"]).parsed
            XCTAssertEqual(written.families.map(\.name), printed.families.map(\.name), tool)
            XCTAssertTrue(written.names.contains(family), tool)
        }
        let before = Date().timeIntervalSince1970
        let report = ["monthly-expenses", "--store", f.replica, "-f", "csv", "--out", f.dir.sub("r.csv"), "--force", "--metrics-file", out + "/report.prom"]
        try run("report", report)
        let after = Date().timeIntervalSince1970
        let label = ["command": "report monthly-expenses"]
        let good = try PrometheusExposition.parse(try String(contentsOfFile: out + "/report.prom", encoding: .utf8))
        XCTAssertEqual(good.names, Set(["last_run_time_seconds", "duration_seconds", "last_exit_code", "last_success_time_seconds"].map { "logship_run_" + $0 }))
        XCTAssertEqual(good.value("logship_run_last_exit_code", label), 0)
        let ran = try XCTUnwrap(good.value("logship_run_last_run_time_seconds", label))
        let succeeded = try XCTUnwrap(good.value("logship_run_last_success_time_seconds", label))
        XCTAssertTrue(before - 1 <= ran && ran <= succeeded && succeeded <= after + 1, "\(before) \(ran) \(succeeded) \(after)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(good.value("logship_run_duration_seconds", label)), 0)
        // A failing run (no such store: exit 15) records its code and keeps the last success.
        try run("report", ["monthly-expenses", "--store", f.dir.sub("nowhere"), "--metrics-file", out + "/report.prom"], status: 15)
        let bad = try PrometheusExposition.parse(try String(contentsOfFile: out + "/report.prom", encoding: .utf8))
        XCTAssertEqual(bad.value("logship_run_last_exit_code", label), 15)
        XCTAssertEqual(try XCTUnwrap(bad.value("logship_run_last_success_time_seconds", label)), succeeded, accuracy: 0.001)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(bad.value("logship_run_last_run_time_seconds", label)), ran)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), ["master.prom", "replica.prom", "report.prom", "ship.prom"],
                       "no temp file left behind")
    }

    /// `exec` and `load --metrics-file` (issue 17: sync latency for cron-run writers): the run's
    /// metrics and the fsyncs its commits waited for, one observation per durable commit; a
    /// failing exec records its exit code, and the file parses as the exposition format.
    func testExecAndLoadWriteTheirRunAndFsyncMetrics() throws {
        let dir = TestDirectory("prom-exec")
        let master = dir.sub("master"), out = dir.sub("exec.prom")
        try run("binlog-writer", ["init", master])
        try run("binlog-writer", ["exec", master, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'); INSERT INTO t (v) VALUES ('b');",
                                  "--metrics-file", out])
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertNil(try PrometheusExposition.promtoolProblems(text), text)
        let good = try PrometheusExposition.parse(text)
        let label = ["command": "binlog-writer exec"], masterLabel = ["master": master]
        XCTAssertEqual(good.value("logship_run_last_exit_code", label), 0, text)
        XCTAssertEqual(good.value("logship_master_sync_duration_seconds_count", masterLabel), 3, "one fsync per durable commit: \(text)")
        XCTAssertTrue(good.names.contains("logship_master_sync_duration_seconds"), text)
        // A failing statement: exit 10 recorded, the last success kept.
        try run("binlog-writer", ["exec", master, "INSERT INTO nowhere VALUES (1)", "--metrics-file", out], status: 10)
        let bad = try PrometheusExposition.parse(try String(contentsOfFile: out, encoding: .utf8))
        XCTAssertEqual(bad.value("logship_run_last_exit_code", label), 10)
        XCTAssertEqual(bad.value("logship_run_last_success_time_seconds", label), good.value("logship_run_last_success_time_seconds", label))
        // load: one fsync per batch transaction.
        let csv = dir.sub("rows.csv")
        try Data(("v\n" + (0..<25).map { "row \($0)\n" }.joined()).utf8).write(to: URL(fileURLWithPath: csv))
        let loaded = dir.sub("load.prom")
        try run("binlog-writer", ["load", master, "--table", "t", csv, "--batch", "10", "--quiet", "--metrics-file", loaded])
        let l = try PrometheusExposition.parse(try String(contentsOfFile: loaded, encoding: .utf8))
        XCTAssertEqual(l.value("logship_run_last_exit_code", ["command": "binlog-writer load"]), 0)
        XCTAssertEqual(l.value("logship_master_sync_duration_seconds_count", masterLabel), 3, "25 rows in batches of 10")
    }

    /// A free loopback port, from the kernel (bind to port 0, read it, close).
    private func freePort() throws -> UInt16 {
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

    /// `replica-apply --follow --metrics-listen`: /metrics answers with the same families as
    /// `status --prometheus`, current (the applied LSN moves as the follower applies), while the
    /// follower keeps running and still stops cleanly on SIGTERM.
    func testFollowServesMetricsOverHTTP() throws {
        let f = try ReplicaCLIFixture("prom-http")
        try f.master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
        try f.master.rotate()
        try f.shipAll()
        let listen = "127.0.0.1:\(try freePort())"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.path("replica-apply"))
        process.arguments = [f.replica, "--follow", "--quiet", "--metrics-listen", listen]
        let err = Pipe()
        process.standardError = err
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        func scrape(until lsn: UInt64) throws -> PrometheusExposition.Parsed? {
            for _ in 0..<200 {
                let r = try ToolRunner.runProcess("/usr/bin/curl", ["-sf", "http://\(listen)/metrics"])
                if r.status == 0, let parsed = try? PrometheusExposition.parse(r.stdout),
                   parsed.value("logship_replica_applied_lsn", ["replica": f.replica]) == Double(lsn) { return parsed }
                usleep(50_000)
            }
            return nil
        }
        let first = try XCTUnwrap(try scrape(until: f.master.lastLSN), "no /metrics with the applied LSN")
        XCTAssertEqual(first.families.map(\.name), try metrics("replica-apply", ["status", f.replica, "--prometheus"]).parsed.families.map(\.name))
        try f.master.exec("INSERT INTO t VALUES (2);")
        try f.master.rotate()
        try f.shipAll()
        XCTAssertNotNil(try scrape(until: f.master.lastLSN), "the endpoint follows the store")
        XCTAssertEqual(try ToolRunner.runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(listen)/other"]).stdout, "404")
        XCTAssertEqual(try ToolRunner.runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://\(listen)/metrics"]).stdout, "405")
        let head = try ToolRunner.runProcess("/usr/bin/curl", ["-sI", "http://\(listen)/metrics"])
        XCTAssertTrue(head.stdout.hasPrefix("HTTP/1.1 200 OK\r\n") && head.stdout.contains("Content-Type: text/plain; version=0.0.4"), head.stdout)
        // A port already taken is refused with the address and a hint, before the loop starts.
        let other = f.replica + "-other"
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", other]).status, 0)
        let taken = try ToolRunner.run("replica-apply", [other, "--follow", "--metrics-listen", listen])
        XCTAssertEqual(taken.status, 64, taken.stderr)
        XCTAssertTrue(taken.stderr.contains("unable to listen on \(listen) for --metrics-listen: Address already in use"), taken.stderr)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        let usage = try ToolRunner.run("replica-apply", [f.replica, "--metrics-listen", listen])
        XCTAssertEqual(usage.status, 64, usage.stderr)
    }
}
