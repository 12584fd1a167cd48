import Foundation
import LogshipTestSupport
import XCTest

/// samples/systemd cannot rot: every unit passes `systemd-analyze verify` (where systemd is
/// installed) with its tool paths pointing at the built tools, and every `ExecStart` runs
/// against a sample setup as systemd would run it: the timers' one-shot jobs in order, the
/// replicas' `--follow` services until they hold the master's state and stop on SIGTERM.
final class SampleSystemdTests: XCTestCase {
    static let directory = SampleSetup.sample("systemd")

    static func units() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".service") || $0.hasSuffix(".timer") }.sorted()
    }

    /// A unit's `ExecStart=` command lines, in order.
    static func execStarts(_ unit: String) throws -> [String] {
        try String(contentsOfFile: directory + "/" + unit, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("ExecStart=") }.map { String($0.dropFirst("ExecStart=".count)) }
    }

    /// The units with the samples' paths mapped into `setup` and template units' `%i` left to
    /// systemd, written into a directory of their own.
    private func mappedUnits(_ setup: SampleSetup) throws -> String {
        let out = setup.root + "/units"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for unit in try Self.units() {
            let text = try String(contentsOfFile: Self.directory + "/" + unit, encoding: .utf8)
            try setup.substitute(text.replacingOccurrences(of: "/usr/local/bin/", with: ToolRunner.productsDirectory + "/"))
                .write(toFile: out + "/" + unit, atomically: true, encoding: .utf8)
        }
        return out
    }

    func testEveryUnitPassesSystemdAnalyzeVerify() throws {
        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else {
            throw XCTSkip("systemd-analyze is not installed here (Debian: apt install systemd); the units were not verified")
        }
        let setup = try SampleSetup("systemd-verify")
        let dir = try mappedUnits(setup)
        XCTAssertGreaterThanOrEqual(try Self.units().count, 9)
        // Templates are verified through an instance, as systemd would load them.
        let names = try Self.units().map { $0.replacingOccurrences(of: "@.", with: "@replica-a.") }
        let r = try ToolRunner.runProcess(analyze, ["verify"] + names.map { "./" + $0 }, directory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.contains(".service") || $0.contains(".timer") }, [],
                       "systemd-analyze has remarks about the units: \(r.stderr)")
        // A unit systemd would refuse makes the check fail: the test can tell.
        try "[Service]\nExecStart=/nonexistent/replica-apply x\n".write(toFile: dir + "/broken.service", atomically: true, encoding: .utf8)
        XCTAssertNotEqual(try ToolRunner.runProcess(analyze, ["verify", "./broken.service"], directory: dir).status, 0)
    }

    func testEveryTimerStartsAServiceThatExists() throws {
        let units = Set(try Self.units())
        for timer in units where timer.hasSuffix(".timer") {
            XCTAssertTrue(units.contains(timer.replacingOccurrences(of: ".timer", with: ".service")), "\(timer) has no service")
        }
    }

    /// Every long-running mode has a service (issue 17), and every cron job of samples/crontab a
    /// timer that runs the same tool and subcommand (prune: the follower's `prune: auto` instead).
    func testEveryFollowModeHasAServiceAndEveryCronJobATimer() throws {
        let commands = try Self.units().filter { $0.hasSuffix(".service") }.flatMap { try Self.execStarts($0) }
        for mode in ["binlog-writer serve", "binlog-ship --config /etc/logship/ship.yml --follow", "replica-apply /srv/%i --follow"] {
            XCTAssertTrue(commands.contains { $0.contains("/usr/local/bin/" + mode) }, "no service runs \(mode)")
        }
        let cron = try String(contentsOfFile: SampleSetup.sample("crontab"), encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && $0.range(of: "^[A-Z_]+=", options: .regularExpression) == nil }
        for line in cron {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init).drop { !["binlog-writer", "binlog-ship", "replica-apply", "report"].contains($0) }
            guard let tool = words.first else { continue }
            var sub = words.dropFirst().first ?? ""
            if sub.hasPrefix("/") || sub.hasPrefix("-") { sub = "" }   // the default subcommand
            if tool == "replica-apply" && (sub == "" || sub == "prune") { continue }   // the follower service
            XCTAssertTrue(commands.contains { $0.contains("/usr/local/bin/\(tool) \(sub)") }, "no unit runs the cron job \(line)")
        }
    }

    func testTheFollowServiceLeavesOperatorErrorsStopped() throws {
        let text = try String(contentsOfFile: Self.directory + "/logship-replica@.service", encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("RestartPreventExitStatus=") })
        let codes = Set(line.dropFirst("RestartPreventExitStatus=".count).split(separator: " ").compactMap { Int32($0) })
        // Gap, corruption, divergence and split brain need an operator; busy, disk full and I/O may pass.
        XCTAssertTrue([2, 3, 4, 6].allSatisfy(codes.contains), "\(codes)")
        XCTAssertTrue([12, 13, 14].allSatisfy { !codes.contains($0) }, "\(codes)")
    }

    func testEveryExecStartRunsAgainstTheBuiltTools() throws {
        let setup = try SampleSetup("systemd-run")
        try setup.createMasterAndReplicas(segmentSize: "16KiB")
        let path = ToolRunner.productsDirectory + ":/usr/bin:/bin"
        func runService(_ unit: String, instance: String = "replica-a") throws {
            for command in try Self.execStarts(unit) {
                let mapped = setup.substitute(command.replacingOccurrences(of: "/usr/local/bin/", with: ToolRunner.productsDirectory + "/")
                    .replacingOccurrences(of: "%i", with: instance))
                let r = try setup.shell(mapped, path: path)
                XCTAssertEqual(r.status, 0, "\(unit): \(mapped)\nstderr: \(r.stderr)")
            }
        }
        func command(_ unit: String, instance: String = "replica-a") throws -> [String] {
            let line = try XCTUnwrap(try Self.execStarts(unit).first)
            // A free port in place of the unit's, so a test run never meets a real service's.
            let port = try FollowMetricsTests.freePort()
            let mapped = setup.substitute(line.replacingOccurrences(of: "/usr/local/bin/", with: ToolRunner.productsDirectory + "/")
                .replacingOccurrences(of: "%i", with: instance))
                .replacingOccurrences(of: "127\\.0\\.0\\.1:[0-9]+", with: "127.0.0.1:\(port)", options: .regularExpression)
            return mapped.split(separator: " ").map(String.init)
        }
        // The master's service: a transaction through its socket, then SIGTERM (exit 0).
        let serve = try command("logship-master.service")
        let server = try FollowMetricsTests.Background(serve[0], Array(serve.dropFirst()), absolute: true)
        // The socket is bound before serve accepts; while serve holds the master's lock, exec can
        // only succeed through it.
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: setup.master + "/writer.sock") { usleep(50_000) }
        let served = try ToolRunner.run("binlog-writer", ["exec", setup.master, "INSERT INTO expenses (spent_at, amount_cents, category, currency, merchant) VALUES ('2026-03-01', 100, 'food', 'EUR', 'served')"])
        let (serveStatus, serveErr) = server.stop()
        XCTAssertEqual(serveStatus, 0, serveErr)
        XCTAssertEqual(served.status, 0, "exec through serve: \(served.stderr); serve: \(serveErr)")
        try runService("logship-rotate.service")
        try setup.tool("binlog-writer", ["rotate", setup.master])   // five minutes later, as the timer would
        try runService("logship-ship.service")
        var last = try setup.masterLastLSN()
        for name in ["a", "b"] {
            let follow = try XCTUnwrap(try Self.execStarts("logship-replica@.service").first)
            try followUntil(setup.substitute(follow.replacingOccurrences(of: "/usr/local/bin/", with: ToolRunner.productsDirectory + "/")
                .replacingOccurrences(of: "%i", with: "replica-" + name)), store: setup.replica(name) + "/store.db", lsn: last)
        }
        // Continuous shipping instead of the timer: a new transaction reaches both replicas
        // through the active segment's partial copy; SIGTERM ends it with 0.
        let shipFollow = try command("logship-ship-follow.service")
        let shipper = try FollowMetricsTests.Background(shipFollow[0], Array(shipFollow.dropFirst()), absolute: true)
        try setup.tool("binlog-writer", ["exec", setup.master, "INSERT INTO expenses (spent_at, amount_cents, category, currency, merchant) VALUES ('2026-03-02', 200, 'food', 'EUR', 'followed')"])
        last = try setup.masterLastLSN()
        for name in ["a", "b"] {
            let follow = try XCTUnwrap(try Self.execStarts("logship-replica@.service").first)
            try followUntil(setup.substitute(follow.replacingOccurrences(of: "/usr/local/bin/", with: ToolRunner.productsDirectory + "/")
                .replacingOccurrences(of: "%i", with: "replica-" + name)), store: setup.replica(name) + "/store.db", lsn: last)
        }
        let (shipStatus, shipErr) = shipper.stop()
        XCTAssertEqual(shipStatus, 0, shipErr)
        try runService("logship-snapshot@.service")
        try runService("logship-verify.service")
        for unit in ["logship-check.service", "logship-metrics.service", "logship-report.service", "logship-purge.service"] { try runService(unit) }
        let textfiles = try FileManager.default.contentsOfDirectory(atPath: setup.root + "/textfile").sorted()
        XCTAssertEqual(textfiles, ["logship-master.prom", "logship-replica-a.prom", "logship-replica-b.prom", "logship-report-expenses.prom", "logship-ship.prom"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: setup.root + "/srv/www/expenses.html"))
        let masterTables = try TableDigest.digest(path: setup.master + "/master.db")
        for name in ["a", "b"] {
            XCTAssertEqual(try TableDigest.digest(path: setup.replica(name) + "/store.db"), masterTables, "replica \(name)")
        }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: setup.replica("a") + "/snapshots")
        XCTAssertTrue(snapshots.contains(String(format: "snapshot-%016llx.db", last)), "\(snapshots)")
    }

    /// Starts a `--follow` command as systemd would, waits until its store has applied `lsn`,
    /// then stops it with SIGTERM (KillSignal=) and expects a clean exit 0.
    private func followUntil(_ command: String, store: String, lsn: UInt64) throws {
        let words = command.split(separator: " ").map(String.init)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: words[0])
        process.arguments = Array(words.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? appliedLSN(ofStore: store)) != lsn { usleep(100_000) }
        process.terminate()
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(try appliedLSN(ofStore: store), lsn, "\(command): \(stderr)")
        XCTAssertEqual(process.terminationStatus, 0, "\(command) after SIGTERM: \(stderr)")
    }
}
