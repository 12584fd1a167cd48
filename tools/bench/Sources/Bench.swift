import ArgumentParser
import Foundation

/// The master's benchmark: bulk load and durable single-row commits, each through the
/// master and through plain SQLite, side by side (docs/BENCHMARKS.md has a measured run).
@main
struct LogshipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logship-bench",
        abstract: "Measure the master against plain SQLite: bulk load rate, durable commit rate, binlog bytes per row, peak memory.",
        subcommands: [RunBench.self, ChildBulk.self, ChildDurable.self, ChildInput.self, FollowLatency.self, ApplyPass.self, ChildWriters.self],
        defaultSubcommand: RunBench.self)
}

struct RunBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run every contender, each in a child process of its own, and print the figures and the targets.",
        discussion: "binlog-writer is taken from the directory of this executable unless --binlog-writer names it.")

    @Option(help: "Rows of the bulk load (also run at a quarter of this, to show peak memory does not grow). Default 1000000, --quick 40000.")
    var rows: Int?

    @Option(help: "Single-row durable transactions. Default 20000, --quick 1000.")
    var single: Int?

    @Option(help: "Seed of the expense generator.")
    var seed: UInt64 = 42

    @Option(help: "Runs of each contender (interleaved); the median is shown. Default 3, --quick 1.")
    var `repeat`: Int?

    @Option(help: "Directory for the databases, binlogs and logs (default: a new temporary directory, removed afterwards).")
    var workdir: String?

    @Flag(help: "Small sizes, for a smoke run.")
    var quick = false

    @Flag(inversion: .prefixedNo, help: "Also time the `binlog-writer load` process on a generated CSV.")
    var cliLoad = true

    @Flag(inversion: .prefixedNo, help: "Also run the durable workload through the master in-process (Master.execute), to separate the CLI's cost.")
    var durableInProcess = true

    @Option(help: "The binlog-writer executable.")
    var binlogWriter: String?

    var bulkRows: Int { rows ?? (quick ? 40_000 : 1_000_000) }
    var singleRows: Int { single ?? (quick ? 1_000 : 20_000) }
    var rounds: Int { `repeat` ?? (quick ? 1 : 3) }

    func validate() throws {
        guard bulkRows >= 4 else { throw ValidationError("--rows must be at least 4") }
        guard singleRows >= 1 else { throw ValidationError("--single must be at least 1") }
        guard rounds >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        let selfPath = ChildProcess.selfPath()
        let writer = binlogWriter ?? ((selfPath as NSString).deletingLastPathComponent + "/binlog-writer")
        guard FileManager.default.isExecutableFile(atPath: writer) else {
            throw BenchError("no binlog-writer at \(writer)\nHINT: build it into the same products directory (tools/bench/run does), or pass --binlog-writer")
        }
        let dir = try workdir ?? makeTemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        let cLoader = cliLoad ? try BenchSuites.compileCLoader(workdir: dir) : nil
        let suites = BenchSuites(workdir: dir, selfPath: selfPath, binlogWriter: writer, cLoader: cLoader, seed: seed, rounds: rounds)
        let machine = try Machine.describe(workdir: dir)
        FileHandle.standardError.write(Data("logship-bench: rows \(bulkRows) and \(bulkRows / 4), single \(singleRows), seed \(seed), \(rounds) round(s), in \(dir)\n".utf8))
        let loadBefore = Machine.loadAverage()
        let started = monotonicSeconds()
        let bulk = try [bulkRows, bulkRows / 4].map { (rows: $0, results: try suites.bulk(rows: $0, cli: cliLoad)) }
        let durable = try suites.durable(statements: singleRows, inProcessMaster: durableInProcess)
        let report = BenchReport(machine: machine, workdir: dir, seed: seed, rounds: rounds,
                                 load: (loadBefore, Machine.loadAverage()), bulk: bulk, durable: durable)
        print(report.render(), terminator: "")
        print(String(format: "\nwhole run: %.0f s", monotonicSeconds() - started))
        if workdir == nil { try? FileManager.default.removeItem(atPath: dir) }
    }

    private func makeTemporaryDirectory() throws -> String {
        var base = NSTemporaryDirectory()
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/logship-bench.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("unable to create a temporary directory in \(NSTemporaryDirectory())") }
        return String(cString: made)
    }
}
