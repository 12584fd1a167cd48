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
        let dir = TestDirectory("summary-bytes")
        let master = dir.sub("master"), replica = dir.sub("replica")
        func tool(_ name: String, _ args: [String], stdin: String? = nil) throws -> ToolRunner.Result {
            let r = try ToolRunner.run(name, args, stdin: stdin)
            XCTAssertEqual(r.status, 0, "\(name) \(args.joined(separator: " ")): \(r.stderr)")
            return r
        }
        // food, food<NUL>bar, food<NUL>baz, foo<FF>, foo<FE> (the last two print alike, as U+FFFD).
        let categories = ["'food'", "CAST(X'666F6F6400626172' AS TEXT)", "CAST(X'666F6F6400626178' AS TEXT)",
                          "CAST(X'666F6FFF' AS TEXT)", "CAST(X'666F6FFE' AS TEXT)"]
        let merchants = ["'A'", "CAST(X'4100' AS TEXT)", "CAST(X'41C3' AS TEXT)"]
        let currencies = ["'EUR'", "CAST(X'45555200' AS TEXT)"]
        _ = try tool("binlog-writer", ["init", master])
        _ = try tool("binlog-writer", ["exec", master, "CREATE TABLE expenses (id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, category TEXT, merchant TEXT, amount_cents INTEGER, currency TEXT);"])
        _ = try tool("replica-apply", ["init", replica])
        func ship() throws {
            _ = try tool("binlog-writer", ["rotate", master])
            for entry in try BinlogDirectory(path: master + "/binlog").list().segments where !entry.name.isActive {
                let target = replica + "/inbox/" + entry.name.description
                if FileManager.default.fileExists(atPath: target) { continue }
                try FileManager.default.copyItem(atPath: entry.path, toPath: target + ".tmp")
                try FileManager.default.moveItem(atPath: target + ".tmp", toPath: target)
            }
            _ = try tool("replica-apply", [replica])
        }
        func report(_ format: String, _ extra: [String]) throws -> String {
            let out = try tool("report", ["monthly-expenses", "--store", replica, "-f", format] + extra).stdout
            if format == "json" { return out.replacingOccurrences(of: #""(ageSeconds|reportedAt)":[^,]*,"#, with: "", options: .regularExpression) }
            // Title and freshness line (its age changes from run to run) first, then the tables.
            return out.components(separatedBy: "\n").dropFirst(2).joined(separator: "\n")
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
                return "INSERT INTO expenses VALUES (\(id), '2024-0\(month)-1\(k % 9)', \(categories[id % categories.count]), \(merchants[id % merchants.count]), \(100 + id), \(currencies[id % currencies.count]));"
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
            UPDATE expenses SET category = CAST(X'666F6F6400626172' AS TEXT) WHERE id % 7 = 0;
            UPDATE expenses SET amount_cents = amount_cents + 1000 WHERE category = CAST(X'666F6FFF' AS TEXT);
            DELETE FROM expenses WHERE id IN (SELECT id FROM expenses WHERE category = CAST(X'666F6F6400626178' AS TEXT) ORDER BY amount_cents LIMIT 3);
            DELETE FROM expenses WHERE merchant = CAST(X'41C3' AS TEXT) AND id % 2 = 0;
            """])
        try ship()
        try compare("after updates and deletes")
        let json = try report("json", [])
        XCTAssertTrue(json.contains(#""food\u0000bar""#), "a category with a NUL is printed whole: \(json)")
        XCTAssertTrue(json.contains(#""EUR\u0000""#), "a currency with a NUL is printed whole: \(json)")
    }
}
