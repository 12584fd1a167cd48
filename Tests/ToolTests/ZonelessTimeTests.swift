import Foundation
import LogshipTestSupport
import XCTest

/// One policy for typed times in every tool (issue 17): a time must carry its zone (`Z` or an
/// offset); one without is refused with exit 64 and the fix, never read as UTC or local time.
final class ZonelessTimeTests: XCTestCase {
    private let uses: [(tool: String, before: [String], flag: String)] = [
        ("binlog-writer", ["dump", "/nonexistent/master"], "--since"),
        ("binlog-writer", ["dump", "/nonexistent/master"], "--until"),
        ("replica-apply", ["apply", "/nonexistent/replica"], "--until-time"),
        ("replica-apply", ["restore", "/nonexistent/replica", "-o", "/nonexistent/out.db"], "--to-time"),
        ("report", ["monthly-expenses", "--store", "/nonexistent/replica"], "--as-of-time"),
    ]

    func testEveryTimeFlagRefusesATimeWithoutZone() throws {
        for use in uses {
            for (value, fix) in [("2026-03-01 12:00:00", "2026-03-01T12:00:00Z"), ("2026-03-01", "2026-03-01T00:00:00Z")] {
                let r = try ToolRunner.run(use.tool, use.before + [use.flag, value])
                XCTAssertEqual(r.status, 64, "\(use.tool) \(use.flag) \(value): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("\(use.flag): cannot read \(value): no time zone: write UTC with Z (\(fix)) or the local time with its offset"),
                              "\(use.tool) \(use.flag): \(r.stderr)")
            }
            for value in ["2026-03-01T12:00:00Z", "2026-03-01 12:00:00+01:00", "2026-03-01T12:00:00.5-0330"] {
                let r = try ToolRunner.run(use.tool, use.before + [use.flag, value])
                XCTAssertFalse(r.stderr.contains("no time zone"), "\(use.tool) \(use.flag) \(value): \(r.stderr)")
                XCTAssertEqual(r.status, 15, "\(use.tool) \(use.flag) \(value) gets past the time check to the missing directory: \(r.stderr)")
            }
        }
    }
}
