import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The split-brain drill of docs/FAILOVER.md, with the built tools: master A ships to
/// replicas B and C, which apply to different LSNs; A dies; `candidates` names B; B is
/// promoted to master N and fences C and A's targets. A comes back and keeps writing: its
/// writer refuses while it can see a fence, and once it cannot, its shipper refuses the fenced
/// targets, replica-apply refuses its segments as lost writes, and a replica D that applied
/// them is refused for good. C follows N across the epoch switch. At the end every store
/// equals N's database (independent digest) and none holds a row A wrote after the fork.
final class FailoverTests: XCTestCase {
    private var dir: TestDirectory!
    private var a: ToolMaster!

    override func setUpWithError() throws {
        dir = TestDirectory("failover")
        a = try ToolMaster(dir, name: "A", segmentSize: "16KiB")
    }

    // XCTest keeps test case objects to the end of the run: drop the directory now so it is removed.
    override func tearDown() {
        a = nil
        dir = nil
    }

    private func tool(_ name: String, _ args: String...) throws -> ToolRunner.Result { try ToolRunner.run(name, args) }

    private func replica(_ name: String) throws -> String {
        let path = dir.sub(name)
        let r = try tool("replica-apply", "init", path)
        XCTAssertEqual(r.status, 0, r.stderr)
        return path
    }

