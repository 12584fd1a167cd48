import ArgumentParser
import BinlogShip
import Foundation
import LogshipCLI

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a target (replica inbox): checksums, hash chain, continuity, the partial copy, and each copy against the source; tells not-shipped-yet from lost.",
        discussion: "Exits 0 when the target is intact (even if behind), 2 when it lost a segment it was shipped, 3 on corruption or a copy that differs from the source's segment; the message names file and offset. Without a source (--source or a config file) only the target itself is checked.")

    @OptionGroup var options: ShipOptions

    @Argument(help: "A configured target's name, or a directory.")
    var targetName: String

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Check checksums and structure only, without decoding row events (faster).")
    var quick = false

    @Flag(name: .shortAndLong, help: "Print nothing when the target is intact (for cron); problems still go to stderr.")
    var quiet = false

    func run() throws {
        try runReporting("binlog-ship") {
            let config = try options.load()
            let v = try TargetVerification.run(config.target(targetName) == nil ? absolute(targetName) : targetName, config: config, decode: !quick)
            if json {
                printLine(try jsonText(v))
            } else if quiet && v.outcome == .clean {
            } else {
                let range = v.firstLSN.map { "LSN \($0)…\(v.lastLSN ?? $0)" } ?? "no transactions"
                let names = v.firstSegment.map { " \($0) … \(v.lastSegment ?? $0)" } ?? ""
                printLine("\(v.outcome.rawValue): \(v.target) (\(v.path)): \(segments(v.segments))\(names), \(range), \(v.transactions) transactions, \(formatBytes(v.bytes))")
                if let p = v.partial { printLine("  partial \(p) up to LSN \(v.partialLastLSN ?? 0)") }
                if !v.notShippedYet.isEmpty {
                    printLine("  not shipped yet: \(segments(v.notShippedYet.count)) (\(v.notShippedYet.first!) … \(v.notShippedYet.last!)); the next ship run sends them")
                }
                if !v.lost.isEmpty { printLine("  lost: " + v.lost.joined(separator: ", ")) }
                for w in v.warnings { printLine("  note: \(w)") }
                if let p = v.problem { printError("binlog-ship", p) }
            }
            switch v.outcome {
            case .clean: break
            case .lost: throw ReportedFailure(.gap)
            case .corruption: throw ReportedFailure(.corruption)
            }
        }
    }
}
