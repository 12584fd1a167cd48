import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// The HTML report as a real browser renders it: Debian's chromium, headless (tools/test
/// installs it), on 24 months × 30 categories × 5 currencies with non-ASCII names. The DOM that
/// chromium parsed is checked (axis labels, a bar in every month of every chart, legend
/// entries), and a screenshot is kept as an artifact under .build/artifacts/report-browser/.
/// Slow (two browser starts): in tools/test's slow list.
final class BrowserRenderTests: XCTestCase {
    static let currencies = ["EUR", "JPY", "BHD", "GBP", "CHF"]
    static let words = ["Café", "Überweisung", "東京 交通", "Ñandú", "Straße", "Œuvre", "Zoë", "Ελλάδα", "Мосгаз", "İstanbul"]
    static let months = (0..<24).map { String(format: "%04d-%02d", 2023 + $0 / 12, 1 + $0 % 12) }
    static let categories = (0..<30).map { "\(words[$0 % words.count]) \($0 / words.count + 1)" }

    static func chromium() -> String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs chromium headless (as root in CI: --no-sandbox) on `file` with `arguments`.
    static func browse(_ browser: String, _ arguments: [String], _ file: String) throws -> ToolRunner.Result {
        try ToolRunner.runSystem(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
                                 + arguments + ["file://" + file])
    }

    func testChromiumRendersEveryMonthAxisAndLegend() throws {
        guard let browser = Self.chromium() else {
            throw XCTSkip("chromium is not installed (tools/test installs it with apt-get install chromium); the browser check did not run")
        }
        var rng = SeededRandom()
        let seed = rng.seed
        let dir = TestDirectory("browser")
        var values: [String] = []
        for month in Self.months {
            for currency in Self.currencies {
                for (c, category) in Self.categories.enumerated() where c % 3 == 0 || Int.random(in: 0..<2, using: &rng) == 0 {
                    let amount = Int.random(in: 1...(c == 0 ? 5_000_000 : 200_000), using: &rng)
                    values.append("('\(month)-1\(c % 9)', '\(category)', 'Händler \(c)', \(amount), '\(currency)')")
                }
            }
        }
        let store = try FixtureStore.create(at: dir.sub("store.db"), rows: "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES "
                                            + values.joined(separator: ",\n") + ";")
        let html = try Render.monthly(store, .html, in: dir)
        let artifacts = FixtureStore.repositoryRoot + "/.build/artifacts/report-browser"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let page = artifacts + "/monthly-expenses.html", png = artifacts + "/monthly-expenses.png"
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: png)

        let dump = try Self.browse(browser, ["--dump-dom"], page)
        XCTAssertEqual(dump.status, 0, "chromium --dump-dom: \(dump.stderr.suffix(800)) (seed \(seed))")
        try checkDOM(dump.stdout, seed: seed)

        let shot = try Self.browse(browser, ["--screenshot=" + png, "--window-size=1280,2400"], page)
        XCTAssertEqual(shot.status, 0, "chromium --screenshot: \(shot.stderr.suffix(800))")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        // IHDR: width and height, big-endian, at bytes 16...23.
        let size = bytes.count >= 24 ? (bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }) : (0, 0)
        XCTAssertEqual(size.0, 1280)
        XCTAssertEqual(size.1, 2400)
        XCTAssertGreaterThan(bytes.count, 50_000, "a page of charts, not a blank one")
        print("BrowserRenderTests: screenshot kept at \(png), page at \(page) (seed \(seed))")
    }

    /// The DOM chromium built: five charts, each with 24 month groups holding bars, 24 month
    /// labels, ticks and its unit, and a legend of ten entries whose names came through whole.
    private func checkDOM(_ dom: String, seed: UInt64) throws {
        let charts = ChartTests.charts(dom)
        XCTAssertEqual(charts.map(\.currency), Self.currencies.sorted(), "seed \(seed)")
        for chart in charts {
            let groups = chart.svg.components(separatedBy: "<g class=\"month\" data-month=\"").dropFirst()
            XCTAssertEqual(groups.map { String($0.prefix(7)) }, Self.months, "\(chart.currency) seed \(seed)")
            for g in groups {
                XCTAssertTrue(g.components(separatedBy: "</g>")[0].contains("<rect"), "\(chart.currency) \(g.prefix(7)) has no bar (seed \(seed))")
            }
            XCTAssertEqual(ChartTests.all(#"class="month-label"[^>]*>([0-9-]+)<"#, in: chart.svg), Self.months, chart.currency)
            let ticks = ChartTests.all(#"class="tick"[^>]*>([^<]+)<"#, in: chart.svg)
            XCTAssertGreaterThanOrEqual(ticks.count, 3, "\(chart.currency): \(ticks)")
            XCTAssertEqual(ticks.first, "0")
            XCTAssertEqual(ChartTests.all(#"class="unit"[^>]*>([^<]+)<"#, in: chart.svg), [chart.currency])
        }
        let legends = ChartTests.all(#"<div class="legend">(.*?)</div>"#, in: dom)
        XCTAssertEqual(legends.count, 5)
        for legend in legends {
            let names = ChartTests.all(#"</i>([^<]+)</span>"#, in: legend)
            XCTAssertEqual(names.count, 10, legend)
            XCTAssertEqual(names.last, "other (21 categories)")
            for name in names.dropLast() { XCTAssertTrue(Self.categories.contains(name), "\(name) (seed \(seed))") }
        }
        XCTAssertTrue(dom.contains("東京 交通 1") && dom.contains("Ελλάδα 1"), "non-ASCII names survive")
    }
}