    private func expect(_ r: ToolRunner.Result, _ status: Int32, _ needles: [String] = [], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "\(what): stdout \(r.stdout) stderr \(r.stderr)", file: file, line: line)
        for n in needles {
            XCTAssertTrue((r.stdout + r.stderr).contains(n), "\(what): output lacks \"\(n)\": \(r.stdout) \(r.stderr)", file: file, line: line)
        }
    }

    private func lsn(_ store: String) throws -> UInt64 { try appliedLSN(ofStore: store) }

    private func values(_ db: String) throws -> [String] {
        let q = try DatabaseQueue(path: db)
        defer { try? q.close() }
        return try q.read { db in try String.fetchAll(db, sql: "SELECT v FROM t ORDER BY id") }
    }

    func testSplitBrainDrill() throws {
        let (b, c, d) = (try replica("B"), try replica("C"), try replica("D"))
        try a.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);" + (1...5).map { "INSERT INTO t(v) VALUES ('a\($0)');" }.joined())
        try a.rotate()
        expect(try tool("binlog-ship", "--source", a.path, "--target", b + "/inbox", "--target", c + "/inbox"), 0, [], "ship to B and C")
        expect(try tool("replica-apply", c), 0, [], "C applies")
        let cAt = try lsn(c + "/store.db")
        try a.exec((6...9).map { "INSERT INTO t(v) VALUES ('a\($0)');" }.joined() + "UPDATE t SET v = v || '!' WHERE id = 2;")
        try a.rotate()
        expect(try tool("binlog-ship", "--source", a.path, "--target", b + "/inbox", "--target", c + "/inbox"), 0, [], "ship the second segment")
        expect(try tool("replica-apply", b), 0, [], "B applies")
        let fork = a.lastLSN
        XCTAssertEqual(try lsn(b + "/store.db"), fork)
        XCTAssertLessThan(cAt, fork)
        let atFork = try TableDigest.digest(path: b + "/store.db")

        // Choosing: B reaches the fork already; C's inbox holds the same, so B wins on applied.
        let cand = try tool("replica-apply", "candidates", b, c)
        expect(cand, 0, ["best candidate: \(b)"], "candidates")

        // Promote B; fence C (replica dir) and the inboxes A ships to (not A itself: unreachable).
        let n = dir.sub("N")
        let dry = try tool("replica-apply", "promote", b, "--to", n, "--fence", c, "--dry-run")
        expect(dry, 0, ["epoch      1 → 2", "fork LSN   \(fork)"], "dry run")
        XCTAssertFalse(FileManager.default.fileExists(atPath: n), "a dry run creates nothing")
        expect(try tool("replica-apply", "promote", b, "--to", n, "--fence", c), 0, ["promoted", "LSN \(fork + 1)"], "promote")
        expect(try tool("replica-apply", "promote", b, "--to", n, "--fence", c), 0, ["finished promoting"], "a rerun resumes, changes nothing")
        expect(try tool("binlog-writer", "status", n), 0, ["epoch       2", "last LSN    \(fork)"], "new master status")

        // A comes back: its writer sees the fence at its shipping targets and refuses.
        expect(try tool("binlog-writer", "exec", a.path, "INSERT INTO t(v) VALUES ('late')"), 6,
               ["epoch 2", "after LSN \(fork)", "Refusing to write"], "fenced master refuses")
        expect(try tool("binlog-writer", "status", a.path), 0, ["FENCED"], "fenced master's status")

        // A keeps writing anyway (its shipping state lost, the fence out of sight).
        try FileManager.default.moveItem(atPath: a.path + "/ship", toPath: dir.sub("A-ship-hidden"))
        let late = try a.exec("INSERT INTO t(v) VALUES ('late1'); INSERT INTO t(v) VALUES ('late2');")
        try a.rotate()
        XCTAssertEqual(late.first?.lsn, fork + 1)
        // Its shipper refuses the fenced inboxes: split brain, nothing under the segment's name.
        let lateSegment = try a.sealedSegments().last!
        let refused = try tool("binlog-ship", "--source", a.path, "--target", c + "/inbox", "--state-dir", dir.sub("A-ship2"))
        expect(refused, 6, ["refusing to ship \(lateSegment.name)", "fenced by epoch 2"], "ship into a fenced target")
        XCTAssertFalse(FileManager.default.fileExists(atPath: c + "/inbox/" + lateSegment.name))

        // D follows A without a fence and applies the late writes; then learns of epoch 2.
        expect(try tool("binlog-ship", "--source", a.path, "--target", d + "/inbox", "--state-dir", dir.sub("A-shipD")), 0, [], "ship to unfenced D")
        expect(try tool("replica-apply", d), 0, [], "D applies the late writes")
        XCTAssertEqual(try lsn(d + "/store.db"), fork + 2)

        // The new master writes and ships to B, C and D (its history travels first).
        let nWrites = try ToolRunner.run("binlog-writer", ["exec", n, "INSERT INTO t(v) VALUES ('n1'); UPDATE t SET v = 'n-upd' WHERE id = 1; DELETE FROM t WHERE id = 3;"])
        expect(nWrites, 0, ["lsn=\(fork + 1)"], "new master writes from the fork")
        expect(try tool("binlog-writer", "rotate", n), 0, [], "rotate N")
        expect(try tool("binlog-ship", "--source", n, "--target", b + "/inbox", "--target", c + "/inbox", "--target", d + "/inbox"), 0, [], "N ships")
        for name in [b, c, d] { XCTAssertTrue(FileManager.default.fileExists(atPath: name + "/inbox/00000002.history"), name) }

        // D applied past the fork: refused, with the diverged range, store untouched.
        let dBefore = try TableDigest.digest(path: d + "/store.db")
        expect(try tool("replica-apply", d), 6, ["applied LSNs \(fork + 1)…\(fork + 2) of epoch 1", "rebuild"], "D is refused")
        XCTAssertEqual(try TableDigest.digest(path: d + "/store.db"), dBefore)

        // A late segment of A that reaches C's inbox by other means is a lost write, never applied.
        try Shipping.ship(lateSegment.path, to: c + "/inbox")
        let cRun = try tool("replica-apply", c)
        expect(cRun, 6, ["lost writes", "LSNs \(fork + 1)…\(fork + 2)"], "C reports A's late writes")
        expect(try tool("replica-apply", b), 0, [], "B follows its own promotion's master")

        let nDigest = try TableDigest.digest(path: n + "/master.db")
        let nLast = fork + 3
        for store in [b, c] {
            XCTAssertEqual(try lsn(store + "/store.db"), nLast, store)
            XCTAssertEqual(try TableDigest.digest(path: store + "/store.db"), nDigest, "\(store) equals the new master")
            XCTAssertFalse(try values(store + "/store.db").contains { $0.hasPrefix("late") }, "\(store) mixes histories")
        }
        let status = try tool("replica-apply", "status", c, "--json")
        XCTAssertTrue(status.stdout.contains("\"epoch\" : 2"), status.stdout)
        XCTAssertTrue(status.stdout.contains("lostWrites"), "status carries the lost-writes alarm: \(status.stdout)")
        expect(try tool("replica-apply", "check", c, "--max-lag", "1h"), 6, ["lost writes"], "check pages on split brain")

        // Point in time across the switch: epoch 1 up to the fork, then epoch 2; never A's late rows.
        for (target, expected) in [(fork, atFork), (nLast, nDigest)] {
            let out = dir.sub("restore-\(target).db")
            expect(try tool("replica-apply", "restore", c, "--to-lsn", "\(target)", "-o", out), 0, [], "restore C to LSN \(target)")
            XCTAssertEqual(try TableDigest.digest(path: out), expected, "restored LSN \(target)")
            XCTAssertEqual(try lsn(out), target)
        }

        // Rejoining: A rebuilt as a replica of N, from B's inbox (epoch 1 up to the fork) and N.
        let a2 = try replica("A2")
        expect(try tool("binlog-ship", "--source", b + "/inbox", "--target", a2 + "/inbox", "--state-dir", dir.sub("B-ship")), 0, [], "ship the history to A2")
        expect(try tool("replica-apply", a2), 0, [], "A2 applies both epochs")
        XCTAssertEqual(try TableDigest.digest(path: a2 + "/store.db"), nDigest)
        let dump = try tool("binlog-writer", "dump", a.path, "--from-lsn", "\(fork + 1)")
        expect(dump, 0, ["late1", "late2"], "dump lists A's transactions after the fork")
    }

    /// A second promotion of the same epoch is refused where the first one's fence is.
    func testSecondPromotionIsRefusedAtTheFence() throws {
        let (b, c) = (try replica("B"), try replica("C"))
        try a.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t(v) VALUES ('x');")
        try a.rotate()
        expect(try tool("binlog-ship", "--source", a.path, "--target", b + "/inbox", "--target", c + "/inbox"), 0, [], "ship")
        expect(try tool("replica-apply", b), 0, [], "B applies")
        expect(try tool("replica-apply", c), 0, [], "C applies")
        expect(try tool("replica-apply", "promote", b, "--to", dir.sub("N1"), "--fence", c), 0, [], "first promotion")
        let second = try tool("replica-apply", "promote", c, "--to", dir.sub("N2"), "--fence", b)
        expect(second, 6, ["already holds epoch 2"], "second promotion")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("N2")))
        expect(try tool("replica-apply", "promote", b, "--to", dir.sub("N1")), 0, ["finished promoting"], "rerun")
    }
}

