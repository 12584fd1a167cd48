import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Issue 15, semi-synchronous acknowledgement as a user runs it: `binlog-writer exec
/// --sync-replicas 1` with `binlog-ship --follow` to a replica's inbox (a directory target).
/// Right after the k-th acknowledgement line, the master (the exec process) and the shipper are
/// killed -9. The target, and a replica applied from it, hold that transaction, every round.
/// `tools/semisync-torture` runs it for 50+ rounds (LOGSHIP_SEMISYNC_ROUNDS).
final class SemiSyncKillTests: XCTestCase {
    private func start(_ tool: String, _ arguments: [String], stdout: Pipe? = nil, stdoutPath: String? = nil, stderrPath: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ToolRunner.path(tool))
        p.arguments = arguments
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: stderrPath)
        if let stdoutPath {
            FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        } else {
            p.standardOutput = stdout ?? FileHandle.nullDevice
        }
        try p.run()
        return p
    }

    private func kill9(_ p: Process) {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Reads `pipe` until `count` acknowledgement lines came (or end of file); returns them.
    private func readAcks(_ pipe: Pipe, _ count: Int) -> [String] {
        var buffer = [UInt8]()
        var lines: [String] = []
        let fd = pipe.fileHandleForReading.fileDescriptor
        var chunk = [UInt8](repeating: 0, count: 4096)
        while lines.count < count {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer += chunk[0..<n]
            while let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                if line.hasPrefix("lsn=") { lines.append(line) }
                if lines.count == count { break }
            }
        }
        return lines
    }

    /// `serve --sync-replicas`: its clients get exit 5 at the timeout and success once the
    /// follower acknowledges; `exec --sync-replicas` refuses a server that does not give it.
    func testServeWaitsForTheFollowerAndExecRefusesAServerWithoutSemiSync() throws {
        let f = try ReplicaCLIFixture("semisync-serve")
        try f.master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        func serve(_ extra: [String], _ name: String) throws -> Process {
            let errPath = f.dir.sub("serve-\(name).stderr")
            let p = try start("binlog-writer", ["serve", f.master.path] + extra, stderrPath: errPath)
            while p.isRunning && !((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "").contains("serving ") { usleep(2_000) }
            return p
        }
        func stop(_ p: Process) {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
        }
        func exec(_ sql: String, _ extra: [String] = []) throws -> ToolRunner.Result {
            try ToolRunner.run("binlog-writer", ["exec", f.master.path, sql] + extra)
        }

        var server = try serve([], "plain")
        f.assertExit(try exec("INSERT INTO t(v) VALUES ('refused')", ["--sync-replicas", "1"]), 64, containing: ["without --sync-replicas 1"])
        stop(server)

        server = try serve(["--sync-replicas", "1", "--sync-timeout", "300ms"], "timeout")
        f.assertExit(try exec("INSERT INTO t(v) VALUES ('not acknowledged')"), 5, containing: ["not acknowledged", "committed and durable on the master"])
        stop(server)

        server = try serve(["--sync-replicas", "1", "--sync-timeout", "120s"], "sync")
        let ship = try start("binlog-ship", ["--source", f.master.path, "--target", f.inbox, "--follow", "--quiet"], stderrPath: f.dir.sub("ship.stderr"))
        let r = try exec("INSERT INTO t(v) VALUES ('acknowledged')", ["--sync-replicas", "1"])
        f.assertExit(r, 0)
        let lsn = try XCTUnwrap(ToolMaster.parseCommits(r.stdout).last?.lsn)
        kill9(ship)
        stop(server)
        let served = (try? String(contentsOfFile: f.dir.sub("serve-sync.stderr"), encoding: .utf8)) ?? ""
        XCTAssertTrue(served.contains("semi-sync: 1 waits acknowledged, 0 timed out"), served)
        f.assertExit(try f.apply(), 0)
        XCTAssertGreaterThanOrEqual(try f.storeLSN(), lsn)
        let values = try DatabaseQueue(path: f.store).read { db in try String.fetchAll(db, sql: "SELECT v FROM t ORDER BY id") }
        XCTAssertEqual(values, ["not acknowledged", "acknowledged"], "the unacknowledged commit was kept, not undone")
    }

    /// `load --sync-replicas` stops at the first batch not acknowledged in time, and says how many
    /// rows are committed (that batch included).
    func testLoadStopsAtTheFirstUnacknowledgedBatch() throws {
        let f = try ReplicaCLIFixture("semisync-load")
        try f.master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        let csv = f.dir.sub("rows.csv")
        try Data(("id,v\n" + (1...5).map { "\($0),row \($0)\n" }.joined()).utf8).write(to: URL(fileURLWithPath: csv))
        let r = try ToolRunner.run("binlog-writer", ["load", f.master.path, "--table", "t", csv, "--batch", "2",
                                                     "--sync-replicas", "1", "--sync-timeout", "200ms"])
        f.assertExit(r, 5, containing: ["not acknowledged", "2 rows committed, this batch included"])
        let count = try DatabaseQueue(path: f.master.databasePath).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") }
        XCTAssertEqual(count, 2, "the first batch is committed; the load went no further")
    }

    func testKillingTheMasterRightAfterEachAcknowledgementLosesNothing() throws {
        let rounds = Int(ProcessInfo.processInfo.environment["LOGSHIP_SEMISYNC_ROUNDS"] ?? "") ?? 5
        let f = try ReplicaCLIFixture("semisync-kill", segmentSize: "32KiB")
        var rng = SeededRandom(seed: f.seed)
        print("SemiSyncKillTests: \(rounds) rounds, \(f.context)")
        try f.master.exec("CREATE TABLE acked(id INTEGER PRIMARY KEY, round INTEGER NOT NULL, k INTEGER NOT NULL, note TEXT NOT NULL)")
        var nextID = 1
        var everAcked: [Int] = []
        for round in 0..<rounds {
            // Its lines (what it shipped, up to which LSN) go to a file the failure message quotes.
            let ship = try start("binlog-ship", ["--source", f.master.path, "--target", f.inbox, "--follow"],
                                 stdoutPath: f.dir.sub("ship-\(round).stdout"), stderrPath: f.dir.sub("ship-\(round).stderr"))
            let n = Int.random(in: 1...8, using: &rng), k = Int.random(in: 1...n, using: &rng)
            var script = ""
            for j in 0..<n {
                let note = String(rng.next(), radix: 16)
                // Some transactions are blocks of two statements, some single statements.
                if j % 3 == 2 {
                    script += "BEGIN; INSERT INTO acked VALUES (\(nextID + j), \(round), \(j), '\(note)'); UPDATE acked SET note = note || '+' WHERE id = \(nextID + j); COMMIT;\n"
                } else {
                    script += "INSERT INTO acked VALUES (\(nextID + j), \(round), \(j), '\(note)');\n"
                }
            }
            let file = f.dir.sub("round-\(round).sql")
            try Data(script.utf8).write(to: URL(fileURLWithPath: file))
            let out = Pipe()
            let exec = try start("binlog-writer", ["exec", f.master.path, "--direct", "--file", file, "--sync-replicas", "1",
                                                   "--sync-timeout", "120s", "--sync-fallback", "wait"],
                                 stdout: out, stderrPath: f.dir.sub("exec-\(round).stderr"))
            let acks = readAcks(out, k)
            // The moment the k-th acknowledgement is read: the master and the shipper die.
            kill9(exec)
            kill9(ship)
            let execErr = (try? String(contentsOfFile: f.dir.sub("exec-\(round).stderr"), encoding: .utf8)) ?? ""
            // The shipper's output too: a round where nothing reached the replica says there why it
            // did not ship. (The stall found this way: a shipper that took the partial it had shipped
            // while no master ran for a divergence, when the next master had not yet written its
            // committed mark; UndoneFramesTests has it step by step.)
            let shipErr = (try? String(contentsOfFile: f.dir.sub("ship-\(round).stderr"), encoding: .utf8)) ?? ""
            let shipOut = ((try? String(contentsOfFile: f.dir.sub("ship-\(round).stdout"), encoding: .utf8)) ?? "").split(separator: "\n").suffix(5).joined(separator: "\n")
            XCTAssertEqual(acks.count, k, "round \(round): \(k) acknowledgements expected; exec stderr: \(execErr); shipper stderr: \(shipErr); shipper's last lines: \(shipOut); \(f.context)")
            guard acks.count == k, let lsn = try ToolMaster.parseCommits(acks.joined(separator: "\n")).last?.lsn else { break }
            everAcked += (nextID..<(nextID + k))
            nextID += n

            // The replica, from nothing but what the target holds, has every acknowledged transaction.
            let r = try f.apply()
            f.assertExit(r, 0, "round \(round): apply from the target after kill -9")
            let stored = try f.storeLSN()
            XCTAssertGreaterThanOrEqual(stored, lsn, "round \(round): LSN \(lsn) was acknowledged but the target holds only LSN \(stored); \(f.context)")
            let ids = try DatabaseQueue(path: f.store).read { db in try Int.fetchAll(db, sql: "SELECT id FROM acked ORDER BY id") }
            let missing = Set(everAcked).subtracting(ids)
            XCTAssertTrue(missing.isEmpty, "round \(round): acknowledged rows \(missing.sorted()) are not on the replica; \(f.context)")
            // Nothing on the replica that the master does not hold, byte for byte at that LSN.
            try f.assertStore(at: stored, "round \(round)")
            if missing.isEmpty == false || stored < lsn { break }
        }
        XCTAssertEqual(everAcked.isEmpty, false)
        print("figures: semisync-kill rounds=\(rounds) acknowledged_transactions=\(everAcked.count) seed=\(f.seed)")
    }
}
