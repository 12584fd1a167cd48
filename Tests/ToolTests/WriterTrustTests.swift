import BinlogMaster
import Foundation
import LogshipTestSupport
import XCTest

/// `binlog-writer` at the edges of issue 12: refusals exit 10 with a stable "refused:" wording,
/// a deferred foreign-key violation never reaches the binlog, SQL is read from pipes.
final class WriterTrustTests: XCTestCase {
    private func writer(_ args: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> ToolRunner.Result {
        try ToolRunner.run("binlog-writer", args, stdin: stdin, environment: environment)
    }

    private func newMaster(_ dir: TestDirectory) throws -> String {
        let m = dir.sub("master")
        let r = try writer(["init", m])
        XCTAssertEqual(r.status, 0, r.stderr)
        return m
    }

    /// The wording the differential tests and operators rely on: exit 10, "SQL error: refused: ".
    func testRefusalsExit10WithRefusedWording() throws {
        let dir = TestDirectory("writer-refusals")
        let m = try newMaster(dir)
        XCTAssertEqual(try writer(["exec", m, "CREATE TABLE t(v)"]).status, 0)
        for sql in ["VACUUM main", "CREATE VIRTUAL TABLE d USING fts4(body)", "UPDATE _logship_position SET lsn = 7",
                    "PRAGMA legacy_alter_table = ON"] {
            let r = try writer(["exec", m, sql])
            XCTAssertEqual(r.status, 10, "\(sql): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("SQL error: refused: "), "\(sql): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("HINT: "), "\(sql): \(r.stderr)")
        }
        let after = try writer(["exec", m, "INSERT INTO t VALUES (1)"])
        XCTAssertEqual(after.status, 0, "later writes go on: \(after.stderr)")
        XCTAssertTrue(after.stdout.hasPrefix("lsn=2 "), after.stdout)
    }

    /// With a deferred foreign-key violation pending, the frame was appended and fsynced before
    /// COMMIT ran the check: killed right there (crash point master.before-commit), recovery
    /// redid a transaction SQLite refuses. The violation is now refused before the frame.
    func testDeferredForeignKeyViolationNeverReachesTheBinlog() throws {
        let dir = TestDirectory("writer-deferred-fk")
        let m = try newMaster(dir)
        XCTAssertEqual(try writer(["exec", m, """
            CREATE TABLE parent(id INTEGER PRIMARY KEY);
            CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
            """]).status, 0)
        var env = ProcessInfo.processInfo.environment
        env["LOGSHIP_CRASH_AT"] = "master.before-commit"
        let refused = try writer(["exec", m, "BEGIN; INSERT INTO child VALUES (1, 99); COMMIT;"], environment: env)
        XCTAssertEqual(refused.status, 10, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("FOREIGN KEY constraint failed"), refused.stderr)
        XCTAssertFalse(refused.stderr.contains("crash point"), "the violating frame reached the binlog: \(refused.stderr)")
        XCTAssertEqual(try writer(["exec", m, "SELECT count(*) FROM child"]).stdout, "0\n", "recovery redid a refused transaction")
        // The crash point fires for a valid transaction, which recovery then redoes.
        let killed = try writer(["exec", m, "BEGIN; INSERT INTO parent VALUES (99); INSERT INTO child VALUES (1, 99); COMMIT;"], environment: env)
        XCTAssertEqual(killed.status, SIGKILL, killed.stderr)
        XCTAssertTrue(killed.stderr.contains("crash point master.before-commit reached"), killed.stderr)
        XCTAssertEqual(try writer(["exec", m, "SELECT count(*) FROM child"]).stdout, "1\n")
        XCTAssertEqual(try MasterStatus.read(m).lastLSN, 3)
    }

    /// `exec --file /dev/stdin` and a process substitution exited 15 "not found".
    func testExecReadsSQLFromPipes() throws {
        let dir = TestDirectory("writer-pipes")
        let m = try newMaster(dir)
        let r = try writer(["exec", m, "--file", "/dev/stdin"], stdin: "CREATE TABLE t(v); INSERT INTO t VALUES ('piped');")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("lsn=1 "), r.stdout)
        let bash = try ToolRunner.runSystem("/bin/bash", ["-c", "\"$0\" exec \"$1\" --file <(printf 'INSERT INTO t VALUES (2)')", ToolRunner.path("binlog-writer"), m])
        XCTAssertEqual(bash.status, 0, bash.stderr)
        XCTAssertTrue(bash.stdout.hasPrefix("lsn=3 "), bash.stdout)
        let missing = try writer(["exec", m, "--file", dir.sub("nope.sql")])
        XCTAssertEqual(missing.status, 15, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("nope.sql"), missing.stderr)
    }

    /// A large transaction made the master hold about twice its size: the encoded payload and,
    /// next to it, all its frames. Frames now go to the file in 4 MiB pieces (docs/FORMAT.md §3,
    /// "Memory"). Measured as the growth of the peak RSS (/usr/bin/time) over a one-row exec.
    func testLargeTransactionHoldsAboutOneCopyInMemory() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { throw XCTSkip("/usr/bin/time is not installed") }
        let dir = TestDirectory("writer-large-transaction")
        let m = try newMaster(dir)
        XCTAssertEqual(try writer(["exec", m, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)"]).status, 0)
        func peakKiB(_ sql: String) throws -> Int {
            let r = try ToolRunner.runSystem("/usr/bin/time", ["-f", "maxrss=%M", ToolRunner.path("binlog-writer"), "exec", m, sql])
            XCTAssertEqual(r.status, 0, r.stderr)
            guard let line = r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("maxrss=") }), let kib = Int(line.dropFirst(7)) else {
                XCTFail("no maxrss in: \(r.stderr)")
                return 0
            }
            return kib
        }
        let rows = 48_000   // 48 MB of random (incompressible) blobs in one transaction
        let base = try peakKiB("INSERT INTO t VALUES (NULL, x'00')")
        let big = try peakKiB("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < \(rows)) INSERT INTO t SELECT NULL, randomblob(1000) FROM c")
        let payloadKiB = rows * 1000 / 1024
        XCTAssertLessThan(Double(big - base), 1.7 * Double(payloadKiB), "peak RSS \(big) KiB against \(base) KiB for a \(payloadKiB) KiB transaction")
    }
}
