import BinlogFormat
import BinlogMaster
import Foundation
import LogshipTestSupport
import XCTest

/// `binlog-writer` as a user runs it: stdout, stderr, exit codes, files left behind.
final class WriterCommandTests: XCTestCase {
    private func writer(_ args: String..., stdin: String? = nil) throws -> ToolRunner.Result {
        try ToolRunner.run("binlog-writer", args, stdin: stdin)
    }

    private func newMaster(_ dir: TestDirectory, segmentSize: String = "64MiB") throws -> String {
        let m = dir.sub("master")
        let r = try writer("init", m, "--segment-size", segmentSize)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("source id"))
        return m
    }

    func testExecPrintsOneLSNPerCommittedTransaction() throws {
        let dir = TestDirectory("cli")
        let m = try newMaster(dir)
        let r = try writer("exec", m, """
            CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
            INSERT INTO t (v) VALUES ('a');
            BEGIN; INSERT INTO t (v) VALUES ('b'); UPDATE t SET v = 'c' WHERE id = 1; COMMIT;
            UPDATE t SET v = 'x' WHERE id = 99;
            SELECT v FROM t ORDER BY id;
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lsns = r.stdout.split(separator: "\n").filter { $0.hasPrefix("lsn=") }.map { $0.split(separator: " ")[0] }
        XCTAssertEqual(lsns, ["lsn=1", "lsn=2", "lsn=3"], r.stdout)
        XCTAssertTrue(r.stdout.contains("c\nb"), r.stdout)
        // SQL from stdin and from a file continue the sequence.
        XCTAssertTrue(try writer("exec", m, stdin: "INSERT INTO t (v) VALUES ('d');").stdout.hasPrefix("lsn=4 "))
        let file = dir.sub("more.sql")
        try "DELETE FROM t WHERE v = 'd';".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertTrue(try writer("exec", m, "--file", file).stdout.hasPrefix("lsn=5 "))
        let json = try writer("exec", m, "--json", "INSERT INTO t (v) VALUES ('e')")
        XCTAssertTrue(json.stdout.hasPrefix("{\"lsn\":6,"), json.stdout)
    }

    func testSQLErrorRollsBackLogsNothingAndExits10() throws {
        let dir = TestDirectory("cli")
        let m = try newMaster(dir)
        XCTAssertEqual(try writer("exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").status, 0)
        let r = try writer("exec", m, "BEGIN; INSERT INTO t (v) VALUES ('kept?'); INSERT INTO t (v) VALUES (NULL); COMMIT;")
        XCTAssertEqual(r.status, 10)
        XCTAssertTrue(r.stderr.contains("NOT NULL constraint failed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("INSERT INTO t (v) VALUES (NULL)"), "the message names the statement: \(r.stderr)")
        XCTAssertEqual(r.stdout, "")
        let status = try MasterStatus.read(m)
        XCTAssertEqual(status.lastLSN, 1, "nothing of the failed transaction is logged")
        XCTAssertEqual(try writer("exec", m, "SELECT count(*) FROM t").stdout, "0\n")
        // A syntax error names the text too.
        let syntax = try writer("exec", m, "INSERT INTO t VALUES (1, 'a'); SELEKT 1;")
        XCTAssertEqual(syntax.status, 10)
        XCTAssertTrue(syntax.stdout.hasPrefix("lsn=2 "), "the statement before the error committed")
        XCTAssertTrue(syntax.stderr.contains("SELEKT"), syntax.stderr)
    }

    func testExitCodesForWrongPathExistingDirectoryBusyAndUsage() throws {
        let dir = TestDirectory("cli")
        let m = try newMaster(dir)
        let wrong = try writer("exec", dir.sub("nope"), "SELECT 1")
        XCTAssertEqual(wrong.status, 15)
        XCTAssertTrue(wrong.stderr.contains("no such directory"), wrong.stderr)
        let again = try writer("init", m)
        XCTAssertEqual(again.status, 16)
        XCTAssertTrue(again.stderr.contains("not empty"), again.stderr)
        XCTAssertEqual(try writer("init", dir.sub("x"), "--segment-size", "tiny").status, 64)
        XCTAssertEqual(try writer("rotate", m, "--if-older-than", "soon").status, 64)

        let held = try Master.open(m)
        let busy = try writer("exec", m, "--lock-timeout", "0.3", "SELECT 1")
        XCTAssertEqual(busy.status, 12)
        XCTAssertTrue(busy.stderr.contains("pid \(getpid())"), busy.stderr)
        try held.close()
        XCTAssertEqual(try writer("exec", m, "--lock-timeout", "0.3", "SELECT 1").status, 0)
    }

    func testLoadCSVAndJSONLinesWithBadRow() throws {
        let dir = TestDirectory("cli")
        let m = try newMaster(dir)
        XCTAssertEqual(try writer("exec", m, "CREATE TABLE e (id INTEGER PRIMARY KEY, name TEXT NOT NULL, cents INTEGER, note TEXT)").status, 0)
        let csv = dir.sub("e.csv")
        try "id,name,cents,note\r\n1,\"Müller, Anna\",1250,\"two\nlines\"\r\n2,Bob,,\r\n3,Zoë,7,ok\r\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try writer("load", m, "--table", "e", csv, "--batch", "2")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("loaded 3 rows into e in 2 transactions (LSN 2…3)"), r.stdout)
        XCTAssertEqual(try writer("exec", m, "SELECT name, quote(cents), note FROM e ORDER BY id").stdout,
                       "Müller, Anna|1250|two\nlines\nBob|NULL|\nZoë|7|ok\n")
        let jsonl = dir.sub("e.jsonl")
        try "{\"id\": 4, \"name\": \"J\", \"cents\": 5}\n{\"id\": 5, \"name\": null}\n".write(toFile: jsonl, atomically: true, encoding: .utf8)
        let bad = try writer("load", m, "--table", "e", jsonl, "--batch", "1")
        XCTAssertEqual(bad.status, 10, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("line 2"), bad.stderr)
        XCTAssertEqual(try writer("exec", m, "SELECT count(*) FROM e").stdout, "4\n", "the batch before the bad row stays committed")
        let ragged = dir.sub("r.csv")
        try "id,name\n9,a,extra\n".write(toFile: ragged, atomically: true, encoding: .utf8)
        XCTAssertEqual(try writer("load", m, "--table", "e", ragged).status, 11)
    }

    func testRotateStatusDumpAndVerifyExitCodes() throws {
        let dir = TestDirectory("cli")
        let m = try newMaster(dir, segmentSize: "4KiB")
        XCTAssertEqual(try writer("exec", m, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)").status, 0)
        for _ in 0..<5 { XCTAssertEqual(try writer("exec", m, "INSERT INTO t (v) VALUES (randomblob(3000))").status, 0) }
        XCTAssertTrue(try writer("rotate", m, "--if-older-than", "1h").stdout.contains("nothing to seal"))
        let rotated = try writer("rotate", m)
        XCTAssertTrue(rotated.stdout.hasPrefix("sealed "), rotated.stdout)
        XCTAssertTrue(try writer("rotate", m).stdout.contains("nothing to seal"))
        let status = try writer("status", m, "--json")
        XCTAssertEqual(status.status, 0)
        let s = try JSONDecoder().decode(MasterStatus.self, from: Data(status.stdout.utf8))
        // Digest markers are on by default: the explicit rotate committed a marker-only
        // transaction (LSN 7, no row events) before it sealed; the second rotate had nothing new.
        XCTAssertEqual(s.lastLSN, 7)
        XCTAssertEqual(s.sealedSegments.count, 3, "two rotations by size at 4 KiB, then the explicit rotate")
        let marker = try writer("dump", m, "--from-lsn", "7")
        XCTAssertTrue(marker.stdout.contains("events 0") && marker.stdout.contains("### DIGEST MARKER (1 tables, 5 rows after this transaction)"), marker.stdout)
        XCTAssertNil(s.activeSegment)

        let dump = try writer("dump", m, "--from-lsn", "2", "--to-lsn", "3", "--format", "jsonl")
        XCTAssertEqual(dump.stdout.split(separator: "\n").count, 2, dump.stdout)
        XCTAssertTrue(try writer("dump", m, "--table", "t").stdout.contains("### INSERT INTO t"))
        XCTAssertEqual(try writer("verify", m).status, 0)

        // A flipped byte in a sealed segment: exit 3, file and offset named.
        let segments = try BinlogDirectory(path: m + "/binlog").list().segments
        let victim = segments[1].path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes[200] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: victim))
        let corrupt = try writer("verify", m)
        XCTAssertEqual(corrupt.status, 3, corrupt.stderr)
        XCTAssertTrue(corrupt.stderr.contains(victim) && corrupt.stderr.contains("offset"), corrupt.stderr)
        bytes[200] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: victim))
        XCTAssertEqual(try writer("verify", m).status, 0)
        // A missing middle segment: exit 2.
        try FileManager.default.removeItem(atPath: victim)
        let gap = try writer("verify", m, "--json")
        XCTAssertEqual(gap.status, 2, gap.stdout)
        XCTAssertTrue(gap.stdout.contains("\"outcome\" : \"gap\""), gap.stdout)
    }

    func testDumpFiltersByTimeAndTableAndReportsCorruption() throws {
        let dir = TestDirectory("cli")
        let m = try newMaster(dir)
        XCTAssertEqual(try writer("exec", m, "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT)").status, 0)
        XCTAssertEqual(try writer("exec", m, "INSERT INTO a (v) VALUES ('early')").status, 0)
        usleep(50_000)
        let middle = try writer("exec", m, "INSERT INTO b (v) VALUES ('middle')")
        let middleTime = String(middle.stdout.split(separator: " ")[1].dropFirst("commit_time=".count))
        usleep(50_000)
        XCTAssertEqual(try writer("exec", m, "INSERT INTO a (v) VALUES ('late')").status, 0)

        let since = try writer("dump", m, "--since", middleTime, "--format", "jsonl")
        XCTAssertEqual(since.stdout.split(separator: "\n").count, 2, since.stdout)
        XCTAssertTrue(since.stdout.contains("middle") && since.stdout.contains("late") && !since.stdout.contains("early"))
        let until = try writer("dump", m, "--until", middleTime)
        XCTAssertTrue(until.stdout.contains("'middle'") && until.stdout.contains("'early'") && !until.stdout.contains("'late'"), until.stdout)
        let onlyA = try writer("dump", m, "--table", "a", "--format", "jsonl")
        XCTAssertEqual(onlyA.stdout.split(separator: "\n").count, 2, "the two transactions that touch a: \(onlyA.stdout)")
        XCTAssertEqual(try writer("dump", m, "--since", "yesterday").status, 64)

        let active = try BinlogDirectory(path: m + "/binlog").list().segments.last!.path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: active))
        bytes[SegmentHeader.size + 10] ^= 0x01   // inside the first frame's header, followed by more frames
        try bytes.write(to: URL(fileURLWithPath: active))
        let bad = try writer("dump", m)
        XCTAssertEqual(bad.status, 3, bad.stderr)
        XCTAssertTrue(bad.stderr.contains(active) && bad.stderr.contains("offset \(SegmentHeader.size)"), bad.stderr)
    }
}
