import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The replay driver on its own (issue 18), fed by a fake source: batches and their positions,
/// the cut at an epoch boundary, rollback of a failed batch, the stop conditions, a reading
/// error, a gap, and the observer seam committing with the rows.
final class ReplayDriverTests: XCTestCase {
    static let source = UUID(uuidString: "00000000-0000-0000-0000-0000000000AB")!
    static let table = TableDescriptor(name: "t", columns: [ColumnDescriptor(name: "v", declaredType: "INTEGER")])

    /// Transactions in order; `failure` is thrown instead of the transaction at that index.
    struct FakeSource: ReplaySource {
        var items: [ReplayItem<UInt64>]
        var failure: (index: Int, error: Error)?
        private(set) var index = 0

        init(_ items: [ReplayItem<UInt64>], failure: (index: Int, error: Error)? = nil) {
            self.items = items
            self.failure = failure
        }

        mutating func next() throws -> ReplayItem<UInt64>? {
            defer { index += 1 }
            if let failure, failure.index == index { throw failure.error }
            return index < items.count ? items[index] : nil
        }
    }

    struct ReadFailure: Error, Equatable {}

    /// Records what the driver tells it, and writes the LSN of every batch it commits into
    /// `seen` in the batch's own transaction.
    final class Recorder: ReplayObserver {
        var rows: [(lsn: UInt64, before: [Value]?, after: [Value]?)] = []
        var schema: [String] = []
        var commits: [(lsn: UInt64, position: AppliedPosition?)] = []
        var rollbacks = 0

        func schemaChanged(_ sql: String, lsn: UInt64, in db: Database) throws { schema.append(sql) }
        func rowChanged(_ change: RowChange, lsn: UInt64, in db: Database) throws {
            XCTAssertEqual(change.table, ReplayDriverTests.table)
            rows.append((lsn, change.before, change.after))
        }
        func batchWillCommit(through lsn: UInt64, in db: Database) throws {
            commits.append((lsn, try AppliedPosition.read(db)))
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS seen (lsn INTEGER)")
            try db.execute(sql: "INSERT INTO seen VALUES (?)", arguments: [Int64(lsn)])
        }
        func batchRolledBack() { rollbacks += 1 }
    }

    /// LSN n inserts row n with value 10n at commit time 1000n, in `epochs[n - 1]` (default 1).
    static func inserts(_ lsns: ClosedRange<UInt64>, epochs: [UInt32] = []) -> [ReplayItem<UInt64>] {
        lsns.map { n in
            let tx = Transaction(lsn: n, commitTime: Int64(n) * 1000,
                                 events: [.insert(table: table, rowid: Int64(n), values: [.integer(Int64(n) * 10)])])
            let epoch = Int(n) <= epochs.count ? epochs[Int(n) - 1] : 1
            return ReplayItem(tx, sourceID: source, epoch: epoch, origin: n)
        }
    }

    private var dir: TestDirectory!
    private var queue: DatabaseQueue!

    override func setUpWithError() throws {
        dir = TestDirectory("replay-driver")
        var config = Configuration()
        config.foreignKeysEnabled = false
        queue = try DatabaseQueue(path: dir.sub("db.sqlite"), configuration: config)
        try queue.write { db in try db.execute(sql: "CREATE TABLE t (v INTEGER)") }
    }

    override func tearDownWithError() throws { try queue.close() }

    private func run(_ source: inout FakeSource, _ options: ReplayOptions, observers: [ReplayObserver] = [],
                     origins: ((UInt64) -> Void)? = nil) throws -> ReplayOutcome {
        let engine = ApplyEngine()
        defer { engine.reset() }
        return try queue.inDatabase { db in
            try ApplyEngine.prepareConnection(db)
            let driver = ReplayDriver<FakeSource>(engine: engine, options: options, observers: observers,
                                                  beforePosition: { origin, _ in origins?(origin) })
            return try driver.run(&source, in: db)
        }
    }

    private func state() throws -> (position: AppliedPosition?, rows: [Int64], seen: [Int64]) {
        try queue.read { db in
            (try AppliedPosition.read(db), try Int64.fetchAll(db, sql: "SELECT rowid FROM t ORDER BY rowid"),
             try db.tableExists("seen") ? try Int64.fetchAll(db, sql: "SELECT lsn FROM seen ORDER BY lsn") : [])
        }
    }

