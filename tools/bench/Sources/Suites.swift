import BinlogMaster
import Foundation
import GRDB

/// One contender's figures (of one run, or the median of several).
struct Measurement {
    var label: String
    var rows: Int
    /// The time the rate is computed from (see `timing`).
    var seconds: Double
    /// What `seconds` covers: "db" (in-process database work: transactions and close, rows
    /// generated off the clock), "gen" (generating rows only) or "process" (spawn to exit).
    var timing: String
    var peakKiB: Int
    /// "VmHWM" (read by the child itself), or how the binlog-writer process was measured.
    var peakSource: String
    var binlogBytes: Int64?
    var fingerprint: String
    /// A contender shown to explain a result, not one the targets are about.
    var diagnostic = false
    /// The rate of every run, when there were several.
    var rates: [Double] = []

    var rate: Double { Double(rows) / seconds }
    var binlogBytesPerRow: Double? { binlogBytes.map { Double($0) / Double(rows) } }

    /// The run with the median time, with the highest peak of all runs (a peak is a bound).
    static func median(_ runs: [Measurement]) -> Measurement {
        let sorted = runs.sorted { $0.seconds < $1.seconds }
        var m = sorted[sorted.count / 2]
        m.peakKiB = runs.map(\.peakKiB).max() ?? m.peakKiB
        m.rates = runs.map(\.rate)
        return m
    }
}

/// The contenders of one run, each in a child process of its own, with files under `workdir`.
struct BenchSuites {
    var workdir: String
    var selfPath: String
    var binlogWriter: String
    /// tools/bench/sqlite-csv-load.c compiled for this run (nil: no C-API contender).
    var cLoader: String?
    var seed: UInt64
    /// Runs of each contender; the report shows the median. Rounds are interleaved so a slow
    /// spell of a shared machine or disk does not fall on one contender only.
    var rounds: Int
    var logs: String { workdir + "/logs" }

    /// A contender: its label and one run of it (`round` numbers logs and work files).
    typealias Contender = (label: String, run: (_ round: Int) throws -> Measurement)

    /// Runs every contender `rounds` times, interleaved, and returns the medians in order.
    private func interleaved(_ contenders: [Contender], once: Set<String> = []) throws -> [Measurement] {
        var runs = [[Measurement]](repeating: [], count: contenders.count)
        for round in 1...rounds {
            for (i, c) in contenders.enumerated() where round == 1 || !once.contains(c.label) {
                runs[i].append(try c.run(round))
            }
        }
        return runs.map(Measurement.median)
    }