/// A promotion killed (SIGKILL) at each of its crash points is finished by running it again:
/// one history, a master that writes from the fork point, every fence in place.
final class PromotionCrashTests: XCTestCase {
    func testAPromotionKilledAnywhereIsFinishedByARerun() throws {
        let points = ["promote.after-own-fence", "promote.before-master-rename", "promote.after-fence", "promote.after-fence:2"]
        for point in points {
            let dir = TestDirectory("promote-crash")
            let a = try ToolMaster(dir, name: "A")
            let (b, c, d) = (dir.sub("B"), dir.sub("C"), dir.sub("D"))
            for r in [b, c, d] { XCTAssertEqual(try ToolRunner.run("replica-apply", ["init", r]).status, 0) }
            try a.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('x'), ('y');")
            try a.rotate()
            try Shipping.shipAll(a, to: b + "/inbox")
            let n = dir.sub("N")
            var env = ProcessInfo.processInfo.environment
            env["LOGSHIP_CRASH_AT"] = point
            let killed = try ToolRunner.run("replica-apply", ["promote", b, "--to", n, "--fence", c, "--fence", d], environment: env)
            XCTAssertNotEqual(killed.status, 0, point)
            XCTAssertTrue(killed.stderr.contains("crash point \(point.split(separator: ":")[0]) reached"), "\(point): the fault fired: \(killed.stderr)")
            let rerun = try ToolRunner.run("replica-apply", ["promote", b, "--to", n, "--fence", c, "--fence", d])
            XCTAssertEqual(rerun.status, 0, "\(point): \(rerun.stderr)")
            for fenced in [b + "/inbox", c + "/inbox", d + "/inbox", n + "/binlog"] {
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: fenced).filter { $0.hasSuffix(".history") }, ["00000002.history"], "\(point): \(fenced)")
            }
            let write = try ToolRunner.run("binlog-writer", ["exec", n, "INSERT INTO t(v) VALUES ('z')"])
            XCTAssertTrue(write.stdout.hasPrefix("lsn=\(a.lastLSN + 1) "), "\(point): \(write.stdout) \(write.stderr)")
            XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.hasPrefix(".tmp-") }, "\(point): no temp directory left")
        }
    }
}

