import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import LogshipSystem

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode segments to readable text or JSON Lines (like mysqlbinlog -v or pg_waldump).",
        discussion: "PATH is a master data directory, a binlog directory or replica inbox, or segment files. Times are UTC (2026-11-27T12:00:00Z or 2026-11-27).")

    @Argument(help: "Master data directory, segment directory, or segment files.")
    var paths: [String]

    @Option(help: "First LSN to show.") var fromLSN: UInt64?
    @Option(help: "Last LSN to show.") var toLSN: UInt64?
    @Option(help: "Show transactions committed at or after this time (with its zone: 2026-03-01T12:00:00Z or +01:00; a time without one is refused).") var since: String?
    @Option(help: "Show transactions committed at or before this time (with its zone: 2026-03-01T12:00:00Z or +01:00; a time without one is refused).") var until: String?
    @Option(help: "Only events of this table (repeatable).") var table: [String] = []
    @Option(help: "text or jsonl.") var format: String = "text"
    @Option(name: .customLong("decrypt-key"), help: "An encryption key file (mode 0600) to read encrypted segments with (repeatable).") var decryptKeys: [String] = []

    func validate() throws {
        guard DumpFormat(rawValue: format) != nil else { throw ValidationError("--format must be text or jsonl") }
        if let since, let problem = typedTimeProblem(since) { throw ValidationError("--since: cannot read \(since): \(problem)") }
        if let until, let problem = typedTimeProblem(until) { throw ValidationError("--until: cannot read \(until): \(problem)") }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            for key in decryptKeys { _ = try EncryptionKeyFile.read(key, register: true) }
            var filter = DumpFilter()
            filter.fromLSN = fromLSN
            filter.toLSN = toLSN
            filter.since = since.flatMap(parseTimestamp)
            filter.until = until.flatMap(parseTimestamp)
            filter.tables = Set(table)
            let printer = DumpPrinter(format: DumpFormat(rawValue: format)!)
            for file in try segmentFiles(paths) {
                let reader = try SegmentReader(path: file)
                if let toLSN, reader.header.firstLSN > toLSN { break }
                if let fromLSN, let footer = reader.footer, footer.lastLSN < fromLSN { continue }
                let name = (file as NSString).lastPathComponent
                while let tx = try reader.next() {
                    guard filter.includes(tx) else { continue }
                    let events = tx.events.filter(filter.includes)
                    if !filter.tables.isEmpty && events.isEmpty { continue }
                    FileHandle.standardOutput.write(Data(printer.render(tx, events: events, segment: name).utf8))
                }
            }
        }
    }
}

/// Expands master directories and segment directories into segment files in log order.
func segmentFiles(_ paths: [String]) throws -> [String] {
    var files: [String] = []
    for p in paths {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
            throw FormatError(.invalidArgument, "no such file or directory", path: p)
        }
        if !isDir.boolValue { files.append(p); continue }
        let binlog = FileManager.default.fileExists(atPath: p + "/master.json") ? p + "/binlog" : p
        files += try BinlogDirectory(path: binlog).list().segments.map(\.path)
    }
    return files
}
