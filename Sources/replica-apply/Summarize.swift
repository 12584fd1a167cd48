import ArgumentParser
import Foundation
import LogshipCLI
import ExpenseSummary
import ReplicaStore

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep a monthly expense summary in the store, updated as segments are applied, for fast `report monthly-expenses`.",
        discussion: """
            Builds _logship_summary (per month, category and currency: count, total, minimum, maximum, and a \
            few extreme amounts) and _logship_summary_merchants (per merchant too: count and total), then \
            replica-apply keeps them current in the same SQLite transaction as the rows; it adds no index. The \
            views _logship_summary_groups and _logship_summary_by_merchant show them with names. The report uses the summary when it matches its column mapping and the \
            store's LSN, and scans the table otherwise. Dates must read YYYY-MM-DD and amounts be integers; \
            if not, the summary is marked invalid and reports scan. --off drops it.
            """)

    @Argument(help: "The replica directory.") var replica: String
    @OptionGroup var columns: ExpenseColumns
    @Flag(help: "Stop keeping the summary and drop it.") var off = false
    @Option(help: "Seconds to wait for a running replica-apply to finish.") var lockTimeout: Double = 30
    @Flag(help: "Print the result as JSON (docs/JSON.md).") var json = false

    /// `summarize --json` (docs/JSON.md).
    struct Output: Encodable {
        /// `dropped` (--off), `summarizing`, or `invalid` (exit 11).
        var summary: String
        var table: String?
        var lsn: UInt64?
    }

    func run() throws {
        try runReporting("replica-apply") {
            let r = try Replica.open(replica, lockTimeout: lockTimeout)
            defer { r.close() }
            if off {
                try r.disableSummary()
                if json { printLine(try jsonText(Output(summary: "dropped", table: nil, lsn: nil))); return }
                printLine("dropped the summary of \(replica)")
                return
            }
            let m = Summaries.Mapping(table: columns.table, date: columns.dateColumn, amount: columns.amountColumn,
                                    category: columns.categoryColumn, currency: columns.currencyColumn, merchant: columns.merchantColumn)
            let valid = try r.enableSummary(m)
            let lsn = try r.position()?.lsn ?? 0
            if json { printLine(try jsonText(Output(summary: valid ? "summarizing" : "invalid", table: m.table, lsn: lsn))) }
            if valid {
                if json { return }
                printLine("summarizing \(m.table) at LSN \(lsn): replica-apply keeps it current; report monthly-expenses reads it")
            } else {
                printError("replica-apply", "summary of \(m.table) is not valid: some dates do not read YYYY-MM-DD or some amounts are not integers; reports will scan the table")
                throw ReportedFailure(.badInput)
            }
        }
    }
}
