import BinlogFormat
import Foundation
import GRDB
import LogshipSystem
import LogshipTestSupport
@testable import Reports
import XCTest

/// Which store a report reads: the freshest that meets --max-lag, waiting for --min-lsn,
/// passing over stores that cannot be read, refusing a master unless allowed.
final class StoreSelectionTests: XCTestCase {
    private func replica(_ dir: TestDirectory, _ name: String, lsn: UInt64, commitTime: Int64 = microsecondsNow()) throws -> String {
        let path = dir.sub(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: path + "/replica.json"))
        try FixtureStore.create(at: path + "/store.db", lsn: lsn, commitTime: commitTime, wal: true)
        return path
    }

    func testFreshestStoreWithinMaxLagIsUsed() throws {
        let dir = TestDirectory("select")
        let a = try replica(dir, "a", lsn: 10)
        let b = try replica(dir, "b", lsn: 20)
        let stale = try replica(dir, "stale", lsn: 30, commitTime: microsecondsNow() - 7_200_000_000)
        let choice = try StoreSelection.choose(paths: [a, stale, b], allowMaster: false, maxLag: 3600, minLSN: nil, wait: 0)
        XCTAssertEqual(choice.freshness.lsn, 20)
        XCTAssertEqual(choice.store.path, b + "/store.db")
        XCTAssertTrue(choice.notes.contains { $0.contains(a) && $0.contains("LSN 10") }, "\(choice.notes)")
        XCTAssertTrue(choice.notes.contains { $0.contains(stale) && $0.contains("LSN 30") && $0.contains("2.0 h") }, "\(choice.notes)")
        // Without --max-lag the highest LSN wins, stale or not.
        XCTAssertEqual(try StoreSelection.choose(paths: [a, stale, b], allowMaster: false, maxLag: nil, minLSN: nil, wait: 0).freshness.lsn, 30)
    }

    func testMissingAndDeadStoresArePassedOver() throws {
        let dir = TestDirectory("select")
        let good = try replica(dir, "good", lsn: 5)
        let garbage = dir.sub("garbage")
        try FileManager.default.createDirectory(atPath: garbage, withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: garbage + "/replica.json"))
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: garbage + "/store.db"))
        let empty = dir.sub("empty")          // initialised, nothing applied yet: no store.db
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: empty + "/replica.json"))
        let notLogship = try FixtureStore.create(at: dir.sub("plain.db"), schema: "CREATE TABLE x (y)")
        let queue = try DatabaseQueue(path: notLogship)
        try queue.write { db in try db.execute(sql: "DROP TABLE _logship_position") }
        try queue.close()
        let paths = [dir.sub("missing"), garbage, empty, notLogship, good]
        let choice = try StoreSelection.choose(paths: paths, allowMaster: false, maxLag: nil, minLSN: nil, wait: 0)
        XCTAssertEqual(choice.freshness.lsn, 5)
        for p in paths.dropLast() { XCTAssertTrue(choice.notes.contains { $0.hasPrefix("skipped \(p)") }, "\(p): \(choice.notes)") }
        XCTAssertThrowsError(try StoreSelection.choose(paths: Array(paths.dropLast()), allowMaster: false, maxLag: nil, minLSN: nil, wait: 0)) { error in
            XCTAssertEqual((error as? ReportError)?.kind, .notFound, "\(error)")
            XCTAssertTrue("\(error)".contains("no store could be opened"), "\(error)")
        }
    }

    func testMaxLagRefusesStaleData() throws {
        let dir = TestDirectory("select")
        let old = try replica(dir, "old", lsn: 9, commitTime: microsecondsNow() - 3_600_000_000)
        XCTAssertThrowsError(try StoreSelection.choose(paths: [old], allowMaster: false, maxLag: 600, minLSN: nil, wait: 0)) { error in
            XCTAssertEqual((error as? ReportError)?.kind, .stale)
            XCTAssertTrue("\(error)".contains("--max-lag 10m") || "\(error)".contains("--max-lag 600"), "\(error)")
            XCTAssertTrue("\(error)".contains("60 min old"), "\(error)")
        }
        XCTAssertEqual(try StoreSelection.choose(paths: [old], allowMaster: false, maxLag: 7200, minLSN: nil, wait: 0).freshness.lsn, 9)
    }

    /// Read-your-writes: the report waits while another connection (as replica-apply would)
    /// moves the store to the LSN asked for, and gives up with "stale" after --wait.
    func testMinLSNWaitsForTheStoreToCatchUp() throws {
        let dir = TestDirectory("select")
        let r = try replica(dir, "r", lsn: 10)
        let advanced = expectation(description: "advanced")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.6) {
            try? FixtureStore.advance(r + "/store.db", to: 11, commitTime: microsecondsNow())
            usleep(200_000)
            try? FixtureStore.advance(r + "/store.db", to: 12, commitTime: microsecondsNow())
            advanced.fulfill()
        }
        let start = Date()
        let choice = try StoreSelection.choose(paths: [r], allowMaster: false, maxLag: nil, minLSN: 12, wait: 10)
        XCTAssertEqual(choice.freshness.lsn, 12)
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.7, "it waited")
        wait(for: [advanced], timeout: 5)

        let timeout = Date()
        XCTAssertThrowsError(try StoreSelection.choose(paths: [r], allowMaster: false, maxLag: nil, minLSN: 13, wait: 0.5)) { error in
            XCTAssertEqual((error as? ReportError)?.kind, .stale)
            XCTAssertTrue("\(error)".contains("no store reached LSN 13"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(timeout), 3)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(timeout), 0.5)
    }

    /// A master is refused by default, whether named by its directory or its database file.
    func testMasterIsRefusedUnlessAllowed() throws {
        let dir = TestDirectory("select")
        let master = dir.sub("master")
        try FileManager.default.createDirectory(atPath: master, withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: master + "/master.json"))
        try FixtureStore.create(at: master + "/master.db", lsn: 3)
        let r = try replica(dir, "r", lsn: 1)
        for path in [master, master + "/", master + "/master.db", master + "/./master.db"] {
            XCTAssertThrowsError(try StoreSelection.choose(paths: [r, path], allowMaster: false, maxLag: nil, minLSN: nil, wait: 0), path) { error in
                XCTAssertEqual((error as? ReportError)?.kind, .refused, "\(path): \(error)")
                XCTAssertTrue("\(error)".contains("--allow-master"), "\(error)")
            }
        }
        let choice = try StoreSelection.choose(paths: [master], allowMaster: true, maxLag: nil, minLSN: nil, wait: 0)
        XCTAssertTrue(choice.store.isMaster && choice.freshness.isMaster)
        XCTAssertTrue(choice.freshness.line.hasSuffix("[MASTER]"))
    }
}
