import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// The monthly summary's own rules: month arithmetic, the chart's month axis, filters and the
/// column mapping's errors.
final class MonthlyExpensesTests: XCTestCase {
    func testMonthArithmetic() {
        XCTAssertEqual(MonthlyExpenses.nextMonth("2024-01"), "2024-02")
        XCTAssertEqual(MonthlyExpenses.nextMonth("2023-12"), "2024-01")
        for bad in ["2024-13", "2024-00", "24-01", "2024-1", "+123-01", "2024-01-05", "2024/01", "", "abcd-ef"] {
            XCTAssertNil(MonthlyExpenses.nextMonth(bad), bad)
            XCTAssertFalse(MonthlyExpenses.isMonth(bad), bad)
        }
    }

    /// The chart shows empty months as gaps rather than dropping them.
    func testMonthAxisFillsGaps() {
        XCTAssertEqual(MonthlyExpenses.monthAxis(["2023-11", "2024-02"]), ["2023-11", "2023-12", "2024-01", "2024-02"])
        XCTAssertEqual(MonthlyExpenses.monthAxis(["2024-02"]), ["2024-02"])
        XCTAssertEqual(MonthlyExpenses.monthAxis([]), [])
        XCTAssertEqual(MonthlyExpenses.monthAxis(["1700-01", "2024-01"]), ["1700-01", "2024-01"], "implausibly long: as they are")
        XCTAssertEqual(MonthlyExpenses.monthAxis(["", "2024-01", "1700000"]), ["", "2024-01", "1700000"], "not months: as they are")
        // The requested range is shown whole, before and after the months with expenses.
        XCTAssertEqual(MonthlyExpenses.monthAxis(["2024-02"], from: "2023-12", to: "2024-03"), ["2023-12", "2024-01", "2024-02", "2024-03"])
        XCTAssertEqual(MonthlyExpenses.monthAxis(["2024-02"], to: "2024-04"), ["2024-02", "2024-03", "2024-04"])
        XCTAssertEqual(MonthlyExpenses.monthAxis([], from: "2024-01", to: "2024-02"), ["2024-01", "2024-02"])
    }

    /// The long CSV's lines of the first section with `measure`: "month category currency value".
    private func groups(_ csv: String, _ measure: String = "total") throws -> [String] {
        try FormatTests.parseCSV(csv).records.filter { $0.count == 8 && $0[0] == "by-month-category-and-currency" && $0[6] == measure }
            .map { [$0[1], $0[2], $0[3], $0[7]].joined(separator: " ") }
    }

    /// Month totals compare with the calendar month before only.
    func testChangeSkipsMonthsWithoutExpenses() throws {
        let groups = [("2024-01", 100), ("2024-02", 150), ("2024-04", 300), ("2024-05", 150)].map {
            MonthlyExpenses.Group(month: $0.0, category: "c", currency: "EUR", count: 1, total: Int64($0.1), min: 0, max: 0)
        }
        XCTAssertEqual(try MonthlyExpenses.monthTotals(groups).map(\.change.text), ["", "+50.0%", "", "-50.0%"])
    }

    func testFiltersByMonthCategoryAndCurrency() throws {
        let dir = TestDirectory("monthly")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        var o = MonthlyExpenses.Options()
        o.fromMonth = "2024-02"
        o.toMonth = "2024-02"
        o.categories = ["groceries", "transport"]
        let table = try Render.monthly(store, .table, in: dir, options: o)
        XCTAssertTrue(table.hasPrefix("Monthly expenses (2024-02 to 2024-02; categories groceries, transport)\n"), table)
        XCTAssertEqual(try groups(try Render.monthly(store, .csv, in: dir, options: o)), ["2024-02 groceries EUR 0.03", "2024-02 transport GBP 1.25"])
        o = MonthlyExpenses.Options()
        o.currency = "GBP"
        o.fromMonth = "2024-01"
        XCTAssertEqual(try groups(try Render.monthly(store, .csv, in: dir, options: o)).map { $0.split(separator: " ")[2] }, ["GBP", "GBP", "GBP"])
        // The date bound is on the text: "2024-01-15T18:30:00Z" is inside January.
        o = MonthlyExpenses.Options()
        o.toMonth = "2024-01"
        o.categories = ["groceries"]
        XCTAssertEqual(try groups(try Render.monthly(store, .csv, in: dir, options: o), "count"), ["2024-01 groceries EUR 2"])
    }

    func testMappingErrorsNameTheFlag() throws {
        let dir = TestDirectory("monthly")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        var o = MonthlyExpenses.Options()
        o.mapping.table = "spending"
        XCTAssertThrowsError(try Render.monthly(store, .csv, in: dir, options: o)) { error in
            XCTAssertTrue("\(error)".contains("no table spending") && "\(error)".contains("--table"), "\(error)")
        }
        o = MonthlyExpenses.Options()
        o.mapping.amount = "cents"
        XCTAssertThrowsError(try Render.monthly(store, .csv, in: dir, options: o)) { error in
            XCTAssertTrue("\(error)".contains("has no column cents") && "\(error)".contains("--amount-column"), "\(error)")
        }
        // A mapping with awkward names is quoted, not spliced.
        let odd = try FixtureStore.create(at: dir.sub("odd.db"), schema: "CREATE TABLE \"my table\" (\"when\" TEXT, \"what\"\"s\" TEXT, amt INTEGER, cur TEXT, who TEXT)")
        let queue = try DatabaseQueue(path: odd)
        try queue.write { db in try db.execute(sql: "INSERT INTO \"my table\" VALUES ('2024-03-01', 'x', 5, 'EUR', 'm')") }
        try queue.close()
        o = MonthlyExpenses.Options()
        o.mapping = ExpenseMapping()
        o.mapping.table = "my table"; o.mapping.date = "when"; o.mapping.category = "what\"s"; o.mapping.amount = "amt"
        o.mapping.currency = "cur"; o.mapping.merchant = "who"
        XCTAssertTrue(try Render.monthly(odd, .csv, in: dir, options: o).contains("by-month-category-and-currency,2024-03,x,EUR,,,total,0.05\r\n"))
    }
}
