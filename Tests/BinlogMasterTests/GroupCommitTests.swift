import BinlogApply
import BinlogFormat
@testable import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Group commit: transactions from many threads share one fsync and one SQLite COMMIT; each is
/// answered only once durable, LSNs stay gapless and in commit order, a failing one rolls back alone.
final class GroupCommitTests: XCTestCase {
    struct Planned: Error {}

    /// Waits (no deadline: the test fails by hanging, never by timing) until `n` threads wait to run a body.
    private func waitForWaiting(_ m: Master, _ n: Int) {
        while m.waitingMemberCount < n { usleep(500) }
    }

    private func tags(_ m: Master) throws -> Set<String> {
        Set(try m.read { db in try String.fetchAll(db, sql: "SELECT tag FROM t") })
    }

    /// Eight threads, one group: the first body holds the connection until the other seven wait,
    /// so the whole group shares one fsync; the third member throws and the fifth hits a
    /// constraint: they roll back alone, the others get consecutive LSNs.
    func testOneGroupOfEightWithFailingMembers() throws {
        let f = try MasterFixture("group-eight")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT UNIQUE NOT NULL)")
        try m.execute("INSERT INTO t(tag) VALUES ('taken')")
        let before = m.groupStatistics
        let results = Results()
        let first = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        spawn(group) {
            results.record(0, Result { try m.write { tx -> Int in
                try tx.execute("INSERT INTO t(tag) VALUES ('m0')")
                first.signal()
                self.waitForWaiting(m, 7)
                return 0
            } })
        }
        first.wait()
        for i in 1..<8 {
            spawn(group) {
                results.record(i, Result { try m.write { tx -> Int in
                    try tx.execute("INSERT INTO t(tag) VALUES (?)", arguments: [i == 5 ? "taken" : "m\(i)"])
                    try tx.execute("INSERT INTO t(tag) VALUES (?)", arguments: ["m\(i)-b"])
                    if i == 3 { throw Planned() }
                    return i
                } })
            }
        }
        group.wait()
        let all = results.all
        XCTAssertEqual(all.count, 8)
        var lsns: [UInt64] = []
        for (i, r) in all {
            switch r {
            case .success(let c):
                XCTAssertEqual(c.value, i)
                XCTAssertNotEqual(i, 3); XCTAssertNotEqual(i, 5)
                lsns.append(try XCTUnwrap(c.commit).lsn)
            case .failure(let e):
                XCTAssertTrue(i == 3 || i == 5, "member \(i) failed: \(e)")
                if i == 3 { XCTAssertTrue(e is Planned) }
                if i == 5 { XCTAssertEqual((e as? MasterError)?.kind, .sql, "\(e)") }
            }
        }
        XCTAssertEqual(lsns.sorted(), Array(3...8), "six members committed, gapless after LSN 2")
        XCTAssertEqual(m.groupStatistics.groups - before.groups, 1, "one fsync and one COMMIT for the eight")
        XCTAssertEqual(m.groupStatistics.transactions - before.transactions, 6)
        XCTAssertEqual(m.lastLSN, 8)
        let expected: Set<String> = ["taken", "m0", "m1", "m1-b", "m2", "m2-b", "m4", "m4-b", "m6", "m6-b", "m7", "m7-b"]
        XCTAssertEqual(try tags(m), expected)
        XCTAssertEqual(try f.transactions().map(\.lsn), Array(1...8))
        try f.assertReplayEquals()
        try f.reopen()
        XCTAssertEqual(f.master.lastLSN, 8)
        XCTAssertTrue(f.master.recovery.isEmpty)
    }

    /// A member that creates a table and then fails: its DDL is rolled back to its savepoint,
    /// the descriptors with it; a later member of the same group creates and uses another table,
    /// and the replay (which needs every descriptor in the binlog) matches.
    func testDDLInAGroupAndRolledBackDDL() throws {
        let f = try MasterFixture("group-ddl")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT UNIQUE NOT NULL)")
        let results = Results()
        let first = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        spawn(group) {
            results.record(0, Result { try m.write { tx -> Int in
                try tx.execute("CREATE TABLE a(x INTEGER PRIMARY KEY, y TEXT); INSERT INTO a(y) VALUES ('a0')")
                first.signal()
                self.waitForWaiting(m, 2)
                return 0
            } })
        }
        first.wait()
        spawn(group) {
            results.record(1, Result { try m.write { tx -> Int in
                try tx.execute("CREATE TABLE b(x INTEGER PRIMARY KEY); INSERT INTO b VALUES (1); INSERT INTO a(y) VALUES ('a1')")
                throw Planned()
            } })
        }
        spawn(group) {
            results.record(2, Result { try m.write { tx -> Int in
                try tx.execute("CREATE TABLE c(x INTEGER PRIMARY KEY, z BLOB); INSERT INTO c VALUES (1, x'00ff'); INSERT INTO a(y) VALUES ('a2')")
                return 2
            } })
        }
        group.wait()
        let all = Dictionary(uniqueKeysWithValues: results.all)
        XCTAssertNotNil(try all[0]?.get().commit)
        XCTAssertThrowsError(try all[1]?.get())
        XCTAssertNotNil(try all[2]?.get().commit)
        XCTAssertEqual(m.lastLSN, 3)
        let names = try m.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('a', 'b', 'c') ORDER BY name") }
        XCTAssertEqual(names, ["a", "c"])
        XCTAssertEqual(try m.read { db in try String.fetchAll(db, sql: "SELECT y FROM a ORDER BY x") }, ["a0", "a2"])
        try m.execute("INSERT INTO c VALUES (2, NULL)")   // the descriptors are the schema's
        try f.assertReplayEquals()
    }

    /// Many threads, seeded: random transactions (some throwing, some violating a constraint,
    /// some changing nothing), with `execute`, `read` and `rotate` from other threads in between.
    /// Every acknowledged transaction is in the database with all its rows and no failed one is;
    /// LSNs are 1…N without a gap, each acknowledged once; the binlog replays into the same rows.
    func testManyThreadsSeeded() throws {
        let seed = suiteRandom(0x6_0C0_11).seed
        let f = try MasterFixture("group-many", options: Master.Options(segmentSize: 64 << 10))
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT UNIQUE NOT NULL, n INTEGER, pad BLOB); CREATE TABLE u(k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        try m.execute("WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 50) INSERT INTO u SELECT k, 0 FROM n")
        let threads = 8, perThread = 60
        let log = Results()
        let ok = Locked<[(tag: String, rows: Int, lsn: UInt64?)]>([])
        let failedTags = Locked<[String]>([])
        let group = DispatchGroup()
        for th in 0..<threads {
            spawn(group) {
                var rng = SeededRandom(seed: seed &+ UInt64(th) &* 0x9E37_79B9)
                for i in 0..<perThread {
                    let tag = "th\(th)-\(i)"
                    let rows = Int.random(in: 1...3, using: &rng)
                    let fate = Int.random(in: 0..<10, using: &rng)
                    let other = Int.random(in: 0..<threads, using: &rng)
                    do {
                        let c = try m.write { tx -> Int in
                            if fate == 9 { _ = try Int.fetchOne(tx.database, sql: "SELECT count(*) FROM t"); return 0 }   // reads only
                            for r in 0..<rows {
                                try tx.execute("INSERT INTO t(tag, n, pad) VALUES (?, ?, randomblob(?))", arguments: ["\(tag)#\(r)", r, r * 40])
                            }
                            try tx.execute("UPDATE u SET v = v + 1 WHERE k = ?", arguments: [i % 50 + 1])
                            if fate == 7 { throw Planned() }
                            // A tag another thread may already have taken: the constraint fails sometimes.
                            if fate == 8 { try tx.execute("INSERT INTO t(tag, n) VALUES (?, 0)", arguments: ["shared-\(other)-\(i % 3)"]) }
                            return rows
                        }
                        ok.mutate { $0.append((tag, c.value, c.commit?.lsn)) }
                    } catch {
                        if !(error is Planned), (error as? MasterError)?.kind != .sql { log.record(-1, .failure(error)) }
                        failedTags.mutate { $0.append(tag) }
                    }
                    if th == 0 && i % 20 == 10 {
                        do { try m.execute("UPDATE u SET v = v WHERE k = 1"); _ = try m.rotate() } catch { log.record(-2, .failure(error)) }
                    }
                }
            }
        }
        group.wait()
        XCTAssertTrue(log.all.isEmpty, "unexpected errors: \(log.all) (seed \(seed))")
        let acknowledged = ok.value.compactMap(\.lsn)
        XCTAssertEqual(Set(acknowledged).count, acknowledged.count, "an LSN acknowledged twice (seed \(seed))")
        let binlogLSNs = try f.transactions().map(\.lsn)
        XCTAssertEqual(binlogLSNs, Array(1...m.lastLSN), "seed \(seed)")
        XCTAssertTrue(Set(acknowledged).isSubset(of: Set(binlogLSNs)), "seed \(seed)")
        let stored = try tags(m)
        for entry in ok.value where entry.lsn != nil {
            for r in 0..<entry.rows { XCTAssertTrue(stored.contains("\(entry.tag)#\(r)"), "\(entry.tag)#\(r) acknowledged but absent (seed \(seed))") }
        }
        for tag in failedTags.value {
            XCTAssertFalse(stored.contains("\(tag)#0"), "\(tag) failed but its row is there (seed \(seed))")
        }
        XCTAssertEqual(ok.value.count + failedTags.value.count, threads * perThread)
        let stats = m.groupStatistics
        print("group commit: \(stats.transactions) transactions in \(stats.groups) groups (seed \(seed))")
        try f.assertReplayEquals("seed \(seed)")
        try f.reopen()
        XCTAssertTrue(f.master.recovery.isEmpty, "seed \(seed)")
    }

    /// The async variants, from a task group: same contract.
    func testAsyncWriteFromTasks() async throws {
        let f = try MasterFixture("group-async")
        let m = f.master
        try await m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT UNIQUE NOT NULL)")
        let lsns = try await withThrowingTaskGroup(of: UInt64?.self) { tasks in
            for i in 0..<40 {
                tasks.addTask {
                    let c = try await m.write { tx -> String in
                        try tx.execute("INSERT INTO t(tag) VALUES (?)", arguments: ["a\(i)"])
                        return "a\(i)"
                    }
                    XCTAssertEqual(c.value, "a\(i)")
                    return c.commit?.lsn
                }
            }
            var out: [UInt64] = []
            for try await l in tasks { if let l { out.append(l) } }
            return out
        }
        XCTAssertEqual(lsns.sorted(), Array(2...41))
        let info = try await m.transaction { tx in try tx.execute("DELETE FROM t WHERE tag = 'a0'") }
        XCTAssertEqual(info?.lsn, 42)
        try f.assertReplayEquals()
    }

    /// A transaction inside a transaction of the same master on the same thread is refused
    /// (it would wait for itself), as is `execute`; the outer one still commits.
    func testNestedCallsAreRefused() throws {
        let f = try MasterFixture("group-nested")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        let info = try m.transaction { tx in
            try tx.execute("INSERT INTO t VALUES (1)")
            XCTAssertThrowsError(try m.transaction { _ in }) { XCTAssertEqual(($0 as? MasterError)?.kind, .invalid) }
            XCTAssertThrowsError(try m.execute("INSERT INTO t VALUES (2)")) { XCTAssertEqual(($0 as? MasterError)?.kind, .invalid) }
        }
        XCTAssertEqual(info?.lsn, 2)
        XCTAssertEqual(try m.read { db in try Int.fetchAll(db, sql: "SELECT id FROM t") }, [1])
    }
}

/// Runs `body` on a thread of its own (GCD's pool grows slowly when its threads block).
private func spawn(_ group: DispatchGroup, _ body: @escaping () -> Void) {
    group.enter()
    // nonisolated(unsafe): the bodies share the Master (Sendable), lock-guarded boxes and
    // semaphores; the test reads what they did only after `group.wait()`.
    nonisolated(unsafe) let body = body
    Thread { body(); group.leave() }.start()
}

/// Results of concurrent calls, by caller index.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(Int, Result<Master.Committed<Int>, Error>)] = []
    func record(_ i: Int, _ r: Result<Master.Committed<Int>, Error>) { lock.lock(); items.append((i, r)); lock.unlock() }
    var all: [(Int, Result<Master.Committed<Int>, Error>)] { lock.lock(); defer { lock.unlock() }; return items }
}

private final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var item: T
    init(_ v: T) { item = v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&item); lock.unlock() }
    var value: T { lock.lock(); defer { lock.unlock() }; return item }
}
