import ArgumentParser
import Foundation
import LogshipCLI
import Reports
import GRDB

struct MonthlyExpensesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monthly-expenses",
        abstract: "Per month, category and currency: count, total, average, minimum, maximum; month totals with change; top merchants.",
        discussion: "Money is summed as integers (minor units, e.g. cents) and printed with two decimals; nothing goes through floating point.")

    @OptionGroup var options: ReportOptions

    @Option(help: "First month, inclusive (YYYY-MM).") var from: String?
    @Option(help: "Last month, inclusive (YYYY-MM).") var to: String?
    @Option(help: "Only this category (repeatable).") var category: [String] = []
    @Option(help: "Only this currency.") var currency: String?
    @Option(help: "How many merchants per currency.") var top: Int = 10
    @Option(help: "The expenses table.") var table: String = "expenses"
    @Option(help: "Column with the date (ISO 8601 text).") var dateColumn: String = "spent_at"
    @Option(help: "Column with the amount in minor units (integer).") var amountColumn: String = "amount_cents"
    @Option(help: "Column with the category.") var categoryColumn: String = "category"
    @Option(help: "Column with the currency.") var currencyColumn: String = "currency"
    @Option(help: "Column with the merchant.") var merchantColumn: String = "merchant"
    @Flag(help: "Scan the table even when the replica keeps a summary (replica-apply summarize).") var noSummary = false

    func validate() throws {
        for (flag, m) in [("--from", from), ("--to", to)] { if let m, !MonthlyExpenses.isMonth(m) { throw ValidationError("\(flag) takes a month like 2024-03") } }
        if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to): the range would be empty") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        try Report_run {
            let (choice, writer) = try options.prepare()
            var o = MonthlyExpenses.Options()
            o.fromMonth = from
            o.toMonth = to
            o.categories = category
            o.currency = currency
            o.topMerchants = top
            o.mapping.table = table
            o.mapping.date = dateColumn
            o.mapping.amount = amountColumn
            o.mapping.category = categoryColumn
            o.mapping.currency = currencyColumn
            o.mapping.merchant = merchantColumn
            o.useSummary = !noSummary
            try MonthlyExpenses.run(choice.store, o, to: writer)
        }
    }
}

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run one read-only SQL statement with named parameters (:name), bound, never spliced.",
        discussion: """
            --param name=value binds :name; the value is an integer or a real when it reads as one, text otherwise
            ('quotes' force text). The store is opened read-only and any statement that would write is refused.
            """)

    @OptionGroup var options: ReportOptions
    @Argument(help: "The SQL (or use --file).") var sql: String?
    @Option(name: .long, help: "Read the SQL from this file.") var file: String?
    @Option(name: .customLong("param"), help: "name=value for :name (repeatable).") var params: [String] = []
    @Option(help: "A title for the report.") var title: String = "Query"

    func validate() throws {
        guard (sql == nil) != (file == nil) else { throw ValidationError("give the SQL as an argument or with --file") }
        for p in params where !p.contains("=") { throw ValidationError("--param takes name=value, got \(p)") }
        var seen = Set<String>()
        for p in params {
            let name = String(p.prefix { $0 != "=" }.drop { $0 == ":" })
            guard seen.insert(name).inserted else { throw ValidationError("--param \(name) is given twice") }
        }
    }

    func run() throws {
        try Report_run {
            var text = sql ?? ""
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw ReportError(.notFound, "cannot read \(file)") }
                text = String(decoding: data, as: UTF8.self)
            }
            var parameters: [String: DatabaseValue] = [:]
            for p in params {
                let name = String(p.prefix { $0 != "=" })
                parameters[name.hasPrefix(":") ? String(name.dropFirst()) : name] = CustomQuery.parameterValue(String(p.dropFirst(name.count + 1)))
            }
            let (choice, writer) = try options.prepare()
            try CustomQuery.run(choice.store, sql: text, parameters: parameters, title: title, to: writer)
        }
    }
}
