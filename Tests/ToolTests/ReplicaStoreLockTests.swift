import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Another process holding the store's SQLite write lock (an analyst's long write transaction
/// in the sqlite3 shell, a program writing to store.db) is a busy store, exit 12, not an I/O
/// error; nothing is applied, and the next run continues once the lock is gone.
final class ReplicaStoreLockTests: XCTestCase {
    func testAWriteTransactionHeldOnTheStoreIsExit12ThenTheRerunApplies() throws {
        let f = try ReplicaCLIFixture("rcli-store-lock")
        try f.runWorkload(120)
        try f.shipAll()
        f.assertExit(try f.apply(), 0)
        let applied = f.master.lastLSN
        try f.runWorkload(60, schema: false)
        try f.shipAll()

        // A separate connection takes the write lock and keeps it while replica-apply runs.
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.allowsUnsafeTransactions = true   // the transaction stays open between accesses
        let analyst = try DatabaseQueue(path: f.store, configuration: config)
        try analyst.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let started = Date()
        let busy = try f.apply()
        let waited = Date().timeIntervalSince(started)
        f.assertExit(busy, 12, containing: ["busy", "unable to apply: store.db is locked by another process", "HINT:"], "store write-locked by another connection")
        XCTAssertFalse(busy.stderr.contains("i/o error"), busy.stderr)
        XCTAssertEqual(try f.storeLSN(), applied, "nothing is applied while the store is locked")
        XCTAssertLessThan(waited, 60, "it gives up after the store's busy timeout")

        try analyst.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        try analyst.close()
        f.assertExit(try f.apply(), 0, "the lock is gone")
        try f.assertStore(at: f.master.lastLSN)
    }
}
