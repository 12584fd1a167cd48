import ArgumentParser
import Foundation
import LogshipCLI
import Parquet
import ReplicaStore
import Reports

/// `report export --format parquet DIR`: every user table as Parquet, with a manifest.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export every user table of a replica as Parquet files with a manifest (source, epoch, LSN, row counts, digests).",
        discussion: """
            All tables are read in one read transaction, at the store's applied LSN (or, with --as-of-lsn/--as-of-time, from a
            copy of the replica restored to that point). With --incremental PREV, months and tables whose rows are unchanged
            since the export PREV are hard links to its files and only the others are written. The expense table (--table) is
            partitioned by month: DIR/<table>/month=YYYY-MM/part-0.parquet; other tables go to DIR/<table>/part-0.parquet.
            The export is written into a temp directory beside DIR and renamed into place: DIR is all there or not at all.
            DIR must not exist.
            """)

    @Option(name: .long, help: "A replica directory or store file (repeat for several replicas: the freshest one that meets --max-lag is used).")
    var store: [String]
    @Option(help: "Refuse to export data older than this (e.g. 15m); exit 5.") var maxLag: String?
    @Option(help: "Wait until the store has applied this LSN.") var minLSN: UInt64?
    @Option(help: "How long --min-lsn waits.") var wait: String = "30s"
    @Flag(help: "Allow running on a master data directory.") var allowMaster = false
    @Option(name: .shortAndLong, help: "The file format: parquet (the only one).") var format: String = "parquet"
    @Option(help: "Rows per Parquet row group.") var rowGroupRows: Int = 128 * 1024
    @Option(help: "Page compression: snappy or uncompressed.") var compression: String = "snappy"
    @Flag(help: "Do not partition the expense table by month (a store without one).") var noPartition = false
    @OptionGroup var columns: ExpenseColumns
    @OptionGroup var asOf: AsOfOptions
    @Option(name: .customLong("incremental"), help: "A previous export of the same replica: months (and tables) unchanged since are hard-linked from it, only changed ones written.")
    var previous: String?
    @Argument(help: "The directory to create.") var directory: String

    func validate() throws {
        guard !store.isEmpty else { throw ValidationError("give at least one --store (a replica directory)") }
        guard format == "parquet" else { throw ValidationError("--format must be parquet") }
        guard ["snappy", "uncompressed"].contains(compression) else { throw ValidationError("--compression must be snappy or uncompressed") }
        guard rowGroupRows >= 1 else { throw ValidationError("--row-group-rows must be at least 1") }
        if let maxLag, parseDuration(maxLag) == nil { throw ValidationError("--max-lag takes a duration like 15m") }
        guard parseDuration(wait) != nil else { throw ValidationError("--wait takes a duration like 30s") }
    }

    func run() throws {
        try runReporting("report") {
            var o = ParquetExport.Options()
            o.previous = previous
            o.partition = noPartition ? nil : ExpenseMapping(table: columns.table, date: columns.dateColumn, amount: columns.amountColumn,
                                                             category: columns.categoryColumn, currency: columns.currencyColumn, merchant: columns.merchantColumn)
            o.writer.rowGroupRows = rowGroupRows
            o.writer.compression = compression == "snappy" ? .snappy : .uncompressed
            let m = try export(o)
            let files = m.tables.reduce(0) { $0 + $1.files.count }, rows = m.tables.reduce(0) { $0 + $1.rows }
            let linked = m.tables.reduce(0) { $0 + $1.files.filter { $0.linkedFrom != nil }.count }
            let reuse = m.previousExport == nil ? "" : " (\(linked) hard-linked from the export at LSN \(m.previousExport?.lsn ?? 0))"
            print("exported \(m.tables.count) tables, \(rows) rows in \(files) files\(reuse) to \(directory) at LSN \(m.lsn) (committed \(m.commitTime))")
        }
    }

    /// The export from the store the flags choose, or (--as-of-…) from a restored copy of the one --store.
    private func export(_ options: ParquetExport.Options) throws -> ParquetExport.Manifest {
        guard let target = asOf.target else {
            let choice = try StoreSelection.choose(paths: store, allowMaster: allowMaster, maxLag: maxLag.flatMap(parseDuration),
                                                   minLSN: minLSN, wait: minLSN != nil ? parseDuration(wait) ?? 30 : 0)
            for note in choice.notes { printError("report", note) }
            return try ParquetExport.run(choice.store, to: directory, options)
        }
        try AsOfOptions.check(stores: store.count, maxLag: maxLag, minLSN: minLSN, allowMaster: allowMaster, what: "export")
        return try AsOfRestore.withStore(replica: store[0], target: target) { (copy: ReportStore, plan: Restore.Plan) -> ParquetExport.Manifest in
            var o = options
            o.asOfLSN = plan.targetLSN
            return try ParquetExport.run(copy, to: directory, o)
        }
    }
}
