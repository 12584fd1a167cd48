import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import XCTest

/// `binlog-ship` as an operator runs it from cron, against a master made by `binlog-writer`:
/// stdout, stderr, exit codes (docs/SHIPPING.md "Exit codes") and the files left in targets.
final class ShipCommandTests: XCTestCase {
    @discardableResult
    private func ship(_ args: [String]) throws -> ToolRunner.Result { try ToolRunner.run("binlog-ship", args) }

    @discardableResult
    private func writer(_ args: String...) throws -> ToolRunner.Result {
        let r = try ToolRunner.run("binlog-writer", args)
        XCTAssertEqual(r.status, 0, "binlog-writer \(args): \(r.stderr)")
        return r
    }

    /// A master with 4 KiB segments: `inserts` rows of 3,000 random bytes seal several of them.
    private func master(_ dir: TestDirectory, inserts: Int = 8) throws -> String {
        let m = dir.sub("master")
        try writer("init", m, "--segment-size", "4KiB")
        try writer("exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        try insert(m, inserts)
        return m
    }

    private func insert(_ m: String, _ n: Int) throws {
        try writer("exec", m, String(repeating: "INSERT INTO t (v) VALUES (randomblob(3000));\n", count: n))
    }

    private func sealed(_ m: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: m + "/binlog").filter { $0.hasSuffix(".binlog") }.sorted()
    }

    private func files(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    }

    private func targets(_ dir: TestDirectory, _ names: String...) throws -> [String] {
        try names.map { n in
            try FileManager.default.createDirectory(atPath: dir.sub(n), withIntermediateDirectories: true)
            return dir.sub(n)
        }
    }

