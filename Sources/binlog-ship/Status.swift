import ArgumentParser
import BinlogShip
import Foundation
import LogshipCLI

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each target's last shipped segment, how far behind it is, its last success and last error (takes no lock).")

    @OptionGroup var options: ShipOptions

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Print Prometheus text format (for node_exporter's textfile collector).")
    var prometheus = false

    @Option(help: "Write the Prometheus text to this file instead, atomically (for node_exporter's textfile collector; name it *.prom).")
    var metricsFile: String?

    func run() throws {
        try runReporting("binlog-ship") {
            let s = try ShipStatus.read(config: try options.load())
            if let metricsFile { try MetricsFile.write(s.prometheus, to: metricsFile); return }
            if json { printLine(try jsonText(s)); return }
            if prometheus { FileHandle.standardOutput.write(Data(s.prometheus.utf8)); return }
            printLine("source      \(s.source)" + (s.sourceID.map { "  (source id \($0))" } ?? ""))
            printLine("master      " + (s.lastLSN.map { "LSN \($0)" + (s.lastCommitTime.map { "  committed \($0)" } ?? "") } ?? "no transactions yet"))
            printLine("segments    \(s.sealedSegments) sealed, \(formatBytes(s.sealedBytes))" + (s.activeSegment.map { "; active \($0) (\(formatBytes(s.activeCommittedBytes)) committed)" } ?? ""))
            if let p = s.sourceProblem { printLine("problem     \(p)") }
            if let r = s.lastRun { printLine("last run    \(r.startedAt) pid \(r.pid): \(r.outcome ?? "?")" + (r.finishedAt == nil ? " (did not finish)" : "")) }
            for t in s.targets {
                printLine("")
                printLine("target \(t.name)" + (t.configured ? "" : "  (NOT CONFIGURED: state only; `binlog-ship forget \(t.name)` drops it)"))
                printLine("  path          \(t.path)")
                if let g = t.guarantees { printLine("  guarantees    " + (g.isEmpty ? "none" : g.joined(separator: ", "))) }
                printLine("  last shipped  " + (t.lastSegment.map { "\($0)  LSN \(t.lastLSN ?? 0)  committed \(t.lastCommitTime ?? "-")  shipped \(t.shippedAt ?? "-")" } ?? "nothing yet"))
                if let p = t.partial { printLine("  partial       \(p)  LSN \(t.partialLastLSN ?? 0)") }
                let seconds = t.secondsBehind.map { LagCheck.describe($0) } ?? "everything"
                printLine("  behind        \(seconds) of commit time, \(t.lsnsBehind) LSN\(t.lsnsBehind == 1 ? "" : "s"), \(t.segmentsBehind) sealed segment\(t.segmentsBehind == 1 ? "" : "s"), \(formatBytes(t.bytesBehind))")
                printLine("  last success  \(t.lastSuccessAt ?? "never")")
                if let e = t.lastError { printLine("  last error    " + e.replacingOccurrences(of: "\n", with: "\n                ")) }
            }
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 5 when a target is further behind than --max-lag, or no run finished it successfully within that time.",
        discussion: "For cron alerting, like SQL Server's log-shipping monitor thresholds. One line per target; exit 0 when all are within the limit.")

    @OptionGroup var options: ShipOptions

    @Option(help: "The limit, e.g. 15m or 1h (default: `max_lag` in the config file).")
    var maxLag: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only the targets that lag (for cron).")
    var quiet = false

    struct Output: Encodable {
        var ok: Bool
        var maxLagSeconds: Double
        var targets: [Entry]
        struct Entry: Encodable { var target: String; var ok: Bool; var reason: String }
    }

    func validate() throws {
        if let maxLag, parseDuration(maxLag) == nil { throw ValidationError("--max-lag takes a duration like 90s, 15m or 1h") }
    }

    func run() throws {
        try runReporting("binlog-ship") {
            let config = try options.load()
            guard let limit = maxLag.flatMap(parseDuration) ?? config.maxLag else {
                throw ShipError(.config, "check needs a limit", hint: "pass --max-lag 15m, or set `max_lag:` in the config file")
            }
            let findings = LagCheck.evaluate(try ShipStatus.read(config: config), maxLag: limit)
            if findings.isEmpty { throw ShipError(.config, "no targets to check", hint: "pass --target DIR or a config file with targets") }
            let ok = findings.allSatisfy(\.ok)
            if json {
                printLine(try jsonText(Output(ok: ok, maxLagSeconds: limit, targets: findings.map { .init(target: $0.target, ok: $0.ok, reason: $0.reason) })))
            } else {
                for f in findings where !(quiet && f.ok) { printLine("\(f.target): \(f.ok ? "ok" : "LAGGING"): \(f.reason)") }
            }
            if !ok { throw ReportedFailure(.lagging) }
        }
    }
}
