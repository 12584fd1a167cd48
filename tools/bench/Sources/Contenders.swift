import ArgumentParser
import BinlogMaster
import Foundation
import GRDB

/// What a contender child reports back to the orchestrating process (as JSON in a file).
struct ContenderResult: Codable {
    var rows: Int
    /// The timed part only: the database work (transactions, and the close that makes
    /// them durable), without generating rows or opening.
    var timedSeconds: Double
    /// VmHWM at the end of the run, in KiB.
    var peakKiB: Int
    var binlogBytes: Int64?
    var fingerprint: String
}

/// Options every contender child takes.
struct ContenderOptions: ParsableArguments {
    @Option(help: "plain, master, or none (generator only; bulk only).") var engine: String
    @Option(help: "Database file (plain) or master directory (master).") var target: String
    @Option(help: "Where to write the result JSON.") var result: String

    func write(_ r: ContenderResult) throws {
        try JSONEncoder().encode(r).write(to: URL(fileURLWithPath: result))
    }
}

/// The pragmas the master sets (Master.configuration), minus capture, for plain SQLite.
func plainConfiguration(synchronous: String) -> Configuration {
    var config = Configuration()
    config.prepareDatabase { db in
        try db.execute(sql: "PRAGMA journal_mode = WAL")
        try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
    }
    return config
}

/// Hidden: one bulk-load contender in a process of its own, so VmHWM is its own peak.
struct ChildBulk: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "child-bulk", shouldDisplay: false)

    @OptionGroup var options: ContenderOptions
    @Option var rows: Int
    @Option var seed: UInt64
    @Option var batch: Int = 1000
    /// For diagnosis only: how much of the master's cost is its per-commit fsync.
    @Option var syncBinlog: Int = 1

    func run() throws {
        var generator = ExpenseGenerator(seed: seed)
        let result: ContenderResult
        switch options.engine {
        case "none": result = try generatorOnly(&generator)
        case "plain": result = try plain(&generator)
        case "master": result = try master(&generator)
        default: throw ValidationError("--engine must be none, plain or master")
        }
        try options.write(result)
    }

    /// Batches of `batch` rows until `rows` are done. Each batch is generated first, off the
    /// clock, then handed to `insert`, which is timed: the generator costs about as much per
    /// row as plain SQLite's insert, and timing it would hide the capture overhead. Memory
    /// stays bounded by one batch. Returns the seconds spent in `insert`.
    private func timedBatches(_ generator: inout ExpenseGenerator, _ insert: ([StatementArguments]) throws -> Void) throws -> Double {
        var done = 0
        var seconds = 0.0
        var batchArguments: [StatementArguments] = []
        batchArguments.reserveCapacity(batch)
        while done < rows {
            let count = min(batch, rows - done)
            batchArguments.removeAll(keepingCapacity: true)
            for _ in 0..<count { batchArguments.append(generator.next().arguments) }
            let started = monotonicSeconds()
            try insert(batchArguments)
            seconds += monotonicSeconds() - started
            done += count
        }
        return seconds
    }

    /// The generator alone: the part of every in-process run that is kept off the clock.
    private func generatorOnly(_ generator: inout ExpenseGenerator) throws -> ContenderResult {
        let started = monotonicSeconds()
        // Counting the non-empty argument lists keeps the optimizer from dropping the work.
        var produced = 0
        for _ in 0..<rows where !generator.next().arguments.isEmpty { produced += 1 }
        return ContenderResult(rows: produced, timedSeconds: monotonicSeconds() - started, peakKiB: peakResidentKiB(), fingerprint: "-")
    }

    private func plain(_ generator: inout ExpenseGenerator) throws -> ContenderResult {
        let queue = try DatabaseQueue(path: options.target, configuration: plainConfiguration(synchronous: "NORMAL"))
        try queue.inDatabase { db in try db.execute(sql: ExpenseSchema.createSQL) }
        var seconds = try timedBatches(&generator) { batch in
            try queue.inDatabase { db in
                try db.inTransaction(.immediate) {
                    let statement = try db.makeStatement(sql: ExpenseSchema.insertSQL)
                    for arguments in batch { try statement.execute(arguments: arguments) }
                    return .commit
                }
            }
        }
        let started = monotonicSeconds()
        try queue.close()
        seconds += monotonicSeconds() - started
        return ContenderResult(rows: rows, timedSeconds: seconds, peakKiB: peakResidentKiB(), fingerprint: try fingerprint(options.target))
    }

    /// What `binlog-writer load` does per batch (Master.load): one Master.transaction with
    /// the INSERT prepared inside it, one execute per row, sync-binlog 1 (the default).
    private func master(_ generator: inout ExpenseGenerator) throws -> ContenderResult {
        try MasterDirectory.initialize(at: options.target, syncBinlog: syncBinlog)
        let m = try Master.open(options.target)
        try m.execute(ExpenseSchema.createSQL)
        var seconds = try timedBatches(&generator) { batch in
            try m.transaction { tx in
                let statement = try tx.prepare(ExpenseSchema.insertSQL)
                for arguments in batch { try tx.execute(statement, arguments: arguments) }
            }
        }
        let started = monotonicSeconds()
        try m.close()
        seconds += monotonicSeconds() - started
        let directory = MasterDirectory(path: options.target)
        return ContenderResult(rows: rows, timedSeconds: seconds, peakKiB: peakResidentKiB(),
                               binlogBytes: directoryBytes(directory.binlogPath), fingerprint: try fingerprint(directory.databasePath))
    }
}

