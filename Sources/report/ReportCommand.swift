import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import Reports

@main
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Analytics on replicas, never on the master: monthly expense summaries and custom read-only SQL, stamped with freshness.",
        discussion: deploymentHelp(tool: "report") + "\n\nExit codes (shared by binlog-writer, binlog-ship, replica-apply and report):\n" + exitCodeHelp(),
        version: versionText(tool: "report"),
        subcommands: [MonthlyExpensesCommand.self, QueryCommand.self, ExportCommand.self, VerifyCommand.self, SiteCommand.self])

    /// Applies logship.yml and the LOGSHIP_REPORT_* variables, then parses as usual.
    static func main() { runTool(Self.self, tool: "report") }
}

/// Options every report takes: where to read, how fresh it must be, how to print.
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "A replica directory or store file (repeat for several replicas: the freshest one that meets --max-lag is used).")
    var store: [String]

    @Option(help: "Refuse to report from data older than this (e.g. 15m); exit 5.")
    var maxLag: String?

    @Option(help: "Wait until the store has applied this LSN (as printed by binlog-writer exec): read-your-writes.")
    var minLSN: UInt64?

    @Option(help: "How long --min-lsn waits for a replica to reach that LSN.")
    var wait: String = "30s"

    @Option(name: .shortAndLong, help: "table (default), csv, json, markdown or html.")
    var format: String = "table"

    @Option(help: "Write the report to this file (durably: temp file, fsync, rename) instead of stdout.")
    var out: String?

    @Flag(help: "Replace an existing --out file (or --out-dir files).")
    var force = false

    @Option(help: "CSV only: write one file per section into this directory (<section>.csv), each a plain table.")
    var outDir: String?

    @Flag(help: "CSV only: put the title, freshness and section names in '#' comment lines (pandas: comment='#').")
    var csvComments = false

    @Flag(help: "CSV only: leave cells starting with = + - @ tab or CR as they are (by default they get a ' in front, so that spreadsheets do not run them as formulas).")
    var csvKeepFormulas = false

    @Flag(help: "Allow running on a master data directory (reports belong on replicas).")
    var allowMaster = false

    @Option(help: "Stop a report that runs longer than this (e.g. 30s, 10m; 0: no limit); exit 7.")
    var timeout: String = "5m"

    @Option(help: "Write this run's metrics (last run, duration, exit code, last success) to this file for node_exporter's textfile collector, atomically.")
    var metricsFile: String?

    @Option(help: "Stop `report query` after this many rows (0: no limit); exit 7.")
    var maxRows: Int = 1_000_000

    @Option(help: "Cap the memory SQLite may use (e.g. 512MiB; 0: no limit); exit 7 when a query needs more.")
    var maxMemory: String = "1GiB"

    func validate() throws {
        guard !store.isEmpty else { throw ValidationError("give at least one --store (a replica directory)") }
        guard ReportFormat(rawValue: format) != nil else { throw ValidationError("--format must be one of table, csv, json, markdown, html") }
        if let maxLag, parseDuration(maxLag) == nil { throw ValidationError("--max-lag takes a duration like 15m") }
        guard parseDuration(wait) != nil else { throw ValidationError("--wait takes a duration like 30s") }
        guard parseDuration(timeout) != nil else { throw ValidationError("--timeout takes a duration like 30s or 10m, or 0") }
        guard maxRows >= 0 else { throw ValidationError("--max-rows takes a number of rows, or 0 for no limit") }
        guard let memory = parseSize(maxMemory), memory == 0 || memory >= 1 << 20 else {
            throw ValidationError("--max-memory takes a size of at least 1MiB like 512MiB or 2GiB, or 0")
        }
        if outDir != nil {
            guard format == "csv" else { throw ValidationError("--out-dir writes CSV files: add -f csv") }
            guard out == nil else { throw ValidationError("give --out or --out-dir, not both") }
        }
        if (csvComments || csvKeepFormulas) && format != "csv" { throw ValidationError("--csv-comments and --csv-keep-formulas apply to -f csv only") }
    }

    /// How CSV is laid out and guarded, from the flags.
    var csvOptions: CSVOptions {
        var o = CSVOptions()
        o.comments = csvComments
        o.neutraliseFormulas = !csvKeepFormulas
        return o
    }

    /// CSV without comment lines does not carry the freshness stamp: when it goes to stdout, the
    /// stamp goes to stderr. Not with --out or --out-dir: a healthy cron job prints nothing
    /// (cron mails any output).
    func noteFreshness(_ freshness: Freshness) {
        if format == "csv" && !csvComments && out == nil && outDir == nil { printError("report", freshness.line) }
    }

    /// The limits the flags set; 0 means none.
    var limits: ReportLimits {
        let seconds = parseDuration(timeout) ?? 0
        let memory = parseSize(maxMemory) ?? 0
        return ReportLimits(timeout: seconds > 0 ? seconds : nil, maxRows: maxRows > 0 ? maxRows : nil, maxMemory: memory > 0 ? memory : nil)
    }

    /// Chooses the store, notes what was passed over on stderr, and opens the output.
    func prepare() throws -> (StoreSelection.Choice, ReportWriter) {
        let limits = self.limits
        limits.applyMemoryLimit()
        if let timeout = limits.timeout { Watchdog.start(after: timeout) }
        let choice = try StoreSelection.choose(paths: store, allowMaster: allowMaster, maxLag: maxLag.flatMap(parseDuration),
                                               minLSN: minLSN, wait: minLSN != nil ? parseDuration(wait)! : 0)
        if store.count > 1 { printError("report", "using \(choice.store.path) (LSN \(choice.freshness.lsn))") }
        for note in choice.notes { printError("report", note) }
        if choice.store.isMaster { printError("report", "warning: running on the master (--allow-master)") }
        choice.store.limits = limits
        return (choice, try openWriter())
    }

    /// The writer the flags ask for: stdout, `--out` or `--out-dir`.
    func openWriter() throws -> ReportWriter {
        if let outDir { return try ReportSink.csvDirectory(outDir, force: force, csv: csvOptions) }
        let sink = try ReportSink(outputPath: out, force: force)
        return ReportSink.make(ReportFormat(rawValue: format)!, sink: sink, csv: csvOptions)
    }
}

/// The last resort behind --timeout: a report blocked on its output (a reader that stopped
/// reading a pipe) is not inside SQLite, where the progress handler would interrupt it. A few
/// seconds past the timeout, the process leaves with exit 7, which ends its read snapshot.
enum Watchdog {
    static let grace = 5.0

    static func start(after seconds: Double) {
        let timer = Thread {
            Thread.sleep(forTimeInterval: seconds + grace)
            let text = "report: limit: the report ran longer than --timeout and is stuck outside SQLite (writing its output?); exiting\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
            _exit(ExitStatus.limit.rawValue)
        }
        timer.start()
    }
}