    func testBatchesCommitWithTheirPositionAndTheObserversWrites() throws {
        var source = FakeSource(Self.inserts(1...7))
        var options = ReplayOptions()
        options.batchTransactions = 3
        var progress: [UInt64] = []
        options.progress = { progress.append($0) }
        let recorder = Recorder()
        var origins: [UInt64] = []
        let outcome = try run(&source, options, observers: [recorder], origins: { origins.append($0) })
        XCTAssertEqual(progress, [3, 6, 7])
        XCTAssertEqual(origins, [3, 6, 7], "the origin handed back is the batch's last transaction's")
        XCTAssertEqual(outcome.transactions, 7)
        XCTAssertEqual(outcome.toLSN, 7)
        XCTAssertEqual(outcome.stop, .caughtUp)
        XCTAssertEqual(recorder.rows.map(\.lsn), Array(1...7))
        XCTAssertEqual(recorder.rows.map(\.after), (1...7).map { [Value.integer(Int64($0) * 10)] })
        XCTAssertTrue(recorder.rows.allSatisfy { $0.before == nil })
        // Before each batch's position: the position still says the previous batch.
        XCTAssertEqual(recorder.commits.map { $0.position?.lsn }, [0, 3, 6])
        let s = try state()
        XCTAssertEqual(s.position?.lsn, 7)
        XCTAssertEqual(s.position?.commitTime, 7000)
        XCTAssertEqual(s.position?.sourceID, Self.source)
        XCTAssertEqual(s.rows, Array(1...7))
        XCTAssertEqual(s.seen, [3, 6, 7])
    }

    func testABatchIsCutWhereTheEpochChangesAndEachPositionNamesItsEpoch() throws {
        var source = FakeSource(Self.inserts(1...6, epochs: [1, 1, 2, 2, 2, 3]))
        var options = ReplayOptions()
        options.batchTransactions = 100
        let recorder = Recorder()
        _ = try run(&source, options, observers: [recorder])
        XCTAssertEqual(recorder.commits.map(\.lsn), [2, 5, 6])
        XCTAssertEqual(recorder.commits.map { $0.position?.epoch }, [1, 1, 2], "the position before each batch: its epoch is its LSN's")
        XCTAssertEqual(recorder.commits.map { $0.position?.lsn }, [0, 2, 5])
        XCTAssertEqual(try state().position?.epoch, 3)
    }

    func testEpochsAcrossRandomBatchSizesAlwaysMatchTheirLSN() throws {
        var random = SeededRandom()
        for _ in 0..<20 {
            try queue.write { db in try db.execute(sql: "DELETE FROM t; DROP TABLE IF EXISTS seen; DROP TABLE IF EXISTS _logship_position") }
            var epoch: UInt32 = 1
            let epochs: [UInt32] = (0..<40).map { _ in
                if Int.random(in: 0..<8, using: &random) == 0 { epoch += 1 }
                return epoch
            }
            var source = FakeSource(Self.inserts(1...40, epochs: epochs))
            var options = ReplayOptions()
            options.batchTransactions = Int.random(in: 1...12, using: &random)
            let recorder = Recorder()
            _ = try run(&source, options, observers: [recorder])
            var previous: UInt64 = 0
            for (lsn, _) in recorder.commits {
                let batch = Array(epochs[Int(previous)..<Int(lsn)])
                XCTAssertEqual(Set(batch).count, 1, "seed \(random.seed): batch \(previous + 1)…\(lsn) spans epochs \(batch)")
                XCTAssertLessThanOrEqual(batch.count, options.batchTransactions, "seed \(random.seed)")
                previous = lsn
            }
            XCTAssertEqual(previous, 40, "seed \(random.seed)")
            XCTAssertEqual(try state().position?.epoch, epochs[39], "seed \(random.seed)")
        }
    }

    func testAFailedTransactionRollsItsWholeBatchBackAndLeavesThePosition() throws {
        var items = Self.inserts(1...5)
        // LSN 4 inserts row 1 again: a divergence.
        items[3].transaction.events = [.insert(table: Self.table, rowid: 1, values: [.integer(99)])]
        var source = FakeSource(items)
        var options = ReplayOptions()
        options.batchTransactions = 2
        let recorder = Recorder()
        let outcome = try run(&source, options, observers: [recorder])
        XCTAssertEqual(outcome.failure?.lsn, 4)
        XCTAssertEqual((outcome.failure?.error as? ApplyError)?.kind, .divergence, "\(String(describing: outcome.failure?.error))")
        XCTAssertEqual(outcome.toLSN, 2)
        XCTAssertEqual(recorder.rollbacks, 1)
        let s = try state()
        XCTAssertEqual(s.position?.lsn, 2)
        XCTAssertEqual(s.rows, [1, 2], "LSN 3, in the failed batch, is rolled back with it")
        XCTAssertEqual(s.seen, [2])
    }

