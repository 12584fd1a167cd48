import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// CSV that `csv.DictReader` and spreadsheets read as is: one table per file (long format for
/// the monthly report, or one file per section), no comment lines unless asked, and cells a
/// spreadsheet would run as formulas neutralised.
final class CSVLayoutTests: XCTestCase {
    private func csv(_ options: CSVOptions, in dir: TestDirectory, _ body: (ReportWriter) throws -> Void) throws -> String {
        let out = dir.sub("out-\(UInt32.random(in: 0...UInt32.max)).csv")
        try body(ReportSink.make(.csv, sink: try ReportSink(outputPath: out, force: false), csv: options))
        return try String(contentsOfFile: out, encoding: .utf8)
    }

    /// Python's csv.DictReader over `text`: the header and the rows as JSON.
    private func dictReader(_ text: String, in dir: TestDirectory) throws -> (fields: [String], rows: [[String: String]])? {
        let file = dir.sub("dict-\(UInt32.random(in: 0...UInt32.max)).csv")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try ToolRunner.runSystem("/usr/bin/env", ["python3", "-c", """
            import csv, json, sys
            with open(sys.argv[1], newline='', encoding='utf-8') as f:
                reader = csv.DictReader(f, strict=True)
                rows = list(reader)
                print(json.dumps({"fields": reader.fieldnames, "rows": rows, "ragged": [r for r in rows if None in r or None in r.values()]}))
            """, file])
        guard r.status == 0 else { XCTFail("python3: \(r.stderr)"); return nil }
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((object["ragged"] as? [Any])?.count, 0, "every line has the header's columns")
        return (object["fields"] as? [String] ?? [], object["rows"] as? [[String: String]] ?? [])
    }

    func testMonthlyCSVIsOneLongTable() throws {
        let dir = TestDirectory("csv-layout")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        let text = try Render.monthly(store, .csv, in: dir)
        let (records, comments) = try FormatTests.parseCSV(text)
        XCTAssertEqual(comments, [], "no comment lines unless asked")
        XCTAssertEqual(Set(records.map(\.count)), [8], "one table: every line has 8 fields")
        guard let (fields, rows) = try dictReader(text, in: dir) else { return }
        XCTAssertEqual(fields, ["section", "month", "category", "currency", "merchant", "rank", "measure", "value"])
        XCTAssertEqual(Set(rows.map { $0["section"] ?? "" }), ["by-month-category-and-currency", "month-totals", "period-totals", "top-merchants"])
        func value(_ section: String, _ keys: [String: String], _ measure: String) -> [String] {
            rows.filter { r in r["section"] == section && r["measure"] == measure && keys.allSatisfy { r[$0.key] == $0.value } }.map { $0["value"] ?? "" }
        }
        XCTAssertEqual(value("by-month-category-and-currency", ["month": "2024-02", "category": "groceries", "currency": "EUR"], "average"), ["0.02"])
        XCTAssertEqual(value("month-totals", ["month": "2024-02", "currency": "EUR"], "change"), ["-5.3%"])
        XCTAssertEqual(value("top-merchants", ["currency": "GBP", "merchant": "Line\nBreak Ltd"], "total"), ["19.99"])
        XCTAssertEqual(value("period-totals", ["currency": "EUR"], "total"), ["2517.91"], "126783 + 120003 + 5005 cents")
        // Each group gives count, total, average, minimum and maximum.
        XCTAssertEqual(rows.filter { $0["section"] == "by-month-category-and-currency" }.count, 9 * 5, "9 groups")
    }

    func testCommentLinesOnlyWhenAsked() throws {
        let dir = TestDirectory("csv-layout")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        var options = CSVOptions()
        options.comments = true
        let s = try ReportStore(path: store, allowMaster: false)
        let text = try csv(options, in: dir) { try CustomQuery.run(s, sql: "SELECT 1 AS one", parameters: [:], to: $0) }
        let (records, comments) = try FormatTests.parseCSV(text)
        XCTAssertEqual(comments.count, 3, "title, freshness, section")
        XCTAssertTrue(comments[1].hasPrefix("# data as of LSN 1234,"), comments[1])
        XCTAssertEqual(records, [["one"], ["1"]])
        let plain = try csv(CSVOptions(), in: dir) { try CustomQuery.run(s, sql: "SELECT 1 AS one", parameters: [:], to: $0) }
        XCTAssertEqual(plain, "one\r\n1\r\n")
    }

