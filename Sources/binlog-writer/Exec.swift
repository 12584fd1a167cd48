import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipCLI

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run SQL on the master: autocommit statements or BEGIN … COMMIT blocks; prints the LSN of each committed transaction.",
        discussion: """
            SQL comes from the argument, from --file, or from standard input ("-" or no argument).
            For each committed transaction that changed rows or schema, one line goes to stdout:
              lsn=42 commit_time=2026-11-27T12:00:00.123456Z events=3
            printed only once the transaction is durable in the binlog. Query results print as
            '|'-separated rows. The first failing statement rolls back its transaction, logs
            nothing of it, and exits 10; transactions committed before it stay committed.
            """)

    @OptionGroup var master: MasterOptions

    @Argument(help: "SQL text; omit or use - to read standard input.")
    var sql: String?

    @Option(name: .shortAndLong, help: "Read SQL from this file.")
    var file: String?

    @Flag(help: "Print commits as JSON Lines instead of text.")
    var json = false

    func validate() throws {
        if sql != nil && file != nil && sql != "-" { throw ValidationError("give SQL either as an argument or with --file, not both") }
    }

    func run() throws {
        try BinlogMaster_run {
            let text: String
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw MasterError(.notFound, "cannot read \(file)") }
                text = String(decoding: data, as: UTF8.self)
            } else if let sql, sql != "-" {
                text = sql
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let m = try master.open()
            defer { try? m.close() }
            try m.execute(text, onRow: { row in
                printLine(row.databaseValues.map { $0.isNull ? "" : String(describing: $0.storage.value ?? "") }.joined(separator: "|"))
            }, onCommit: { [json] info in
                // One write(2) per commit, straight from the string's bytes: the line is the
                // acknowledgement, so it is not held back in a buffer, but FileHandle's Data
                // copy and the option's property wrapper were measurable per durable commit.
                let time = formatTimestamp(info.commitTime)
                writeLine(json ? "{\"lsn\":\(info.lsn),\"commit_time\":\"\(time)\",\"events\":\(info.events)}\n"
                               : "lsn=\(info.lsn) commit_time=\(time) events=\(info.events)\n")
            })
            try m.close()
        }
    }
}

/// Writes `line` to standard output whole (retrying short writes and EINTR).
private func writeLine(_ line: String) {
    var line = line
    line.withUTF8 { bytes in
        var done = 0
        while done < bytes.count {
            let n = write(STDOUT_FILENO, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
