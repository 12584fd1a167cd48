import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// The careless operator's mistakes of issue 12 ("Trust"), with the built tools: a target that is
/// the master's own binlog, a source that is no binlog, a fence behind a `state_dir`, and a
/// substituted copy that only the source can expose.
final class ShipSafetyCommandTests: XCTestCase {
    private var dir: TestDirectory!

    override func setUp() { dir = TestDirectory("ship-safety") }
    override func tearDown() { dir = nil }

    private func tool(_ name: String, _ args: String...) throws -> ToolRunner.Result { try ToolRunner.run(name, args) }

    private func expect(_ r: ToolRunner.Result, _ status: Int32, _ needles: [String] = [], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "\(what): stdout \(r.stdout) stderr \(r.stderr)", file: file, line: line)
        for n in needles {
            XCTAssertTrue((r.stdout + r.stderr).contains(n), "\(what): output lacks \"\(n)\": \(r.stdout) \(r.stderr)", file: file, line: line)
        }
    }

    private func master(_ name: String = "A") throws -> ToolMaster {
        let m = try ToolMaster(dir, name: name, segmentSize: "4KiB")
        try m.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);" + String(repeating: "INSERT INTO t(v) VALUES (randomblob(3000));", count: 6))
        try m.rotate()
        return m
    }

    private func sealed(_ m: ToolMaster) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: m.binlogPath).filter { SegmentName.parse($0).map { !$0.isActive } ?? false }.sorted()
    }

    /// The master's binlog as a target, by its path, a symlink and in ship.yml: refused (64), both
    /// paths named; purge --confirm with the same mistake deletes nothing.
    func testTheMastersOwnBinlogIsRefusedAsATargetAndPurgeKeepsIt() throws {
        let a = try master()
        let before = try sealed(a)
        XCTAssertGreaterThan(before.count, 2)
        try FileManager.default.createSymbolicLink(atPath: dir.sub("alias"), withDestinationPath: a.binlogPath)
        for target in [a.binlogPath, dir.sub("alias"), a.path + "/binlog/../binlog"] {
            expect(try tool("binlog-ship", "--source", a.path, "--target", "self=" + target), 64, ["is the source", a.path], "ship to \(target)")
        }
        let config = dir.sub("ship.yml")
        try "source: A\nretention: 1s\ntargets:\n  - name: self\n    path: A/binlog\n".write(toFile: config, atomically: true, encoding: .utf8)
        let ship = try tool("binlog-ship", "--config", config)
        expect(ship, 64, ["is the source", a.binlogPath], "ship.yml")
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.path + "/ship/state.json"), "nothing was shipped or recorded")
        sleep(1)
        expect(try tool("binlog-ship", "purge", "--config", config, "--older-than", "1s", "--confirm"), 64, ["is the source"], "purge")
        expect(try tool("binlog-ship", "check", "--config", config, "--max-lag", "1h"), 64, ["is the source"], "check")
        XCTAssertEqual(try sealed(a), before, "the only copy is still there")
    }

    /// An arbitrary directory is not an empty binlog: exit 15 with a hint, and no `DIR.ship/`.
    func testASourceThatIsNotABinlogIsRefusedAndNothingIsCreated() throws {
        let photos = dir.sub("photos")
        let inbox = dir.sub("inbox")
        for d in [photos, inbox] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        FileManager.default.createFile(atPath: photos + "/cat.jpg", contents: Data([1, 2, 3]))
        for args in [["--source", photos, "--target", inbox], ["check", "--source", photos, "--target", inbox, "--max-lag", "1h"],
                     ["status", "--source", photos, "--target", inbox]] {
            let r = try ToolRunner.run("binlog-ship", args)
            expect(r, 15, ["is not a master data directory or a binlog directory", photos, "HINT:"], "binlog-ship \(args[0])")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: photos + ".ship"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: photos), ["cat.jpg"])
    }

    /// The failover drill with shipping state kept outside the master (ship.yml `state_dir`):
    /// after `promote --fence`, the old master sees the fence and refuses to write (exit 6).
    func testAnOldMasterShippedWithAStateDirIsFencedAfterPromotion() throws {
        let a = try master()
        for r in ["B", "C"] { expect(try tool("replica-apply", "init", dir.sub(r)), 0, [], "init \(r)") }
        let config = dir.sub("ship.yml")
        try "source: A\nstate_dir: state/ship\ntargets:\n  - name: b\n    path: B/inbox\n  - name: c\n    path: C/inbox\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        expect(try tool("binlog-ship", "--config", config), 0, [], "ship with state_dir")
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.path + "/ship/state.json"), "the state lives elsewhere")
        expect(try tool("replica-apply", dir.sub("B")), 0, [], "B applies")
        expect(try tool("binlog-writer", "exec", a.path, "INSERT INTO t(v) VALUES (x'00')"), 0, [], "A writes before the promotion")
        expect(try tool("replica-apply", "promote", dir.sub("B"), "--to", dir.sub("N"), "--fence", dir.sub("C")), 0, ["promoted"], "promote B, fence C")

        expect(try tool("binlog-writer", "exec", a.path, "INSERT INTO t(v) VALUES (x'01')"), 6, ["epoch 2", "Refusing to write"], "fenced old master")
        expect(try tool("binlog-writer", "status", a.path), 0, ["FENCED"], "status shows the fence")
    }

    /// One fence predicate for the writer and status: a history at a target that cannot be read
    /// refuses the write (the fence cannot be ruled out) and `status` says FENCED, not "all well".
    func testAnUnreadableFenceRefusesTheWriterAndStatusSaysSo() throws {
        let a = try master()
        let t = dir.sub("T")
        try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true)
        expect(try tool("binlog-ship", "--source", a.path, "--target", t), 0, [], "ship (default state: the writer refused here before, status did not say so)")
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: t + "/00000002.history"))
        expect(try tool("binlog-writer", "exec", a.path, "INSERT INTO t(v) VALUES (x'02')"), 3,
               ["reading the epoch history at target \(t)", "00000002.history"], "the writer refuses")
        expect(try tool("binlog-writer", "status", a.path), 0, ["FENCED", "cannot tell whether a newer epoch took over", "00000002.history"], "status agrees")
    }

    /// Two masters with one source id (a copied data directory) write the same names and LSNs:
    /// a target holding the impostor's chain passes its own checks; `verify` against the source
    /// exits 3 naming the segment and the offset.
    func testVerifyComparesATargetWithTheSource() throws {
        let a = try ToolMaster(dir, name: "A", segmentSize: "4KiB")
        try FileManager.default.copyItem(atPath: a.path, toPath: dir.sub("A2"))
        let script = "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);" + String(repeating: "INSERT INTO t(v) VALUES (randomblob(3000));", count: 6)
        try a.exec(script)
        try a.rotate()
        for args in [["exec", dir.sub("A2"), script], ["rotate", dir.sub("A2")]] { expect(try ToolRunner.run("binlog-writer", args), 0, [], "A2") }
        let t = dir.sub("T")
        try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true)
        expect(try tool("binlog-ship", "--source", dir.sub("A2"), "--target", t, "--state-dir", dir.sub("A2-ship")), 0, [], "ship the impostor")
        expect(try tool("binlog-ship", "verify", t), 0, ["clean"], "the target alone looks intact")
        let first = try XCTUnwrap(try sealed(a).first)
        let r = try tool("binlog-ship", "verify", t, "--source", a.path, "--state-dir", dir.sub("A-ship"))
        expect(r, 3, ["\(first) in the target differs from the source", "offset"], "verify against the source")
    }
}
