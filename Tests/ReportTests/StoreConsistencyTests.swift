import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem
import LogshipTestSupport
@testable import Reports
import XCTest

/// Store selection over time and across stores: a position that appears after the report
/// opened the store is seen, and stores of different masters are never compared by LSN.
final class StoreConsistencyTests: XCTestCase {
    private func replicaDirectory(_ dir: TestDirectory, _ name: String) throws -> String {
        let path = dir.sub(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: path + "/replica.json"))
        return path
    }

    /// replica-apply creates store.db when it opens it and the position table in its first
    /// batch; a report waiting with --min-lsn may open the store in between. The connection it
    /// keeps open must still see the table once it is committed.
    func testAPositionTableCreatedAfterTheReportOpenedTheStoreIsSeen() throws {
        let dir = TestDirectory("select-late")
        let r = try replicaDirectory(dir, "r")
        let writer = try DatabaseQueue(path: r + "/store.db")
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try writer.write { db in try db.execute(sql: try FixtureStore.sampleSchema()) }

        // The same connection, before and after: first no position, then the one committed.
        let store = try ReportStore(path: r, allowMaster: false)
        XCTAssertThrowsError(try store.freshness()) { XCTAssertEqual(($0 as? ReportError)?.kind, .notFound, "\($0)") }
        try writer.write { db in
            try AppliedPosition.createTable(db, initial: AppliedPosition(sourceID: FixtureStore.sourceID, epoch: 1, lsn: 7,
                                                                         commitTime: microsecondsNow(), appliedAt: microsecondsNow()))
        }
        XCTAssertEqual(try store.freshness().lsn, 7, "the position table committed by another connection")

        // Through --min-lsn: the waiting report opened the store before the position existed.
        let s = try replicaDirectory(dir, "s")
        let second = try DatabaseQueue(path: s + "/store.db")
        try second.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try second.write { db in try db.execute(sql: try FixtureStore.sampleSchema()) }
        let applied = expectation(description: "first batch committed")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
            try? second.write { db in
                try AppliedPosition.createTable(db, initial: AppliedPosition(sourceID: FixtureStore.sourceID, epoch: 1, lsn: 3,
                                                                             commitTime: microsecondsNow(), appliedAt: microsecondsNow()))
            }
            applied.fulfill()
        }
        let choice = try StoreSelection.choose(paths: [s], allowMaster: false, maxLag: nil, minLSN: 3, wait: 10)
        XCTAssertEqual(choice.freshness.lsn, 3)
        wait(for: [applied], timeout: 5)
        try writer.close()
        try second.close()
    }

    /// Two stores that follow different masters have LSNs that mean nothing to each other:
    /// picking the higher one would report on whichever master happens to be busier.
    func testStoresOfDifferentMastersAreRefused() throws {
        let dir = TestDirectory("select-mixed")
        let a = try replicaDirectory(dir, "a"), b = try replicaDirectory(dir, "b"), c = try replicaDirectory(dir, "c")
        for (path, lsn) in [(a, UInt64(10)), (b, 20), (c, 15)] {
            try FixtureStore.create(at: path + "/store.db", lsn: lsn, commitTime: microsecondsNow(), wal: true)
        }
        let other = "0DD50000-0000-4000-8000-00000000000B"
        let q = try DatabaseQueue(path: b + "/store.db")
        try q.write { db in try db.execute(sql: "UPDATE _logship_position SET source_id = ?", arguments: [other]) }
        try q.close()

        XCTAssertEqual(try StoreSelection.choose(paths: [a, c], allowMaster: false, maxLag: nil, minLSN: nil, wait: 0).freshness.lsn, 15,
                       "replicas of one master: the highest LSN")
        for paths in [[a, b, c], [b, a], [c, b]] {
            XCTAssertThrowsError(try StoreSelection.choose(paths: paths, allowMaster: false, maxLag: nil, minLSN: nil, wait: 0), "\(paths)") { error in
                XCTAssertEqual((error as? ReportError)?.kind, .invalid, "\(error)")
                for s in ["different masters", b, other, FixtureStore.sourceID.uuidString] {
                    XCTAssertTrue("\(error)".contains(s), "\(s) missing from: \(error)")
                }
            }
        }
        // Also while waiting for --min-lsn: refused at once, not after --wait.
        let started = Date()
        XCTAssertThrowsError(try StoreSelection.choose(paths: [a, b], allowMaster: false, maxLag: nil, minLSN: 99, wait: 5))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)

        let cli = try ToolRunner.run("report", ["query", "--store", a, "--store", b, "SELECT 1"])
        XCTAssertEqual(cli.status, 64, "exit status; stderr: \(cli.stderr)")
        XCTAssertTrue(cli.stderr.contains("different masters"), cli.stderr)
        XCTAssertEqual(cli.stdout, "", "no report is written")
    }
}
