import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// What a reader sees: money in each currency's minor unit with thousands separators where
/// people read (table, Markdown, HTML) and plain where programs read (CSV, JSON); period
/// totals, the category × month pivot and several currencies at once.
final class RenderTests: XCTestCase {
    /// The sample schema without its CHECK, so refunds can be negative.
    static let schema = """
        CREATE TABLE expenses (id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, category TEXT NOT NULL, merchant TEXT NOT NULL,
                               amount_cents INTEGER, currency TEXT NOT NULL, note TEXT);
        """

    /// Amounts whose printed form depends on the currency's minor unit (ISO 4217).
    static let rows = """
        INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES
          ('2024-01-05', 'food', 'Sushi Dai', 123456, 'JPY'), ('2024-01-06', 'food', 'Sushi Dai', 1, 'JPY'),
          ('2024-01-06', 'food', 'Souq', 1234567, 'BHD'),
          ('2024-01-07', 'fees', 'UF', 12345, 'CLF'),
          ('2024-01-08', 'food', 'Edeka', 123456789, 'EUR'), ('2024-01-09', 'food', 'Edeka', -250, 'EUR'),
          ('2024-03-01', 'rent', 'Acme', 100000, 'EUR');
        """

    private func store(_ dir: TestDirectory, rows: String = rows) throws -> String {
        try FixtureStore.create(at: dir.sub("store.db"), schema: Self.schema, rows: rows)
    }

    private func sections(_ json: String) throws -> [String: [[String: Any]]] {
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        var out: [String: [[String: Any]]] = [:]
        for s in object["sections"] as? [[String: Any]] ?? [] { out[s["name"] as? String ?? ""] = s["rows"] as? [[String: Any]] }
        return out
    }

    func testMoneyIsPrintedInEachCurrencysMinorUnit() throws {
        XCTAssertEqual(["JPY", "jpy", "BHD", "KWD", "OMR", "JOD", "TND", "LYD", "IQD", "CLF", "EUR", "USD", "XYZ", ""].map(CurrencyMinorUnits.digits),
                       [0, 0, 3, 3, 3, 3, 3, 3, 3, 4, 2, 2, 2, 2])
        let dir = TestDirectory("render")
        let groups = try sections(try Render.monthly(try store(dir), .json, in: dir))["By month, category and currency"] ?? []
        func line(_ currency: String) -> [String: Any]? { groups.first { $0["currency"] as? String == currency } }
        XCTAssertEqual(line("JPY")?["total"] as? String, "123457")
        XCTAssertEqual(line("JPY")?["average"] as? String, "61729", "123457 / 2 = 61728.5 yen, half away from zero")
        XCTAssertEqual(line("JPY")?["minimum"] as? String, "1")
        XCTAssertEqual(line("BHD")?["total"] as? String, "1234.567")
        XCTAssertEqual(line("CLF")?["total"] as? String, "1.2345")
        XCTAssertEqual(line("EUR")?["total"] as? String, "1234565.39")
        XCTAssertEqual(line("EUR")?["minimum"] as? String, "-2.50")
        XCTAssertEqual(Cell.money(-5, digits: 3), "-0.005")
        XCTAssertEqual(Cell.money(Int64.min, digits: 2, grouped: true), "-92,233,720,368,547,758.08")
        XCTAssertEqual(Cell.money(999, digits: 0, grouped: true), "999")
        XCTAssertEqual(Cell.money(1000, digits: 0, grouped: true), "1,000")
    }

    /// Separators where people read, none where programs read.
    func testThousandsSeparatorsInTableMarkdownAndHTMLOnly() throws {
        let dir = TestDirectory("render")
        let store = try self.store(dir)
        for format in [ReportFormat.table, .markdown, .html] {
            let text = try Render.monthly(store, format, in: dir)
            for figure in ["1,234,565.39", "123,457", "1,234.567", "1.2345", "-2.50", "1,000.00"] {
                XCTAssertTrue(text.contains(figure), "\(format) lacks \(figure)")
            }
        }
        for format in [ReportFormat.csv, .json] {
            let text = try Render.monthly(store, format, in: dir)
            XCTAssertTrue(text.contains("1234565.39") && text.contains("123457"), "\(format)")
            XCTAssertFalse(text.contains("1,234,565.39") || text.contains("123,457"), "\(format) has separators")
        }
    }

