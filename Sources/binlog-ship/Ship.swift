import ArgumentParser
import BinlogShip
import Foundation
import LogshipCLI

struct Ship: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ship every sealed segment each target lacks, in order, then exit (the default command).",
        discussion: """
            Each segment is verified in the source (checksums, hash chain, LSN continuity), copied to a
            temp file in the target, fsynced, read back and checked, then linked under its name and the
            directory fsynced. A file already there with the same bytes counts as shipped; one with other
            bytes is a conflict (exit 3) and is never overwritten. A target that fails stops; the others
            go on; the exit code is the most serious failure. An overlapping run exits 12 at once.
            """)

    @OptionGroup var options: ShipOptions

    @Flag(help: "Also ship the committed prefix of the active segment as <segment>.binlog.partial (low RPO).")
    var includeActive = false

    @Option(help: "Seconds to wait for another run to finish (default 0: exit 12 at once).")
    var lockTimeout: Double = 0

    @Flag(name: .shortAndLong, help: "Print only problems (for cron).")
    var quiet = false

    func run() throws {
        try runReporting("binlog-ship") {
            var config = try options.load()
            config.includeActive = config.includeActive || includeActive
            let shipper = try Shipper(config: config)
            shipper.lockTimeout = lockTimeout
            shipper.onEvent = { event in
                switch event {
                case .shipped(let t, let file, let bytes, let first, let last):
                    if !quiet { printLine("\(t): shipped \(file) (\(formatBytes(bytes)), \(lsnRange(first, last)))") }
                case .shippedPartial(let t, let file, let bytes, let first, let last):
                    if !quiet { printLine("\(t): shipped partial \(file) (\(formatBytes(bytes)), \(lsnRange(first, last)))") }
                case .alreadyPresent(let t, let file):
                    if !quiet { printLine("\(t): \(file) already there with the same bytes") }
                case .removed(let t, let file, let reason):
                    if !quiet { printLine("\(t): removed \(file) (\(reason))") }
                case .failed(let e):
                    printError("binlog-ship", e.description)
                }
            }
            let report = try shipper.run()
            for t in report.targets where !quiet {
                let sealed = t.lastSegment.map { "\($0)" + (t.lastLSN.map { ", LSN \($0)" } ?? "") }
                let holds = [sealed, t.partial].compactMap { $0 }.joined(separator: " + ")
                if t.error == nil && report.sourceError == nil {
                    printLine("\(t.name): up to date at " + (holds.isEmpty ? "nothing (the source has no sealed segment yet)" : holds))
                } else {
                    printLine("\(t.name): FAILED; it holds " + (holds.isEmpty ? "nothing shipped yet" : "up to \(holds)"))
                }
            }
            if let worst = report.worstKind { throw ReportedFailure(worst.exitStatus) }
        }
    }
}
