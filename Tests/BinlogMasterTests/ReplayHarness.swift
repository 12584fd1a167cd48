import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

// The central check of this suite ("replay equality"): whatever a workload did on a master,
// replaying its binlog into an empty database with the one apply engine must give the same
// tables, compared through TableDigest (plain GRDB reads, no logship code).

/// A fresh master in its own test directory.
final class MasterFixture {
    let dir: TestDirectory
    let path: String
    var master: Master

    init(_ label: String, segmentSize: Int64 = MasterDirectory.defaultSegmentSize, options: Master.Options = Master.Options()) throws {
        dir = TestDirectory(label)
        path = dir.sub("master")
        try MasterDirectory.initialize(at: path, segmentSize: segmentSize, digestInterval: 0)   // markers where a test asks for them
        master = try Master.open(path, options: options)
    }

    var binlogPath: String { master.directory.binlogPath }
    var databasePath: String { master.directory.databasePath }

    /// Closes the current master and opens the directory again.
    @discardableResult
    func reopen(options: Master.Options = Master.Options()) throws -> Master {
        try master.close()
        master = try Master.open(path, options: options)
        return master
    }

    /// Every committed transaction of the binlog, in LSN order.
    func transactions() throws -> [Transaction] { try BinlogReplay.transactions(binlogPath: binlogPath) }

    /// The transaction with `lsn`, failing the test when the binlog lacks it.
    func transaction(_ lsn: UInt64, file: StaticString = #filePath, line: UInt = #line) throws -> Transaction {
        let all = try transactions()
        guard let tx = all.first(where: { $0.lsn == lsn }) else {
            XCTFail("binlog has no LSN \(lsn) (LSNs: \(all.map(\.lsn)))", file: file, line: line)
            throw MasterError(.binlog, "missing LSN \(lsn)")
        }
        return tx
    }

    /// Bytes in the binlog directory (every segment): unchanged means nothing was appended.
    /// Bytes of committed binlog data: sealed segments whole, the active one up to the end
    /// of its last transaction (the writer preallocates zero-filled space after it).
    func binlogBytes() throws -> Int64 {
        try BinlogDirectory(path: binlogPath).list().segments.reduce(0) { sum, entry in
            sum + (entry.name.isActive ? try dataLength(entry.path) : entry.size)
        }
    }

    /// Replays the binlog into a new database and asserts its tables (and schema) equal the master's.
    func assertReplayEquals(_ context: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) throws {
        try BinlogReplay.assertReplayEquals(binlogPath: binlogPath, databasePath: databasePath, scratch: dir,
                                            context: context(), file: file, line: line)
    }
}

enum BinlogReplay {
    /// Every transaction of every segment in `binlogPath`, decoded, in log order.
    static func transactions(binlogPath: String) throws -> [Transaction] {
        var out: [Transaction] = []
        for entry in try BinlogDirectory(path: binlogPath).list().segments {
            let reader = try SegmentReader(path: entry.path)
            while let tx = try reader.next() { out.append(tx) }
        }
        return out
    }

    /// Builds a replica at `path` from the binlog: empty database, triggers off, foreign keys
    /// off, each transaction applied inside its own BEGIN … COMMIT. Returns the last LSN applied.
    @discardableResult
    static func replay(binlogPath: String, into path: String) throws -> UInt64 {
        var config = Configuration()
        config.foreignKeysEnabled = false
        // A scratch copy that is compared and deleted: durability buys nothing here, and an fsync
        // per replayed transaction made these replays most of the master tests' time.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY") }
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        let engine = ApplyEngine()
        var last: UInt64 = 0
        try queue.inDatabase { db in
            try ApplyEngine.prepareConnection(db)
            try AppliedPosition.createTable(db, initial: AppliedPosition(sourceID: UUID(), epoch: 1, lsn: 0, commitTime: 0, appliedAt: 0))
            for entry in try BinlogDirectory(path: binlogPath).list().segments {
                let reader = try SegmentReader(path: entry.path)
                while let tx = try reader.next() {
                    try db.execute(sql: "BEGIN")
                    do {
                        try engine.apply(tx, in: db)
                        try AppliedPosition.write(db, lsn: tx.lsn, commitTime: tx.commitTime, appliedAt: tx.commitTime)
                        try db.execute(sql: "COMMIT")
                    } catch {
                        try? db.execute(sql: "ROLLBACK")
                        throw error
                    }
                    last = tx.lsn
                }
            }
            engine.reset()
        }
        return last
    }

