import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Categories, currencies and merchants holding a NUL or invalid UTF-8 (issue 12): the summary
/// replica-apply keeps compares their text as bytes, so the report read from it equals the one
/// from a full scan (`--no-summary`) after every batch, and reports print text with a NUL whole.
final class ReportSummaryBytesTests: XCTestCase {
    func testGroupsWhoseTextHoldsNulOrInvalidUTF8AreKeptByTheSummaryAndPrintedWhole() throws {
        try run(columns: "category TEXT, merchant TEXT, currency TEXT",
                categories: ["'food'", "CAST(X'666F6F6400626172' AS TEXT)", "CAST(X'666F6F6400626178' AS TEXT)",
                             "CAST(X'666F6FFF' AS TEXT)", "CAST(X'666F6FFE' AS TEXT)"],
                merchants: ["'A'", "CAST(X'4100' AS TEXT)", "CAST(X'41C3' AS TEXT)"],
                currencies: ["'EUR'", "CAST(X'45555200' AS TEXT)"]) { report in
            let json = try report("json", [])
            XCTAssertTrue(json.contains(#""food\u0000bar""#), "a category with a NUL is printed whole: \(json)")
            XCTAssertTrue(json.contains(#""EUR\u0000""#), "a currency with a NUL is printed whole: \(json)")
        }
    }

    /// Columns with a case-insensitive collation: groups are still told apart by their bytes,
    /// by the summary as by the full scan.
    func testGroupsAreComparedAsBytesWhateverTheColumnsCollation() throws {
        try run(columns: "category TEXT COLLATE NOCASE, merchant TEXT COLLATE NOCASE, currency TEXT COLLATE NOCASE",
                categories: ["'food'", "'Food'", "'FOOD'", "'rent'", "'Rent'"], merchants: ["'a'", "'A'", "'b'"],
                currencies: ["'EUR'", "'eur'"]) { report in
            let csv = try report("csv", ["--category", "Food"])
            XCTAssertTrue(csv.contains("Food") && !csv.contains("FOOD"), "a category filter compares bytes too: \(csv.debugDescription)")
        }
    }

    private func run(columns: String, categories: [String], merchants: [String], currencies: [String],
                     finally check: ((_ report: (String, [String]) throws -> String) throws -> Void)) throws {
        let dir = TestDirectory("summary-bytes")
        let master = dir.sub("master"), replica = dir.sub("replica")
        func tool(_ name: String, _ args: [String], stdin: String? = nil) throws -> ToolRunner.Result {
            try ToolRunner.expectSuccess(name, args, stdin: stdin)
        }
        _ = try tool("binlog-writer", ["init", master])
        _ = try tool("binlog-writer", ["exec", master, "CREATE TABLE expenses (id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, amount_cents INTEGER, \(columns));"])
        _ = try tool("replica-apply", ["init", replica])
        func ship() throws {
            _ = try tool("binlog-writer", ["rotate", master])
            try Shipping.shipSealed(binlog: master + "/binlog", to: replica + "/inbox")
            _ = try tool("replica-apply", [replica])
        }
        func report(_ format: String, _ extra: [String]) throws -> String {
            let out = try tool("report", ["monthly-expenses", "--store", replica, "-f", format] + extra).stdout
            if format == "json" { return out.replacingOccurrences(of: #""(ageSeconds|reportedAt)":[^,]*,"#, with: "", options: .regularExpression) }
            // Title and freshness line (its age changes from run to run) first, then the tables.
            // ("\r\n" is one Character in Swift: CSV's line ends are made "\n" first.)
            let lines = out.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
            XCTAssertGreaterThan(lines.count, 4, "\(format): \(out)")
            return lines.dropFirst(2).joined(separator: "\n")
        }
        func compare(_ context: String) throws {
            for format in ["json", "csv", "table"] {
                XCTAssertEqual(try report(format, []), try report(format, ["--no-summary"]), "\(format): summary differs from a full scan \(context)")
            }
        }
        var id = 0
        func inserts(_ n: Int, month: Int) -> String {
            (0..<n).map { k in
                id += 1
                return "INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency) VALUES (\(id), '2024-0\(month)-1\(k % 9)', \(categories[id % categories.count]), \(merchants[id % merchants.count]), \(100 + id), \(currencies[id % currencies.count]));"
            }.joined(separator: "\n")
        }
        _ = try tool("binlog-writer", ["exec", master, "BEGIN;\n" + inserts(60, month: 1) + "\nCOMMIT;"])
        try ship()
        _ = try tool("replica-apply", ["summarize", replica])
        try compare("right after summarize")
        // Kept during apply: inserts into existing and new groups, updates across groups,
        // deletes of minima and maxima.
        _ = try tool("binlog-writer", ["exec", master, "BEGIN;\n" + inserts(60, month: 2) + "\nCOMMIT;"])
        try ship()
        try compare("after inserts")
        _ = try tool("binlog-writer", ["exec", master, """
            UPDATE expenses SET category = \(categories[1]) WHERE id % 7 = 0;
            UPDATE expenses SET amount_cents = amount_cents + 1000 WHERE category = \(categories[3]) COLLATE BINARY;
            DELETE FROM expenses WHERE id IN (SELECT id FROM expenses WHERE category = \(categories[2]) COLLATE BINARY ORDER BY amount_cents LIMIT 3);
            DELETE FROM expenses WHERE merchant = \(merchants[2]) COLLATE BINARY AND id % 2 = 0;
            """])
        try ship()
        try compare("after updates and deletes")
        for filter in [["--category", "food"], ["--currency", "EUR"]] {
            for format in ["json", "csv"] {
                XCTAssertEqual(try report(format, filter), try report(format, filter + ["--no-summary"]), "\(format) \(filter): summary differs from a full scan")
            }
        }
        try check(report)
    }
}
