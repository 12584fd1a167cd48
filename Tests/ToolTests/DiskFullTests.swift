import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// A master on a small file system filled to 100%, again and again (`LOGSHIP_DISKFULL_CYCLES`
/// fills, at a random point each: the suite runs 2, `tools/torture disk-full` more), with the
/// whole data directory, only the binlog, or only the database on it: a clear error with exit
/// 13, nothing acknowledged for the failed transaction, no temp file left, the acknowledged
/// history intact, and the writer working again once space is freed.
/// DiskFullReplicaTests does the same for a replica's inbox and store.
/// Needs root to mount a tmpfs (CI runs as root); skipped elsewhere, saying why.
final class DiskFullTests: XCTestCase {
    /// The whole data directory (database and binlog) on the small file system.
    func testFullDiskStopsCleanlyAndRecoversWhenSpaceReturns() throws {
        let dir = TestDirectory("full")
        let fs = try SmallFileSystem(dir, megabytes: 3 + SmallFileSystem.cycles / 2)
        let master = fs.path + "/master"
        try makeMaster(master)
        try fillAndFree(master: master, full: fs, place: "master", dir: dir)
    }

    /// Only `binlog/` on the small file system (the binlog on a disk of its own): the append fails.
    func testFullBinlogDiskStopsCleanlyAndRecovers() throws {
        let dir = TestDirectory("full-binlog")
        let master = dir.sub("master")
        try makeMaster(master)
        let fs = try SmallFileSystem(dir, megabytes: 2 + SmallFileSystem.cycles / 2, at: master + "/binlog", keeping: true)
        try fillAndFree(master: master, full: fs, place: "binlog", dir: dir)
    }

    /// Only the database's file system full, the binlog on a roomy one: the append is durable and
    /// SQLite's commit fails, so the master takes the transaction back out of its binlog.
    func testFullDatabaseDiskTakesTheTransactionBackOutOfTheBinlog() throws {
        let dir = TestDirectory("full-db")
        let fs = try SmallFileSystem(dir, megabytes: 3 + SmallFileSystem.cycles / 2)
        let master = fs.path + "/master"
        try makeMaster(master)
        let roomy = try SmallFileSystem(dir, megabytes: 64, at: master + "/binlog", keeping: true)
        try fillAndFree(master: master, full: fs, place: "database", dir: dir)
        _ = roomy
    }

    private func makeMaster(_ master: String) throws {
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["init", master, "--segment-size", "256KiB"]).status, 0)
        XCTAssertEqual(try ToolRunner.run("binlog-writer", ["exec", master, "CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB)"]).status, 0)
    }

    /// Fills `full` to a random point `LOGSHIP_DISKFULL_CYCLES` times while `binlog-writer exec`
    /// inserts blobs, frees it after each failure, and checks the history at the end.
    private func fillAndFree(master: String, full fs: SmallFileSystem, place: String, dir: TestDirectory) throws {
        var rng = SeededRandom()
        let context = "\(place); seed \(rng.seed) (rerun with LOGSHIP_SEED=\(rng.seed))"
        var acknowledged: UInt64 = 1
        var fills = 0
        var reasons: Set<String> = []   // what failed, for the figures: the append, a new segment, SQLite
        for cycle in 0..<SmallFileSystem.cycles {
            // Fill to a random point: the failure lands in a frame, a new segment, a seal or SQLite.
            try fs.fill(leaving: Int64.random(in: 0...(320 << 10), using: &rng))
            var failure: ToolRunner.Result?
            for _ in 0..<400 {
                let size = Int.random(in: 1000...40000, using: &rng)
                let r = try ToolRunner.run("binlog-writer", ["exec", master, "INSERT INTO b (v) VALUES (randomblob(\(size)))"])
                if r.status != 0 { failure = r; break }
                XCTAssertTrue(r.stdout.hasPrefix("lsn=\(acknowledged + 1) "), "\(r.stdout); \(context)")
                acknowledged += 1
            }
            let full = try XCTUnwrap(failure, "cycle \(cycle): the file system never filled up; \(context)")
            fills += 1
            XCTAssertEqual(full.status, 13, "cycle \(cycle): exit code for a full disk; stderr: \(full.stderr); \(context)")
            XCTAssertTrue(full.stderr.lowercased().contains("full") || full.stderr.contains("No space left"), full.stderr)
            XCTAssertEqual(full.stdout, "", "nothing acknowledged for the failed transaction; \(context)")
            // No temp files or partial segments left that a reader would take for data (the
            // master's committed mark is its own file, docs/FORMAT.md §12).
            let names = try FileManager.default.contentsOfDirectory(atPath: master + "/binlog").filter { $0 != CommitMark.fileName }
            XCTAssertEqual(names.filter { $0.hasPrefix(".tmp-") || (SegmentName.parse($0) == nil && !$0.hasPrefix("ballast-")) }, [], "cycle \(cycle); \(context)")
            reasons.insert(String(full.stderr.prefix { $0 != "(" && $0 != "\n" }).replacingOccurrences(of: "[0-9]+", with: "N", options: .regularExpression))

            try fs.free()
            let again = try ToolRunner.run("binlog-writer", ["exec", master, "INSERT INTO b (v) VALUES (randomblob(1000))"])
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertTrue(again.stdout.hasPrefix("lsn=\(acknowledged + 1) "), "LSNs continue without a hole: \(again.stdout); \(context)")
            acknowledged += 1
        }
        let rows = try ToolRunner.run("binlog-writer", ["exec", master, "SELECT count(*) FROM b"]).stdout
        XCTAssertEqual(rows, "\(acknowledged - 1)\n", "every acknowledged insert is there, and nothing else; \(context)")
        let verify = try ToolRunner.run("binlog-writer", ["verify", master])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let replica = dir.sub("replay.db")
        XCTAssertEqual(try BinlogReplay.replay(binlog: master + "/binlog", into: replica), acknowledged, context)
        XCTAssertEqual(try TableDigest.digest(path: replica), try TableDigest.digest(path: master + "/master.db"), context)
        print("figures: disk-full place=\(place) fills=\(fills) acknowledged=\(acknowledged) rows=\(rows.trimmingCharacters(in: .whitespacesAndNewlines)) failed-checks=\(testRun?.totalFailureCount ?? 0) seed=\(rng.seed)")
        print("figures: disk-full place=\(place) failures: \(reasons.sorted().joined(separator: " | "))")
    }
}