    /// Generator alone, plain SQLite, the master in-process (and, as a diagnostic, without
    /// its per-commit fsync), and optionally `binlog-writer load` on a CSV.
    func bulk(rows: Int, cli: Bool) throws -> [Measurement] {
        let dir = workdir + "/bulk-\(rows)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var contenders: [Contender] = [
            ("generator alone (no database)", { try bulkChild("none", $0, "generator alone (no database)", rows: rows, dir: dir) }),
            ("plain", { try bulkChild("plain", $0, "plain SQLite (GRDB, WAL, NORMAL)", rows: rows, dir: dir) }),
            ("master", { try bulkChild("master", $0, "master in-process (Master.transaction)", rows: rows, dir: dir) }),
            ("master-nosync", { try bulkChild("master", $0, "  same, sync-binlog 0 (diagnostic)", rows: rows, dir: dir, syncBinlog: 0) }),
        ]
        if cli {
            progress("bulk-\(rows): writing \(dir)/expenses.csv …")
            try InputFiles.writeCSV(dir + "/expenses.csv", rows: rows, seed: seed)
            contenders.append(("cli", { try cliLoad(rows: rows, dir: dir, round: $0) }))
            if let cLoader { contenders.append(("c", { try cLoad(cLoader, rows: rows, dir: dir, round: $0) })) }
        }
        let results = try interleaved(contenders, once: ["generator alone (no database)"])
        try checkSameData(results.filter { $0.fingerprint != "-" }, "bulk load of \(rows) rows")
        return results
    }

    private func bulkChild(_ engine: String, _ round: Int, _ label: String, rows: Int, dir: String, syncBinlog: Int = 1) throws -> Measurement {
        let name = "bulk-\(rows)-\(engine)\(syncBinlog == 1 ? "" : "-sync\(syncBinlog)")-r\(round)"
        progress("\(name) …")
        let result = workdir + "/" + name + ".json"
        let target = dir + "/" + name
        let outcome = try ChildProcess.run([selfPath, "child-bulk", "--engine", engine, "--target", target, "--result", result,
                                            "--rows", String(rows), "--seed", String(seed), "--sync-binlog", String(syncBinlog)],
                                           log: logs + "/" + name)
        let r = try JSONDecoder().decode(ContenderResult.self, from: Data(contentsOf: URL(fileURLWithPath: result)))
        try? FileManager.default.removeItem(atPath: target)
        progress(String(format: "%@ %.2f s (process %.2f s)", name, r.timedSeconds, outcome.seconds))
        return Measurement(label: label, rows: r.rows, seconds: r.timedSeconds, timing: engine == "none" ? "gen" : "db", peakKiB: r.peakKiB,
                           peakSource: "VmHWM read by the child at its end", binlogBytes: r.binlogBytes, fingerprint: r.fingerprint,
                           diagnostic: syncBinlog != 1)
    }

    /// `binlog-writer load` on a CSV of the same rows; the whole process is timed.
    private func cliLoad(rows: Int, dir: String, round: Int) throws -> Measurement {
        let csv = dir + "/expenses.csv", name = "bulk-\(rows)-cli-r\(round)", master = dir + "/" + name
        defer { try? FileManager.default.removeItem(atPath: master) }
        try prepareMaster(master, log: name)
        progress("\(name) …")
        let outcome = try ChildProcess.run([binlogWriter, "load", master, "--table", "expenses", csv], log: logs + "/" + name, measurePeak: true)
        let said = (try? String(contentsOfFile: outcome.stdoutPath, encoding: .utf8)) ?? ""
        guard said.contains("loaded \(rows) rows") else { throw BenchError("binlog-writer load said: \(said)") }
        let directory = MasterDirectory(path: master)
        let m = Measurement(label: "binlog-writer load (CSV, whole process)", rows: rows, seconds: outcome.seconds, timing: "process",
                            peakKiB: outcome.maxRSSKiB, peakSource: outcome.peakSource, binlogBytes: directoryBytes(directory.binlogPath),
                            fingerprint: try fingerprint(directory.databasePath))
        progress(String(format: "%@ %.2f s", name, outcome.seconds))
        return m
    }

    /// Plain SQLite through its C API alone on the same CSV (tools/bench/sqlite-csv-load.c:
    /// prepare, bind, step, one transaction; WAL, synchronous NORMAL), timed as a whole process
    /// like `binlog-writer load`: the peer a skeptic would pick (issue 15), beside the GRDB one.
    private func cLoad(_ loader: String, rows: Int, dir: String, round: Int) throws -> Measurement {
        let csv = dir + "/expenses.csv", name = "bulk-\(rows)-c-r\(round)", db = dir + "/" + name + ".db"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        let queue = try DatabaseQueue(path: db, configuration: plainConfiguration(synchronous: "NORMAL"))
        try queue.inDatabase { db in try db.execute(sql: ExpenseSchema.createSQL) }
        try queue.close()
        progress("\(name) …")
        let outcome = try ChildProcess.run([loader, db, "expenses", csv], log: logs + "/" + name, measurePeak: true)
        let said = (try? String(contentsOfFile: outcome.stdoutPath, encoding: .utf8)) ?? ""
        guard said.contains("loaded \(rows) rows") else { throw BenchError("sqlite-csv-load said: \(said)") }
        progress(String(format: "%@ %.2f s", name, outcome.seconds))
        return Measurement(label: "plain SQLite C API (CSV, whole process)", rows: rows, seconds: outcome.seconds, timing: "process",
                           peakKiB: outcome.maxRSSKiB, peakSource: outcome.peakSource, binlogBytes: nil, fingerprint: try fingerprint(db))
    }

    /// Compiles tools/bench/sqlite-csv-load.c into `workdir` with the system's cc (-O2,
    /// Debian's libsqlite3, the SQLite the other contenders use); nil, with a note, without cc.
    static func compileCLoader(workdir: String) throws -> String? {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sqlite-csv-load.c").path
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), FileManager.default.fileExists(atPath: source) else {
            FileHandle.standardError.write(Data("logship-bench: no /usr/bin/cc or no \(source): the C-API contender is left out\n".utf8))
            return nil
        }
        let out = workdir + "/sqlite-csv-load"
        let outcome = try ChildProcess.run(["/usr/bin/cc", "-O2", "-o", out, source, "-lsqlite3"], log: workdir + "/logs/cc")
        guard FileManager.default.isExecutableFile(atPath: out) else {
            throw BenchError("cc failed on \(source); see \(outcome.stderrPath)")
        }
        return out
    }

    /// `binlog-writer init` and the CREATE TABLE, untimed.
    private func prepareMaster(_ master: String, log: String) throws {
        _ = try ChildProcess.run([binlogWriter, "init", master, "--sync-binlog", "1"], log: logs + "/" + log + "-init")
        _ = try ChildProcess.run([binlogWriter, "exec", master, ExpenseSchema.createSQL], log: logs + "/" + log + "-create")
    }

    /// `statements` autocommit INSERTs: plain SQLite (WAL, FULL) in a child process, one
    /// `binlog-writer exec --file` process, and optionally the master in-process.
    func durable(statements: Int, inProcessMaster: Bool) throws -> [Measurement] {
        let dir = workdir + "/durable"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sql = dir + "/inserts.sql"
        try InputFiles.writeInserts(sql, rows: statements, seed: seed)
        var contenders: [Contender] = [
            ("plain", { try durablePlain(sql: sql, dir: dir, round: $0) }),
            ("exec", { try exec(sql: sql, statements: statements, dir: dir, round: $0) }),
        ]
        if inProcessMaster {
            contenders.append(("master", { round in
                let master = dir + "/durable-master-r\(round)"
                defer { try? FileManager.default.removeItem(atPath: master) }
                try prepareMaster(master, log: "durable-master-r\(round)")
                return try durableChild("master", round, "master in-process (Master.execute)", target: master, sql: sql)
            }))
        }
        let results = try interleaved(contenders)
        try checkSameData(results, "\(statements) single-row transactions")
        return results
    }

    /// Plain SQLite on a database made beforehand (WAL, the table), so the timed process
    /// does what `binlog-writer exec` does: open, read the file, run it, close.
    private func durablePlain(sql: String, dir: String, round: Int) throws -> Measurement {
        let db = dir + "/durable-plain-r\(round).db"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        let queue = try DatabaseQueue(path: db, configuration: plainConfiguration(synchronous: "FULL"))
        try queue.inDatabase { db in try db.execute(sql: ExpenseSchema.createSQL) }
        try queue.close()
        return try durableChild("plain", round, "plain SQLite (WAL, FULL; own process)", target: db, sql: sql)
    }

    private func durableChild(_ engine: String, _ round: Int, _ label: String, target: String, sql: String) throws -> Measurement {
        let name = "durable-\(engine)-r\(round)"
        progress("\(name) …")
        let result = workdir + "/" + name + ".json"
        let outcome = try ChildProcess.run([selfPath, "child-durable", "--engine", engine, "--target", target, "--result", result, "--sql", sql],
                                           log: logs + "/" + name)
        let r = try JSONDecoder().decode(ContenderResult.self, from: Data(contentsOf: URL(fileURLWithPath: result)))
        progress(String(format: "%@ %.2f s (process %.2f s)", name, r.timedSeconds, outcome.seconds))
        return Measurement(label: label, rows: r.rows, seconds: outcome.seconds, timing: "process", peakKiB: r.peakKiB,
                           peakSource: "VmHWM read by the child at its end", binlogBytes: r.binlogBytes, fingerprint: r.fingerprint)
    }

    private func exec(sql: String, statements: Int, dir: String, round: Int) throws -> Measurement {
        let name = "durable-exec-r\(round)", master = dir + "/" + name
        defer { try? FileManager.default.removeItem(atPath: master) }
        try prepareMaster(master, log: name)
        progress("\(name) …")
        let outcome = try ChildProcess.run([binlogWriter, "exec", master, "--file", sql, "--sync-binlog", "1"], log: logs + "/" + name,
                                           measurePeak: true)
        let said = (try? String(contentsOfFile: outcome.stdoutPath, encoding: .utf8)) ?? ""
        let commits = said.split(separator: "\n").filter { $0.hasPrefix("lsn=") }.count
        guard commits == statements else { throw BenchError("binlog-writer exec acknowledged \(commits) commits, expected \(statements)") }
        let directory = MasterDirectory(path: master)
        progress(String(format: "%@ %.2f s", name, outcome.seconds))
        return Measurement(label: "binlog-writer exec --file (sync-binlog 1)", rows: commits, seconds: outcome.seconds, timing: "process",
                           peakKiB: outcome.maxRSSKiB, peakSource: outcome.peakSource, binlogBytes: directoryBytes(directory.binlogPath),
                           fingerprint: try fingerprint(directory.databasePath))
    }

    /// Every contender must have loaded the same data, or its rate means nothing.
    private func checkSameData(_ results: [Measurement], _ what: String) throws {
        guard let first = results.first else { return }
        for r in results.dropFirst() where r.fingerprint != first.fingerprint {
            throw BenchError("\(what): \(r.label) loaded different data than \(first.label)\n  \(r.fingerprint)\n  \(first.fingerprint)")
        }
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data(("  " + line + "\n").utf8))
    }
}

/// Input files for the binlog-writer processes, written with the same generator.
enum InputFiles {
    static func writeCSV(_ path: String, rows: Int, seed: UInt64) throws {
        try write(path, header: ExpenseSchema.csvHeader, rows: rows, seed: seed) { $0.csvLine }
    }

    static func writeInserts(_ path: String, rows: Int, seed: UInt64) throws {
        try write(path, header: "", rows: rows, seed: seed) { $0.insertStatement }
    }

    private static func write(_ path: String, header: String, rows: Int, seed: UInt64, _ render: (ExpenseRow) -> String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw BenchError("unable to create \(path)")
        }
        defer { try? handle.close() }
        var generator = ExpenseGenerator(seed: seed)
        var buffer = header
        for _ in 0..<rows {
            buffer += render(generator.next())
            if buffer.utf8.count >= 1 << 20 { try handle.write(contentsOf: Data(buffer.utf8)); buffer = "" }
        }
        try handle.write(contentsOf: Data(buffer.utf8))
    }
}
