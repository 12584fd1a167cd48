import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// A replica's store changed behind replica-apply's back (issue 12): one value updated, one row
/// deleted, one row inserted. The master's later transactions that do not touch the changed row
/// apply; the first event that touches it stops apply with exit 4 naming LSN, table, key and
/// (for a changed value) the column with its stored and logged values, and a rerun stops there
/// again. The before-image check catches a changed value even when the master changes another
/// column of the row.
///
/// Where the stop is expected is computed by `expectedStop`: the first LSN that touches the
/// row. A check that also stops at a content-digest marker adds "or the first marker after the
/// tampering, whichever comes first" there.
final class ReplicaTamperTests: XCTestCase {
    /// One way of changing the store, and the master's transactions after it.
    private struct Tamper {
        var name: String
        /// Run on the replica's store, behind replica-apply's back.
        var store: String
        /// Master transactions that leave the changed row alone.
        var untouched: String
        /// The master transaction that touches it.
        var touching: String
        /// What the failure names besides LSN, table and key.
        var naming: [String]
        var table: String
        var key: String
    }

    private let tampers = [
        Tamper(name: "update one value", store: "UPDATE accounts SET balance = balance + 1 WHERE id = 7",
               untouched: "UPDATE accounts SET balance = 0 WHERE id = 8; INSERT INTO accounts (id, owner, balance) VALUES (50, 'n', 1);",
               touching: "UPDATE accounts SET owner = 'renamed' WHERE id = 7;",
               naming: ["differs from the master's before-image", "balance: stored 71, logged 70"], table: "accounts", key: "id=7"),
        Tamper(name: "update one value of a WITHOUT ROWID table", store: "UPDATE tags SET uses = 99 WHERE name = 'c'",
               untouched: "UPDATE tags SET uses = 0 WHERE name = 'd';",
               touching: "DELETE FROM tags WHERE name = 'c';",
               naming: ["DELETE of a row that differs", "uses: stored 99, logged 2"], table: "tags", key: "name='c'"),
        Tamper(name: "delete one row", store: "DELETE FROM accounts WHERE id = 9",
               untouched: "DELETE FROM accounts WHERE id = 10;",
               touching: "UPDATE accounts SET balance = balance + 5 WHERE id = 9;",
               naming: ["UPDATE of a row that is not there"], table: "accounts", key: "id=9"),
        Tamper(name: "insert one row", store: "INSERT INTO accounts (id, owner, balance) VALUES (40, 'extra', 1)",
               untouched: "INSERT INTO accounts (id, owner, balance) VALUES (41, 'master', 2);",
               touching: "INSERT INTO accounts (id, owner, balance) VALUES (40, 'master', 2);",
               naming: ["INSERT of a key that is already there"], table: "accounts", key: "id=40"),
    ]

    func testTheStoreChangedBehindApplysBackStopsApplyAtTheFirstEventTouchingTheRow() throws {
        for t in tampers {
            let f = try ReplicaCLIFixture("tamper")
            try f.seedAccountsAndTags()
            f.assertExit(try f.apply(), 0, t.name)
            let tampered = try f.storeLSN()

            let q = try DatabaseQueue(path: f.store)
            try q.write { db in try db.execute(sql: t.store) }
            try q.close()

            // Transactions that leave the row alone apply.
            let untouched = try f.master.exec(t.untouched)
            try f.master.rotate()
            try f.shipAll()
            f.assertExit(try f.apply(), 0, "\(t.name): transactions that do not touch the changed row")
            XCTAssertEqual(try f.storeLSN(), untouched.last!.lsn, t.name)

            // The first one that touches it stops apply, and a rerun stops there again.
            let touching = try f.master.exec(t.touching + "UPDATE accounts SET balance = 1 WHERE id = 1;")
            try f.master.rotate()
            try f.shipAll()
            let stop = expectedStop(touching: touching[0].lsn, after: tampered)
            for run in 0..<2 {
                f.assertExit(try f.apply(), 4, containing: ["LSN \(stop)", "table \(t.table)", "key \(t.key)"] + t.naming, "\(t.name), run \(run)")
                XCTAssertEqual(try f.storeLSN(), stop - 1, "\(t.name): the store stays at the transaction before")
            }
        }
    }

    /// The LSN apply must stop at: the first transaction touching the changed row.
    private func expectedStop(touching: UInt64, after tampered: UInt64) -> UInt64 { touching }
}
