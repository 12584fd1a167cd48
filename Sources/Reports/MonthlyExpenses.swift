import Foundation
import GRDB

/// Which columns hold what, for schemas other than the sample `expenses` table.
public struct ExpenseMapping: Sendable, Equatable {
    public var table = "expenses"
    public var date = "spent_at"
    public var amount = "amount_cents"
    public var category = "category"
    public var currency = "currency"
    public var merchant = "merchant"
    public init() {}
}

/// The monthly expense summary: per month, category and currency the count, total, average,
/// minimum and maximum; month totals with month-over-month change; top merchants. Money is
/// integer minor units summed by SQLite as integers; averages and changes are computed from
/// the integers, never through floating point.
public enum MonthlyExpenses {
    public struct Options: Sendable {
        public var mapping = ExpenseMapping()
        /// First and last month, inclusive, as YYYY-MM.
        public var fromMonth: String?
        public var toMonth: String?
        public var categories: [String] = []
        public var currency: String?
        public var topMerchants = 10
        public init() {}
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// A month "YYYY-MM" and the first day of the month after it.
    static func nextMonth(_ month: String) -> String? {
        let parts = month.split(separator: "-")
        guard parts.count == 2, let y = Int(parts[0]), let m = Int(parts[1]), (1...12).contains(m), parts[0].count == 4, parts[1].count == 2 else { return nil }
        let (ny, nm) = m == 12 ? (y + 1, 1) : (y, m + 1)
        return String(format: "%04d-%02d", ny, nm)
    }

    public static func isMonth(_ s: String) -> Bool { nextMonth(s) != nil }

    /// Runs the report in one read transaction and writes it; returns its freshness.
    @discardableResult
    public static func run(_ store: ReportStore, _ options: Options, to writer: ReportWriter) throws -> Freshness {
        try store.read { db, freshness in
            let m = options.mapping
            try checkColumns(db, m)
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible] = []
            if let from = options.fromMonth {
                conditions.append("\(quoted(m.date)) >= ?")
                arguments.append(from + "-01")
            }
            if let to = options.toMonth, let after = nextMonth(to) {
                conditions.append("\(quoted(m.date)) < ?")
                arguments.append(after + "-01")
            }
            if !options.categories.isEmpty {
                conditions.append("\(quoted(m.category)) IN (\(Array(repeating: "?", count: options.categories.count).joined(separator: ", ")))")
                arguments += options.categories
            }
            if let c = options.currency {
                conditions.append("\(quoted(m.currency)) = ?")
                arguments.append(c)
            }
            let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            let args = StatementArguments(arguments.map { $0 as (any DatabaseValueConvertible)? })

            try writer.begin(title: "Monthly expenses" + rangeLabel(options), freshness: freshness)

            // 1. Groups (bounded by months × categories × currencies, not by rows).
            struct Group { var month, category, currency: String; var count, total, min, max: Int64 }
            var groups: [Group] = []
            let sql = """
                SELECT substr(\(quoted(m.date)), 1, 7), \(quoted(m.category)), \(quoted(m.currency)),
                       count(*), sum(\(quoted(m.amount))), min(\(quoted(m.amount))), max(\(quoted(m.amount)))
                FROM \(quoted(m.table))\(filter) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """
            let rows = try Row.fetchCursor(db, sql: sql, arguments: args)
            while let r = try rows.next() {
                guard let total = r[4] as Int64?, let mn = r[5] as Int64?, let mx = r[6] as Int64?,
                      r.databaseValues.dropFirst(4).allSatisfy({ if case .int64 = $0.storage { return true } else { return false } }) else {
                    throw ReportError(.invalid, "column \(m.amount) holds values that are not integers (month \(r[0] as String? ?? "?"), category \(r[1] as String? ?? "?"))",
                                      hint: "money must be integer minor units (cents) for exact totals")
                }
                groups.append(Group(month: r[0] ?? "", category: r[1] ?? "", currency: r[2] ?? "", count: r[3], total: total, min: mn, max: mx))
            }

            // Charts first (HTML shows them above the tables): per currency, months × categories.
            for currency in Set(groups.map(\.currency)).sorted() {
                let inCurrency = groups.filter { $0.currency == currency }
                let months = Array(Set(inCurrency.map(\.month))).sorted()
                let categories = Array(Set(inCurrency.map(\.category))).sorted()
                let index = Dictionary(uniqueKeysWithValues: months.enumerated().map { ($1, $0) })
                var series: [(name: String, totals: [Int64])] = categories.map { ($0, Array(repeating: 0, count: months.count)) }
                let catIndex = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
                for g in inCurrency { series[catIndex[g.category]!].totals[index[g.month]!] += g.total }
                try writer.chart(currency: currency, months: months, series: series)
            }

            try writer.beginSection("By month, category and currency",
                                    columns: ["month", "category", "currency", "count", "total", "average", "minimum", "maximum"].map(ReportColumn.init))
            for g in groups {
                try writer.row([.text(g.month), .text(g.category), .text(g.currency), .integer(g.count), .money(g.total),
                                .moneyAverage(total: g.total, count: g.count), .money(g.min), .money(g.max)])
            }
            try writer.endSection()

            // 2. Month totals per currency, with the change from the month before.
            try writer.beginSection("Month totals", columns: ["month", "currency", "count", "total", "change"].map(ReportColumn.init))
            var totals: [String: [String: (count: Int64, total: Int64)]] = [:]
            for g in groups {
                var t = totals[g.currency, default: [:]][g.month] ?? (0, 0)
                t.count += g.count
                t.total += g.total
                totals[g.currency, default: [:]][g.month] = t
            }
            var lines: [(String, String, Int64, Int64, Cell)] = []
            for (currency, byMonth) in totals {
                var previous: Int64?
                for month in byMonth.keys.sorted() {
                    let t = byMonth[month]!
                    let change: Cell = previous.map { .percent(numerator: t.total - $0, denominator: $0) } ?? .null
                    lines.append((month, currency, t.count, t.total, change))
                    previous = t.total
                }
            }
            for l in lines.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
                try writer.row([.text(l.0), .text(l.1), .integer(l.2), .money(l.3), l.4])
            }
            try writer.endSection()

