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

    @Flag(help: "Keep running: ship each transaction as soon as it is durable on the master (active segment included, woken by inotify), until SIGTERM or SIGINT. Implies --include-active.")
    var follow = false

    @Option(help: "With --follow, for S3 targets: the least time between two uploads of the active segment's partial object (e.g. 1s, 500ms).")
    var flushInterval: String = "1s"

    @OptionGroup var pacing: PassPacingOptions

    @Option(help: "With --follow: run at this CPU niceness or lower priority (0-19, as nice -n; default 19). The follower runs on the master's machine, and a busy CPU then goes to the master's commits first; an idle one still runs it at once. 0 keeps the priority it was started with.")
    var nice: Int32?

    @Option(help: "Seconds to wait for another run to finish (default 0: exit 12 at once).")
    var lockTimeout: Double = 0

    @Option(help: "With --follow, serve `status --prometheus` at http://HOST:PORT/metrics (e.g. 127.0.0.1:9465).")
    var metricsListen: String?

    @Flag(name: .shortAndLong, help: "Print only problems (for cron).")
    var quiet = false

    @Flag(help: "Print one JSON report at the end instead of the lines (docs/JSON.md); problems still go to stderr.")
    var json = false

    func run() throws {
        try runReporting("binlog-ship") {
            var config = try options.load()
            config.includeActive = config.includeActive || includeActive || follow
            let shipper = try Shipper(config: config)
            shipper.lockTimeout = lockTimeout
            shipper.onEvent = { event in
                let line: String
                switch event {
                case .shipped(let t, let file, let bytes, let first, let last):
                    line = "\(t): shipped \(file) (\(formatBytes(bytes)), \(lsnRange(first, last)))"
                case .shippedPartial(let t, let file, let bytes, let first, let last):
                    line = "\(t): shipped partial \(file) (\(formatBytes(bytes)), \(lsnRange(first, last)))"
                case .alreadyPresent(let t, let file):
                    line = "\(t): \(file) already there with the same bytes"
                case .removed(let t, let file, let reason):
                    line = "\(t): removed \(file) (\(reason))"
                case .failed(let e):
                    printError("binlog-ship", e.description)
                    return
                }
                ToolLog.logger.info("\(line)")
                if !quiet && !json { printLine(line) }
            }
            if follow {
                if let metricsListen {
                    let status = config
                    try MetricsEndpoint.start(listen: metricsListen) { (try? ShipStatus.read(config: status).prometheus) ?? "" }
                }
                try followLoop(shipper)
                return
            }
            let report = try shipper.run()
            if json { printLine(try jsonText(ShipRunJSON(report))) }
            for t in report.targets where !quiet && !json {
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

/// Set by SIGTERM/SIGINT: --follow finishes its pass, records its state and exits 0.
nonisolated(unsafe) var stopRequested = false

extension Ship {
    func validate() throws {
        guard parseDuration(flushInterval) != nil else { throw ValidationError("--flush-interval takes a duration like 1s or 500ms") }
        try pacing.check(follow: follow)
        if let nice {
            guard (0...19).contains(nice) else { throw ValidationError("--nice takes a niceness from 0 to 19, like nice -n") }
            if !follow { throw ValidationError("--nice applies to --follow; a cron run is short, run it under nice(1) if you want") }
        }
        if let metricsListen {
            guard follow else { throw ValidationError("--metrics-listen serves metrics while --follow runs; without it use status --metrics-file") }
            guard MetricsEndpoint.parse(metricsListen) != nil else { throw ValidationError("--metrics-listen takes an IPv4 address and port, like 127.0.0.1:9465") }
        }
    }

    /// `--follow`: runs until a signal; a source problem that stops shipping for good
    /// (corruption, a gap, divergence, split brain) ends it with its exit code, anything else
    /// (a target unreachable for a while) is printed and retried.
    private func followLoop(_ shipper: Shipper) throws {
        signal(SIGINT) { _ in stopRequested = true }
        signal(SIGTERM) { _ in stopRequested = true }
        // The shipper's passes compete with the master's commits for the CPU (issue 15: on 2
        // cores, followers at the default niceness cost a master at its full rate 12 % of it,
        // 4 % under nice 19). Only ever lowers the priority: a unit's Nice= above stays.
        let niceness = nice ?? 19
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        if errno == 0, niceness > current, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness) != 0 {
            printError("binlog-ship", "unable to lower the CPU priority to niceness \(niceness) (\(String(cString: strerror(errno)))); following at \(current)")
        }
        var options = Shipper.FollowOptions()
        options.flushInterval = parseDuration(flushInterval) ?? 1
        options.passInterval = pacing.interval
        options.passBatch = pacing.batch
        options.shouldStop = { stopRequested }
        try shipper.follow(options) { report in
            if json { printLine(try jsonText(ShipRunJSON(report))) }
            if let kind = report.worstKind, [.corruption, .gap, .divergence, .splitBrain].contains(kind.exitStatus) {
                throw ReportedFailure(kind.exitStatus)
            }
        }
    }
}

/// `binlog-ship --json` (docs/JSON.md): what each target holds and what this run did to it.
struct ShipRunJSON: Encodable {
    struct Target: Encodable {
        var name: String, path: String
        var shipped: [String], alreadyPresent: [String], removed: [String]
        var partial: String?, lastSegment: String?, lastLSN: UInt64?, error: String?
        enum CodingKeys: String, CodingKey { case name, path, shipped, alreadyPresent, removed, partial, lastSegment, lastLSN, error }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name); try c.encode(path, forKey: .path)
            try c.encode(shipped, forKey: .shipped); try c.encode(alreadyPresent, forKey: .alreadyPresent); try c.encode(removed, forKey: .removed)
            // Absent values are null, so every key is always there (one schema).
            try c.encode(partial, forKey: .partial); try c.encode(lastSegment, forKey: .lastSegment)
            try c.encode(lastLSN, forKey: .lastLSN); try c.encode(error, forKey: .error)
        }
    }
    var targets: [Target]
    var sourceError: String?

    init(_ report: ShipReport) {
        targets = report.targets.map {
            Target(name: $0.name, path: $0.path, shipped: $0.shipped, alreadyPresent: $0.alreadyPresent, removed: $0.removed,
                   partial: $0.partial, lastSegment: $0.lastSegment, lastLSN: $0.lastLSN, error: $0.error?.description)
        }
        sourceError = report.sourceError?.description
    }

    enum CodingKeys: String, CodingKey { case targets, sourceError }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(targets, forKey: .targets); try c.encode(sourceError, forKey: .sourceError)
    }
}
