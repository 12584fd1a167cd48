import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import LogshipCLI

struct Rotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal the active segment so it can be shipped (for cron: --if-older-than 5m).",
        discussion: "An empty active segment is never sealed. Segments are also sealed automatically when they reach the segment size.")

    @OptionGroup var master: MasterOptions

    @Option(help: "Only seal a segment started at least this long ago (e.g. 5m, 1h).")
    var ifOlderThan: String?

    @Flag(help: "Print the result as JSON (docs/JSON.md).") var json = false
    @Flag(name: .shortAndLong, help: "Print nothing when it succeeds (for cron).") var quiet = false

    func validate() throws {
        if let ifOlderThan, parseDuration(ifOlderThan) == nil { throw ValidationError("--if-older-than takes a duration like 90s, 5m or 1h") }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            let seconds = ifOlderThan.flatMap(parseDuration)
            // A running `serve` holds the directory: it seals for us.
            if let server = WriterConnection(directory: master.directory) {
                try report(try server.rotate(ifOlderThan: seconds))
                return
            }
            let m = try master.open()
            defer { try? m.close() }
            let sealed = try m.rotate(ifOlderThan: seconds)
            try report(sealed.map { ("\($0.name)", $0.footer.lastLSN, Int($0.footer.transactionCount)) })
            try m.close()
        }
    }

    private func report(_ sealed: (name: String, lastLSN: UInt64, transactions: Int)?) throws {
        if json {
            printLine(try jsonText(RotateJSON(sealed: sealed.map { .init(segment: $0.name, lastLSN: $0.lastLSN, transactions: $0.transactions) })))
        } else if quiet {
        } else if let sealed {
            printLine("sealed \(sealed.name) (LSN ≤ \(sealed.lastLSN), \(sealed.transactions) transactions)")
        } else {
            printLine("nothing to seal" + (ifOlderThan.map { " (no non-empty active segment older than \($0))" } ?? " (no transactions since the last seal)"))
        }
    }
}

/// `rotate --json` (docs/JSON.md): the sealed segment, or null when nothing was sealed.
struct RotateJSON: Encodable {
    struct Sealed: Encodable { var segment: String; var lastLSN: UInt64; var transactions: Int }
    var sealed: Sealed?

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sealed, forKey: .sealed)   // null, not left out, when nothing was sealed
    }
    enum CodingKeys: String, CodingKey { case sealed }
}
