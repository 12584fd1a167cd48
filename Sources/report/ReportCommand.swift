import ArgumentParser
import BinlogFormat
import Foundation
import GRDB
import LogshipCLI
import Reports

@main
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Analytics on replicas, never on the master: monthly expense summaries and custom read-only SQL, stamped with freshness.",
        discussion: "Exit codes (shared by binlog-writer, binlog-ship, replica-apply and report):\n" + ExitStatus.table,
        subcommands: [MonthlyExpensesCommand.self, QueryCommand.self, ExportCommand.self])
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

    @Flag(help: "Replace an existing --out file.")
    var force = false

    @Flag(help: "Allow running on a master data directory (reports belong on replicas).")
    var allowMaster = false

    func validate() throws {
        guard !store.isEmpty else { throw ValidationError("give at least one --store (a replica directory)") }
        guard ReportFormat(rawValue: format) != nil else { throw ValidationError("--format must be one of table, csv, json, markdown, html") }
        if let maxLag, parseDuration(maxLag) == nil { throw ValidationError("--max-lag takes a duration like 15m") }
        guard parseDuration(wait) != nil else { throw ValidationError("--wait takes a duration like 30s") }
    }

    /// Chooses the store, notes what was passed over on stderr, and opens the output.
    func prepare() throws -> (StoreSelection.Choice, ReportWriter) {
        let choice = try StoreSelection.choose(paths: store, allowMaster: allowMaster, maxLag: maxLag.flatMap(parseDuration),
                                               minLSN: minLSN, wait: minLSN != nil ? parseDuration(wait)! : 0)
        if store.count > 1 { printError("report", "using \(choice.store.path) (LSN \(choice.freshness.lsn))") }
        for note in choice.notes { printError("report", note) }
        if choice.store.isMaster { printError("report", "warning: running on the master (--allow-master)") }
        let sink = try ReportSink(outputPath: out, force: force)
        return (choice, ReportSink.make(ReportFormat(rawValue: format)!, sink: sink))
    }
}

func classify(_ error: Error) -> ExitStatus? {
    if let e = error as? ReportError {
        switch e.kind {
        case .stale: return .lagging
        case .notFound: return .notFound
        case .refused: return .usage
        case .sql: return .sqlError
        case .io: return .ioError
        case .diskFull: return .diskFull
        case .exists: return .alreadyExists
        case .invalid: return .usage
        }
    }
    if let e = error as? DatabaseError { return e.resultCode == .SQLITE_FULL ? .diskFull : .sqlError }
    return nil
}

func Report_run(_ body: () throws -> Void) throws { try runReporting("report", classify, body) }
