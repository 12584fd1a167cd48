import Foundation
import LogshipTestSupport
import XCTest

/// `--to-time 2026-02-30…` was read as 2026-03-02 and `--until-time 2026-04-31…` accepted:
/// timegm rolled impossible fields over, and a restore targeted another time than the one
/// asked for (issue 12). Every time flag now refuses them with exit 64, naming the value and why.
final class ImpossibleTimeTests: XCTestCase {
    func testEveryTimeFlagRefusesADateThatDoesNotExist() throws {
        let f = try ReplicaCLIFixture("impossible-time")
        try f.runWorkload(20)
        try f.shipAll()
        f.assertExit(try f.apply(), 0)
        let restored = f.dir.sub("restored.db")
        for (value, reason) in [("2026-02-30T00:00:00Z", "month 2 of 2026 has 28 days"), ("2026-02-29", "month 2 of 2026 has 28 days"),
                                ("2026-04-31T12:00:00Z", "month 4 of 2026 has 30 days"), ("2026-05-01T24:00:00Z", "not a time of day"),
                                ("2026-05-01T12:60:00Z", "not a time of day"), ("2026-05-01T12:00:00+25:00", "offset")] {
            f.assertExit(try f.tool(["restore", f.replica, "--to-time", value, "-o", restored]), 64, containing: ["--to-time", value, reason])
            f.assertExit(try f.apply("--until-time", value), 64, containing: ["--until-time", value, reason])
            let dump = try ToolRunner.run("binlog-writer", ["dump", f.master.path, "--since", value])
            f.assertExit(dump, 64, containing: ["--since", value, reason])
            XCTAssertFalse(FileManager.default.fileExists(atPath: restored), "nothing restored for \(value)")
        }
        // A leap day that exists is a time like any other.
        f.assertExit(try f.tool(["restore", f.replica, "--to-time", "2024-02-29T12:00:00Z", "-o", restored, "--dry-run"]), 2, containing: ["window"])
    }
}
