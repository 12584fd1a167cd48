import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// The HTML charts read right: one month axis for every currency covering the whole requested
/// range, a y axis with ticks, gridlines and the unit, tiny values visible, and ten colours at
/// most (the smallest categories grouped as "other").
final class ChartTests: XCTestCase {
    /// The `<svg>` elements of a page, each with its currency.
    static func charts(_ html: String) -> [(currency: String, svg: String)] {
        html.components(separatedBy: "<h2>Monthly totals by category, ").dropFirst().map { part in
            let currency = String(part.prefix { $0 != "<" })
            let svg = part.components(separatedBy: "</svg>")[0]
            return (currency, svg)
        }
    }

    static func all(_ pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { m in
            Range(m.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    func testEveryCurrencySharesTheWholeRequestedMonthAxis() throws {
        let dir = TestDirectory("chart")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        var options = MonthlyExpenses.Options()
        options.fromMonth = "2023-11"
        options.toMonth = "2024-06"
        let charts = Self.charts(try Render.monthly(store, .html, in: dir, options: options))
        XCTAssertEqual(charts.map(\.currency), ["EUR", "GBP"])
        let expected = ["2023-11", "2023-12", "2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
        for chart in charts {
            XCTAssertEqual(Self.all(#"data-month="([0-9-]+)""#, in: chart.svg), expected, chart.currency)
            XCTAssertEqual(Self.all(#"class="month-label"[^>]*>([0-9-]+)<"#, in: chart.svg), expected, chart.currency)
        }
        // The same month sits at the same place in every chart.
        func x(_ month: String, _ svg: String) -> String? { Self.all(#"data-month="\#(month)"><rect x="([0-9]+)""#, in: svg).first }
        XCTAssertNotNil(x("2024-02", charts[0].svg))
        XCTAssertEqual(x("2024-02", charts[0].svg), x("2024-02", charts[1].svg))
        // Without a range, the axis runs from the first to the last month with expenses, for both.
        let plain = Self.charts(try Render.monthly(store, .html, in: dir))
        XCTAssertEqual(plain.map { Self.all(#"data-month="([0-9-]+)""#, in: $0.svg) }, Array(repeating: ["2024-01", "2024-02", "2024-03", "2024-04"], count: 2))
    }

    /// EUR's largest month is 1,267.83: a fifth is 253.57, so ticks every 500 up to 1,500.
    func testYAxisHasTicksGridlinesAndUnit() throws {
        let dir = TestDirectory("chart")
        let charts = Self.charts(try Render.monthly(try FixtureStore.golden(at: dir.sub("store.db")), .html, in: dir))
        let eur = try XCTUnwrap(charts.first)
        XCTAssertEqual(Self.all(#"class="tick"[^>]*>([^<]+)<"#, in: eur.svg), ["0", "500", "1,000", "1,500"])
        XCTAssertEqual(Self.all(#"class="grid"()"#, in: eur.svg).count, 4)
        XCTAssertEqual(Self.all(#"class="unit"[^>]*>([^<]+)<"#, in: eur.svg), ["EUR"])
        // GBP's largest month is 21.24: ticks every 5.
        XCTAssertEqual(Self.all(#"class="tick"[^>]*>([^<]+)<"#, in: charts[1].svg), ["0", "5", "10", "15", "20", "25"])
        XCTAssertEqual(MonthlyChart.tickStep(1), 1)
        XCTAssertEqual(MonthlyChart.tickStep(6), 2)
        XCTAssertEqual(MonthlyChart.tickStep(3), 1)
        XCTAssertEqual(MonthlyChart.tickStep(126_783), 50_000)
        XCTAssertEqual(MonthlyChart.tickLabel(150, step: 50, digits: 2), "1.50", "a step below one unit keeps decimals")
        XCTAssertEqual(MonthlyChart.tickLabel(2_000, step: 1_000, digits: 0), "2,000")
        let huge = MonthlyChart.tickStep(.max)
        XCTAssertEqual(huge, 2_000_000_000_000_000_000)
        XCTAssertEqual(MonthlyChart.ticks(.max, step: huge).last, 8_000_000_000_000_000_000, "the last tick that fits in 64 bits")
    }

    /// 0.03 EUR beside 1,200 EUR is still drawn, and a month whose whole bar is that low gets
    /// its total written above it.
    func testTinyValuesStayVisible() throws {
        let dir = TestDirectory("chart")
        let store = try FixtureStore.create(at: dir.sub("store.db"), rows: """
            INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES
              ('2024-01-01', 'rent', 'Acme', 10000000, 'EUR'), ('2024-01-02', 'food', 'Edeka', 3, 'EUR'), ('2024-02-01', 'food', 'Edeka', 1, 'EUR');
            """)
        let svg = try XCTUnwrap(Self.charts(try Render.monthly(store, .html, in: dir)).first?.svg)
        let heights = Self.all(##"height="([0-9.]+)" fill="#[0-9a-f]+"><title>2024-0[12] food"##, in: svg).compactMap(Double.init)
        XCTAssertEqual(heights.count, 2, svg)
        for h in heights { XCTAssertGreaterThanOrEqual(h, MonthlyChart.minimumBar) }
        XCTAssertEqual(Self.all(#"class="small-total"[^>]*>([^<]+)<"#, in: svg), ["0.01"], "February's bar is labelled, January's is not")
    }

    /// 30 categories: nine keep a colour each, the other 21 are one series "other", and a
    /// category has the same colour in every currency's chart.
    func testManyCategoriesGroupTheTailAsOther() throws {
        let dir = TestDirectory("chart")
        var rows: [String] = []
        for c in 0..<30 {
            for (k, currency) in ["EUR", "JPY"].enumerated() {
                rows.append("('2024-0\(1 + c % 3)-01', 'cat\(String(format: "%02d", c))', 'm', \((30 - c) * 1000 + k), '\(currency)')")
            }
        }
        let store = try FixtureStore.create(at: dir.sub("store.db"),
                                            rows: "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES " + rows.joined(separator: ",") + ";")
        let html = try Render.monthly(store, .html, in: dir)
        let legends = Self.all(#"<div class="legend">(.*?)</div>"#, in: html)
        XCTAssertEqual(legends.count, 2)
        for legend in legends {
            XCTAssertEqual(Self.all(#"</i>([^<]+)</span>"#, in: legend), (0..<9).map { String(format: "cat%02d", $0) } + ["other (21 categories)"])
            XCTAssertEqual(Self.all(#"background:(#[0-9a-f]{6})"#, in: legend), MonthlyChart.palette)
        }
        let fills = Set(Self.all(#"fill="(#[0-9a-f]{6})"><title>"#, in: html))
        XCTAssertTrue(fills.isSubset(of: Set(MonthlyChart.palette)), "\(fills)")
        // JPY has no minor unit: its ticks are whole yen.
        let jpy = try XCTUnwrap(Self.charts(html).last)
        XCTAssertEqual(jpy.currency, "JPY")
        XCTAssertTrue(Self.all(#"class="tick"[^>]*>([^<]+)<"#, in: jpy.svg).allSatisfy { !$0.contains(".") })
        XCTAssertTrue(jpy.svg.contains("<title>2024-01 cat00: 30,001 JPY</title>"), jpy.svg)
    }
}
