import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// Money is exact: totals, averages and month totals of amounts that floating point gets
/// wrong, checked against integer arithmetic done here (and Foundation's Decimal for the
/// rounding), on a schema other than the sample one (negative refunds allowed, mapped columns).
final class ExactMoneyTests: XCTestCase {
    static let ledgerSchema = """
        CREATE TABLE ledger (n INTEGER PRIMARY KEY, booked_on TEXT NOT NULL, kind TEXT NOT NULL,
                             payee TEXT NOT NULL, cents INTEGER, ccy TEXT NOT NULL);
        """

    static var ledgerMapping: MonthlyExpenses.Options {
        var o = MonthlyExpenses.Options()
        o.mapping.table = "ledger"
        o.mapping.date = "booked_on"
        o.mapping.amount = "cents"
        o.mapping.category = "kind"
        o.mapping.currency = "ccy"
        o.mapping.merchant = "payee"
        return o
    }

    /// Cents as text, written independently of the code under test: Decimal / 100 at scale 2.
    static func money(_ cents: Int64) -> String {
        let sign = cents < 0 ? "-" : ""
        let m = cents.magnitude
        return sign + String(m / 100) + "." + String(format: "%02d", Int(m % 100))
    }

    /// total / count rounded half away from zero, through Foundation's Decimal (.plain rounding).
    static func average(_ total: Int64, _ count: Int64) -> Int64 {
        var quotient = Decimal(total) / Decimal(count)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &quotient, 0, .plain)
        return NSDecimalNumber(decimal: rounded).int64Value
    }

    struct Row: Hashable { var month, kind, ccy: String }
    struct Agg { var count: Int64 = 0, total: Int64 = 0, min = Int64.max, max = Int64.min }

    private func insert(_ rows: [(String, String, String, Int64?, String)], into path: String) throws {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        try queue.write { db in
            for r in rows {
                try db.execute(sql: "INSERT INTO ledger (booked_on, kind, payee, cents, ccy) VALUES (?, ?, ?, ?, ?)", arguments: [r.0, r.1, r.2, r.3, r.4])
            }
        }
    }

    private func report(_ store: String, in dir: TestDirectory, options: MonthlyExpenses.Options = ledgerMapping) throws -> [String: [[String: Any]]] {
        let text = try Render.monthly(store, .json, in: dir, options: options)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        var sections: [String: [[String: Any]]] = [:]
        for s in object["sections"] as! [[String: Any]] { sections[s["name"] as! String] = s["rows"] as? [[String: Any]] }
        return sections
    }

    /// The first case floating point cannot hold: 10^17 cents (10^15 units) plus one cent.
    func testHugeAndTinyAmountsStayExact() throws {
        let dir = TestDirectory("money")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: Self.ledgerSchema)
        let huge: Int64 = 100_000_000_000_000_000
        try insert([("2024-01-01", "k", "p", huge, "EUR"), ("2024-01-02", "k", "p", 1, "EUR"),
                    ("2024-02-01", "k", "p", 1, "EUR"), ("2024-02-02", "k", "p", 1_000_000_000_000_000, "EUR")], into: store)
        // What a float total would have printed: the cent is lost.
        XCTAssertEqual(String(format: "%.2f", Double(huge) / 100 + 0.01), "1000000000000000.00")
        let groups = try report(store, in: dir)["By month, category and currency"]!
        XCTAssertEqual(groups[0]["total"] as? String, "1000000000000000.01")
        XCTAssertEqual(groups[0]["average"] as? String, "500000000000000.01", "(10^17 + 1) / 2 cents rounds half away from zero")
        XCTAssertEqual(groups[0]["minimum"] as? String, "0.01")
        XCTAssertEqual(groups[1]["total"] as? String, "10000000000000.01", "1 cent + 10^15 cents")
        XCTAssertEqual(groups[1]["average"] as? String, "5000000000000.01")
    }

    /// Refunds: negative averages round away from zero too (-1.5 cents → -0.02).
    func testNegativeRefundsRoundAwayFromZero() throws {
        let dir = TestDirectory("money")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: Self.ledgerSchema)
        try insert([("2024-01-01", "refund", "p", -1, "EUR"), ("2024-01-05", "refund", "p", -2, "EUR"),
                    ("2024-01-01", "mixed", "p", 3, "EUR"), ("2024-01-09", "mixed", "p", -4, "EUR"),
                    ("2024-01-01", "third", "p", -10, "EUR"), ("2024-01-02", "third", "p", 0, "EUR"), ("2024-01-03", "third", "p", 0, "EUR")],
                   into: store)
        let groups = try report(store, in: dir)["By month, category and currency"]!
        let byKind = Dictionary(uniqueKeysWithValues: groups.map { ($0["category"] as! String, $0) })
        XCTAssertEqual(byKind["refund"]?["total"] as? String, "-0.03")
        XCTAssertEqual(byKind["refund"]?["average"] as? String, "-0.02")
        XCTAssertEqual(byKind["mixed"]?["average"] as? String, "-0.01", "-0.5 cents rounds to -1")
        XCTAssertEqual(byKind["third"]?["average"] as? String, "-0.03", "-3.33 cents rounds to -3")
        XCTAssertEqual(byKind["refund"]?["minimum"] as? String, "-0.02")
        XCTAssertEqual(byKind["refund"]?["maximum"] as? String, "-0.01")
    }

    /// Seeded random ledgers of amounts that break floating point (many 0.10 and 0.20, cents,
    /// refunds, 10^15): every group, month total and merchant total equals integer arithmetic.
    func testRandomLedgersMatchIntegerArithmetic() throws {
        var rng = SeededRandom()
        let seed = rng.seed
        let dir = TestDirectory("money")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: Self.ledgerSchema)
        let amounts: [Int64] = [10, 20, 30, 1, 2, 3, 5, 99, -10, -20, -1, 1_000_000_000_000_000, 33_333]
        var rows: [(String, String, String, Int64?, String)] = []
        var groups: [Row: Agg] = [:]
        var months: [String: [String: Int64]] = [:]   // ccy → month → total
        var payees: [String: [String: Int64]] = [:]   // ccy → payee → total
        for _ in 0..<3000 {
            let month = String(format: "2023-%02d", Int.random(in: 1...12, using: &rng))
            let day = String(format: "-%02d", Int.random(in: 1...28, using: &rng))
            let kind = ["food", "rent", "fees"].randomElement(using: &rng)!
            let ccy = ["EUR", "CHF"].randomElement(using: &rng)!
            let payee = "payee \(Int.random(in: 0..<12, using: &rng))"
            // 10^15 rarely, so totals stay within Int64 (SQLite's sum would say "integer overflow").
            let amount = Int.random(in: 0..<200, using: &rng) == 0 ? amounts[11] : amounts.filter { $0 != amounts[11] }.randomElement(using: &rng)!
            rows.append((month + day, kind, payee, amount, ccy))
            var g = groups[Row(month: month, kind: kind, ccy: ccy)] ?? Agg()
            g.count += 1; g.total += amount; g.min = min(g.min, amount); g.max = max(g.max, amount)
            groups[Row(month: month, kind: kind, ccy: ccy)] = g
            months[ccy, default: [:]][month, default: 0] += amount
            payees[ccy, default: [:]][payee, default: 0] += amount
        }
        try insert(rows, into: store)
        var options = Self.ledgerMapping
        options.topMerchants = 100
        let sections = try report(store, in: dir, options: options)
        let reported = sections["By month, category and currency"]!
        XCTAssertEqual(reported.count, groups.count, "seed \(seed)")
        for r in reported {
            let key = Row(month: r["month"] as! String, kind: r["category"] as! String, ccy: r["currency"] as! String)
            guard let g = groups[key] else { XCTFail("unexpected group \(key), seed \(seed)"); continue }
            XCTAssertEqual(r["count"] as? Int, Int(g.count), "\(key) seed \(seed)")
            XCTAssertEqual(r["total"] as? String, Self.money(g.total), "\(key) seed \(seed)")
            XCTAssertEqual(r["average"] as? String, Self.money(Self.average(g.total, g.count)), "\(key) seed \(seed)")
            XCTAssertEqual(r["minimum"] as? String, Self.money(g.min), "\(key) seed \(seed)")
            XCTAssertEqual(r["maximum"] as? String, Self.money(g.max), "\(key) seed \(seed)")
        }
        for r in sections["Month totals"]! {
            let ccy = r["currency"] as! String, month = r["month"] as! String
            XCTAssertEqual(r["total"] as? String, months[ccy]?[month].map(Self.money), "\(ccy) \(month) seed \(seed)")
        }
        let merchants = sections["Top merchants"]!
        XCTAssertEqual(merchants.count, payees.values.map(\.count).reduce(0, +), "seed \(seed)")
        for r in merchants {
            XCTAssertEqual(r["total"] as? String, payees[r["currency"] as! String]?[r["merchant"] as! String].map(Self.money), "seed \(seed)")
        }
    }

    /// Month-over-month change of totals far beyond what `× 1000` fits in 64 bits: exact, no crash.
    func testChangeOfHugeTotalsIsExact() throws {
        let dir = TestDirectory("money")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: Self.ledgerSchema)
        try insert([("2024-01-01", "k", "p", 1, "EUR"), ("2024-02-01", "k", "p", 9_000_000_000_000_000_000, "EUR"),
                    ("2024-03-01", "k", "p", -9_000_000_000_000_000_000, "EUR")], into: store)
        let totals = try report(store, in: dir)["Month totals"]!
        XCTAssertEqual(totals.map { $0["change"] as? String }, [nil, "+899999999999999999900.0%", "-200.0%"])
    }

    /// Group sums that fit but month totals that do not: a clear error, not a crash.
    func testMonthTotalBeyond64BitsIsAnError() throws {
        let dir = TestDirectory("money")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: Self.ledgerSchema)
        try insert([("2024-01-01", "a", "p", 9_000_000_000_000_000_000, "EUR"), ("2024-01-01", "b", "q", 9_000_000_000_000_000_000, "EUR")], into: store)
        XCTAssertThrowsError(try Render.monthly(store, .csv, in: dir, options: Self.ledgerMapping)) { error in
            let e = error as? ReportError
            XCTAssertEqual(e?.kind, .invalid, "\(error)")
            XCTAssertTrue(e?.message.contains("64-bit") ?? false, "\(error)")
        }
    }

    /// A NULL amount is not money: rows without an amount are left out of every figure, so
    /// count, total and average agree (SQL's aggregate semantics, as documented).
    func testNullAmountsAreLeftOut() throws {
        let dir = TestDirectory("money")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: Self.ledgerSchema)
        try insert([("2024-01-01", "k", "p", 100, "EUR"), ("2024-01-02", "k", "p", nil, "EUR"), ("2024-01-03", "k", "p", 201, "EUR"),
                    ("2024-01-04", "only-null", "p", nil, "EUR")], into: store)
        let sections = try report(store, in: dir)
        let groups = sections["By month, category and currency"]!
        XCTAssertEqual(groups.count, 1, "\(groups)")
        XCTAssertEqual(groups[0]["count"] as? Int, 2)
        XCTAssertEqual(groups[0]["average"] as? String, "1.51", "301 / 2 = 150.5 cents")
        XCTAssertEqual(sections["Top merchants"]?.first?["count"] as? Int, 2)
    }

    /// Amounts that are not integer minor units are refused with the column named.
    func testNonIntegerAmountsAreRefused() throws {
        let dir = TestDirectory("money")
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: Self.ledgerSchema)
        try insert([("2024-01-01", "k", "p", 100, "EUR")], into: store)
        let queue = try DatabaseQueue(path: store)
        try queue.write { db in try db.execute(sql: "INSERT INTO ledger (booked_on, kind, payee, cents, ccy) VALUES ('2024-01-02', 'k', 'p', 10.5, 'EUR')") }
        try queue.close()
        XCTAssertThrowsError(try Render.monthly(store, .csv, in: dir, options: Self.ledgerMapping)) { error in
            XCTAssertTrue("\(error)".contains("column cents holds values that are not integers"), "\(error)")
        }
    }
}
