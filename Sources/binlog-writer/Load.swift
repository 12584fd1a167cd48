import ArgumentParser
import BinlogMaster
import Foundation
import LogshipCLI

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load CSV (with a header row) or JSON Lines into a table, in batched transactions through the binlog.",
        discussion: "Empty CSV fields load as NULL. A bad row stops the load: its batch is rolled back, earlier batches stay committed, and the message names the line.")

    @OptionGroup var master: MasterOptions

    @Option(name: .shortAndLong, help: "The table to insert into.")
    var table: String

    @Argument(help: "The input file (.csv or .jsonl), or - for standard input.")
    var input: String

    @Option(help: "Input format: csv or jsonl (default: from the file name, else csv).")
    var format: String?

    @Option(help: "Rows per transaction.")
    var batch: Int = 1000

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let format, !["csv", "jsonl"].contains(format) { throw ValidationError("--format must be csv or jsonl") }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            let kind = format ?? (input.hasSuffix(".jsonl") || input.hasSuffix(".ndjson") ? "jsonl" : "csv")
            let m = try master.open()
            defer { try? m.close() }
            let bar = ProgressBar(label: "loading \(table)")
            var source: any RowSource = kind == "jsonl" ? try JSONLinesRowSource(path: input) : try CSVRowSource(path: input)
            let result = try m.load(table: table, from: &source, batchSize: batch) { bar.update(Int64($0)) }
            bar.finish(Int64(result.rows))
            try m.close()
            let range = result.firstLSN.map { "LSN \($0)…\(result.lastLSN!)" } ?? "no LSN"
            printLine("loaded \(result.rows) rows into \(table) in \(result.transactions) transactions (\(range))")
        }
    }
}
