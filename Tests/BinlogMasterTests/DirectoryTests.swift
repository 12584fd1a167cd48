import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The data directory: creating one, finding one, and the one-writer lock.
final class DirectoryTests: XCTestCase {
    func testSecondOpenIsBusyAndNamesTheHolder() throws {
        let f = try MasterFixture("lock")
        try f.master.execute("CREATE TABLE t(x)")
        let started = Date()
        expectMasterError(.busy, containing: ["pid \(getpid())", "HINT"]) {
            try Master.open(f.path, options: Master.Options(lockTimeout: 0.2))
        }
        let waited = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(waited, 0.15, "open gave up before its timeout")
        XCTAssertLessThan(waited, 5, "open waited far longer than its timeout")
        // Another process is refused too (flock is per open file, so this is the real case).
        let other = try OpenProbe.open(f.path)
        XCTAssertEqual(other.result?.hasPrefix("error busy: "), true, "\(other)")
        XCTAssertEqual(other.result?.contains("(pid \(getpid()))"), true, "the child should name this process: \(other)")
        // The refused opens did not disturb the holder.
        XCTAssertEqual(try f.master.execute("INSERT INTO t VALUES (1)").map(\.lsn), [2])

        try f.master.close()
        // `close` releases the lock even while the closed object is still referenced.
        let second = try Master.open(f.path, options: Master.Options(lockTimeout: 0.2))
        withExtendedLifetime(f.master) {}
        XCTAssertEqual(second.lastLSN, 2)
        XCTAssertEqual(try second.execute("INSERT INTO t VALUES (2)").map(\.lsn), [3])
        try second.close()
    }

    func testLockIsReleasedWhenTheMasterGoesAway() throws {
        let f = try MasterFixture("lock-deinit")
        try f.master.close()
        do {
            let scoped = try Master.open(f.path, options: Master.Options(lockTimeout: 0.2))
            XCTAssertEqual(scoped.lastLSN, 0)
        }
        let again = try Master.open(f.path, options: Master.Options(lockTimeout: 0.2))
        try again.close()
    }

    func testInitializeRefusesAnythingThatIsNotAnEmptyDirectory() throws {
        let dir = TestDirectory("init")
        let occupied = dir.sub("occupied")
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        try writeFile(occupied + "/notes.txt", "keep me")
        expectMasterError(.exists, containing: ["not empty", "notes.txt"]) { try MasterDirectory.initialize(at: occupied) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: occupied), ["notes.txt"], "init touched a non-empty directory")

        let file = dir.sub("plain-file")
        try writeFile(file, "x")
        expectMasterError(.exists, containing: ["not a directory"]) { try MasterDirectory.initialize(at: file) }

        let master = dir.sub("master")
        let identity = try MasterDirectory.initialize(at: master, segmentSize: 1 << 20, syncBinlog: 1)
        XCTAssertEqual(identity.segmentSizeBytes, 1 << 20)
        expectMasterError(.exists) { try MasterDirectory.initialize(at: master) }
        // A fresh master opens with nothing to recover and LSN 0.
        let m = try Master.open(master)
        XCTAssertEqual(m.lastLSN, 0)
        XCTAssertTrue(m.recovery.isEmpty)
        XCTAssertEqual(m.identity, identity)
        XCTAssertEqual(m.segmentSize, 1 << 20)
        try m.close()

        let empty = dir.sub("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        XCTAssertNoThrow(try MasterDirectory.initialize(at: empty), "an existing empty directory is fine")
        expectMasterError(.invalid) { try MasterDirectory.initialize(at: dir.sub("small"), segmentSize: 100) }
    }

    func testOpeningSomethingThatIsNotAMasterIsNotFound() throws {
        let dir = TestDirectory("notfound")
        expectMasterError(.notFound, containing: ["no such directory", dir.sub("missing")]) {
            try Master.open(dir.sub("missing"))
        }
        let empty = dir.sub("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        expectMasterError(.notFound, containing: ["not a master data directory"]) { try Master.open(empty) }
    }
}
