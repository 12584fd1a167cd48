import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import ReplicaStore
import XCTest

/// The store is readable while `replica-apply` runs (WAL): a reader that reads the position and
/// every table in one read transaction always sees exactly the master's state at the position
/// it read (never half a source transaction, never half a batch), and a long read does not
/// stall apply.
final class ConcurrentReadTests: XCTestCase {
    private func startApply(_ f: ReplicaFixture, batch: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.path("replica-apply"))
        process.arguments = [f.replicaPath, "--batch", "\(batch)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// A read-only pool, as a report opens a store: each `read` is one deferred transaction
    /// (one WAL snapshot), and GRDB forgets its schema cache between reads.
    private func readPool(_ f: ReplicaFixture) throws -> DatabasePool {
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: f.storePath) && Date() < deadline { usleep(5_000) }
        return try DatabasePool(path: f.storePath, configuration: ReplicaDirectory.storeConfiguration(readonly: true))
    }

    /// The applied LSN in plain SQL (the position table appears with the first batch).
    private func lsn(_ db: Database) throws -> UInt64 {
        guard try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema WHERE name = '_logship_position'") == 1 else { return 0 }
        return UInt64(try Int64.fetchOne(db, sql: "SELECT lsn FROM _logship_position") ?? 0)
    }

    func testEveryReadSeesTheMastersStateAtThePositionItRead() throws {
        let f = try ReplicaFixture("concurrent-read")
        try f.runWorkload(1200, schemaChanges: true)
        try f.shipAll()
        let process = try startApply(f, batch: 4)
        let queue = try readPool(f)
        var observations: [(lsn: UInt64, digest: [String: String])] = []
        while process.isRunning {
            observations.append(try queue.read { db in (try lsn(db), try TableDigest.digest(db)) })
        }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        try queue.close()
        let last = f.master.lastLSN
        let during = observations.filter { $0.lsn > 0 && $0.lsn < last }
        let distinct = Array(Set(during.map(\.lsn))).sorted()
        XCTAssertGreaterThanOrEqual(distinct.count, 3, "reads must overlap apply to prove anything (\(observations.count) reads); \(f.context)")
        // Check a spread of the positions seen (each check is a replay of the master's binlog).
        let step = max(1, distinct.count / 8)
        let checked = stride(from: 0, to: distinct.count, by: step).map { distinct[$0] }
        for lsn in checked {
            let expected = try f.master.digest(at: lsn, scratch: f.dir)
            for o in during where o.lsn == lsn {
                XCTAssertEqual(o.digest, expected, "a reader at LSN \(lsn) saw other tables than the master's at that LSN; \(f.context)")
            }
        }
        try f.assertStore(at: last)
        print("ConcurrentReadTests: \(observations.count) reads during apply, \(distinct.count) distinct positions, \(checked.count) checked against the oracle; \(f.context)")
    }

    func testALongReadTransactionKeepsItsSnapshotAndDoesNotStallApply() throws {
        let f = try ReplicaFixture("long-read")
        try f.runWorkload(1500)
        try f.shipAll(upToLSN: 500)
        try f.apply()
        let before = try f.storeLSN()
        try f.shipAll()
        let reader = try readPool(f)
        try reader.read { db in
            let start = try lsn(db)
            XCTAssertEqual(start, before)
            let seen = try TableDigest.digest(db)
            XCTAssertEqual(seen, try f.master.digest(at: start, scratch: f.dir))
            // While this read transaction stays open, apply runs to the end.
            let process = try startApply(f, batch: 50)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "apply must not wait for the reader")
            XCTAssertEqual(try f.storeLSN(), f.master.lastLSN, "another connection sees the applied transactions")
            XCTAssertEqual(try lsn(db), start, "the open read transaction keeps its snapshot")
            XCTAssertEqual(try TableDigest.digest(db), seen)
        }
        try reader.close()
        try f.assertStore(at: f.master.lastLSN)
    }
}
