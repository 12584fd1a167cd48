import Foundation
import GRDB
import XCTest

/// Transactions for the master crash runs: each inserts a known number of rows tagged with its
/// own name (so a partly present transaction shows), and the multi-row ones also update,
/// delete and replace rows of a shared table (so the replay comparison sees ordering).
public struct TaggedScript {
    public var statements: [(tag: String, sql: String, parts: Int)] = []

    public static let schema = """
        CREATE TABLE tags (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, part INTEGER NOT NULL, payload BLOB);
        CREATE TABLE u (k INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT);
        WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 200) INSERT INTO u (k, v, note) SELECT k, 0, 'seed' FROM n;
        """

    public init(prefix: String, count: Int, maxPayload: Int, rng: inout SeededRandom) {
        for s in 0..<count {
            let tag = "\(prefix)-t\(s)"
            let parts = Int.random(in: 1...4, using: &rng)
            var sql = parts > 1 ? "BEGIN;\n" : ""
            for p in 0..<parts {
                sql += "INSERT INTO tags (tag, part, payload) VALUES ('\(tag)', \(p), randomblob(\(Int.random(in: 0...maxPayload, using: &rng))));\n"
            }
            if parts > 1 {
                let k = Int.random(in: 1...200, using: &rng)
                sql += "UPDATE u SET v = v + 1, note = '\(prefix) é' WHERE k % 13 = \(k % 13);\n"
                sql += "DELETE FROM u WHERE k = \(k);\nINSERT OR REPLACE INTO u (k, v, note) VALUES (\(k), \(s), NULL);\nCOMMIT;\n"
            }
            statements.append((tag, sql, parts))
        }
    }
}

/// One `binlog-writer exec --file` client process; its stdout says which of its script's
/// transactions were acknowledged (one `lsn=` line each, in order, printed once durable).
public final class WriterClient {
    public let process = Process()
    public let script: TaggedScript
    private let out = Pipe()
    private let box = OutputBox()
    private let done = DispatchGroup()

    public init(master: String, script: TaggedScript, file: String, environment: [String: String]? = nil, extraArguments: [String] = []) throws {
        self.script = script
        try script.statements.map(\.sql).joined().write(toFile: file, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: ToolRunner.path("binlog-writer"))
        process.arguments = ["exec", master, "--file", file, "--lock-timeout", "60"] + extraArguments
        if let environment { process.environment = environment }
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = out.fileHandleForReading, box = box
        done.enter()
        DispatchQueue.global().async { [done] in
            while case let chunk = handle.availableData, !chunk.isEmpty { box.append(chunk) }
            done.leave()
        }
    }

    /// Waits until the client has printed `count` acknowledgements (or `timeout` seconds passed).
    public func waitForAcknowledgements(_ count: Int, timeout: Double = 30) {
        let deadline = Date().addingTimeInterval(timeout)
        while box.lines(prefix: "lsn=") < count && process.isRunning && Date() < deadline { usleep(2_000) }
    }

    public var pid: Int32 { process.processIdentifier }

    /// The commits the client acknowledged (LSN, commit time), from its complete output lines.
    public func printedCommits() throws -> [ToolMaster.Commit] {
        let text = String(decoding: box.snapshot(), as: UTF8.self)
        return try ToolMaster.parseCommits(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().joined(separator: "\n"))
    }

    /// Waits for the process; returns whether SIGKILL ended it and the tags it acknowledged.
    public func finish() -> (killed: Bool, acknowledged: [String]) {
        process.waitUntilExit()
        done.wait()
        let printed = String(decoding: box.snapshot(), as: UTF8.self)
        // Only complete lines count: a line cut by the kill was not fully acknowledged.
        let lines = printed.split(separator: "\n", omittingEmptySubsequences: false).dropLast().filter { $0.hasPrefix("lsn=") }
        let killed = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
        return (killed, script.statements.prefix(lines.count).map(\.tag))
    }
}

/// Output read on another thread, under a lock.
public final class OutputBox: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    public init() {}
    public func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
    public func snapshot() -> Data { lock.lock(); defer { lock.unlock() }; return data }
    /// Complete lines starting with `prefix` so far.
    public func lines(prefix: String) -> Int {
        let text = String(decoding: snapshot(), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().filter { $0.hasPrefix(prefix) }.count
    }
}

/// The independent oracles of a master crash run: what clients were told (acknowledged tags),
/// how many rows each tagged transaction inserts, and a replay of the binlog digested by
/// `TableDigest`, against the master database as recovery leaves it.
public struct MasterOracle {
    public var expectedParts: [String: Int] = [:]
    public var acknowledged: [String] = []

    /// Recovery work the reopen reported: the crash left something to repair.
    public struct Recovery {
        public var redone = 0, tornTails = 0, completedSeals = 0
        public init() {}
    }

    public init() {}

    public mutating func expect(_ script: TaggedScript) { for s in script.statements { expectedParts[s.tag] = s.parts } }

    /// Reopens the master (recovery runs), verifies its binlog, and checks every table.
    /// `verifyArguments` go to `binlog-writer verify` (e.g. `--verify-key` for a signing master).
    public func check(_ master: String, context: String, verifyArguments: [String] = []) throws -> Recovery {
        let open = try ToolRunner.run("binlog-writer", ["exec", master, "SELECT 1"])
        XCTAssertEqual(open.status, 0, "reopen failed: \(open.stderr); \(context)")
        var recovery = Recovery()
        if open.stderr.contains("recovery: redid") { recovery.redone = 1 }
        if open.stderr.contains("dropped an incomplete tail") { recovery.tornTails = 1 }
        if open.stderr.contains("completed the interrupted seal") { recovery.completedSeals = 1 }
        let verify = try ToolRunner.run("binlog-writer", ["verify", master] + verifyArguments)
        XCTAssertEqual(verify.status, 0, "verify: \(verify.stdout) \(verify.stderr); \(context)")

        let counts = try Self.tagCounts(master + "/master.db")
        for tag in acknowledged {
            XCTAssertEqual(counts[tag], expectedParts[tag], "acknowledged transaction \(tag) lost or partial; \(context)")
        }
        for (tag, n) in counts {
            XCTAssertEqual(n, expectedParts[tag], "transaction \(tag) is partly present (\(n) of \(expectedParts[tag] ?? -1) rows); \(context)")
        }
        let replica = master + "-replay.db"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(replica + suffix) } }
        try BinlogReplay.replay(binlog: master + "/binlog", into: replica)
        let expected = try TableDigest.digest(path: master + "/master.db")
        XCTAssertEqual(try TableDigest.digest(path: replica), expected, "master differs from a replay of its binlog; \(context)")
        return recovery
    }

    public static func tagCounts(_ path: String) throws -> [String: Int] {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        return try queue.read { db in
            var result: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tag, count(*) FROM tags GROUP BY tag") { result[row[0]] = row[1] }
            return result
        }
    }

    /// A new master with the tagged schema.
    public static func makeMaster(_ path: String, segmentSize: String = "16KiB") throws {
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", path, "--segment-size", segmentSize]).status, 0)
        let setup = try ToolRunner.run("binlog-writer", ["exec", path, TaggedScript.schema])
        XCTAssertEqual(setup.status, 0, setup.stderr)
    }

    /// The pid in the master's lock file when it is one of `clients` still running: the writer
    /// holding the lock (the file keeps the last holder's pid after it exits).
    public static func lockHolder(_ master: String, among clients: [WriterClient]) -> WriterClient? {
        guard let text = try? String(contentsOfFile: master + "/lock", encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return clients.first { $0.pid == pid && $0.process.isRunning }
    }
}