/// Hidden: runs a file of autocommit INSERTs, one durable transaction each, in-process.
/// The orchestrator creates the database or master (and the table) beforehand.
struct ChildDurable: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "child-durable", shouldDisplay: false)

    @OptionGroup var options: ContenderOptions
    @Option var sql: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: sql) else { throw BenchError("cannot read \(sql)") }
        let text = String(decoding: data, as: UTF8.self)
        let started = monotonicSeconds()
        let databasePath: String
        var commits = 0
        switch options.engine {
        case "plain":
            // WAL with synchronous=FULL: SQLite fsyncs the WAL at every commit.
            let queue = try DatabaseQueue(path: options.target, configuration: plainConfiguration(synchronous: "FULL"))
            try queue.inDatabase { db in try db.execute(sql: text) }
            try queue.close()
            commits = try fingerprintCount(options.target)
            databasePath = options.target
        case "master":
            let m = try Master.open(options.target, options: Master.Options(syncBinlog: 1))
            commits = try m.execute(text).count
            try m.close()
            databasePath = MasterDirectory(path: options.target).databasePath
        default:
            throw ValidationError("--engine must be plain or master")
        }
        let seconds = monotonicSeconds() - started
        try options.write(ContenderResult(rows: commits, timedSeconds: seconds, peakKiB: peakResidentKiB(),
                                          binlogBytes: options.engine == "master" ? directoryBytes(MasterDirectory(path: options.target).binlogPath) : nil,
                                          fingerprint: try fingerprint(databasePath)))
    }

    private func fingerprintCount(_ path: String) throws -> Int {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM expenses") ?? 0 }
    }
}

/// Reads the table digest through a connection of its own (after the contender closed).
func fingerprint(_ databasePath: String) throws -> String {
    let queue = try DatabaseQueue(path: databasePath)
    defer { try? queue.close() }
    return try queue.read(ExpenseSchema.fingerprint)
}

/// Hidden: writes the generated rows as the CSV or SQL file the binlog-writer contenders
/// read, to reproduce or profile one of them by hand.
struct ChildInput: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "write-input", shouldDisplay: false)

    @Option(help: "csv or sql.") var format: String
    @Option var rows: Int
    @Option var seed: UInt64 = 42
    @Argument var output: String

    func run() throws {
        switch format {
        case "csv": try InputFiles.writeCSV(output, rows: rows, seed: seed)
        case "sql": try InputFiles.writeInserts(output, rows: rows, seed: seed)
        default: throw ValidationError("--format must be csv or sql")
        }
    }
}
