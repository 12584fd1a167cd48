import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// `binlog-writer serve`: exec clients submit through its socket, their transactions share
/// fsyncs, each is acknowledged only once durable; SIGTERM stops it cleanly; kill -9 (at a
/// random moment, or at a crash point between the stages of a group) loses nothing acknowledged.
final class WriterServerTests: XCTestCase {
    /// A running `serve`, started and waited for until it listens.
    final class Server {
        let process = Process()
        let errors = Pipe()
        let box = OutputBox()
        private let done = DispatchGroup()

        init(_ master: String, environment: [String: String]? = nil) throws {
            process.executableURL = URL(fileURLWithPath: ToolRunner.path("binlog-writer"))
            process.arguments = ["serve", master, "--lock-timeout", "60"]
            if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            let handle = errors.fileHandleForReading, box = box
            done.enter()
            DispatchQueue.global().async { [done] in
                while case let chunk = handle.availableData, !chunk.isEmpty { box.append(chunk) }
                done.leave()
            }
            // Listening once it says so (it prints the line after listen(2)); no deadline but its death.
            while !stderr.contains("serving ") && process.isRunning { usleep(2_000) }
        }

        var stderr: String { String(decoding: box.snapshot(), as: UTF8.self) }

        func finish() -> (status: Int32, killed: Bool, stderr: String) {
            process.waitUntilExit()
            done.wait()
            return (process.terminationStatus, process.terminationReason == .uncaughtSignal, stderr)
        }
    }

