import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// Store selection over time: a position that appears after the report opened the store is seen.
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
}
