import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// A FIFO (or a socket, a directory) named like a segment used to make every reader wait in
/// open(2) forever: apply, status, check, ship, verify; and each later cron run then exited 12
/// on the lock the hung one held (issue 12). Every reader now opens regular files only
/// (`RegularFile`), and names what it found instead (exit 3). Each tool runs under a time
/// limit, so a hang fails the test instead of stalling the suite.
final class NonRegularFileTests: XCTestCase {
    /// What a bounded run saw; `timedOut` when the tool was killed at the limit.
    struct Bounded {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Runs `tool` and kills it after `seconds`: a run that blocks fails instead of hanging.
    static func runBounded(_ tool: String, _ args: [String], seconds: Double = 20) throws -> Bounded {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.path(tool))
        process.arguments = args
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        let box = OutputBox()
        let group = DispatchGroup()
        for (pipe, isOut) in [(out, true), (err, false)] {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                box.set(data, isOut: isOut)
                group.leave()
            }
        }
        let timedOut = done.wait(timeout: .now() + seconds) == .timedOut
        if timedOut {
            kill(process.processIdentifier, SIGKILL)
            done.wait()
        }
        group.wait()
        return Bounded(status: process.terminationStatus, stdout: box.out, stderr: box.err, timedOut: timedOut)
    }

    final class OutputBox: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var out = "", err = ""
        func set(_ data: Data, isOut: Bool) {
            lock.lock(); defer { lock.unlock() }
            if isOut { out = String(decoding: data, as: UTF8.self) } else { err = String(decoding: data, as: UTF8.self) }
        }
    }

    private func assertRun(_ r: Bounded, _ status: Int32, naming: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.timedOut, "\(what) hung (killed after the time limit)", file: file, line: line)
        XCTAssertEqual(r.status, status, "\(what): stdout \(r.stdout) stderr \(r.stderr)", file: file, line: line)
        for s in naming {
            XCTAssertTrue((r.stdout + r.stderr).contains(s), "\(what) does not name \(s): \(r.stdout) \(r.stderr)", file: file, line: line)
        }
    }

    /// Makes a non-regular file at `path`: a FIFO, or a directory.
    private func makeNonRegular(_ kind: String, at path: String) throws {
        if kind == "fifo" {
            XCTAssertEqual(mkfifo(path, 0o644), 0, "mkfifo \(path): \(String(cString: strerror(errno)))")
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
    }

    private static let described = ["fifo": "a FIFO (named pipe), not a regular file", "directory": "a directory, not a regular file"]

    func testANonRegularFileInTheInboxIsNamedNeverWaitedOn() throws {
        for kind in ["fifo", "directory"] {
            let f = try ReplicaCLIFixture("nonreg-inbox-\(kind)")
            try f.master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);" + String(repeating: "INSERT INTO t (v) VALUES (hex(randomblob(900)));\n", count: 40))
            try f.master.rotate()
            try f.shipAll()
            f.assertExit(try f.apply(), 0)
            let last = try XCTUnwrap(f.master.sealedSegments().last.flatMap { SegmentName.parse($0.name) })
            let next = SegmentName(epoch: last.epoch, sequence: last.sequence + 1).description
            try makeNonRegular(kind, at: f.inbox + "/" + next)
            let what = try XCTUnwrap(Self.described[kind])
            assertRun(try Self.runBounded("replica-apply", [f.replica]), 3, naming: [next, what], "apply with a \(kind) in the inbox")
            assertRun(try Self.runBounded("replica-apply", ["status", f.replica]), 0, naming: [next, what], "status with a \(kind) in the inbox")
            assertRun(try Self.runBounded("replica-apply", ["check", f.replica, "--max-lag", "1h"]), 5, naming: [next, what], "check with a \(kind) in the inbox")
            assertRun(try Self.runBounded("binlog-writer", ["verify", f.inbox]), 3, naming: [next, what], "verify of an inbox with a \(kind)")
            // Named like the next partial copy, or an epoch history: the same.
            rmdirOrUnlink(f.inbox + "/" + next)
            let partial = SegmentName(epoch: last.epoch, sequence: last.sequence + 1).partialFileName
            try makeNonRegular(kind, at: f.inbox + "/" + partial)
            assertRun(try Self.runBounded("replica-apply", [f.replica]), 3, naming: [partial, what], "apply with a \(kind) named like a partial copy")
            rmdirOrUnlink(f.inbox + "/" + partial)
            try makeNonRegular(kind, at: f.inbox + "/" + EpochHistory.fileName(epoch: 2))
            assertRun(try Self.runBounded("replica-apply", [f.replica]), 3, naming: [EpochHistory.fileName(epoch: 2), what], "apply with a \(kind) named like a history")
            rmdirOrUnlink(f.inbox + "/" + EpochHistory.fileName(epoch: 2))
            assertRun(try Self.runBounded("replica-apply", [f.replica]), 0, naming: [], "apply once the \(kind) is gone")
        }
    }

    func testANonRegularFileInTheSourceOrATargetIsNamedNeverWaitedOn() throws {
        for kind in ["fifo", "directory"] {
            let dir = TestDirectory("nonreg-ship-\(kind)")
            let m = dir.sub("master")
            let target = dir.sub("nas")
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", m, "--segment-size", "4KiB"]).status, 0)
            let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);" + String(repeating: "INSERT INTO t (v) VALUES (randomblob(3000));\n", count: 6)
            XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", m, sql]).status, 0)
            let sealed = try FileManager.default.contentsOfDirectory(atPath: m + "/binlog").filter { $0.hasSuffix(".binlog") }.sorted()
            let first = try XCTUnwrap(sealed.first)
            let flags = ["--source", m, "--target", "nas=" + target]
            let what = try XCTUnwrap(Self.described[kind])

            // In the target, under the name of the first segment to ship.
            try makeNonRegular(kind, at: target + "/" + first)
            assertRun(try Self.runBounded("binlog-ship", flags), 3, naming: [first, what], "ship into a target with a \(kind)")
            assertRun(try Self.runBounded("binlog-ship", ["check"] + flags + ["--max-lag", "1h"]), 5, naming: [first, what], "ship check with a \(kind) in the target")
            assertRun(try Self.runBounded("binlog-ship", ["verify"] + flags + ["nas"]), 3, naming: [first, what], "ship verify with a \(kind) in the target")
            rmdirOrUnlink(target + "/" + first)
            assertRun(try Self.runBounded("binlog-ship", flags), 0, naming: [], "ship once the \(kind) is gone")

            // In the master's binlog directory, named like a segment after the active one.
            let newest = try XCTUnwrap(SegmentName.parse(try XCTUnwrap(sealed.last)))
            let beyond = SegmentName(epoch: newest.epoch, sequence: newest.sequence + 5).description
            try makeNonRegular(kind, at: m + "/binlog/" + beyond)
            assertRun(try Self.runBounded("binlog-ship", flags), 3, naming: [beyond, what], "ship from a source with a \(kind)")
            assertRun(try Self.runBounded("binlog-writer", ["verify", m]), 3, naming: [beyond, what], "binlog-writer verify with a \(kind)")
            assertRun(try Self.runBounded("binlog-writer", ["status", m]), 3, naming: [beyond, what], "binlog-writer status with a \(kind)")
            assertRun(try Self.runBounded("binlog-writer", ["dump", m]), 3, naming: [beyond, what], "binlog-writer dump with a \(kind)")
            assertRun(try Self.runBounded("binlog-writer", ["exec", m, "INSERT INTO t (v) VALUES (x'00')"]), 3, naming: [beyond, what],
                      "binlog-writer exec (the master's recovery lists its binlog) with a \(kind)")
            rmdirOrUnlink(m + "/binlog/" + beyond)
        }
    }

    private func rmdirOrUnlink(_ path: String) {
        if unlink(path) != 0 { rmdir(path) }
    }
}