    /// Leading = + - @ tab CR get a ' in front; numbers, and text that is a plain number, do
    /// not; the option turns it off.
    func testFormulaCellsAreNeutralised() throws {
        let dir = TestDirectory("csv-layout")
        let values = ["=1+2", "+cmd|' /C calc'!A0", "-x", "@SUM(A1)", "\tx", "\rx", "-12.5", "+3e5", "=", "a=b", "-", "1-2", "é=", ""]
        let expected = ["'=1+2", "'+cmd|' /C calc'!A0", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "-12.5", "+3e5", "'=", "a=b", "'-", "1-2", "é=", ""]
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: "CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT, amount INTEGER, r REAL)")
        let queue = try DatabaseQueue(path: store)
        try queue.write { db in
            for (i, v) in values.enumerated() { try db.execute(sql: "INSERT INTO t VALUES (?, ?, ?, ?)", arguments: [i, v, -5 - i, -0.5]) }
        }
        try queue.close()
        let s = try ReportStore(path: store, allowMaster: false)
        let sql = "SELECT v AS \"=v\", amount, r FROM t ORDER BY n"
        let guarded = try FormatTests.parseCSV(try csv(CSVOptions(), in: dir) { try CustomQuery.run(s, sql: sql, parameters: [:], to: $0) }).records
        XCTAssertEqual(guarded.first, ["'=v", "amount", "r"])
        XCTAssertEqual(guarded.dropFirst().map { $0[0] }, expected)
        XCTAssertEqual(guarded.dropFirst().map { $0[1] }, values.indices.map { String(-5 - $0) }, "negative numbers stay numbers")
        XCTAssertEqual(Set(guarded.dropFirst().map { $0[2] }), ["-0.5"])
        var off = CSVOptions()
        off.neutraliseFormulas = false
        let raw = try FormatTests.parseCSV(try csv(off, in: dir) { try CustomQuery.run(s, sql: sql, parameters: [:], to: $0) }).records
        XCTAssertEqual(raw.first, ["=v", "amount", "r"])
        XCTAssertEqual(raw.dropFirst().map { $0[0] }, values)
        // The monthly report's text (categories, merchants) is guarded too; its money is not.
        let money = try FixtureStore.create(at: dir.sub("money.db"), schema: RenderTests.schema, rows: """
            INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-01', '=cmd()', '@evil', -250, 'EUR');
            """)
        let monthly = try FormatTests.parseCSV(try Render.monthly(money, .csv, in: dir)).records
        XCTAssertTrue(monthly.contains(["by-month-category-and-currency", "2024-01", "'=cmd()", "EUR", "", "", "total", "-2.50"]), "\(monthly)")
        XCTAssertTrue(monthly.contains(["top-merchants", "", "", "EUR", "'@evil", "1", "total", "-2.50"]), "\(monthly)")
    }

    func testSecondSectionWithoutKeysIsRefused() throws {
        let dir = TestDirectory("csv-layout")
        XCTAssertThrowsError(try csv(CSVOptions(), in: dir) { w in
            try w.beginSection("A", columns: [ReportColumn("x")])
            try w.endSection()
            try w.beginSection("B", columns: [ReportColumn("y")])
        }) { error in
            XCTAssertEqual((error as? ReportError)?.description,
                           "invalid request: unable to write section \"B\" into the same CSV table as the one before it\nHINT: write one file per section with --out-dir")
        }
    }

    /// One file per section, each a plain table; published together; existing files refused.
    func testOneFilePerSection() throws {
        let dir = TestDirectory("csv-layout")
        let store = try ReportStore(path: try FixtureStore.golden(at: dir.sub("store.db")), allowMaster: false)
        let out = dir.sub("csv")
        try MonthlyExpenses.run(store, .init(), to: try ReportSink.csvDirectory(out, force: false))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(),
                       ["by-month-category-and-currency.csv", "month-totals.csv", "period-totals.csv", "top-merchants.csv"])
        let totals = try String(contentsOfFile: out + "/month-totals.csv", encoding: .utf8)
        XCTAssertTrue(totals.hasPrefix("month,currency,count,total,change\r\n2024-01,EUR,4,1267.83,\r\n"), totals)
        guard let (fields, rows) = try dictReader(try String(contentsOfFile: out + "/top-merchants.csv", encoding: .utf8), in: dir) else { return }
        XCTAssertEqual(fields, ["currency", "rank", "merchant", "count", "total"])
        XCTAssertEqual(rows.first, ["currency": "EUR", "rank": "1", "merchant": "Acme | Properties", "count": "2", "total": "2400.00"])
        XCTAssertThrowsError(try MonthlyExpenses.run(store, .init(), to: try ReportSink.csvDirectory(out, force: false))) { error in
            XCTAssertEqual((error as? ReportError)?.kind, .exists, "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).count, 4, "nothing left behind")
        try MonthlyExpenses.run(store, .init(), to: try ReportSink.csvDirectory(out, force: true))
        XCTAssertThrowsError(try ReportSink.csvDirectory(dir.sub("missing/csv"), force: false)) { error in
            XCTAssertEqual((error as? ReportError)?.kind, .notFound, "\(error)")
        }
    }
}
