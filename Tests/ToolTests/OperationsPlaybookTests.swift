import Foundation
import LogshipTestSupport
import XCTest

/// The repairs docs/OPERATIONS.md prescribes, done as written on the sample setup (master,
/// samples/ship.yml, two replicas): each breaks something, sees the documented exit code, follows
/// the playbook, and ends with the replica equal to the master (digest of master.db, no logship
/// code).
final class OperationsPlaybookTests: XCTestCase {
    private var setup: SampleSetup!
    private var config: String { setup.root + "/etc/logship/ship.yml" }
    private func inbox(_ name: String) -> String { setup.replica(name) + "/inbox" }

    override func setUpWithError() throws {
        setup = try SampleSetup("playbook")
        try setup.createMasterAndReplicas(segmentSize: "16KiB")
        try setup.tool("binlog-writer", ["rotate", setup.master])
    }

    @discardableResult
    private func expect(_ status: Int32, _ tool: String, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ToolRunner.Result {
        let r = try ToolRunner.run(tool, args)
        XCTAssertEqual(r.status, status, "\(tool) \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)", file: file, line: line)
        return r
    }

    private func segments(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".binlog") }.sorted()
    }

    private func assertEqualsMaster(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try appliedLSN(ofStore: setup.replica(name) + "/store.db"), try setup.masterLastLSN(), file: file, line: line)
        XCTAssertEqual(try TableDigest.digest(path: setup.replica(name) + "/store.db"), try TableDigest.digest(path: setup.master + "/master.db"),
                       file: file, line: line)
    }

    /// More transactions on the master, sealed, shipped to both inboxes (not applied).
    private func commitAndShip() throws {
        try setup.tool("binlog-writer", ["exec", setup.master, "UPDATE expenses SET note = 'checked ✓' WHERE id % 4 = 0",
                                         "--sync-binlog", "0"])
        try setup.tool("binlog-writer", ["exec", setup.master, "DELETE FROM expenses WHERE id % 9 = 0", "--sync-binlog", "0"])
        try setup.tool("binlog-writer", ["rotate", setup.master])
        try setup.tool("binlog-ship", ["--config", config, "--quiet"])
    }

    func testGapRepairedByForgetAndShipAgain() throws {
        try setup.tool("binlog-ship", ["--config", config, "--quiet"])
        let shipped = try segments(inbox("a"))
        XCTAssertGreaterThanOrEqual(shipped.count, 3)
        try FileManager.default.removeItem(atPath: inbox("a") + "/" + shipped[1])
        try expect(2, "replica-apply", [setup.replica("a")])
        let verify = try expect(2, "binlog-ship", ["verify", "--config", config, "a"])
        XCTAssertTrue(verify.stdout.contains("lost: " + shipped[1]), verify.stdout)
        try expect(0, "binlog-ship", ["forget", "--config", config, "a"])
        try expect(0, "binlog-ship", ["--config", config])
        try expect(0, "replica-apply", [setup.replica("a")])
        try assertEqualsMaster("a")
    }

    func testDamagedInboxSegmentMovedAsideAndShippedAgain() throws {
        try setup.tool("binlog-ship", ["--config", config, "--quiet"])
        try setup.tool("replica-apply", [setup.replica("a")])
        try commitAndShip()
        let damaged = inbox("a") + "/" + (try segments(inbox("a")).last!)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: damaged))
        try handle.seek(toOffset: 200)
        let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: 200)
        handle.write(Data([byte ^ 0xFF]))
        try handle.close()
        let apply = try expect(3, "replica-apply", [setup.replica("a")])
        XCTAssertTrue(apply.stderr.contains("offset"), apply.stderr)
        try expect(3, "binlog-ship", ["verify", "--config", config, "a"])
        try FileManager.default.createDirectory(atPath: setup.root + "/damaged", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: damaged, toPath: setup.root + "/damaged/" + (damaged as NSString).lastPathComponent)
        try expect(0, "binlog-ship", ["forget", "--config", config, "a"])
        try expect(0, "binlog-ship", ["--config", config, "--quiet"])
        try expect(0, "replica-apply", [setup.replica("a")])
        try assertEqualsMaster("a")
    }

    func testDivergedReplicaRebuiltFromAnotherReplicasSnapshot() throws {
        try setup.tool("binlog-ship", ["--config", config, "--quiet"])
        for name in ["a", "b"] { try setup.tool("replica-apply", [setup.replica(name)]) }
        let write = try ToolRunner.runSystem("/usr/bin/sqlite3", [setup.replica("a") + "/store.db", "DELETE FROM expenses WHERE id = 8"])
        XCTAssertEqual(write.status, 0, write.stderr)
        try commitAndShip()   // updates id 8 on the master
        let apply = try expect(4, "replica-apply", [setup.replica("a")])
        XCTAssertTrue(apply.stderr.contains("key id=8"), apply.stderr)
        let snapshot = try setup.tool("replica-apply", ["snapshot", setup.replica("b")]).stdout
        let path = try XCTUnwrap(snapshot.split(separator: " ").first { $0.hasSuffix(".db") }.map(String.init), snapshot)
        let broken = setup.replica("a") + "/broken"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: setup.replica("a")) where file.hasPrefix("store.db") {
            try FileManager.default.moveItem(atPath: setup.replica("a") + "/" + file, toPath: broken + "/" + file)
        }
        try FileManager.default.copyItem(atPath: path.hasPrefix("/") ? path : setup.root + "/" + path, toPath: setup.replica("a") + "/store.db")
        try expect(0, "replica-apply", [setup.replica("a")])
        try assertEqualsMaster("a")
    }

    func testInboxTrimmedBelowTheOldestSnapshotKeepsApplyAndRestore() throws {
        try setup.tool("binlog-ship", ["--config", config, "--quiet"])
        try setup.tool("replica-apply", [setup.replica("a")])
        try setup.tool("replica-apply", ["snapshot", setup.replica("a")])
        let snapshotLSN = try appliedLSN(ofStore: setup.replica("a") + "/store.db")
        let old = try segments(inbox("a"))
        try commitAndShip()
        try setup.tool("replica-apply", [setup.replica("a")])
        // Every segment shipped before the snapshot ends at or below its LSN: move them away.
        try FileManager.default.createDirectory(atPath: setup.root + "/archive", withIntermediateDirectories: true)
        for name in old { try FileManager.default.moveItem(atPath: inbox("a") + "/" + name, toPath: setup.root + "/archive/" + name) }
        try expect(0, "replica-apply", [setup.replica("a")])
        let status = try expect(0, "replica-apply", ["status", setup.replica("a")]).stdout
        XCTAssertTrue(status.contains("restorable  LSN \(snapshotLSN)…\(try setup.masterLastLSN())"), status)
        let out = setup.root + "/restored.db"
        try expect(0, "replica-apply", ["restore", setup.replica("a"), "--to-lsn", "\(snapshotLSN + 1)", "-o", out])
        XCTAssertEqual(try appliedLSN(ofStore: out), snapshotLSN + 1)
        try expect(2, "replica-apply", ["restore", setup.replica("a"), "--to-lsn", "\(snapshotLSN - 1)", "-o", out + "2"])
        try expect(0, "binlog-ship", ["verify", "--config", config, "a"])
        try expect(0, "binlog-ship", ["--config", config, "--quiet"])
        try commitAndShip()
        try expect(0, "replica-apply", [setup.replica("a")])
        try assertEqualsMaster("a")
    }
}

/// docs/OPERATIONS.md's exit-code table has a row for every code the tools print in `--help`.
final class OperationsDocTests: XCTestCase {
    func testEveryExitCodeHasARowInTheOperationsGuide() throws {
        let help = try ToolRunner.run("binlog-writer", ["--help"]).stdout
        let codes = help.split(separator: "\n").compactMap { line -> Int? in
            let words = line.split(separator: " ")
            guard words.count >= 2, line.hasPrefix(" ") || line.first?.isNumber == true, let code = Int(words[0]) else { return nil }
            return code
        }
        XCTAssertGreaterThanOrEqual(codes.count, 15, help)
        let guide = try String(contentsOfFile: SampleSetup.repository + "/docs/OPERATIONS.md", encoding: .utf8)
        for code in codes {
            XCTAssertTrue(guide.contains("\n| \(code) |"), "docs/OPERATIONS.md has no row for exit code \(code)")
        }
    }
}