    /// Every sealed segment of the master is in `target`, byte for byte.
    private func assertComplete(_ target: String, _ m: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let names = try sealed(m)
        XCTAssertEqual(try files(target).filter { !$0.hasSuffix(".partial") }, names, file: file, line: line)
        for n in names {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target + "/" + n)), try Data(contentsOf: URL(fileURLWithPath: m + "/binlog/" + n)),
                           "\(n) differs", file: file, line: line)
        }
    }

    private func mount(_ options: String, at point: String) throws {
        let r = try ToolRunner.runSystem("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", point])
        guard r.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); these tests need root, as in CI") }
    }

    private func unmount(_ point: String) { _ = try? ToolRunner.runSystem("/bin/umount", ["-l", point]) }

    func testTheCronLoopFromTheReadme() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "nas", "usb")
        let flags = ["--source", m, "--target", "nas=" + t[0], "--target", "usb=" + t[1]]
        let first = try ship(flags)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("nas: shipped \(try sealed(m)[0])"), first.stdout)
        XCTAssertTrue(first.stdout.contains("usb: up to date at \(try sealed(m).last!)"), first.stdout)
        for target in t { try assertComplete(target, m) }
        let again = try ship(flags + ["--quiet"])
        XCTAssertEqual(again.status, 0)
        XCTAssertEqual(again.stdout + again.stderr, "", "a run with nothing to do is silent with --quiet")

        let status = try ship(["status"] + flags + ["--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let entries = try XCTUnwrap(json["targets"] as? [[String: Any]])
        XCTAssertEqual(entries.map { $0["name"] as? String }, ["nas", "usb"])
        XCTAssertEqual(entries.map { $0["segmentsBehind"] as? Int }, [0, 0])
        let text = try ship(["status"] + flags).stdout
        XCTAssertTrue(text.contains("target nas"), text)
        XCTAssertTrue(text.contains("  guarantees    conditional put, durable publish\n"), text)
        XCTAssertEqual(try ship(["check"] + flags + ["--max-lag", "1h"]).status, 0)
        let verify = try ship(["verify"] + flags + ["nas"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.hasPrefix("clean: nas"), verify.stdout)

        // Low RPO: the active segment's committed prefix goes out as a .partial.
        try insert(m, 1)
        let partial = try ship(flags + ["--include-active"])
        XCTAssertEqual(partial.status, 0, partial.stderr)
        let withPartial = try files(t[0])
        XCTAssertTrue(withPartial.contains { $0.hasSuffix(".binlog.partial") }, withPartial.joined(separator: " "))
        try writer("rotate", m)
        XCTAssertEqual(try ship(flags + ["--include-active"]).status, 0)
        XCTAssertFalse(try files(t[0]).contains { $0.hasSuffix(".partial") }, "the sealed segment replaced the partial")
        for target in t { try assertComplete(target, m) }

        // Purge: a dry run first, then --confirm; the master keeps working.
        let before = try sealed(m)
        let dry = try ship(["purge"] + flags + ["--older-than", "0s"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("would delete \(before[0])"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("dry run: nothing deleted"), dry.stdout)
        XCTAssertEqual(try sealed(m), before)
        let purge = try ship(["purge"] + flags + ["--older-than", "0s", "--confirm"])
        XCTAssertEqual(purge.status, 0, purge.stderr)
        XCTAssertEqual(try sealed(m), [before.last!], "all but the newest sealed segment went")
        try insert(m, 3)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["verify", m]).status, 0)
        XCTAssertEqual(try ship(flags).status, 0)
    }

    func testARunningMasterWithoutItsCommittedMarkShipsItsSealedSegmentsButNotItsActiveOneAndExits15() throws {
        // docs/SHIPPING.md "Partial files": frames past the master's committed mark may still be
        // undone, and without the mark nothing tells which are committed while a master runs.
        let dir = TestDirectory("ship-nomark")
        let m = try master(dir)
        let t = try targets(dir, "nas")
        try insert(m, 1)
        try FileManager.default.removeItem(atPath: m + "/binlog/" + CommitMark.fileName)
        var running: DirectoryLock? = try DirectoryLock(path: m + "/lock", timeout: 0)   // as an older master would
        let r = try ship(["--source", m, "--target", "nas=" + t[0], "--include-active"])
        XCTAssertEqual(r.status, 15, r.stderr)
        XCTAssertTrue(r.stderr.contains("committed mark"), r.stderr)
        try assertComplete(t[0], m)
        XCTAssertFalse(try files(t[0]).contains { $0.hasSuffix(".partial") })
        running?.release()
        running = nil
        // Stopped, the master's complete transactions are all committed (its recovery keeps them).
        let again = try ship(["--source", m, "--target", "nas=" + t[0], "--include-active"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(try files(t[0]).contains { $0.hasSuffix(".partial") }, "shipped once no master ran")
    }

    func testPassIntervalAndBatchPaceFollowersOnlyAndTakeValuesInRange() throws {
        let dir = TestDirectory("ship-pace")
        let m = try master(dir, inserts: 1)
        let t = try targets(dir, "nas")
        let replica = dir.sub("replica")
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", replica]).status, 0)
        let refused: [([String], String)] = [
            (["--pass-interval", "5ms"], "--pass-interval"), (["--follow", "--pass-interval", "2m"], "--pass-interval"),
            (["--follow", "--pass-interval", "often"], "--pass-interval"), (["--pass-batch", "10"], "--pass-batch"),
            (["--follow", "--pass-batch", "0"], "--pass-batch"), (["--follow", "--pass-batch", "many"], "--pass-batch"),
            (["--follow", "--pass-interval", "0s", "--pass-batch", "10"], "--pass-batch"),
        ]
        for (args, named) in refused {
            let r = try ship(["--source", m, "--target", "nas=" + t[0]] + args)
            XCTAssertEqual(r.status, 64, "binlog-ship \(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(named), r.stderr)
            let a = try ToolRunner.run("replica-apply", [replica] + args)
            XCTAssertEqual(a.status, 64, "replica-apply \(args): \(a.stderr)")
            XCTAssertTrue(a.stderr.contains(named), a.stderr)
        }
        XCTAssertEqual(try files(t[0]), [], "nothing shipped by a refused command line")
    }

    /// `binlog-ship --follow` runs on the master's machine and lowers its own CPU priority
    /// (niceness 19 by default, `--nice N`), never raising it: started under a higher niceness
    /// it keeps that one. `--nice` outside 0...19 or without --follow exits 64.
    func testTheFollowerLowersItsOwnCPUPriority() throws {
        let dir = TestDirectory("ship-nice")
        let m = try master(dir, inserts: 1)
        var runs = 0
        func niceness(_ extra: [String], under outer: Int? = nil) throws -> Int {
            // A target of its own: its partial copy appears only once this follower has started.
            runs += 1
            let t = try targets(dir, "nas\(runs)")
            let p = Process()
            let args = ["--source", m, "--target", "nas=" + t[0], "--follow", "--quiet"] + extra
            if let outer {
                p.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
                p.arguments = ["-n", String(outer), ToolRunner.path("binlog-ship")] + args
            } else {
                p.executableURL = URL(fileURLWithPath: ToolRunner.path("binlog-ship"))
                p.arguments = args
            }
            try p.run()
            defer { kill(p.processIdentifier, SIGTERM); p.waitUntilExit() }
            // Field 19 of /proc/PID/stat, once the follower has shipped (its partial copy exists).
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && ((try? FileManager.default.contentsOfDirectory(atPath: t[0])) ?? []).allSatisfy({ !$0.hasSuffix(".partial") }) {
                usleep(20_000)
            }
            let stat = try String(contentsOfFile: "/proc/\(p.processIdentifier)/stat", encoding: .utf8)
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            return Int(fields[16]) ?? -100
        }
        errno = 0
        let own = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        XCTAssertEqual(try niceness([]), 19)
        XCTAssertEqual(try niceness(["--nice", "0"]), own)
        XCTAssertEqual(try niceness(["--nice", "7"]), max(7, own))
        XCTAssertEqual(try niceness(["--nice", "3"], under: 9), max(9, own), "a niceness it was started with stays")
        let t = try targets(dir, "refused")
        for args in [["--nice", "5"], ["--follow", "--nice", "20"], ["--follow", "--nice", "-1"]] {
            let r = try ship(["--source", m, "--target", "nas=" + t[0]] + args)
            XCTAssertEqual(r.status, 64, "binlog-ship \(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("--nice"), r.stderr)
        }
    }

    func testConfigFileAndItsUnknownKeys() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "inbox")
        let config = dir.sub("ship.yml")
        try "source: master\nstate_dir: ship-state\ninclude_active: true\ntargets:\n  - name: replica1\n    path: inbox\n".write(toFile: config, atomically: true, encoding: .utf8)
        let r = try ship(["--config", config])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertComplete(t[0], m)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.sub("ship-state/state.json")))
        XCTAssertTrue(try ship(["status", "-c", config]).stdout.contains("target replica1"))

        try "source: master\ntargets:\n  - inbox\nmax_lag: 15m\nretension: 7d\n".write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try ship(["-c", config])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("ship.yml:5: unknown key 'retension'"), bad.stderr)
        XCTAssertTrue(bad.stderr.contains("retention"), "the hint lists the known keys: \(bad.stderr)")
        try "source: master\ntargets:\n  - inbox\nmax_lag: 15\n".write(toFile: config, atomically: true, encoding: .utf8)
        let unitless = try ship(["-c", config])
        XCTAssertEqual(unitless.status, 64)
        XCTAssertTrue(unitless.stderr.contains("ship.yml:4: 'max_lag' must be a duration like 90s"), unitless.stderr)
        XCTAssertEqual(try ship(["--source", m]).status, 64, "no targets")
        XCTAssertEqual(try ship(["check", "--source", m, "--target", t[0], "--max-lag", "soon"]).status, 64)
        XCTAssertEqual(try ship(["check", "--source", m, "--target", t[0], "--max-lag", "15"]).status, 64,
                       "a number without its unit could mean seconds or minutes: refused")
    }

    func testAnOverlappingRunExits12NamingTheHolder() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "a")
        try FileManager.default.createDirectory(atPath: m + "/ship", withIntermediateDirectories: true)
        let fd = open(m + "/ship/lock", O_RDWR | O_CREAT, 0o644)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        _ = "\(getpid())\n".withCString { write(fd, $0, strlen($0)) }
        let busy = try ship(["--source", m, "--target", t[0]])
        XCTAssertEqual(busy.status, 12)
        XCTAssertTrue(busy.stderr.contains("pid \(getpid())"), busy.stderr)
        XCTAssertEqual(try files(t[0]), [], "the overlapping run shipped nothing")
        close(fd)
        XCTAssertEqual(try ship(["--source", m, "--target", t[0]]).status, 0)
    }

    func testACorruptSourceSegmentExits3AndIsNeverShipped() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "a", "b")
        let victim = m + "/binlog/" + (try sealed(m)[1])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes[200] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: victim))
        let r = try ship(["--source", m, "--target", t[0], "--target", t[1]])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains(victim) && r.stderr.contains("offset"), r.stderr)
        for target in t { XCTAssertEqual(try files(target), [try sealed(m)[0]], "the segment before it only, and no temp files") }
    }

    func testAConflictingFileInATargetExits3AndIsLeftAlone() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "a", "b")
        let name = try sealed(m)[0]
        try Data("some other bytes".utf8).write(to: URL(fileURLWithPath: t[1] + "/" + name))
        let r = try ship(["--source", m, "--target", "a=" + t[0], "--target", "b=" + t[1]])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("target b: conflict") && r.stderr.contains(name), r.stderr)
        XCTAssertTrue(r.stdout.contains("b: FAILED"), r.stdout)
        XCTAssertEqual(try String(contentsOfFile: t[1] + "/" + name, encoding: .utf8), "some other bytes")
        try assertComplete(t[0], m)
    }

    func testADeletedMiddleSegmentExits2() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "a")
        let names = try sealed(m)
        try FileManager.default.removeItem(atPath: m + "/binlog/" + names[1])
        let r = try ship(["--source", m, "--target", t[0]])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains(names[1]) && r.stderr.contains("missing"), r.stderr)
        XCTAssertEqual(try files(t[0]), [names[0]])
    }

    func testAMissingTargetExits15AndTheOthersGoOn() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "a")
        let r = try ship(["--source", m, "--target", "gone=" + dir.sub("not-mounted/inbox"), "--target", t[0]])
        XCTAssertEqual(r.status, 15, r.stderr)
        XCTAssertTrue(r.stderr.contains("target gone: target directory") && r.stderr.contains("does not exist"), r.stderr)
        try assertComplete(t[0], m)
    }

    func testAReadOnlyTargetExits14AndResumesWhenWritable() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "ro", "ok")
        // Tests run as root, for whom chmod does not stop writes: a read-only tmpfs does.
        try mount("ro,size=1m", at: t[0])
        defer { unmount(t[0]) }
        let r = try ship(["--source", m, "--target", "ro=" + t[0], "--target", "ok=" + t[1]])
        XCTAssertEqual(r.status, 14, r.stderr)
        XCTAssertTrue(r.stderr.contains("target ro:") && r.stderr.contains("Read-only file system"), r.stderr)
        try assertComplete(t[1], m)
        XCTAssertEqual(try ToolRunner.runSystem("/bin/mount", ["-o", "remount,rw", t[0]]).status, 0)
        XCTAssertEqual(try ship(["--source", m, "--target", "ro=" + t[0], "--target", "ok=" + t[1]]).status, 0)
        try assertComplete(t[0], m)
    }

    func testAFullTargetExits13LeavesNothingPartialAndResumes() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir, inserts: 12)
        let t = try targets(dir, "small", "big")
        try mount("size=16k", at: t[0])
        defer { unmount(t[0]) }
        let flags = ["--source", m, "--target", "small=" + t[0], "--target", "big=" + t[1]]
        let r = try ship(flags)
        XCTAssertEqual(r.status, 13, r.stderr)
        XCTAssertTrue(r.stderr.contains("target small:") && r.stderr.contains("No space left"), r.stderr)
        let left = try files(t[0])
        XCTAssertFalse(left.contains { $0.hasPrefix(".tmp-") }, "no temp file left: \(left)")
        XCTAssertGreaterThan(left.count, 0, "some segments fit before the disk filled")
        let names = try sealed(m)
        XCTAssertEqual(left, Array(names.prefix(left.count)), "in order, without holes")
        for n in left { XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: t[0] + "/" + n)), try Data(contentsOf: URL(fileURLWithPath: m + "/binlog/" + n))) }
        try assertComplete(t[1], m)
        XCTAssertEqual(try ToolRunner.runSystem("/bin/mount", ["-o", "remount,size=1m", t[0]]).status, 0)
        let again = try ship(flags)
        XCTAssertEqual(again.status, 0, again.stderr)
        try assertComplete(t[0], m)
    }

    func testAnUnmountedTargetExits15AndNothingIsShippedUnderTheMountPoint() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "nfs")
        try mount("size=1m", at: t[0])
        defer { unmount(t[0]) }
        let flags = ["--source", m, "--target", "nfs=" + t[0]]
        XCTAssertEqual(try ship(flags).status, 0)
        unmount(t[0])
        try insert(m, 4)
        let r = try ship(flags)
        XCTAssertEqual(r.status, 15, r.stderr)
        XCTAssertTrue(r.stderr.contains("no longer holds") && r.stderr.contains("not mounted"), r.stderr)
        XCTAssertEqual(try files(t[0]), [], "the empty mount point got nothing")
        XCTAssertTrue(try ship(["status"] + flags).stdout.contains("no longer holds"), "status shows the last error")
        // Replaced on purpose: forget it, and the next run fills it from the start.
        XCTAssertEqual(try ship(["forget"] + flags + ["nfs"]).status, 0)
        XCTAssertEqual(try ship(flags).status, 0)
        try assertComplete(t[0], m)
    }

    func testCheckExits5WhenATargetIsBehindOrNeverShipped() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "a")
        let never = try ship(["check", "--source", m, "--target", "a=" + t[0], "--max-lag", "15m"])
        XCTAssertEqual(never.status, 5, never.stdout + never.stderr)
        XCTAssertTrue(never.stdout.contains("a: LAGGING: no successful run yet"), never.stdout)
        XCTAssertEqual(try ship(["--source", m, "--target", "a=" + t[0]]).status, 0)
        XCTAssertEqual(try ship(["check", "--source", m, "--target", "a=" + t[0], "--max-lag", "15m"]).status, 0)
        XCTAssertEqual(try ship(["check", "--source", m, "--target", "a=" + t[0]]).status, 64, "no limit given")
    }

    func testVerifyTellsLostFromNotShippedYet() throws {
        let dir = TestDirectory("shipcli")
        let m = try master(dir)
        let t = try targets(dir, "a")
        let flags = ["--source", m, "--target", "a=" + t[0]]
        XCTAssertEqual(try ship(flags).status, 0)
        try insert(m, 4)
        let behind = try ship(["verify"] + flags + ["a"])
        XCTAssertEqual(behind.status, 0, behind.stderr)
        XCTAssertTrue(behind.stdout.contains("not shipped yet"), behind.stdout)
        let names = try files(t[0])
        try FileManager.default.removeItem(atPath: t[0] + "/" + names[1])
        let lost = try ship(["verify"] + flags + ["a", "--json"])
        XCTAssertEqual(lost.status, 2, lost.stdout)
        XCTAssertTrue(lost.stdout.contains("\"outcome\" : \"lost\"") && lost.stdout.contains(names[1]), lost.stdout)
    }

    func testHelpDescribesTheCommandsAndExitCodes() throws {
        let r = try ship(["--help"])
        XCTAssertEqual(r.status, 0)
        for word in ["ship", "status", "check", "purge", "verify", "forget", "busy", "64"] {
            XCTAssertTrue(r.stdout.contains(word), "--help lacks \(word): \(r.stdout)")
        }
    }
}
