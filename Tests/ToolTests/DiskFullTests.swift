import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// A master on a small file system filled to 100%: a clear error with exit 13, the
/// acknowledged history intact, and the writer working again once space is freed.
/// Needs root to mount a tmpfs (CI runs as root); skipped elsewhere, saying why.
final class DiskFullTests: XCTestCase {
    func testFullDiskStopsCleanlyAndRecoversWhenSpaceReturns() throws {
        let dir = TestDirectory("full")
        let mountPoint = dir.sub("fs")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try ToolRunner.runSystem("/bin/mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mountPoint])
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(mount.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); run as root") }
        defer { _ = try? ToolRunner.runSystem("/bin/umount", ["-l", mountPoint]) }

        let master = mountPoint + "/master"
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", master, "--segment-size", "256KiB"]).status, 0)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", master, "CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB)"]).status, 0)
        // Ballast to delete later, so that space can come back.
        let ballast = mountPoint + "/ballast"
        FileManager.default.createFile(atPath: ballast, contents: Data(repeating: 1, count: 1 << 20))

        var acknowledged: UInt64 = 1
        var failure: ToolRunner.Result?
        for _ in 0..<200 {
            let r = try ToolRunner.run("binlog-writer", ["exec", master, "INSERT INTO b (v) VALUES (randomblob(40000))"])
            if r.status != 0 { failure = r; break }
            XCTAssertTrue(r.stdout.hasPrefix("lsn=\(acknowledged + 1) "), r.stdout)
            acknowledged += 1
        }
        let full = try XCTUnwrap(failure, "the file system never filled up")
        XCTAssertEqual(full.status, 13, "exit code for a full disk; stderr: \(full.stderr)")
        XCTAssertTrue(full.stderr.lowercased().contains("full"), full.stderr)
        XCTAssertEqual(full.stdout, "", "nothing acknowledged for the failed transaction")
        // No temp files or torn frames left that a reader would take for data.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: master + "/binlog").filter { $0.hasPrefix(".tmp-") }
        XCTAssertEqual(leftovers, [])

        try FileManager.default.removeItem(atPath: ballast)
        let again = try ToolRunner.run("binlog-writer", ["exec", master, "INSERT INTO b (v) VALUES (randomblob(1000))"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.hasPrefix("lsn=\(acknowledged + 1) "), "LSNs continue without a hole: \(again.stdout)")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", master, "SELECT count(*) FROM b"]).stdout, "\(acknowledged)\n")
        let verify = try ToolRunner.run("binlog-writer", ["verify", master])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let replica = dir.sub("replay.db")
        try BinlogReplay.replay(binlog: master + "/binlog", into: replica)
        XCTAssertEqual(try TableDigest.digest(path: replica), try TableDigest.digest(path: master + "/master.db"))
    }
}
