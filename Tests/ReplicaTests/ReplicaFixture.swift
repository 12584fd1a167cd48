import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import ReplicaStore
import XCTest

/// A master (driven through the built `binlog-writer`) and one replica fed by copying its sealed
/// segments into the inbox, with the checks every replica test makes: the store's position,
/// read with plain SQL, and its tables against the master's at that position (TableDigest of a
/// fresh replay of the master's binlog).
final class ReplicaFixture: ReplicaWorkloadFixture {
    let dir: TestDirectory
    let master: ToolMaster
    let replicaPath: String
    let seed: UInt64
    var workload: ReplicaWorkload

    init(_ label: String, segmentSize: String = "16KiB", seed: UInt64? = nil) throws {
        dir = TestDirectory(label)
        master = try ToolMaster(dir, segmentSize: segmentSize)
        replicaPath = dir.sub("replica")
        try ReplicaDirectory.initialize(at: replicaPath)
        let s = SeededRandom(seed: seed).seed
        self.seed = s
        workload = ReplicaWorkload(seed: s)
    }

    var inbox: String { replicaPath + "/inbox" }
    var storePath: String { replicaPath + "/store.db" }
    /// Rerun hint for failure messages.
    var context: String { "seed \(seed) (rerun with LOGSHIP_SEED=\(seed))" }

    @discardableResult
    func shipAll(upToLSN: UInt64? = nil) throws -> [String] { try Shipping.shipAll(master, to: inbox, upToLSN: upToLSN) }

    /// Opens the replica, applies, closes (as one `replica-apply` run does).
    @discardableResult
    func apply(_ options: Replica.ApplyOptions = Replica.ApplyOptions()) throws -> Replica.ApplyResult {
        let r = try Replica.open(replicaPath)
        defer { r.close() }
        return try r.applyAvailable(options)
    }

    /// The applied LSN, read with plain SQL (0 when the store or its position does not exist yet).
    func storeLSN() throws -> UInt64 {
        guard FileManager.default.fileExists(atPath: storePath) else { return 0 }
        return try Self.readLSN(storePath)
    }

    static func readLSN(_ path: String) throws -> UInt64 { try appliedLSN(ofStore: path) }

    /// Asserts the store is at `lsn` and its tables equal the master's at `lsn`.
    func assertStore(at lsn: UInt64, _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try storeLSN(), lsn, "store position. \(message()); \(context)", file: file, line: line)
        try assertDatabase(storePath, equalsMasterAt: lsn, message(), file: file, line: line)
    }

    /// Asserts the database at `path` holds exactly the master's tables at `lsn`.
    func assertDatabase(_ path: String, equalsMasterAt lsn: UInt64, _ message: @autoclosure () -> String = "",
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try master.digest(at: lsn, scratch: dir)
        XCTAssertEqual(try TableDigest.digest(path: path), expected, "tables differ from the master's at LSN \(lsn). \(message()); \(context)",
                       file: file, line: line)
    }
}

/// Runs `body` expecting a `ReplicaError` of `kind` whose description names every string of
/// `containing`; returns it (Tests/Support `expectError`).
@discardableResult
func expectReplicaError<T>(_ kind: ReplicaError.Kind, containing: [String] = [], _ context: @autoclosure () -> String = "",
                           file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) -> ReplicaError? {
    expectError(kind, at: \ReplicaError.kind, containing: containing, context(), file: file, line: line, body)
}

/// Runs SQL on a store behind replica-apply's back (an operator with the sqlite3 shell).
func tamper(_ storePath: String, _ sql: String) throws {
    let q = try DatabaseQueue(path: storePath)
    defer { try? q.close() }
    try q.write { db in try db.execute(sql: sql) }
}
