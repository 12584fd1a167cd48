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

    @Option(help: "First month, inclusive (YYYY-MM).") var from: String?
    @Option(help: "Last month, inclusive (YYYY-MM).") var to: String?
    @Option(help: "Only this category (repeatable).") var category: [String] = []
    @Option(help: "Only this currency (repeatable).") var currency: [String] = []
    @Flag(help: "Add a category × month table (totals per category and month, with row and column totals).") var pivot = false
    @Option(help: "How many merchants per currency.") var top: Int = 10
    @OptionGroup var columns: ExpenseColumns
    @Flag(help: "Scan the table even when the replica keeps a summary (replica-apply summarize).") var noSummary = false

    func validate() throws {
        for (flag, m) in [("--from", from), ("--to", to)] { if let m, !MonthlyExpenses.isMonth(m) { throw ValidationError("\(flag) takes a month like 2024-03") } }
        if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to): the range would be empty") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        try runReporting("report") {
            let (choice, writer) = try options.prepare()
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
            options.noteFreshness(try MonthlyExpenses.run(choice.store, o, to: writer))
        }
    }
}
