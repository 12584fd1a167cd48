import BinlogApply
import Foundation
import GRDB
import ExpenseSummary
import ReplicaStore

/// Which columns hold what, for schemas other than the sample `expenses` table: the same
/// mapping the summary replica-apply keeps is described by, so the two compare directly.
public typealias ExpenseMapping = Summaries.Mapping

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
        /// Only these currencies (all when empty).
        public var currencies: [String] = []
        /// One currency, as `currencies` of one.
        public var currency: String? {
            get { currencies.first }
            set { currencies = newValue.map { [$0] } ?? [] }
        }
        /// Add a category × month table (money per category and month, with totals).
        public var pivot = false
        public var topMerchants = 10
        /// Read the summary replica-apply keeps (`replica-apply summarize`) when it matches the
        /// mapping and the store's LSN; false always scans the table.
        public var useSummary = true
        /// The month state a previous run left (`--month-state`): closed months whose figures
        /// changed since are listed as restatements.
        public var previousClosing: MonthClosing?
        public init() {}
    }

    /// Where the figures come from: the table itself, or the summary replica-apply keeps.
    /// Both give the same numbers (the tests compare them); the summary reads a few thousand
    /// rows where the table has millions.
    struct Source {
        var from: String
        /// Where the per-merchant figures are (the top merchants): the same table, or the
        /// summary's per-merchant view.
        var merchantsFrom: String
        var month, category, currency, merchant: String
        var count, total, minimum, maximum: String
        var filter: String
        var arguments: StatementArguments

        static func table(_ options: Options) -> Source {
            let m = options.mapping
            let (filter, arguments) = MonthlyExpenses.filter(options)
            // Groups told apart by their bytes whatever the columns' collation, as the summary's.
            return Source(from: quoted(m.table), merchantsFrom: quoted(m.table), month: "substr(\(quoted(m.date)), 1, 7)", category: binary(m.category), currency: binary(m.currency),
                          merchant: binary(m.merchant), count: "count(*)", total: "sum(\(quoted(m.amount)))", minimum: "min(\(quoted(m.amount)))",
                          maximum: "max(\(quoted(m.amount)))", filter: filter, arguments: arguments)
        }

        static func summary(_ options: Options) -> Source {
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible] = []
            if let from = options.fromMonth { conditions.append("month >= ?"); arguments.append(from) }
            if let to = options.toMonth { conditions.append("month <= ?"); arguments.append(to) }
            if !options.categories.isEmpty {
                conditions.append("category IN (\(Array(repeating: "?", count: options.categories.count).joined(separator: ", ")))")
                arguments += options.categories
            }
            if !options.currencies.isEmpty {
                conditions.append("currency IN (\(Array(repeating: "?", count: options.currencies.count).joined(separator: ", ")))")
                arguments += options.currencies
            }
            return Source(from: Summaries.groupsView, merchantsFrom: Summaries.merchantsView, month: "month", category: "category", currency: "currency", merchant: "merchant",
                          count: "sum(n)", total: "sum(total)", minimum: "min(mn)", maximum: "max(mx)",
                          filter: conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "),
                          arguments: StatementArguments(arguments.map { $0 as (any DatabaseValueConvertible)? }))
        }
    }

    /// The summary can stand in for the table when it is valid, describes the same columns,
    /// and is at the LSN the report's read transaction sees.
    static func summaryUsable(_ db: Database, _ options: Options, lsn: UInt64) throws -> Bool {
        guard options.useSummary, let state = try Summaries.state(db), state.valid, state.lsn == lsn else { return false }
        return options.mapping == state.mapping
    }

    static func quoted(_ name: String) -> String { quotedIdentifier(name) }

    /// The month after a month "YYYY-MM"; nil when `month` is not one.
    static func nextMonth(_ month: String) -> String? {
        let parts = month.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, parts.allSatisfy({ $0.allSatisfy { ("0"..."9").contains($0) } }),
              let y = Int(parts[0]), let m = Int(parts[1]), (1...12).contains(m) else { return nil }
        let (ny, nm) = m == 12 ? (y + 1, 1) : (y, m + 1)
        return String(format: "%04d-%02d", ny, nm)
    }

    public static func isMonth(_ s: String) -> Bool { nextMonth(s) != nil }

    /// One line of the first section: a month, category and currency.
    struct Group { var month, category, currency: String; var count, total, min, max: Int64 }
    /// One line of the month totals, with the change from the month before.
    struct MonthTotal { var month, currency: String; var count, total: Int64; var change: Cell }

    /// Runs the report in one read transaction and writes it; returns its freshness. Every
    /// figure is computed before the first byte is written, so a report that cannot be made
    /// (a total beyond 64 bits, amounts that are not integers) prints nothing but the error.
    @discardableResult
    public static func run(_ store: ReportStore, _ options: Options, to writer: ReportWriter) throws -> Freshness {
        try runClosing(store, options, to: writer).freshness
    }

    /// `run`, also returning the month state to keep for the next run (MonthClosing.swift).
    public static func runClosing(_ store: ReportStore, _ options: Options, to writer: ReportWriter) throws -> (freshness: Freshness, closing: MonthClosing) {
        try store.read { db, freshness in
            try checkColumns(db, options.mapping)
            let source = try summaryUsable(db, options, lsn: freshness.lsn) ? Source.summary(options) : Source.table(options)
            let groups = try fetchGroups(db, options.mapping, source)
            let totals = try monthTotals(groups)
            let periods = try periodTotals(groups)
            let axis = monthAxis(Array(Set(groups.map(\.month))).sorted(), from: options.fromMonth, to: options.toMonth)
            let state = closing(totals, options, freshness)
            try checkSelection(state, previous: options.previousClosing)
            writer.longFormat(keys: longFormatKeys)
            try writer.begin(title: "Monthly expenses" + rangeLabel(options), freshness: freshness)
            try writeCharts(groups, months: axis, to: writer)
            try writeOpenMonths(axis, freshness, to: writer)
            try writeRestatements(state, previous: options.previousClosing, to: writer)
            if options.pivot { try writePivot(groups, totals, months: axis, to: writer) }
            try writeGroups(groups, to: writer)
            try writeMonthTotals(totals, to: writer)
            try writePeriodTotals(periods, to: writer)
            try writeTopMerchants(db, options, source, to: writer)
            try writer.end()
            return (freshness, state)
        }
    }

    /// Column `name` compared and grouped byte for byte (issue 12: a NOCASE column made the full
    /// scan merge groups that the summary keeps apart).
    static func binary(_ name: String) -> String { "\(quoted(name)) COLLATE BINARY" }

    /// The WHERE clause of the options (values bound, column names quoted). Rows without an
    /// amount are left out of every figure: counted but not summed, they made averages wrong.
    static func filter(_ options: Options) -> (String, StatementArguments) {
        let m = options.mapping
        var conditions = ["\(quoted(m.amount)) IS NOT NULL"]
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
            conditions.append("\(binary(m.category)) IN (\(Array(repeating: "?", count: options.categories.count).joined(separator: ", ")))")
            arguments += options.categories
        }
        if !options.currencies.isEmpty {
            conditions.append("\(binary(m.currency)) IN (\(Array(repeating: "?", count: options.currencies.count).joined(separator: ", ")))")
            arguments += options.currencies
        }
        let filter = " WHERE " + conditions.joined(separator: " AND ")
        return (filter, StatementArguments(arguments.map { $0 as (any DatabaseValueConvertible)? }))
    }

    /// The groups, bounded by months × categories × currencies, not by rows; SQLite sums the
    /// integers (and fails with "integer overflow" rather than going to floating point).
    static func fetchGroups(_ db: Database, _ m: ExpenseMapping, _ s: Source) throws -> [Group] {
        var groups: [Group] = []
        let sql = """
            SELECT \(s.month), \(s.category), \(s.currency), \(s.count), \(s.total), \(s.minimum), \(s.maximum)
            FROM \(s.from)\(s.filter) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """
        try ExactRows.forEach(db, sql: sql, arguments: s.arguments) { r in
            guard case .integer(let count) = r[3], case .integer(let total) = r[4], case .integer(let mn) = r[5], case .integer(let mx) = r[6] else {
                throw ReportError(.invalid, "column \(m.amount) holds values that are not integers (month \(Cell.label(r[0])), category \(Cell.label(r[1])))",
                                  hint: "money must be integer minor units (cents) for exact totals")
            }
            groups.append(Group(month: Cell.label(r[0]), category: Cell.label(r[1]), currency: Cell.label(r[2]), count: count, total: total, min: mn, max: mx))
        }
        return groups
    }

    /// `a + b` in minor units, or `tooLarge` when the sum does not fit in 64 bits.
    static func add(_ a: Int64, _ b: Int64, _ tooLarge: @autoclosure () -> ReportError) throws -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw tooLarge() }
        return sum
    }

    /// Month totals per currency, in (month, currency) order, with the change from the month before.
    static func monthTotals(_ groups: [Group]) throws -> [MonthTotal] {
        var totals: [String: [String: (count: Int64, total: Int64)]] = [:]
        for g in groups {
            var t = totals[g.currency, default: [:]][g.month] ?? (0, 0)
            t.count += g.count
            // Each group's sum fits (SQLite checks it); their sum may not.
            t.total = try add(t.total, g.total, ReportError(.invalid, "the \(g.currency) total of \(g.month) does not fit in a 64-bit integer of minor units",
                                                            hint: "report fewer categories at a time with --category"))
            totals[g.currency, default: [:]][g.month] = t
        }
        var lines: [MonthTotal] = []
        for (currency, byMonth) in totals {
            var previous: (month: String, total: Int64)?
            for month in byMonth.keys.sorted() {
                let t = byMonth[month]!
                // Only from the calendar month before: after a month without expenses there is
                // no change to speak of (April was compared with February).
                let change: Cell = previous.flatMap { p in nextMonth(p.month) == month ? .change(from: p.total, to: t.total) : nil } ?? .null
                lines.append(MonthTotal(month: month, currency: currency, count: t.count, total: t.total, change: change))
                previous = (month, t.total)
            }
        }
        return lines.sorted { ($0.month, $0.currency) < ($1.month, $1.currency) }
    }

    private static func rangeLabel(_ o: Options) -> String {
        var parts: [String] = []
        if o.fromMonth != nil || o.toMonth != nil { parts.append("\(o.fromMonth ?? "…") to \(o.toMonth ?? "…")") }
        if !o.categories.isEmpty { parts.append("categories " + o.categories.joined(separator: ", ")) }
        if !o.currencies.isEmpty { parts.append(o.currencies.joined(separator: ", ")) }
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