/// docs/FAILOVER.md's drill, run as written: every shell block of "The drill" in order, in one
/// scratch directory, with the built tools first on PATH. Each block must succeed, except the
/// old master's write in step 6, which must be refused with exit 6. Keeps the drill from rotting.
final class FailoverDrillDocTests: XCTestCase {
    static let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/FAILOVER.md").path

    /// The `sh` blocks between "## The drill" and the next level-2 heading.
    static func drillBlocks() throws -> [String] {
        let text = try String(contentsOfFile: doc, encoding: .utf8)
        guard let start = text.range(of: "## The drill") else { return [] }
        let section = text[start.upperBound...].components(separatedBy: "\n## ")[0]
        var blocks: [String] = []
        var current: [String]?
        for line in section.components(separatedBy: "\n") {
            if current == nil, line == "```sh" { current = []; continue }
            if current != nil, line == "```" { blocks.append(current!.joined(separator: "\n")); current = nil; continue }
            current?.append(line)
        }
        return blocks
    }

    func testTheDrillRunsAsWritten() throws {
        let blocks = try Self.drillBlocks()
        XCTAssertGreaterThanOrEqual(blocks.count, 6, "the drill's shell blocks were not found in \(Self.doc)")
        let dir = TestDirectory("failover-drill")
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = ToolRunner.productsDirectory + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        var refusedOldMaster = false
        for block in blocks {
            // The drill starts in a fresh temp directory; the test gives it one.
            let script = block.replacingOccurrences(of: "cd \"$(mktemp -d)\"", with: "")
            let expectsRefusal = script.contains("VALUES ('late')")
            let r = try ToolRunner.runProcess("/bin/bash", ["-c", (expectsRefusal ? "" : "set -e\n") + script], environment: env, directory: dir.path)
            let (outText, errText) = (r.stdout, r.stderr)
            if expectsRefusal {
                refusedOldMaster = true
                XCTAssertEqual(r.status, 6, "the old master's write must be refused: \(errText)")
                XCTAssertTrue(errText.contains("split brain"), errText)
            } else {
                XCTAssertEqual(r.status, 0, "block failed:\n\(block)\nstdout: \(outText)\nstderr: \(errText)")
            }
        }
        XCTAssertTrue(refusedOldMaster, "step 6 (the old master comes back) was not found")
        let rows = try ToolRunner.runSystem("/usr/bin/sqlite3", [dir.sub("A2/store.db"), "SELECT group_concat(v, ',') FROM t"])
        XCTAssertEqual(rows.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "a1,a2,a3,n4", "the rejoined copy holds the new history")
    }
}
