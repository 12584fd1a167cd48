import Foundation
import LogshipTestSupport
import XCTest

/// `report`'s output flags through the built binary: CSV one file per section (--out-dir),
/// comment lines when asked (--csv-comments), formula neutralising and its opt-out
/// (--csv-keep-formulas), several --currency, --pivot, and money in each currency's minor unit.
final class ReportOutputCommandTests: XCTestCase {
    static let rows = """
        INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES
          ('2024-01-05', 'food', '=HYPERLINK("http://x")', 123456, 'JPY'),
          ('2024-01-06', 'food', 'Souq', 1234567, 'BHD'),
          ('2024-02-07', 'rent', '@Acme', 250000, 'EUR'),
          ('2024-02-08', 'food', 'Edeka', 999, 'EUR');
        """

    private func report(_ args: [String]) throws -> ToolRunner.Result { try ToolRunner.run("report", args) }

    func testOutDirWritesOneCSVTablePerSection() throws {
        let dir = TestDirectory("report-output")
        let store = try ReportCommandTests.makeStore(dir.sub("store.db"), rows: Self.rows)
        let out = dir.sub("csv")
        let r = try report(["monthly-expenses", "--store", store, "-f", "csv", "--out-dir", out, "--pivot", "--to", "2024-03"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr, "", "files written, nothing printed (cron mails any output)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(),
                       ["by-month-category-and-currency.csv", "category-month.csv", "month-totals.csv", "period-totals.csv", "top-merchants.csv"])
        let pivot = try String(contentsOfFile: out + "/category-month.csv", encoding: .utf8)
        XCTAssertEqual(pivot, """
            currency,category,2024-01,2024-02,2024-03,total\r
            BHD,food,1234.567,,,1234.567\r
            BHD,all categories,1234.567,,,1234.567\r
            EUR,food,,9.99,,9.99\r
            EUR,rent,,2500.00,,2500.00\r
            EUR,all categories,,2509.99,,2509.99\r
            JPY,food,123456,,,123456\r
            JPY,all categories,123456,,,123456\r

            """)
        let merchants = try String(contentsOfFile: out + "/top-merchants.csv", encoding: .utf8)
        XCTAssertTrue(merchants.contains("EUR,1,'@Acme,1,2500.00\r\n") && merchants.contains("JPY,1,\"'=HYPERLINK(\"\"http://x\"\")\",1,123456\r\n"), merchants)
        let again = try report(["monthly-expenses", "--store", store, "-f", "csv", "--out-dir", out])
        XCTAssertEqual(again.status, 16, again.stderr)
        XCTAssertTrue(again.stderr.contains("exists") && again.stderr.contains("--force"), again.stderr)
        XCTAssertEqual(try report(["monthly-expenses", "--store", store, "-f", "csv", "--out-dir", out, "--force"]).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".tmp-") }, [], "no temporary files left")
        let missing = try report(["monthly-expenses", "--store", store, "-f", "csv", "--out-dir", dir.sub("no/such")])
        XCTAssertEqual(missing.status, 15, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("unable to create \(dir.sub("no/such"))"), missing.stderr)
    }

    func testCSVCommentsAndFormulaFlags() throws {
        let dir = TestDirectory("report-output")
        let store = try ReportCommandTests.makeStore(dir.sub("store.db"), rows: Self.rows)
        let sql = "SELECT merchant, amount_cents - 300000 AS delta FROM expenses ORDER BY id"
        let plain = try report(["query", "--store", store, "-f", "csv", sql])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(plain.stdout, "merchant,delta\r\n\"'=HYPERLINK(\"\"http://x\"\")\",-176544\r\nSouq,934567\r\n'@Acme,-50000\r\nEdeka,-299001\r\n")
        let raw = try report(["query", "--store", store, "-f", "csv", "--csv-keep-formulas", sql])
        XCTAssertEqual(raw.stdout, "merchant,delta\r\n\"=HYPERLINK(\"\"http://x\"\")\",-176544\r\nSouq,934567\r\n@Acme,-50000\r\nEdeka,-299001\r\n")
        let commented = try report(["query", "--store", store, "-f", "csv", "--csv-comments", sql])
        XCTAssertTrue(commented.stdout.hasPrefix("# Query\r\n# data as of LSN 1234, committed ") && commented.stdout.contains("\r\n# Result\r\nmerchant,delta\r\n"), commented.stdout)
        XCTAssertEqual(commented.stderr, "", "the stamp is in the file")
    }

    func testSeveralCurrenciesAndMinorUnitsInTheTable() throws {
        let dir = TestDirectory("report-output")
        let store = try ReportCommandTests.makeStore(dir.sub("store.db"), rows: Self.rows)
        let r = try report(["monthly-expenses", "--store", store, "--currency", "JPY", "--currency", "BHD"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("Monthly expenses (BHD, JPY)\n") || r.stdout.hasPrefix("Monthly expenses (JPY, BHD)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("2024-01  food      BHD           1  1,234.567  1,234.567  1,234.567  1,234.567"), r.stdout)
        XCTAssertTrue(r.stdout.contains("2024-01  food      JPY           1    123,456    123,456    123,456    123,456"), r.stdout)
        XCTAssertFalse(r.stdout.contains("EUR"), r.stdout)
    }
}