    /// Replays into a new file under `scratch` and compares digests and schemas with `databasePath`.
    static func assertReplayEquals(binlogPath: String, databasePath: String, scratch: TestDirectory, context: String = "",
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let replica = scratch.sub("replica-\(UUID().uuidString).db")
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: replica + suffix) }
        }
        try replay(binlogPath: binlogPath, into: replica)
        let expected = try TableDigest.digest(path: databasePath)
        let actual = try TableDigest.digest(path: replica)
        XCTAssertFalse(expected.isEmpty, "the master has no user table: the comparison would prove nothing. \(context)", file: file, line: line)
        XCTAssertEqual(actual, expected, "replaying the binlog does not give the master's tables. \(context)", file: file, line: line)
        XCTAssertEqual(try schema(path: replica), try schema(path: databasePath),
                       "replaying the binlog does not give the master's schema. \(context)", file: file, line: line)
    }

    /// Every schema object but logship's own, as "type name on table: sql", sorted.
    static func schema(path: String) throws -> [String] {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        return try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT type, name, tbl_name, sql FROM sqlite_schema
                WHERE name NOT LIKE '\\_logship%' ESCAPE '\\' ORDER BY type, name
                """).map { row in "\(row[0] as String) \(row[1] as String) on \(row[2] as String): \((row[3] as String?) ?? "-")" }
        }
    }
}

// MARK: - Events

extension Event {
    /// "insert t", "update t", "delete t" or "ddl": the shape of a transaction at a glance.
    var label: String {
        switch self {
        case .insert(let t, _, _): return "insert \(t.name)"
        case .update(let t, _, _, _, _): return "update \(t.name)"
        case .delete(let t, _, _): return "delete \(t.name)"
        case .ddl: return "ddl"
        }
    }

    var ddlSQL: String? { if case .ddl(let sql) = self { return sql } else { return nil } }

    /// The after image of an insert or update.
    var newValues: [Value]? {
        switch self {
        case .insert(_, _, let v): return v
        case .update(_, _, _, _, let v): return v
        default: return nil
        }
    }

    /// The before image of an update or delete.
    var oldValues: [Value]? {
        switch self {
        case .update(_, _, _, let v, _): return v
        case .delete(_, _, let v): return v
        default: return nil
        }
    }
}

extension Transaction {
    var labels: [String] { events.map(\.label) }
}

// MARK: - Errors

/// Runs `body`, expecting a `MasterError` of `kind` whose description contains every string
/// of `containing`; returns it for further checks (Tests/Support `expectError`).
@discardableResult
func expectMasterError<T>(_ kind: MasterError.Kind, containing: [String] = [], _ context: @autoclosure () -> String = "",
                          file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) -> MasterError? {
    expectError(kind, at: \MasterError.kind, containing: containing, context(), file: file, line: line, body)
}

// MARK: - Files

func writeFile(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// The committed length of a segment file (header and complete transactions).
func dataLength(_ path: String) throws -> Int64 {
    let reader = try SegmentReader(path: path)
    try reader.verifyAll(decode: false)
    return reader.offset
}

func fileSize(_ path: String) throws -> Int64 {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1
}

/// `count` seeded pseudo-random bytes.
func randomBytes(_ count: Int, _ rng: inout SeededRandom) -> Data {
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        let words = count / 8
        for i in 0..<words { raw.storeBytes(of: rng.next(), toByteOffset: i * 8, as: UInt64.self) }
        for i in (words * 8)..<count { raw[i] = UInt8(truncatingIfNeeded: rng.next()) }
    }
    return data
}
