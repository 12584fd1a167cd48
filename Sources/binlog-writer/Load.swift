import ArgumentParser
import BinlogMaster
import Foundation
import LogshipCLI

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load CSV (with a header row) or JSON Lines into a table, in batched transactions through the binlog.",
        discussion: "Empty CSV fields load as NULL. A bad row stops the load: its batch is rolled back, earlier batches stay committed, and the message names the line.")

    @OptionGroup var master: MasterOptions
    @OptionGroup var semiSync: SemiSyncOptions

    @Option(name: .shortAndLong, help: "The table to insert into.")
    var table: String

    @Argument(help: "The input file (.csv or .jsonl), or - for standard input.")
    var input: String

    @Option(help: "Input format: csv or jsonl (default: from the file name, else csv).")
    var format: String?

    @Option(help: "Rows per transaction.")
    var batch: Int = 1000

    @Flag(help: "Print the result as JSON (docs/JSON.md).") var json = false
    @Flag(name: .shortAndLong, help: "Print nothing when it succeeds (for cron).") var quiet = false
    @Option(help: "Write this run's metrics here for node_exporter's textfile collector (atomically): when it ran, how long it took, its exit code, and the binlog fsyncs its commits waited for (a histogram).") var metricsFile: String?

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let format, !["csv", "jsonl"].contains(format) { throw ValidationError("--format must be csv or jsonl") }
    }

    func run() throws {
        final class Opened: @unchecked Sendable { var master: Master? }
        let opened = Opened()
        try runReporting("binlog-writer", metricsFile: metricsFile, extraMetrics: { opened.master?.processMetrics ?? "" }) {
            let kind = format ?? (input.hasSuffix(".jsonl") || input.hasSuffix(".ndjson") ? "jsonl" : "csv")
            let m = try master.open(semiSync: semiSync.settings)
            opened.master = m
            defer { try? m.close() }
            let bar = ProgressBar(label: "loading \(table)")
            var source: any RowSource = kind == "jsonl" ? try JSONLinesRowSource(path: input) : try CSVRowSource(path: input)
            let result = try m.load(table: table, from: &source, batchSize: batch) { bar.update(Int64($0)) }
            bar.finish(Int64(result.rows))
            try m.close()
            if json {
                printLine(try jsonText(LoadJSON(table: table, rows: result.rows, transactions: result.transactions,
                                                firstLSN: result.firstLSN, lastLSN: result.lastLSN)))
                return
            }
            if quiet { return }
            let range = result.firstLSN.map { "LSN \($0)…\(result.lastLSN!)" } ?? "no LSN"
            printLine("loaded \(result.rows) rows into \(table) in \(result.transactions) transactions (\(range))")
        }
    }
}

/// `load --json` (docs/JSON.md): rows and transactions committed and their LSN range (null when none).
struct LoadJSON: Encodable {
    var table: String, rows: Int, transactions: Int
    var firstLSN: UInt64?, lastLSN: UInt64?

    enum CodingKeys: String, CodingKey { case table, rows, transactions, firstLSN, lastLSN }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(table, forKey: .table); try c.encode(rows, forKey: .rows); try c.encode(transactions, forKey: .transactions)
        try c.encode(firstLSN, forKey: .firstLSN); try c.encode(lastLSN, forKey: .lastLSN)
    }
}