            // 3. Top merchants per currency.
            try writer.beginSection("Top merchants", columns: ["currency", "rank", "merchant", "count", "total"].map(ReportColumn.init))
            let top = try Row.fetchCursor(db, sql: """
                SELECT \(quoted(m.currency)), \(quoted(m.merchant)), count(*), sum(\(quoted(m.amount)))
                FROM \(quoted(m.table))\(filter) GROUP BY 1, 2 ORDER BY 1, 4 DESC, 2
                """, arguments: args)
            var currentCurrency: String?
            var rank = 0
            while let r = try top.next() {
                let currency: String = r[0] ?? ""
                if currency != currentCurrency { currentCurrency = currency; rank = 0 }
                rank += 1
                if rank <= options.topMerchants {
                    try writer.row([.text(currency), .integer(Int64(rank)), .text(r[1] ?? ""), .integer(r[2]), .money(r[3] ?? 0)])
                }
            }
            try writer.endSection()
            try writer.end()
            return freshness
        }
    }

    private static func rangeLabel(_ o: Options) -> String {
        var parts: [String] = []
        if o.fromMonth != nil || o.toMonth != nil { parts.append("\(o.fromMonth ?? "…") to \(o.toMonth ?? "…")") }
        if !o.categories.isEmpty { parts.append("categories " + o.categories.joined(separator: ", ")) }
        if let c = o.currency { parts.append(c) }
        return parts.isEmpty ? "" : " (" + parts.joined(separator: "; ") + ")"
    }

    private static func checkColumns(_ db: Database, _ m: ExpenseMapping) throws {
        guard try db.tableExists(m.table) else {
            throw ReportError(.invalid, "no table \(m.table) in the store", hint: "name the table with --table (and its columns with --date-column etc.)")
        }
        let columns = Set(try db.columns(in: m.table).map { $0.name.lowercased() })
        for (flag, name) in [("--date-column", m.date), ("--amount-column", m.amount), ("--category-column", m.category),
                             ("--currency-column", m.currency), ("--merchant-column", m.merchant)] where !columns.contains(name.lowercased()) {
            throw ReportError(.invalid, "table \(m.table) has no column \(name)", hint: "map it with \(flag) (columns: \(columns.sorted().joined(separator: ", ")))")
        }
    }
}

/// Custom read-only SQL with named parameters bound, never spliced.
public enum CustomQuery {
    /// Runs one SELECT (or other read-only statement) and streams its rows.
    @discardableResult
    public static func run(_ store: ReportStore, sql: String, parameters: [String: DatabaseValue], title: String = "Query", to writer: ReportWriter) throws -> Freshness {
        try store.read { db, freshness in
            let statements = try db.allStatements(sql: sql)
            guard let statement = try statements.next() else { throw ReportError(.invalid, "no SQL statement given") }
            guard try statements.next() == nil else {
                throw ReportError(.invalid, "give one statement; report query runs a single read-only statement")
            }
            guard statement.isReadonly else {
                throw ReportError(.refused, "report query is read-only and refuses this statement: \(statement.sql)",
                                  hint: "write on the master with binlog-writer exec; reports never change a store")
            }
            let names = (0..<Int(sqlite3BindParameterCount(statement))).compactMap { sqlite3BindParameterName(statement, Int32($0 + 1)) }
            var named: [String: DatabaseValueConvertible?] = [:]
            for n in names {
                let key = String(n.dropFirst())
                guard let v = parameters[key] else {
                    throw ReportError(.invalid, "the query uses parameter \(n) but no --param \(key)=… was given")
                }
                named[key] = v
            }
            if let extra = parameters.keys.first(where: { k in !names.contains { $0.dropFirst() == k } }) {
                throw ReportError(.invalid, "--param \(extra) is not used by the query (it uses: \(names.joined(separator: ", ")))")
            }
            try writer.begin(title: title, freshness: freshness)
            try writer.beginSection("Result", columns: statement.columnNames.map(ReportColumn.init))
            let rows = try Row.fetchCursor(statement, arguments: StatementArguments(named))
            while let r = try rows.next() { try writer.row(r.databaseValues.map(Cell.init)) }
            try writer.endSection()
            try writer.end()
            return freshness
        }
    }

    /// Infers a parameter's type from its text: integer, then real, else text. `'…'` forces text.
    public static func parameterValue(_ text: String) -> DatabaseValue {
        if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") { return String(text.dropFirst().dropLast()).databaseValue }
        if let i = Int64(text) { return i.databaseValue }
        if let d = Double(text), text.contains(".") { return d.databaseValue }
        return text.databaseValue
    }
}
