import BinlogFormat
import BinlogMaster
import Foundation
import LogshipTestSupport
import XCTest

/// Least privilege on disk (issue 14, docs/OPERATIONS.md "Files and permissions"): whatever the
/// umask a tool is started with, every directory it creates is 0700 and every file 0600 (0750 and
/// 0640 with group read), through a whole pipeline run by the real tools; a data directory more
/// open than that draws one warning line per run.
final class FileModeTests: XCTestCase {
    private var savedUmask: mode_t = 0

    override func setUp() { savedUmask = umask(0o022) }
    override func tearDown() { umask(savedUmask) }

    private static func samples(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("samples").appendingPathComponent(name).path
    }

    private func run(_ tool: String, _ args: [String], _ env: [String: String], file: StaticString = #filePath, line: UInt = #line) throws -> ToolRunner.Result {
        let r = try ToolRunner.run(tool, args, environment: env)
        XCTAssertEqual(r.status, 0, "\(tool) \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("warning:"), "\(tool) \(args.joined(separator: " ")) warned: \(r.stderr)", file: file, line: line)
        return r
    }

    /// init, exec, load, rotate, ship, apply, snapshot, restore, report, export under umask 022;
    /// then every path below `work` (all created by the tools) is checked.
    private func pipeline(groupRead: Bool, viaFlag: Bool) throws {
        let dir = TestDirectory("filemodes")
        let work = dir.sub("work")
        XCTAssertEqual(mkdir(work, 0o700), 0)
        var env = ProcessInfo.processInfo.environment
        env["LOGSHIP_CONFIG"] = ""
        env["LOGSHIP_GROUP_READ"] = groupRead && !viaFlag ? "true" : nil
        let flag = groupRead && viaFlag ? ["--group-read"] : []
        let m = work + "/master", r = work + "/replica"
        _ = try run("binlog-writer", ["init", m, "--segment-size", "64KiB"] + flag, env)
        _ = try run("binlog-writer", ["exec", m, "--file", Self.samples("expenses.sql")] + flag, env)
        _ = try run("binlog-writer", ["load", m, "--table", "expenses", Self.samples("expenses.csv"), "--batch", "500"] + flag, env)
        let status = try run("binlog-writer", ["status", m, "--json"] + flag, env)
        let lastLSN = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["lastLSN"] as? Int)
        _ = try run("binlog-writer", ["rotate", m] + flag, env)
        _ = try run("replica-apply", ["init", r] + flag, env)
        _ = try run("binlog-ship", ["--source", m, "--target", "nas=" + r + "/inbox", "--state-dir", work + "/ship-state"] + flag, env)
        _ = try run("replica-apply", [r] + flag, env)
        _ = try run("replica-apply", ["snapshot", r] + flag, env)
        _ = try run("replica-apply", ["restore", r, "--to-lsn", String(lastLSN), "-o", work + "/restored.db"] + flag, env)
        _ = try run("report", ["monthly-expenses", "--store", r, "-f", "html", "--out", work + "/monthly.html"] + flag, env)
        _ = try run("report", ["monthly-expenses", "--store", r, "-f", "csv", "--out-dir", work + "/csv"] + flag, env)
        _ = try run("report", ["export", "--store", r, work + "/lake"] + flag, env)

        let (dirMode, fileMode): (mode_t, mode_t) = groupRead ? (0o750, 0o640) : (0o700, 0o600)
        var seen = Set<String>()
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: work))
        var checked = 0
        while let relative = walker.nextObject() as? String {
            let path = work + "/" + relative
            var st = stat()
            XCTAssertEqual(lstat(path, &st), 0, path)
            let mode = st.st_mode & 0o7777
            switch st.st_mode & S_IFMT {
            case S_IFDIR: XCTAssertEqual(String(mode, radix: 8), String(dirMode, radix: 8), "directory \(relative)")
            case S_IFREG: XCTAssertEqual(String(mode, radix: 8), String(fileMode, radix: 8), "file \(relative)")
            default: XCTFail("\(relative) is neither a file nor a directory (mode \(String(st.st_mode, radix: 8)))")
            }
            seen.insert(relative.split(separator: "/").first.map(String.init) ?? relative)
            checked += 1
        }
        // Everything the pipeline should have written is there, and was checked.
        XCTAssertEqual(seen, ["master", "replica", "ship-state", "restored.db", "monthly.html", "csv", "lake"])
        for expected in ["master/master.db", "master/master.json", "master/binlog", "replica/store.db", "replica/replica.json",
                         "replica/inbox", "replica/snapshots", "ship-state/state.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/" + expected), expected)
        }
        let segments = try FileManager.default.contentsOfDirectory(atPath: r + "/inbox").filter { $0.hasSuffix(".binlog") }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: r + "/snapshots").filter { !$0.hasPrefix(".") }
        XCTAssertFalse(segments.isEmpty, "shipped segments")
        XCTAssertFalse(snapshots.isEmpty, "snapshots")
        XCTAssertGreaterThan(checked, 20)
    }

    func testEveryFileAndDirectoryIsOwnerOnlyUnderUmask022() throws {
        try pipeline(groupRead: false, viaFlag: false)
    }

    func testGroupReadGivesTheGroupReadAccessOnly() throws {
        try pipeline(groupRead: true, viaFlag: false)
        try pipeline(groupRead: true, viaFlag: true)
    }

    /// SQLite gives a new database the umask's mode and its -wal and -shm files the database's:
    /// the master database is created 0600 before SQLite opens it, so all three are 0600 in a
    /// program that uses the library under umask 022 (no tool set the umask here).
    func testTheMasterDatabaseAndItsWALAreOwnerOnlyThroughTheLibrary() throws {
        let dir = TestDirectory("filemodes-lib")
        let path = dir.sub("master")
        try MasterDirectory.initialize(at: path)
        let master = try Master.open(path)
        defer { try? master.close() }
        try master.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x')")
        for name in ["", "/master.db", "/master.db-wal", "/master.db-shm", "/binlog", "/master.json"] {
            var st = stat()
            XCTAssertEqual(stat(path + name, &st), 0, "\(name) exists")
            let want: mode_t = st.st_mode & S_IFMT == S_IFDIR ? 0o700 : 0o600
            XCTAssertEqual(String(st.st_mode & 0o777, radix: 8), String(want, radix: 8), "master\(name)")
        }
    }

    /// A data directory more open than the policy: one warning line per run, naming it and the fix.
    func testAnOpenDataDirectoryDrawsOneWarningPerRun() throws {
        let dir = TestDirectory("filemodes-warn")
        var env = ProcessInfo.processInfo.environment
        env["LOGSHIP_CONFIG"] = ""
        let m = dir.sub("master"), r = dir.sub("replica")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", m], environment: env).status, 0)
        XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", r], environment: env).status, 0)
        XCTAssertEqual(chmod(m, 0o755), 0)
        XCTAssertEqual(chmod(r, 0o750), 0)

        func warnings(_ tool: String, _ args: [String], _ env: [String: String]) throws -> [String] {
            let result = try ToolRunner.run(tool, args, environment: env)
            XCTAssertEqual(result.status, 0, "\(tool) \(args): \(result.stderr)")
            return result.stderr.split(separator: "\n").map(String.init).filter { $0.contains("warning:") }
        }
        // exec opens the master several times (recovery, status): still one line.
        let exec = try warnings("binlog-writer", ["exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY)"], env)
        XCTAssertEqual(exec, ["binlog-writer: warning: \(m) is mode 0755: other users can read or enter it; logship keeps data directories 0700 (chmod 0700 \(m), or --group-read for 0750)"])
        XCTAssertEqual(try warnings("replica-apply", ["status", r], env).count, 1, "a replica directory open to its group")
        XCTAssertEqual(try warnings("binlog-ship", ["status", "--source", m, "--target", "nas=" + r + "/inbox"], env).count, 1, "binlog-ship's source")
        XCTAssertEqual(try warnings("replica-apply", ["status", r, "--group-read"], env), [], "0750 is what group read allows")
        // The same through logship.yml's files section; a value that is not a boolean exits 64 naming the line.
        let yml = dir.sub("logship.yml")
        try "files:\n  group_read: true\n".write(toFile: yml, atomically: true, encoding: .utf8)
        XCTAssertEqual(try warnings("replica-apply", ["status", r, "--config", yml], env), [], "files: {group_read: true}")
        try "files:\n  group_read: maybe\n".write(toFile: yml, atomically: true, encoding: .utf8)
        let badFile = try ToolRunner.run("replica-apply", ["status", r, "--config", yml], environment: env)
        XCTAssertEqual(badFile.status, 64, badFile.stderr)
        XCTAssertTrue(badFile.stderr.contains("logship.yml:2: 'files.group_read' must be true or false"), badFile.stderr)
        env["LOGSHIP_GROUP_READ"] = "true"
        XCTAssertEqual(try warnings("binlog-writer", ["status", m], env).count, 1, "0755 is open to others even with group read")
        XCTAssertEqual(chmod(m, 0o700), 0)
        env["LOGSHIP_GROUP_READ"] = nil
        XCTAssertEqual(try warnings("binlog-writer", ["status", m], env), [], "0700: no warning")
        // Nothing was changed: the operator decides.
        var st = stat()
        XCTAssertEqual(stat(r, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o750)
        env["LOGSHIP_GROUP_READ"] = "maybe"
        let bad = try ToolRunner.run("binlog-writer", ["status", m], environment: env)
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("LOGSHIP_GROUP_READ=maybe"), bad.stderr)
    }
}
