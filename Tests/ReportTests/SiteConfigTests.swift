import Foundation
@testable import Reports
import XCTest

/// reports.yml as `SiteConfig` reads it: the sample, the monthly report's options, and the
/// exact refusals (file and line) of what it does not accept.
final class SiteConfigTests: XCTestCase {
    static func parse(_ yaml: String) throws -> SiteConfig {
        try SiteConfig.parse(yaml: yaml, file: "r.yml", baseDirectory: "/etc/r", parseDuration: { $0 == "15m" ? 900 : nil })
    }

    func testTheSampleConfigReadsAsDocumented() throws {
        let text = try String(contentsOfFile: FixtureStore.repositoryRoot + "/samples/reports/reports.yml", encoding: .utf8)
        let c = try SiteConfig.parse(yaml: text, file: "reports.yml", baseDirectory: "/etc/logship/reports", parseDuration: { $0 == "1h" ? 3600 : nil })
        XCTAssertEqual(c.stores, ["/srv/replica-a", "/srv/replica-b"])
        XCTAssertEqual(c.maxLag, 3600)
        XCTAssertEqual(c.title, "Expenses")
        XCTAssertEqual(c.reports.map(\.name), ["monthly-expenses", "top-merchants-eur-2024", "yearly-by-category", "payment-methods-eur"])
        XCTAssertEqual(c.reports[0].kind, .monthlyExpenses(from: nil, to: nil, currencies: [], categories: [], top: 10, pivot: false))
        XCTAssertEqual(c.reports[1].kind, .query(file: "/etc/logship/reports/top-merchants.sql", params: ["currency": "EUR", "from": "2024-01-01", "to": "2024-12-31"]))
        XCTAssertEqual(c.reports[1].formats, [.html, .csv, .json])
        XCTAssertEqual(c.reports[3].formats, [.html, .csv])
    }

    func testMonthlyOptions() throws {
        let c = try Self.parse("""
            stores: [a]
            reports:
              - name: m
                monthly_expenses: {from: 2024-01, to: 2024-06, currency: [EUR, JPY], category: travel, top: 3, pivot: true}
              - name: d
                monthly_expenses:
            """)
        XCTAssertEqual(c.stores, ["/etc/r/a"])
        XCTAssertEqual(c.reports[0].kind, .monthlyExpenses(from: "2024-01", to: "2024-06", currencies: ["EUR", "JPY"], categories: ["travel"], top: 3, pivot: true))
        XCTAssertEqual(c.reports[1].kind, .monthlyExpenses(from: nil, to: nil, currencies: [], categories: [], top: 10, pivot: false))
        XCTAssertEqual(c.reports[1].title, "d")
    }

    func testRefusalsNameFileAndLine() {
        let cases: [(String, String)] = [
            ("stores: [a]\nreports:\n  - name: m\n    monthly_expenses: {from: 2024-13}\n", "invalid request: r.yml:4: 'from' takes a month like 2024-03"),
            ("stores: [a]\nreports:\n  - name: m\n    monthly_expenses: {}\n    params: {x: 1}\n", "invalid request: r.yml:3: report 'm': 'params' binds a query's :names"),
            ("stores: [a]\nreports:\n  - name: q\n", "invalid request: r.yml:3: report 'q' needs 'query: FILE.sql' or 'monthly_expenses:'"),
            ("stores: [a]\nreports:\n  - name: index\n    query: a.sql\n", "invalid request: r.yml:3: a report needs a 'name'"),
            ("stores: [a]\nstore: b\nreports: []\n", "invalid request: r.yml:2: unknown key 'store' in the site config"),
            ("reports:\n  - name: q\n    query: a.sql\n", "invalid request: r.yml: no `stores:` given"),
            ("stores: [a]\nmax_lag: 15m\nreports:\n  - {name: q, query: a.sql, params: {a: 1, a: 2}}\n", "invalid request: unable to read the site config r.yml: not valid YAML: Parser: expected all keys to be unique but found the following duplicated key(s): 'a'"),
        ]
        for (yaml, message) in cases {
            XCTAssertThrowsError(try Self.parse(yaml), message) { error in
                XCTAssertTrue("\(error)".hasPrefix(message) || "\(error)".contains(message), "expected \(message), got \(error)")
                XCTAssertEqual((error as? ReportError)?.exitStatus, .usage)
            }
        }
    }
}