    func testPeriodTotalsPerCurrency() throws {
        let dir = TestDirectory("render")
        let periods = try sections(try Render.monthly(try store(dir), .json, in: dir))["Period totals"] ?? []
        XCTAssertEqual(periods.map { $0["currency"] as? String }, ["BHD", "CLF", "EUR", "JPY"])
        let eur = try XCTUnwrap(periods.first { $0["currency"] as? String == "EUR" })
        XCTAssertEqual(eur["count"] as? Int, 3)
        XCTAssertEqual(eur["total"] as? String, "1235565.39", "123456789 - 250 + 100000 cents")
        XCTAssertEqual(eur["average"] as? String, "411855.13", "123556539 / 3 = 41185513 cents")
        XCTAssertEqual(eur["minimum"] as? String, "-2.50")
        XCTAssertEqual(eur["maximum"] as? String, "1234567.89")
    }

    /// The pivot: a line per category and currency over every month of the range, empty where
    /// a category has nothing (February here), a total column, and a line for all categories.
    func testCategoryByMonthPivot() throws {
        let dir = TestDirectory("render")
        var options = MonthlyExpenses.Options()
        options.pivot = true
        options.currencies = ["EUR", "JPY"]
        options.toMonth = "2024-04"
        let pivot = try sections(try Render.monthly(try store(dir), .json, in: dir, options: options))["Category × month"] ?? []
        let keys = ["currency", "category", "2024-01", "2024-02", "2024-03", "2024-04", "total"]
        let lines = pivot.map { row in keys.map { k in row[k].map { $0 is NSNull ? "" : "\($0)" } ?? "<missing>" } }
        XCTAssertEqual(lines, [
            ["EUR", "food", "1234565.39", "", "", "", "1234565.39"],
            ["EUR", "rent", "", "", "1000.00", "", "1000.00"],
            ["EUR", "all categories", "1234565.39", "", "1000.00", "", "1235565.39"],
            ["JPY", "food", "123457", "", "", "", "123457"],
            ["JPY", "all categories", "123457", "", "", "", "123457"],
        ])
    }

    /// Several currencies at once: only those, in every section.
    func testSeveralCurrencies() throws {
        let dir = TestDirectory("render")
        var options = MonthlyExpenses.Options()
        options.currencies = ["BHD", "JPY"]
        let store = try self.store(dir)
        let all = try sections(try Render.monthly(store, .json, in: dir, options: options))
        for (name, rows) in all {
            XCTAssertEqual(Set(rows.compactMap { $0["currency"] as? String }), ["BHD", "JPY"], name)
        }
        options.useSummary = false
        XCTAssertEqual(all.count, 4)
        XCTAssertEqual(try Render.monthly(store, .csv, in: dir, options: options).contains(",EUR,"), false)
    }

    /// Markdown: markup in values is text, pipes and emphasis are escaped, numbers right-aligned.
    func testMarkdownEscapesHTMLAndAlignsNumbers() throws {
        let dir = TestDirectory("render")
        let store = try self.store(dir, rows: "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-01', '<b>x</b> & y', 'a|b *c* _d_ `e` [f]', 5, 'EUR');")
        let text = try Render.monthly(store, .markdown, in: dir)
        XCTAssertTrue(text.contains("| 2024-01 | &lt;b&gt;x&lt;/b&gt; &amp; y | EUR | 1 | 0.05 | 0.05 | 0.05 | 0.05 |"), text)
        XCTAssertTrue(text.contains("| a\\|b \\*c\\* \\_d\\_ \\`e\\` \\[f\\] |"), text)
        XCTAssertTrue(text.contains("| month | category | currency | count | total | average | minimum | maximum |\n|---|---|---|---:|---:|---:|---:|---:|"), text)
        XCTAssertFalse(text.contains("<b>"), text)
        let query = try Render.query(store, "SELECT 1 AS n, 'x' AS t, NULL AS empty", [:], .markdown, in: dir)
        XCTAssertTrue(query.contains("| n | t | empty |\n|---:|---|---|\n| 1 | x |  |"), query)
    }

    /// HTML: a number column's header is right-aligned like its numbers.
    func testHTMLHeadersAlignWithTheirNumbers() throws {
        let dir = TestDirectory("render")
        let html = try Render.monthly(try store(dir), .html, in: dir)
        XCTAssertTrue(html.contains("<thead><tr><th>month</th><th>currency</th><th class=\"n\">count</th><th class=\"n\">total</th><th>change</th></tr></thead>"), "a column of NULLs only (no month follows another here) is not a number column: \(html)")
        XCTAssertTrue(html.contains("th.n,td.n{text-align:right"), "the class aligns headers too")
    }
}
