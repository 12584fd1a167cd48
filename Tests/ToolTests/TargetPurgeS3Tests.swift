import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import ObjectStorage
import XCTest

/// `binlog-ship purge --in-target` on two S3 targets with different windows from one logship.yml
/// (issue 17): a master shipped to s3://bucket/one and s3://bucket/two in two rounds a few seconds
/// apart, a snapshot of the first round uploaded beside both; with the master purged, target `one`
/// (a window that starts between the rounds) loses the first round's segments and still restores
/// every moment of its window and the latest state; target `two` (a day: before everything) keeps
/// all. Runs on moto (a real S3 server, Tests/Support/S3TestServer).
final class TargetPurgeS3Tests: XCTestCase {
    private let bucket = "logship-target-purge"

    func testEachS3TargetPurgesByItsOwnWindowFromLogshipYml() throws {
        let server = try S3TestServer.startWithBucket(.moto, bucket: bucket)
        let dir = TestDirectory("target-purge-s3")
        let env = server.toolEnvironment()
        func run(_ tool: String, _ args: [String], extra: [String: String] = [:]) throws -> ToolRunner.Result {
            try ToolRunner.run(tool, args, environment: env.merging(extra) { _, new in new })
        }
        func ok(_ tool: String, _ args: [String], extra: [String: String] = [:], line: UInt = #line) throws -> ToolRunner.Result {
            let r = try run(tool, args, extra: extra)
            XCTAssertEqual(r.status, 0, "\(tool) \(args.joined(separator: " ")): \(r.stderr)", line: line)
            return r
        }
        let master = try ToolMaster(dir, segmentSize: "4KiB")
        let one = "s3://\(bucket)/one", two = "s3://\(bucket)/two"
        let ship = ["--source", master.path, "--target", "one=\(one)", "--target", "two=\(two)"]
        try master.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        for _ in 0..<3 { _ = try master.exec(String(repeating: "INSERT INTO t (v) VALUES (randomblob(1500));\n", count: 6)) }
        try master.rotate()
        _ = try ok("binlog-ship", ship)
        let replica = dir.sub("replica")
        _ = try ok("replica-apply", ["init", replica])
        _ = try ok("replica-apply", ["fetch", replica, "--source", one])
        _ = try ok("replica-apply", ["apply", replica])
        for url in [one, two] { _ = try ok("replica-apply", ["snapshot", replica, "--upload", url]) }
        let snapshotLSN = master.lastLSN
        let firstRoundEnd = try XCTUnwrap(master.commits.last).commitTime
        // The rounds a few seconds apart, so a window can start between them (no timing is asserted).
        Thread.sleep(forTimeInterval: 4)
        for _ in 0..<3 { _ = try master.exec("UPDATE t SET v = randomblob(1400) WHERE id % 3 = 0; INSERT INTO t (v) VALUES (randomblob(1500));") }
        try master.rotate()
        _ = try ok("binlog-ship", ship)
        let segments = try master.sealedSegments()
        let firstRound = segments.filter { $0.lastLSN <= snapshotLSN }.map(\.name)
        XCTAssertFalse(firstRound.isEmpty)
        // The oracle replays the master's binlog: taken before the master's purge below.
        var oracle: [UInt64: [String: String]] = [:]
        for commit in master.commits where commit.lsn > snapshotLSN { oracle[commit.lsn] = try master.digest(at: commit.lsn, scratch: dir) }

        // logship.yml: target one keeps a window starting a second after the first round; two a day.
        let yml = dir.sub("logship.yml")
        func writeConfig() throws {
            let ms = (microsecondsNow() - (firstRoundEnd + 1_000_000)) / 1000
            try "targets:\n  one:\n    retention: {window: \(ms)ms}\n  two:\n    retention: {window: 1d}\n".write(toFile: yml, atomically: true, encoding: .utf8)
        }
        let withConfig = ["LOGSHIP_CONFIG": yml]
        try writeConfig()
        let held = try run("binlog-ship", ["purge", "--in-target", "one"] + ship, extra: withConfig)
        XCTAssertEqual(held.status, 0, held.stderr)
        XCTAssertTrue(held.stdout.contains("the master still holds \(segments[0].name)"), held.stdout)
        // The master's own purge with S3 targets honours a window too: the first round's last
        // segment holds the state at the window's start and stays, with all of the second round.
        let windowMs = (microsecondsNow() - (firstRoundEnd + 1_000_000)) / 1000
        let masterWindow = try ok("binlog-ship", ["purge", "--window", "\(windowMs)ms", "--json"] + ship)
        let mw = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(masterWindow.stdout.utf8)) as? [String: Any], masterWindow.stdout)
        XCTAssertEqual((mw["segments"] as? [[String: Any]])?.compactMap { $0["segment"] as? String }, Array(firstRound.dropLast()))
        XCTAssertTrue((mw["keptBecause"] as? String)?.contains("holds the state at the window's start") ?? false, masterWindow.stdout)
        _ = try ok("binlog-ship", ["purge", "--older-than", "0s", "--confirm"] + ship)

        try writeConfig()
        let dry = try ok("binlog-ship", ["purge", "--in-target", "one"] + ship, extra: withConfig)
        for name in firstRound { XCTAssertTrue(dry.stdout.contains("would delete \(name)"), "\(name): \(dry.stdout)") }
        XCTAssertTrue(dry.stdout.contains("restores start at LSN \(snapshotLSN)"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("dry run: nothing deleted"), dry.stdout)
        print(dry.stdout)
        let keepAll = try ok("binlog-ship", ["purge", "--in-target", "two"] + ship, extra: withConfig)
        XCTAssertFalse(keepAll.stdout.contains("would delete"), keepAll.stdout)
        XCTAssertTrue(keepAll.stdout.contains("the empty database"), keepAll.stdout)

        try writeConfig()
        let done = try ok("binlog-ship", ["purge", "--in-target", "one", "--confirm", "--json"] + ship, extra: withConfig)
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [String: Any], done.stdout)
        XCTAssertEqual(o["confirmed"] as? Bool, true)
        XCTAssertEqual((o["segments"] as? [[String: Any]])?.compactMap { $0["key"] as? String }, firstRound)
        _ = try ok("binlog-ship", ["purge", "--in-target", "two", "--confirm"] + ship, extra: withConfig)
        let s3 = try server.client(bucket: bucket)
        let keys = { (prefix: String) in try s3.list(prefix: prefix).map(\.key).filter { $0.hasSuffix(".binlog") }.sorted() }
        let all = segments.map(\.name).sorted()
        XCTAssertEqual(try keys("one/"), all.filter { !firstRound.contains($0) }.map { "one/" + $0 })
        XCTAssertEqual(try keys("two/"), all.map { "two/" + $0 })

        // Target one still restores the latest state and every commit of the second round.
        let out = dir.sub("restored")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        _ = try ok("replica-apply", ["restore", "--source", one, out + "/latest.db", "--latest"])
        XCTAssertEqual(try TableDigest.digest(path: out + "/latest.db"), oracle[master.lastLSN])
        for commit in master.commits where commit.lsn > snapshotLSN {
            let db = out + "/at-\(commit.lsn).db"
            _ = try ok("replica-apply", ["restore", "--source", one, db, "--to-lsn", String(commit.lsn)])
            XCTAssertEqual(try TableDigest.digest(path: db), oracle[commit.lsn], "LSN \(commit.lsn)")
        }
    }
}