/// A tmpfs of a few megabytes mounted for one test, and ballast that fills it to a chosen point
/// and is deleted to give the space back. Unmounted when the object goes away.
final class SmallFileSystem {
    let path: String
    private var ballast: [String] = []

    /// How many times each disk-full test fills its file system (`LOGSHIP_DISKFULL_CYCLES`, default 2).
    static var cycles: Int { ProcessInfo.processInfo.environment["LOGSHIP_DISKFULL_CYCLES"].flatMap(Int.init).map { max($0, 1) } ?? 2 }

    /// Mounts a tmpfs of `megabytes` at `path` (default `dir/fs`); with `keeping`, what the
    /// directory held is copied onto the new file system. Throws XCTSkip when mounting is not allowed.
    init(_ dir: TestDirectory, megabytes: Int, at path: String? = nil, keeping: Bool = false) throws {
        self.path = path ?? dir.sub("fs")
        let fm = FileManager.default
        try fm.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        let kept = dir.sub("kept-\(UUID().uuidString)")
        if keeping { try fm.moveItem(atPath: self.path, toPath: kept); try fm.createDirectory(atPath: self.path, withIntermediateDirectories: false) }
        let mount = try ToolRunner.runSystem("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", self.path])
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(mount.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); run as root") }
        if keeping {
            for name in try fm.contentsOfDirectory(atPath: kept) { try fm.copyItem(atPath: kept + "/" + name, toPath: self.path + "/" + name) }
        }
    }

    deinit { _ = try? ToolRunner.runSystem("/bin/umount", ["-l", path]) }

    /// Free bytes, as the file system reports them to an unprivileged writer.
    var freeBytes: Int64 {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return 0 }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    /// Writes ballast until at most `leaving` bytes remain free (whole pages).
    func fill(leaving: Int64) throws {
        let size = freeBytes - leaving
        guard size > 0 else { return }
        let file = path + "/ballast-\(ballast.count)"
        ballast.append(file)
        guard let handle = FileHandle(forWritingAtPath: file) ?? {
            FileManager.default.createFile(atPath: file, contents: nil)
            return FileHandle(forWritingAtPath: file)
        }() else { throw ToolMaster.Failure(description: "cannot create \(file)") }
        defer { try? handle.close() }
        var left = size
        let chunk = Data(repeating: 0xA5, count: 1 << 20)
        while left > 0 {
            let piece = chunk.prefix(Int(min(left, Int64(chunk.count))))
            do { try handle.write(contentsOf: piece) } catch { break }   // full already: that is the point
            left -= Int64(piece.count)
        }
    }

    /// Deletes every ballast file.
    func free() throws {
        for file in ballast { try FileManager.default.removeItem(atPath: file) }
        ballast = []
    }
}
