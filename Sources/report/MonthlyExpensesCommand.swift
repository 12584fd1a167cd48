import ArgumentParser
import Foundation
import LogshipCLI
import Reports

struct MonthlyExpensesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monthly-expenses",
        abstract: "Per month, category and currency: count, total, average, minimum, maximum; month totals with change; top merchants.",
        discussion: """
            Money is summed as integers (minor units, e.g. cents) and printed with each currency's ISO 4217 decimals \
            (EUR 2, JPY 0, BHD 3); nothing goes through floating point.
            """)

    @OptionGroup var options: ReportOptions
    @OptionGroup var asOf: AsOfOptions

    @Option(help: "First month, inclusive (YYYY-MM).") var from: String?
    @Option(help: "Last month, inclusive (YYYY-MM).") var to: String?
    @Option(help: "Only this category (repeatable).") var category: [String] = []
    @Option(help: "Only this currency (repeatable).") var currency: [String] = []
    @Flag(help: "Add a category × month table (totals per category and month, with row and column totals).") var pivot = false
    @Option(help: "How many merchants per currency.") var top: Int = 10
    @OptionGroup var columns: ExpenseColumns
    @Flag(help: "Scan the table even when the replica keeps a summary (replica-apply summarize).") var noSummary = false
    @Option(help: "Keep the closed months' figures in this file; the next run lists closed months whose figures changed since as restatements.")
    var monthState: String?

    func validate() throws {
        for (flag, m) in [("--from", from), ("--to", to)] { if let m, !MonthlyExpenses.isMonth(m) { throw ValidationError("\(flag) takes a month like 2024-03") } }
        if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to): the range would be empty") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        try runReporting("report", metricsFile: options.metricsFile) {
            var o = MonthlyExpenses.Options()
            o.fromMonth = from
            o.toMonth = to
            o.categories = category
            o.currencies = currency
            o.pivot = pivot
            o.topMerchants = top
            o.mapping = ExpenseMapping(table: columns.table, date: columns.dateColumn, amount: columns.amountColumn,
                                   category: columns.categoryColumn, currency: columns.currencyColumn, merchant: columns.merchantColumn)
            o.useSummary = !noSummary
            if monthState != nil && asOf.target != nil {
                throw ReportError(.invalid, "--month-state does not apply to an as-of report", hint: "an as-of report is pinned; month states follow the latest data from run to run")
            }
            o.previousClosing = try monthState.flatMap(MonthClosing.read)
            var closing: MonthClosing?
            try options.runReport(asOf, command: "monthly-expenses") { store, writer in
                let result = try MonthlyExpenses.runClosing(store, o, to: writer)
                closing = result.closing
                return result.freshness
            }
            if let monthState, let closing { try closing.write(monthState) }
        }
    }
}
