import BinlogApply
import Foundation
import GRDB

/// The monthly report's sections and charts, written from the figures `run` computed. Money is
/// shown in each currency's minor unit (`CurrencyMinorUnits`).
extension MonthlyExpenses {
    /// The columns that identify a figure when every section goes into one long table (CSV).
    static let longFormatKeys = ["month", "category", "currency", "merchant", "rank"]
    /// The chart's palette has room for this many series; beyond it the smallest categories
    /// are grouped into one, "other".
    static let chartSeriesLimit = MonthlyChart.palette.count

    /// One line of the period totals: a currency over the whole period.
    struct PeriodTotal { var currency: String; var count, total, min, max: Int64 }

    static func money(_ minor: Int64, _ currency: String) -> Cell { .money(minor, digits: CurrencyMinorUnits.digits(currency)) }

    static func writeGroups(_ groups: [Group], to writer: ReportWriter) throws {
        try writer.beginSection("By month, category and currency",
                                columns: ["month", "category", "currency", "count", "total", "average", "minimum", "maximum"].map(ReportColumn.init))
        for g in groups {
            let digits = CurrencyMinorUnits.digits(g.currency)
            try writer.row([.text(g.month), .text(g.category), .text(g.currency), .integer(g.count), money(g.total, g.currency),
                            .moneyAverage(total: g.total, count: g.count, digits: digits), money(g.min, g.currency), money(g.max, g.currency)])
        }
        try writer.endSection()
    }

    static func writeMonthTotals(_ totals: [MonthTotal], to writer: ReportWriter) throws {
        try writer.beginSection("Month totals", columns: ["month", "currency", "count", "total", "change"].map(ReportColumn.init))
        for t in totals { try writer.row([.text(t.month), .text(t.currency), .integer(t.count), money(t.total, t.currency), t.change]) }
        try writer.endSection()
    }

    /// Per currency over the whole period: count, total, average, minimum and maximum.
    static func periodTotals(_ groups: [Group]) throws -> [PeriodTotal] {
        var byCurrency: [String: PeriodTotal] = [:]
        for g in groups {
            var p = byCurrency[g.currency] ?? PeriodTotal(currency: g.currency, count: 0, total: 0, min: .max, max: .min)
            p.count += g.count
            p.total = try add(p.total, g.total, ReportError(.invalid, "the \(g.currency) total of the period does not fit in a 64-bit integer of minor units",
                                                            hint: "report a shorter period with --from and --to"))
            p.min = Swift.min(p.min, g.min)
            p.max = Swift.max(p.max, g.max)
            byCurrency[g.currency] = p
        }
        return byCurrency.keys.sorted().compactMap { byCurrency[$0] }
    }

    static func writePeriodTotals(_ periods: [PeriodTotal], to writer: ReportWriter) throws {
        try writer.beginSection("Period totals", columns: ["currency", "count", "total", "average", "minimum", "maximum"].map(ReportColumn.init))
        for p in periods {
            try writer.row([.text(p.currency), .integer(p.count), money(p.total, p.currency),
                            .moneyAverage(total: p.total, count: p.count, digits: CurrencyMinorUnits.digits(p.currency)),
                            money(p.min, p.currency), money(p.max, p.currency)])
        }
        try writer.endSection()
    }

