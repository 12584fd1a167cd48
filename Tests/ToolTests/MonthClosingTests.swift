import BinlogFormat
import Foundation
import LogshipSystem
import LogshipTestSupport
import XCTest

/// Month closing through the built `report`: months not complete at the data's commit time are
/// listed as open in every format, and a closed month whose figures change later is listed as
/// a restatement by the next run that keeps a `--month-state` (docs/REPORTS.md).
final class MonthClosingTests: XCTestCase {
    private func report(_ args: [String]) throws -> ToolRunner.Result { try ToolRunner.run("report", args) }

    private func insert(_ p: ReportPipeline, _ date: String, _ cents: Int) throws -> ReportPipeline.Commit {
        try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('\(date)', 'food', 'Shop', \(cents), 'EUR')")
    }

    /// The rows of section `name` in a JSON report, each value as text; nil when there is no such section.
    private func section(_ json: String, _ name: String) throws -> [[String]]? {
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let sections = doc?["sections"] as? [[String: Any]] ?? []
        guard let s = sections.first(where: { $0["name"] as? String == name }) else { return nil }
        let columns = s["columns"] as? [String] ?? []
        return (s["rows"] as? [[String: Any]] ?? []).map { row in columns.map { row[$0].map { "\($0)" } ?? "missing" } }
    }

    /// The month after YYYY-MM.
    private func next(_ month: String) -> String {
        let y = Int(month.prefix(4)) ?? 0, m = Int(month.suffix(2)) ?? 0
        return m == 12 ? String(format: "%04d-01", y + 1) : String(format: "%04d-%02d", y, m + 1)
    }

    func testOpenMonthsAreMarkedInEveryFormat() throws {
        let p = try ReportPipeline("month-open")
        let first = try insert(p, "2024-01-10", 1250)
        // The month of the master's clock is open: the data's commit time is inside it.
        let current = String(first.commitTime.prefix(7))
        _ = try insert(p, current + "-01", 500)
        try p.rotate(); try p.ship(); try p.apply()
        let closesAt = formatTimestamp(parseTimestamp(next(current) + "-01T00:00:00Z") ?? 0)
        let json = try report(["monthly-expenses", "--store", p.replica, "-f", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        XCTAssertEqual(try section(json.stdout, "Open months"), [[current, closesAt]], "2024-01 is closed, \(current) is open")
        for (format, mark) in [("table", "Open months"), ("markdown", "Open months"), ("html", "Open months"), ("csv", "open-months,\(current),,,,,closes_at,\(closesAt)")] {
            let r = try report(["monthly-expenses", "--store", p.replica, "-f", format])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains(mark) && r.stdout.contains(closesAt), "\(format): \(r.stdout)")
        }
        let closed = try report(["monthly-expenses", "--store", p.replica, "-f", "json", "--to", "2024-12"])
        XCTAssertNil(try section(closed.stdout, "Open months"), "a range of closed months has no such section")
    }

    func testLateChangesToAClosedMonthAreRestatements() throws {
        let p = try ReportPipeline("month-restate")
        let first = try insert(p, "2024-01-10", 1250)
        let current = String(first.commitTime.prefix(7))
        _ = try insert(p, current + "-01", 500)
        try p.rotate(); try p.ship(); try p.apply()
        let state = p.dir.sub("expenses.months.json")
        let args = ["monthly-expenses", "--store", p.replica, "-f", "json", "--month-state", state]
        let firstRun = try report(args)
        XCTAssertEqual(firstRun.status, 0, firstRun.stderr)
        XCTAssertNil(try section(firstRun.stdout, "Restatements"), "a first run has nothing to compare with")
        let lsn = try XCTUnwrap(((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state))) as? [String: Any])?["lsn"] as? Int))

        // A late row for the closed January, and one for the open month (not a restatement).
        _ = try insert(p, "2024-01-28", 300)
        _ = try insert(p, current + "-02", 1)
        try p.rotate(); try p.ship(); try p.apply()
        let second = try report(args)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(try section(second.stdout, "Restatements"), [["2024-01", "EUR", "1", "12.50", "2", "15.50", String(lsn)]])
        let third = try report(args)
        XCTAssertNil(try section(third.stdout, "Restatements"), "the state moved on: nothing changed since")

        let other = try report(["monthly-expenses", "--store", p.replica, "--from", "2024-01", "--month-state", state])
        XCTAssertEqual(other.status, 64, other.stderr)
        XCTAssertTrue(other.stderr.contains("the month state was written by a report of another selection"), other.stderr)
        XCTAssertEqual(other.stdout, "")
        let asOf = try report(["monthly-expenses", "--store", p.replica, "--as-of-lsn", "1", "--month-state", state])
        XCTAssertEqual(asOf.status, 64, asOf.stderr)
        XCTAssertTrue(asOf.stderr.contains("--month-state does not apply to an as-of report"), asOf.stderr)
    }
}
