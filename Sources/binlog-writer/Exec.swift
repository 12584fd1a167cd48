import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipCLI
import LogshipSystem

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run SQL on the master: autocommit statements or BEGIN … COMMIT blocks; prints the LSN of each committed transaction.",
        discussion: """
            SQL comes from the argument, from --file, or from standard input ("-" or no argument).
            For each committed transaction that changed rows or schema, one line goes to stdout:
              lsn=42 commit_time=2026-11-27T12:00:00.123456Z events=3
            printed only once the transaction is durable in the binlog. Query results print as
            '|'-separated rows. The first failing statement rolls back its transaction, logs
            nothing of it, and exits 10; transactions committed before it stay committed (in
            autocommit mode, rows SQLite keeps under ON CONFLICT FAIL are committed first, as in
            SQLite). Statements a replica could not reproduce (VACUUM, virtual tables, writes to
            sqlite_sequence or logship's tables, unsafe pragmas) are refused before they run:
            exit 10, "refused: …" (docs/ARCHITECTURE.md).
            """)

    @OptionGroup var master: MasterOptions
    @OptionGroup var semiSync: SemiSyncOptions

    @Argument(help: "SQL text; omit or use - to read standard input.")
    var sql: String?

    @Option(name: .shortAndLong, help: "Read SQL from this file.")
    var file: String?

    @Flag(help: "Print commits as JSON Lines instead of text.")
    var json = false

    @Flag(help: "Open the master directly even when `binlog-writer serve` runs on it (then waits for its lock).")
    var direct = false

    @Option(help: "Write this run's metrics here for node_exporter's textfile collector (atomically): when it ran, how long it took, its exit code, and the binlog fsyncs its commits waited for (a histogram); through a running `serve`, the server's /metrics has the fsyncs.")
    var metricsFile: String?

    func validate() throws {
        if sql != nil && file != nil && sql != "-" { throw ValidationError("give SQL either as an argument or with --file, not both") }
    }

    func run() throws {
        final class Opened: @unchecked Sendable { var master: Master? }
        let opened = Opened()
        try runReporting("binlog-writer", metricsFile: metricsFile, extraMetrics: { opened.master?.processMetrics ?? "" }) {
            let text: String
            if let file {
                text = String(decoding: try readAll(file), as: UTF8.self)
            } else if let sql, sql != "-" {
                text = sql
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let json = self.json
            if !direct, let server = WriterConnection(directory: master.directory) {
                // The server's settings govern its commits: refuse to claim semi-sync it does not give.
                if let wanted = semiSync.settings, (Master.SemiSyncRecord.read(master: master.directory)?.replicas ?? 0) < wanted.replicas {
                    throw MasterError(.invalid, "a `binlog-writer serve` runs on \(master.directory) without --sync-replicas \(wanted.replicas); its commits would not wait for the replicas",
                                      hint: "restart serve with --sync-replicas \(wanted.replicas), or drop --sync-replicas here")
                }
                try server.exec(text, printRow: { printLine($0) }, printCommit: { printCommitLine(lsn: $0, commitTime: $1, events: $2, json: json) })
                return
            }
            let m = try master.open(semiSync: semiSync.settings)
            opened.master = m
            defer { try? m.close() }
            try m.execute(text, onRow: { row in
                printLine(row.databaseValues.map { $0.isNull ? "" : String(describing: $0.storage.value ?? "") }.joined(separator: "|"))
            }, onCommit: { info in
                printCommitLine(lsn: info.lsn, commitTime: info.commitTime, events: UInt64(info.events), json: json)
            })
            try m.close()
        }
    }
}

/// One commit's acknowledgement line. One write(2) per commit of bytes put together by hand:
/// the line is the acknowledgement, so it is not held back in a buffer, and FileHandle's Data
/// copy, string interpolation and the option's property wrapper were 6 % of the process's CPU
/// time on durable single-row commits.
private func printCommitLine(lsn: UInt64, commitTime: Int64, events: UInt64, json: Bool) {
    var line: [UInt8] = []
    line.reserveCapacity(128)
    line += (json ? "{\"lsn\":" : "lsn=").utf8
    appendDecimal(lsn, to: &line)
    line += (json ? ",\"commit_time\":\"" : " commit_time=").utf8
    appendTimestamp(commitTime, to: &line)
    line += (json ? "\",\"events\":" : " events=").utf8
    appendDecimal(events, to: &line)
    line += (json ? "}\n" : "\n").utf8
    writeAll(line)
}

/// The whole of `path`, read to its end: a regular file, a pipe (/dev/stdin, a process
/// substitution's /dev/fd/N) or any other readable file.
private func readAll(_ path: String) throws -> Data {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        let exists = FileManager.default.fileExists(atPath: path)
        throw MasterError(exists ? .io : .notFound, "unable to read \(path): \(exists ? "permission denied or not a readable file" : "no such file")")
    }
    defer { try? handle.close() }
    do { return try handle.readToEnd() ?? Data() } catch {
        throw MasterError(.io, "unable to read \(path): \(error.localizedDescription)")
    }
}

private func appendDecimal(_ value: UInt64, to line: inout [UInt8]) {
    var divisor: UInt64 = 1
    while divisor <= value / 10 { divisor *= 10 }
    var v = value
    while divisor > 0 {
        line.append(UInt8(48 + v / divisor))
        v %= divisor
        divisor /= 10
    }
}

/// Writes `bytes` to standard output whole (retrying short writes and EINTR).
private func writeAll(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(STDOUT_FILENO, raw.baseAddress! + done, raw.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