    func testExecThroughTheServerAndSIGTERM() throws {
        let dir = TestDirectory("serve")
        let master = dir.sub("m")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", master]).status, 0)
        let server = try Server(master)
        XCTAssertTrue(server.process.isRunning, server.stderr)
        var st = stat()
        XCTAssertEqual(stat(master + "/writer.sock", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "the socket is for this user only")

        let create = try ToolRunner.run("binlog-writer", ["exec", master, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t VALUES (1, 'a')"])
        XCTAssertEqual(create.status, 0, create.stderr)
        XCTAssertEqual(create.stdout.split(separator: "\n").map { $0.prefix(6) }, ["lsn=1 ", "lsn=2 "])
        let block = try ToolRunner.run("binlog-writer", ["exec", master, "--json"], stdin: "BEGIN; INSERT INTO t VALUES (2, 'b'); UPDATE t SET v = 'c' WHERE id = 1; COMMIT; SELECT v FROM t ORDER BY id;")
        XCTAssertEqual(block.status, 0, block.stderr)
        XCTAssertTrue(block.stdout.hasPrefix("{\"lsn\":3,"), block.stdout)
        XCTAssertTrue(block.stdout.contains("\"events\":2}"), block.stdout)
        XCTAssertTrue(block.stdout.hasSuffix("c\nb\n"), block.stdout)
        // Errors keep exec's codes and messages: the statements before the failure stay committed.
        let failing = try ToolRunner.run("binlog-writer", ["exec", master, "INSERT INTO t VALUES (3, 'd'); INSERT INTO t VALUES (1, 'dup'); INSERT INTO t VALUES (4, 'e')"])
        XCTAssertEqual(failing.status, 10, failing.stderr)
        XCTAssertTrue(failing.stdout.hasPrefix("lsn=4 "), failing.stdout)
        XCTAssertTrue(failing.stderr.contains("UNIQUE constraint failed"), failing.stderr)
        let refused = try ToolRunner.run("binlog-writer", ["exec", master, "VACUUM"])
        XCTAssertEqual(refused.status, 10, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("refused"), refused.stderr)
        // --direct goes for the lock, which the server holds.
        let direct = try ToolRunner.run("binlog-writer", ["exec", master, "--direct", "--lock-timeout", "0.2", "SELECT 1"])
        XCTAssertEqual(direct.status, 12, direct.stderr)
        // rotate (cron's) goes through the server too; it ends the segment with a digest marker (LSN 5).
        let rotated = try ToolRunner.run("binlog-writer", ["rotate", master, "--json"])
        XCTAssertEqual(rotated.status, 0, rotated.stderr)
        XCTAssertTrue(rotated.stdout.contains("\"lastLSN\" : 5,"), rotated.stdout)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["rotate", master]).stdout, "nothing to seal (no transactions since the last seal)\n")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", master, "INSERT INTO t VALUES (5, 'f')"]).stdout.prefix(6), "lsn=6 ")

        kill(server.process.processIdentifier, SIGTERM)
        let end = server.finish()
        XCTAssertEqual(end.status, 0, end.stderr)
        XCTAssertFalse(end.killed)
        XCTAssertTrue(end.stderr.contains("stopped; last LSN 6"), end.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: master + "/writer.sock"), "the socket is removed")
        // Without a server exec opens the master itself.
        let after = try ToolRunner.run("binlog-writer", ["exec", master, "SELECT group_concat(id) FROM t"])
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertEqual(after.stdout, "1,2,3,5\n")
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["verify", master]).status, 0)
    }

    /// Rounds of 4 exec clients through one server; each round the server dies by SIGKILL: at a
    /// crash point between the stages of a commit group (frames appended, not synced; synced,
    /// not committed) or at a random moment after some acknowledgements. Every acknowledged
    /// transaction is in the master after recovery, none in part, the binlog has no gap
    /// (verify) and replays into the same rows. LOGSHIP_SERVE_CRASH_ROUNDS sets the rounds (default 6).
    func testKill9OfTheServerLosesNothingAcknowledged() throws {
        var rng = SeededRandom()
        let seed = rng.seed
        let rounds = Int(ProcessInfo.processInfo.environment["LOGSHIP_SERVE_CRASH_ROUNDS"] ?? "") ?? 6
        let dir = TestDirectory("serve-crash")
        let master = dir.sub("m")
        try MasterOracle.makeMaster(master)
        var oracle = MasterOracle()
        var acknowledgedInAll = 0, crashPointsHit = 0
        for round in 1...rounds {
            let context = "round \(round), seed \(seed) (rerun with LOGSHIP_SEED=\(seed))"
            let point = ["master.group-before-sync", "master.before-commit", nil][round % 3]
            let environment = point.map { ["LOGSHIP_CRASH_AT": "\($0):\(Int.random(in: 2...12, using: &rng))"] }
            let server = try Server(master, environment: environment)
            XCTAssertTrue(server.process.isRunning, "\(server.stderr); \(context)")
            var clients: [WriterClient] = []
            for c in 0..<4 {
                let script = TaggedScript(prefix: "r\(round)c\(c)", count: Int.random(in: 15...40, using: &rng), maxPayload: 300, rng: &rng)
                oracle.expect(script)
                clients.append(try WriterClient(master: master, script: script, file: dir.sub("script-\(c).sql")))
            }
            if point == nil {
                let chosen = clients[Int.random(in: 0..<clients.count, using: &rng)]
                chosen.waitForAcknowledgements(Int.random(in: 1..<chosen.script.statements.count, using: &rng))
                usleep(UInt32.random(in: 0...3_000, using: &rng))
                kill(server.process.processIdentifier, SIGKILL)
            }
            for client in clients {
                let (_, acknowledged) = client.finish()
                oracle.acknowledged += acknowledged
                acknowledgedInAll += acknowledged.count
            }
            if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) }
            let end = server.finish()
            XCTAssertTrue(end.killed, "the server was not killed: \(end.stderr); \(context)")
            if end.stderr.contains("crash point") { crashPointsHit += 1 }
            _ = try oracle.check(master, context: context)
        }
        XCTAssertGreaterThan(crashPointsHit, 0, "no crash point fired; seed \(seed)")
        print("figures: serve-crash: \(rounds) rounds, \(crashPointsHit) at a group crash point, \(acknowledgedInAll) acknowledged transactions all kept; seed \(seed)")
    }
}
