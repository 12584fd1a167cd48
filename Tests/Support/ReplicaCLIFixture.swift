import BinlogFormat
import Foundation
import GRDB
import XCTest

/// A master and a replica driven only through the built tools (`binlog-writer`,
/// `replica-apply`), with segments "shipped" by copy + rename, and the checks the end-to-end
/// replica tests make: the store's position read with plain SQL, and its tables against an
/// independent replay of the master's binlog up to that position.
public final class ReplicaCLIFixture: ReplicaWorkloadFixture {
    public let dir: TestDirectory
    public let master: ToolMaster
    public let seed: UInt64
    public var workload: ReplicaWorkload
    public private(set) var replica: String

    public init(_ label: String, segmentSize: String = "16KiB", seed: UInt64? = nil) throws {
        dir = TestDirectory(label)
        master = try ToolMaster(dir, segmentSize: segmentSize)
        let s = SeededRandom(seed: seed).seed
        self.seed = s
        workload = ReplicaWorkload(seed: s)
        replica = ""
        replica = try newReplica("replica")
    }

    public var inbox: String { replica + "/inbox" }
    public var store: String { replica + "/store.db" }
    public var context: String { "seed \(seed) (rerun with LOGSHIP_SEED=\(seed))" }

    /// Creates another replica directory with `replica-apply init` and makes it the current one.
    @discardableResult
    public func newReplica(_ name: String) throws -> String {
        let path = dir.sub(name)
        let r = try ToolRunner.run("replica-apply", ["init", path])
        guard r.status == 0 else { throw ToolMaster.Failure(description: "replica-apply init: \(r.status) \(r.stderr)") }
        replica = path
        return path
    }

    @discardableResult
    public func shipAll(upToLSN: UInt64? = nil) throws -> [String] { try Shipping.shipAll(master, to: inbox, upToLSN: upToLSN) }

    /// `replica-apply <args>`.
    @discardableResult
    public func tool(_ args: [String]) throws -> ToolRunner.Result { try ToolRunner.run("replica-apply", args) }

    /// `replica-apply <replica> <extra>` (the default subcommand, apply).
    @discardableResult
    public func apply(_ extra: String...) throws -> ToolRunner.Result { try tool([replica] + extra) }

    /// The workload schema with 30 accounts (ids 1…30, balance id × 10) and 10 tags (a…j),
    /// sealed and shipped: the small, known store the divergence tests change behind apply's back.
    public func seedAccountsAndTags() throws {
        try master.exec(ReplicaWorkload.schema + """
            WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 30)
              INSERT INTO accounts (id, owner, balance) SELECT k, 'owner ' || k, k * 10 FROM n;
            WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 9)
              INSERT INTO tags (name, uses) SELECT char(97 + k), k FROM n;
            """)
        try master.rotate()
        try shipAll()
    }

    public func storeLSN(_ path: String? = nil) throws -> UInt64 { try appliedLSN(ofStore: path ?? store) }

    /// Asserts the store is at `lsn` and holds exactly the master's tables at `lsn`.
    public func assertStore(at lsn: UInt64, _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try storeLSN(), lsn, "store position. \(message()); \(context)", file: file, line: line)
        let expected = try master.digest(at: lsn, scratch: dir)
        XCTAssertEqual(try TableDigest.digest(path: store), expected, "store tables differ from the master's at LSN \(lsn). \(message()); \(context)",
                       file: file, line: line)
    }

    /// Asserts a tool run's exit status and that stderr names every string of `containing`.
    public func assertExit(_ r: ToolRunner.Result, _ status: Int32, containing: [String] = [], _ message: @autoclosure () -> String = "",
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "exit status. \(message()); stdout: \(r.stdout) stderr: \(r.stderr); \(context)", file: file, line: line)
        for s in containing {
            XCTAssertTrue(r.stderr.contains(s), "stderr does not mention \"\(s)\". \(message()): \(r.stderr); \(context)", file: file, line: line)
        }
    }
}
