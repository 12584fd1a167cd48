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

    func validate() throws {
        if let ifOlderThan, parseDuration(ifOlderThan) == nil { throw ValidationError("--if-older-than takes a duration like 90s, 5m or 1h") }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            let m = try master.open()
            defer { try? m.close() }
            if let sealed = try m.rotate(ifOlderThan: ifOlderThan.flatMap(parseDuration)) {
                printLine("sealed \(sealed.name) (LSN ≤ \(sealed.footer.lastLSN), \(sealed.footer.transactionCount) transactions)")
            } else {
                printLine("nothing to seal" + (ifOlderThan.map { " (no non-empty active segment older than \($0))" } ?? " (no transactions since the last seal)"))
            }
            try m.close()
        }
    }
}
