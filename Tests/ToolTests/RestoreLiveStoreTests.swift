import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// `restore -o <the live store> --force` replaced the store under `replica-apply --follow`,
/// which went on applying into the unlinked file while `status` showed it stalled (issue 12).
/// Restore now refuses any output that is a replica's store or a master's database, by name,
/// link or inode, with exit 64, and the follower keeps applying.
final class RestoreLiveStoreTests: XCTestCase {
    func testRestoreRefusesTheStoreAFollowerWritesByAnyPath() throws {
        let f = try ReplicaCLIFixture("restore-live")
        try f.runWorkload(200)
        try f.shipAll()
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: ToolRunner.path("replica-apply"))
        follower.arguments = [f.replica, "--follow"]
        follower.standardOutput = FileHandle.nullDevice
        follower.standardError = FileHandle.nullDevice
        try follower.run()
        defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL); follower.waitUntilExit() } }
        XCTAssertTrue(try waitForStore(f, at: f.master.lastLSN, within: 10), "the follower applies the inbox; \(f.context)")
        var storeStat = stat()
        XCTAssertEqual(stat(f.store, &storeStat), 0)

        // The store itself, by its path, a path with ./ and .., a symbolic link and a hard link.
        let symlink = f.dir.sub("link-to-store.db"), hardlink = f.dir.sub("hardlink-to-store.db")
        XCTAssertEqual(Glibc.symlink(f.store, symlink), 0)
        XCTAssertEqual(Glibc.link(f.store, hardlink), 0)
        let other = f.dir.sub("other")
        f.assertExit(try f.tool(["init", other]), 0)
        for output in [f.store, f.replica + "/./../" + (f.replica as NSString).lastPathComponent + "/store.db", symlink, hardlink] {
            let r = try f.tool(["restore", f.replica, "--latest", "-o", output, "--force"])
            f.assertExit(r, 64, containing: ["refusing to restore into \(output)", "store of the replica"], "restore over the live store via \(output)")
        }
        // Another replica's store (even one not created yet) and the master's database.
        for output in [other + "/store.db", f.master.databasePath] {
            let r = try f.tool(["restore", f.replica, "--latest", "-o", output, "--force"])
            f.assertExit(r, 64, containing: ["refusing to restore into \(output)"], "restore over \(output)")
        }
        var after = stat()
        XCTAssertEqual(stat(f.store, &after), 0)
        XCTAssertEqual(after.st_ino, storeStat.st_ino, "the store was not replaced")

        // The follower still applies into the store that status reads.
        try f.runWorkload(50, schema: false)
        try f.shipAll()
        XCTAssertTrue(try waitForStore(f, at: f.master.lastLSN, within: 10), "the follower goes on applying; \(f.context)")
        // Restoring beside it is fine.
        f.assertExit(try f.tool(["restore", f.replica, "--latest", "-o", f.dir.sub("restored.db")]), 0)
    }

    private func waitForStore(_ f: ReplicaCLIFixture, at lsn: UInt64, within seconds: Double) throws -> Bool {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let status = try f.tool(["status", f.replica, "--json"])
            if let json = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any],
               json["appliedLSN"] as? Int == Int(lsn) { return true }
            usleep(50_000)
        }
        return false
    }
}