    /// Category × month: per currency a line per category with its total in each month of the
    /// axis (empty where it has none) and over the period, then a line for all categories.
    static func writePivot(_ groups: [Group], _ totals: [MonthTotal], months: [String], to writer: ReportWriter) throws {
        try writer.beginSection("Category × month", columns: (["currency", "category"] + months + ["total"]).map(ReportColumn.init))
        let column = Dictionary(months.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for currency in Set(groups.map(\.currency)).sorted() {
            let inCurrency = groups.filter { $0.currency == currency }
            for category in Set(inCurrency.map(\.category)).sorted() {
                let cells = inCurrency.filter { $0.category == category }.map { ($0.month, $0.total) }
                try writer.row(try pivotLine(currency, category, cells, column: column, count: months.count))
            }
            let all = totals.filter { $0.currency == currency }.map { ($0.month, $0.total) }
            try writer.row(try pivotLine(currency, "all categories", all, column: column, count: months.count))
        }
        try writer.endSection()
    }

    private static func pivotLine(_ currency: String, _ label: String, _ cells: [(month: String, total: Int64)],
                                  column: [String: Int], count: Int) throws -> [Cell] {
        var line = [Cell](repeating: .null, count: count)
        var sum: Int64 = 0
        for cell in cells {
            if let c = column[cell.month] { line[c] = money(cell.total, currency) }
            sum = try add(sum, cell.total, ReportError(.invalid, "the \(currency) total of \(label) over the period does not fit in a 64-bit integer of minor units",
                                                       hint: "report a shorter period with --from and --to"))
        }
        return [.text(currency), .text(label)] + line + [money(sum, currency)]
    }

    /// Charts first (HTML shows them above the tables): per currency, one bar per month of the
    /// shared axis, every chart with the same series so that a category keeps its colour.
    static func writeCharts(_ groups: [Group], months: [String], to writer: ReportWriter) throws {
        let (names, slot) = chartSeries(groups)
        let index = Dictionary(months.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for currency in Set(groups.map(\.currency)).sorted() {
            var series: [(name: String, totals: [Int64])] = names.map { ($0, Array(repeating: 0, count: months.count)) }
            for g in groups where g.currency == currency {
                guard let s = slot[g.category], let m = index[g.month] else { continue }
                let (sum, overflow) = series[s].totals[m].addingReportingOverflow(g.total)
                series[s].totals[m] = overflow ? (g.total > 0 ? .max : .min) : sum
            }
            try writer.chart(currency: currency, months: months, series: series)
        }
    }

    /// The chart's series and each category's series. Up to `chartSeriesLimit` categories each
    /// have their own, in name order. Beyond, the categories with the largest share of their
    /// currency's spending (summed over currencies, so that the choice is the same in every
    /// chart) keep one each and the rest share the last, "other (N categories)".
    static func chartSeries(_ groups: [Group]) -> (names: [String], slot: [String: Int]) {
        let categories = Array(Set(groups.map(\.category))).sorted()
        guard categories.count > chartSeriesLimit else {
            return (categories, Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) }))
        }
        var currencyTotal: [String: Double] = [:]
        for g in groups where g.total > 0 { currencyTotal[g.currency, default: 0] += Double(g.total) }
        var share: [String: Double] = [:]
        for g in groups where g.total > 0 { share[g.category, default: 0] += Double(g.total) / (currencyTotal[g.currency] ?? 1) }
        let ranked = categories.sorted { (share[$0] ?? 0, $1) > (share[$1] ?? 0, $0) }
        let kept = Array(ranked.prefix(chartSeriesLimit - 1))
        var slot = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        for c in ranked.dropFirst(kept.count) { slot[c] = kept.count }
        return (kept + ["other (\(categories.count - kept.count) categories)"], slot)
    }

    /// Every month from `from` (or the first with expenses) to `to` (or the last with
    /// expenses), so that a month without expenses shows as a gap instead of vanishing and the
    /// requested range is shown whole; the months as they are when some are not YYYY-MM or the
    /// range is implausibly long (dates that are not ISO 8601).
    static func monthAxis(_ present: [String], from: String? = nil, to: String? = nil) -> [String] {
        guard present.allSatisfy(isMonth), let first = from ?? present.first, let last = to ?? present.last,
              isMonth(first), isMonth(last) else { return present }
        var axis = [first]
        while let current = axis.last, current < last {
            guard axis.count < 1200, let next = nextMonth(current) else { return present }
            axis.append(next)
        }
        return axis
    }

    /// Top merchants per currency, streamed (the number of merchants is not bounded).
    static func writeTopMerchants(_ db: Database, _ options: Options, _ s: Source, to writer: ReportWriter) throws {
        try writer.beginSection("Top merchants", columns: ["currency", "rank", "merchant", "count", "total"].map(ReportColumn.init))
        var currentCurrency: String?
        var rank = 0
        try ExactRows.forEach(db, sql: """
            SELECT \(s.currency), \(s.merchant), \(s.count), \(s.total)
            FROM \(s.merchantsFrom)\(s.filter) GROUP BY 1, 2 ORDER BY 1, 4 DESC, 2
            """, arguments: s.arguments) { r in
            let currency = Cell.label(r[0])
            if currency != currentCurrency { currentCurrency = currency; rank = 0 }
            rank += 1
            if rank <= options.topMerchants, case .integer(let count) = r[2] {
                let total: Int64
                if case .integer(let t) = r[3] { total = t } else { total = 0 }
                try writer.row([.text(currency), .integer(Int64(rank)), .text(Cell.label(r[1])), .integer(count), money(total, currency)])
            }
        }
        try writer.endSection()
    }
}