    func testAFailureInTheFirstBatchLeavesNoPositionTable() throws {
        var items = Self.inserts(1...2)
        items[1].transaction.events = [.delete(table: Self.table, rowid: 7, old: [.integer(70)])]
        var source = FakeSource(items)
        let outcome = try run(&source, ReplayOptions())
        XCTAssertEqual(outcome.failure?.lsn, 2)
        let s = try state()
        XCTAssertNil(s.position, "a database never claims a source without the rows")
        XCTAssertEqual(s.rows, [])
    }

    func testStopConditionsAreInclusiveAndSayWhichOneStopped() throws {
        var options = ReplayOptions(untilLSN: 3)
        var source = FakeSource(Self.inserts(1...6))
        var outcome = try run(&source, options)
        XCTAssertEqual(outcome.stop, .untilLSN)
        XCTAssertEqual(outcome.toLSN, 3)

        options = ReplayOptions(untilTime: 4999)
        source = FakeSource(Self.inserts(1...6))
        outcome = try run(&source, options)
        XCTAssertEqual(outcome.stop, .untilTime)
        XCTAssertEqual(outcome.fromLSN, 3)
        XCTAssertEqual(outcome.toLSN, 4)

        options = ReplayOptions(notAfter: 5000)
        source = FakeSource(Self.inserts(1...6))
        outcome = try run(&source, options)
        XCTAssertEqual(outcome.stop, .delay)
        XCTAssertEqual(outcome.toLSN, 5)

        options = ReplayOptions()
        var asked = 0
        options.shouldStop = { asked += 1; return asked > 0 }
        source = FakeSource(Self.inserts(1...6))
        outcome = try run(&source, options)
        XCTAssertEqual(outcome.stop, .interrupted)
        XCTAssertEqual(outcome.transactions, 0)
        XCTAssertEqual(outcome.toLSN, 5)

        options = ReplayOptions(untilLSN: 5)
        source = FakeSource(Self.inserts(1...6))
        outcome = try run(&source, options)
        XCTAssertEqual(outcome.stop, .untilLSN, "a position already at the bound applies nothing")
        XCTAssertEqual(outcome.transactions, 0)

        source = FakeSource(Self.inserts(1...6))
        outcome = try run(&source, ReplayOptions())
        XCTAssertEqual(outcome.stop, .caughtUp)
        XCTAssertEqual(outcome.transactions, 1, "transactions at or below the position are skipped")
        XCTAssertEqual(try state().rows, Array(1...6))
    }

    func testAReadingErrorCommitsWhatCameBeforeItThenIsThrown() throws {
        var source = FakeSource(Self.inserts(1...5), failure: (3, ReadFailure()))
        var options = ReplayOptions()
        options.batchTransactions = 10
        XCTAssertThrowsError(try run(&source, options)) { XCTAssertEqual($0 as? ReadFailure, ReadFailure()) }
        let s = try state()
        XCTAssertEqual(s.position?.lsn, 3)
        XCTAssertEqual(s.rows, [1, 2, 3])
    }

    func testAGapStopsAfterCommittingWhatCameBefore() throws {
        var items = Self.inserts(1...5)
        items.remove(at: 2)
        var source = FakeSource(items)
        XCTAssertThrowsError(try run(&source, ReplayOptions())) { error in
            guard case ReplayFault.gap(let after, let found) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(after, 2)
            XCTAssertEqual(found, 4)
        }
        XCTAssertEqual(try state().position?.lsn, 2)
    }

    func testAnObserverSeesUpdatesDeletesAndSchemaChangesInOrder() throws {
        let items = [
            ReplayItem(Transaction(lsn: 1, commitTime: 1, events: [.insert(table: Self.table, rowid: 1, values: [.integer(5)])]),
                       sourceID: Self.source, epoch: 1, origin: UInt64(1)),
            ReplayItem(Transaction(lsn: 2, commitTime: 2, events: [
                .update(table: Self.table, oldRowid: 1, newRowid: 1, old: [.integer(5)], new: [.integer(6)]),
                .ddl(sql: "CREATE TABLE u (x)"),
                .delete(table: Self.table, rowid: 1, old: [.integer(6)]),
            ]), sourceID: Self.source, epoch: 1, origin: UInt64(2)),
        ]
        var source = FakeSource(items)
        let recorder = Recorder()
        _ = try run(&source, ReplayOptions(), observers: [recorder])
        XCTAssertEqual(recorder.rows.map(\.lsn), [1, 2, 2])
        XCTAssertEqual(recorder.rows.map(\.before), [nil, [.integer(5)], [.integer(6)]])
        XCTAssertEqual(recorder.rows.map(\.after), [[.integer(5)], [.integer(6)], nil])
        XCTAssertEqual(recorder.schema, ["CREATE TABLE u (x)"])
    }
}
