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
        try runService("logship-rotate.service")
        try setup.tool("binlog-writer", ["rotate", setup.master])   // five minutes later, as the timer would
        try runService("logship-ship.service")
        let last = try setup.masterLastLSN()
        for name in ["a", "b"] {
            let follow = try XCTUnwrap(try Self.execStarts("logship-replica@.service").first)
            try followUntil(setup.substitute(follow.replacingOccurrences(of: "/usr/local/bin/", with: ToolRunner.productsDirectory + "/")
                .replacingOccurrences(of: "%i", with: "replica-" + name)), store: setup.replica(name) + "/store.db", lsn: last)
        }
        try runService("logship-snapshot@.service")
        try runService("logship-verify.service")
        let masterTables = try TableDigest.digest(path: setup.master + "/master.db")
        for name in ["a", "b"] {
            XCTAssertEqual(try TableDigest.digest(path: setup.replica(name) + "/store.db"), masterTables, "replica \(name)")
        }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: setup.replica("a") + "/snapshots")
        XCTAssertTrue(snapshots.contains(String(format: "snapshot-%016llx.db", last)), "\(snapshots)")
    }

    /// `logship-ship-follow.service` as systemd runs it: it ships the master's committed
    /// transactions (active segment included) into every target while running, a one-shot
    /// apply then holds the master's state, and SIGTERM stops it with exit 0.
    func testTheShipFollowServiceShipsWhatIsCommittedAndStopsCleanly() throws {
        let setup = try SampleSetup("systemd-ship-follow")
        try setup.createMasterAndReplicas(segmentSize: "16KiB")
        let last = try setup.masterLastLSN()
        let command = try XCTUnwrap(try Self.execStarts("logship-ship-follow.service").first)
        let words = setup.substitute(command.replacingOccurrences(of: "/usr/local/bin/", with: ToolRunner.productsDirectory + "/"))
            .split(separator: " ").map(String.init)
        XCTAssertTrue(words.contains("--follow"), command)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: words[0])
        process.arguments = Array(words.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(60)
        for name in ["a", "b"] {
            while Date() < deadline, (try? appliedLSN(ofStore: setup.replica(name) + "/store.db")) != last {
                _ = try ToolRunner.run("replica-apply", [setup.replica(name), "--quiet"])
                usleep(100_000)
            }
            XCTAssertEqual(try appliedLSN(ofStore: setup.replica(name) + "/store.db"), last, "replica \(name)")
        }
        XCTAssertTrue(process.isRunning, "the follower is still running")
        process.terminate()
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, "\(command) after SIGTERM: \(stderr)")
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
