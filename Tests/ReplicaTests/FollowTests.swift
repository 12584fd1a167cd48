import BinlogApply
import Foundation
import GRDB
import LogshipTestSupport
@testable import ReplicaStore
import XCTest

/// `Replica.follow`, the loop behind `replica-apply --follow`, used as a library: segments that
/// arrive while it waits are applied on a later pass, `shouldStop` ends it between passes, and
/// `--until-lsn` ends it when reached.
final class FollowTests: XCTestCase {
    func testFollowAppliesSegmentsThatArriveWhileItWaitsAndStopsWhenAsked() throws {
        let f = try ReplicaFixture("follow-library")
        try f.runWorkload(200)
        try f.shipAll()
        let r = try Replica.open(f.replicaPath)
        defer { r.close() }
        var options = Replica.ApplyOptions()
        var passes: [Replica.ApplyResult] = []
        var stop = false
        options.shouldStop = { stop }
        try r.follow(options, pollInterval: 0.25) { result in
            passes.append(result)
            switch passes.count {
            case 1:
                // More work arrives between two passes, as binlog-ship would bring it.
                try f.runWorkload(100, schema: false)
                try f.shipAll()
            case 2: stop = true
            default: XCTFail("a pass after shouldStop returned true; \(f.context)")
            }
        }
        XCTAssertEqual(passes.count, 2, f.context)
        XCTAssertGreaterThan(passes[0].transactions, 0)
        XCTAssertGreaterThan(passes[1].transactions, 0, "the second pass applies what arrived while the loop waited; \(f.context)")
        XCTAssertEqual(passes[1].toLSN, f.master.lastLSN)
        try f.assertStore(at: f.master.lastLSN)
    }

    /// `passInterval` with `passBatch` 1 (`replica-apply --follow --pass-interval 300ms
    /// --pass-batch 1`): a pass that applied something is followed by the next one no sooner
    /// than that, however often the inbox changes or the poll comes round. (Each pass here
    /// applies the segment shipped after the one before.)
    func testPassesStartAtLeastThePassIntervalApart() throws {
        let f = try ReplicaFixture("follow-pace")
        try f.runWorkload(50)
        try f.shipAll()
        let r = try Replica.open(f.replicaPath)
        defer { r.close() }
        var options = Replica.ApplyOptions()
        options.passInterval = 0.3
        options.passBatch = 1
        var starts: [Date] = []
        options.beforePass = { starts.append(Date()) }
        options.shouldStop = { starts.count >= 4 }
        var last: Replica.ApplyResult?
        // A poll every 20 ms would start a pass every 20 ms without the interval; a segment
        // shipped after each pass is a change the follower is woken for at once.
        try r.follow(options, pollInterval: 0.02) { result in
            last = result
            try f.runWorkload(10, schema: false)
            try f.shipAll()
        }
        XCTAssertGreaterThanOrEqual(starts.count, 4)
        for (a, b) in zip(starts, starts.dropFirst()) {
            XCTAssertGreaterThanOrEqual(b.timeIntervalSince(a), 0.3, "passes \(starts); \(f.context)")
        }
        XCTAssertNotNil(last)
    }

    /// A follower's passes reuse the statements they prepared. `applyAvailable` used to read
    /// the position through GRDB's read-only access, which switches PRAGMA query_only and so
    /// expires every statement of the connection: each pass prepared all of its statements
    /// again, about a third of its CPU (issue 15, `logship-bench apply-pass`).
    func testPassesReuseTheirPreparedStatements() throws {
        let f = try ReplicaFixture("follow-prepared")
        try f.runWorkload(30)
        // Five transactions of the same kinds each time, DML only: a random workload's first
        // insert into an AUTOINCREMENT table creates sqlite_sequence, a schema change that
        // rightly prepares every statement again.
        var id = 1_000_000
        func fiveTransactions() throws {
            id += 1
            _ = try f.master.exec("""
                INSERT INTO accounts (id, owner, balance) VALUES (\(id), 'a', 1);
                UPDATE accounts SET balance = balance + 1 WHERE id = \(id);
                INSERT INTO ledger (account, amount) VALUES (\(id), 5);
                INSERT INTO tags (name, uses) VALUES ('t\(id)', 1);
                DELETE FROM tags WHERE name = 't\(id)';
                """)
            try f.master.rotate()
            try f.shipAll()
        }
        let r = try Replica.open(f.replicaPath)
        defer { r.close() }
        var options = Replica.ApplyOptions()
        options.partialCursor = PartialCursor()
        // Two passes make every statement a pass needs (the first creates logship's tables).
        for _ in 0..<2 {
            _ = try r.applyAvailable(options)
            try fiveTransactions()
        }
        _ = try r.applyAvailable(options)
        let before = try r.queue.inDatabase { db in db.statementReprepares }
        for pass in 1...5 {
            try fiveTransactions()
            XCTAssertEqual(try r.applyAvailable(options).transactions, 5, "pass \(pass); \(f.context)")
        }
        let after = try r.queue.inDatabase { db in db.statementReprepares }
        XCTAssertEqual(after, before, "statements prepared again in 5 passes of DML only; \(f.context)")
        try f.assertStore(at: f.master.lastLSN)
    }

    func testFollowEndsWhenItReachesUntilLSN() throws {
        let f = try ReplicaFixture("follow-until")
        try f.runWorkload(200)
        try f.shipAll()
        let r = try Replica.open(f.replicaPath)
        defer { r.close() }
        var passes = 0
        try r.follow(Replica.ApplyOptions(untilLSN: 7), pollInterval: 0.25) { result in
            passes += 1
            XCTAssertEqual(result.stop, .untilLSN)
        }
        XCTAssertEqual(passes, 1)
        try f.assertStore(at: 7)
    }
}
