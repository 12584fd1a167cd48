import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// Every format of both reports on the golden store (Fixtures/golden-rows.sql), compared with
/// files in Fixtures/ that were checked by hand. The numbers, worked on paper:
///
///     2024-01 groceries EUR  1234 + 999 = 2233 → 22.33; average 1116.5 cents → 11.17 (half away from zero)
///     2024-02 groceries EUR  1 + 2 = 3 → 0.03; average 1.5 cents → 0.02
///     2024-02 transport GBP  120 + 5 = 125 → 1.25; average 62.5 cents → 0.63
///     month totals EUR  2024-01 126783 → 1267.83; 2024-02 120003 → 1200.03, change -6780/126783 = -5.3%;
///                       2024-04 5005 → 50.05, no change (March has no expenses)
///     month totals GBP  2024-01 250 → 2.50; 2024-02 2124 → 21.24, change 1874/250 = +749.6%
///     top merchants EUR Acme | Properties 2400.00, <Tesco & Co> 50.05, SNCF 45.50, Edeka 12.37, Café 9.99
///
/// The freshness stamp's age and "reported at" change every run and are replaced before the
/// comparison (`Render.normalized`); everything else, source, epoch, LSN and commit time
/// included, is compared byte for byte. LOGSHIP_UPDATE_GOLDEN=1 rewrites the files (then read
/// every diff by hand before committing).
final class GoldenOutputTests: XCTestCase {
    static let extensions: [ReportFormat: String] = [.table: "txt", .csv: "csv", .json: "json", .markdown: "md", .html: "html"]

    static let querySQL = """
        SELECT id, spent_at, merchant, amount_cents, amount_cents / 100.0 AS amount, note,
               CASE WHEN id = 1 THEN x'00ff10' END AS raw
        FROM expenses WHERE amount_cents >= :min ORDER BY id
        """

    private func compare(_ name: String, _ actual: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = FixtureStore.fixtures + "/" + name
        if ProcessInfo.processInfo.environment["LOGSHIP_UPDATE_GOLDEN"] == "1" {
            try actual.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        if expected != actual {
            // Split on any line end: "\r\n" is one Character, which splitting on "\n" would miss.
            let e = expected.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
            let a = actual.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
            let first = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(e.count, a.count)
            XCTFail("\(name) differs from the golden file at line \(first + 1):\nexpected: \(first < e.count ? e[first] : "<end>")\nactual:   \(first < a.count ? a[first] : "<end>")",
                    file: file, line: line)
        }
    }

    func testMonthlyExpensesEveryFormat() throws {
        let dir = TestDirectory("golden")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        for format in ReportFormat.allCases {
            let text = try Render.monthly(store, format, in: dir)
            try compare("monthly-expenses.\(Self.extensions[format]!)", Render.normalized(text, directory: dir.path))
        }
    }

    func testQueryEveryFormat() throws {
        let dir = TestDirectory("golden")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        for format in ReportFormat.allCases {
            let text = try Render.query(store, Self.querySQL, ["min": 5.databaseValue], format, in: dir)
            try compare("query.\(Self.extensions[format]!)", Render.normalized(text, directory: dir.path))
        }
    }

    /// The normalisation replaces only the two moving parts: the stamp still names the source,
    /// epoch, LSN and commit time, and an unnormalised age is a plausible number of days.
    func testStampKeepsEverythingButTheClock() throws {
        let dir = TestDirectory("golden")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        let text = try Render.monthly(store, .table, in: dir)
        let line = text.components(separatedBy: "\n")[1]
        XCTAssertTrue(line.hasPrefix("data as of LSN 1234, committed \(FixtureStore.commitTimeText) on source \(FixtureStore.sourceID.uuidString) epoch 3 ("), line)
        let days = (Date().timeIntervalSince1970 - Double(FixtureStore.commitTime) / 1e6) / 86400
        XCTAssertTrue(line.contains(String(format: "%.1f days old when reported at", days)) || line.contains(String(format: "%.1f days old", days - 0.1)), line)
        XCTAssertNotEqual(Render.normalized(text, directory: dir.path), text)
    }
}
