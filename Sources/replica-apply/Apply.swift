import ArgumentParser
import BinlogFormat
import BinlogShip
import ExpenseSummary
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore

/// Set by SIGINT/SIGTERM: --follow finishes its batch and exits 0.
nonisolated(unsafe) var stopRequested = false

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply every complete transaction in the inbox, in LSN order, then exit (for cron); --follow keeps going.",
        discussion: """
            Bounds are inclusive: --until-lsn N applies LSN N and stops; --until-time T applies every transaction
            committed at or before T (UTC); --delay D applies only transactions committed at least D ago.
            Stops at the first gap (exit 2), damaged segment (3) or divergence (4), naming file, offset, LSN,
            table and key; everything before it stays applied. An overlapping run exits 12.
            """)

    @Argument(help: "The replica directory.")
    var replica: String

    @Flag(help: "Keep running: apply what arrives in the inbox as soon as it lands (woken by inotify; SIGTERM or SIGINT stops cleanly).")
    var follow = false

    @Option(help: "Stop after applying this LSN (inclusive).") var untilLSN: UInt64?
    @Option(help: "Stop after the last transaction committed at or before this time (with its zone: 2026-03-01T12:00:00Z or +01:00; a time without one is refused).") var untilTime: String?
    @Option(help: "Only apply transactions committed at least this long ago (e.g. 1h): a delayed replica.") var delay: String?
    @Option(help: "Source transactions per store transaction (a batch also ends at 200,000 row events).") var batch: Int = 5000
    @Option(help: "SQLite's page cache for the store while applying, in MiB (SQLite's own default is 2). Inserts into stores of 0.1–1 million rows ran 21–27 % faster with 64 than with 2 (docs/BENCHMARKS.md, tools/bench/scale); the memory is taken only as pages are read.") var cacheMib: Int = 64
    @Option(help: "Seconds to wait for another replica-apply to release the replica.") var lockTimeout: Double = 0
    @Option(help: "With --follow, the wait between passes, with a unit (default 1s; 5s for a replica with a remote source, which is polled each pass).") var pollInterval: String?
    @OptionGroup var pacing: PassPacingOptions
    @Flag(help: "Print nothing on success (for cron: mail only on errors, which still go to stderr).") var quiet = false
    @Flag(help: "Print the result as JSON, one object per pass with --follow (docs/JSON.md).") var json = false
    @Option(help: "With --follow, serve `status --prometheus` at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464).") var metricsListen: String?
    @OptionGroup var prune: FollowPruneOptions

    func validate() throws {
        if let untilTime, let problem = typedTimeProblem(untilTime) { throw ValidationError("--until-time: cannot read \(untilTime): \(problem)") }
        if let delay, parseDuration(delay) == nil { throw ValidationError("--delay takes a duration like 30m or 1h") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard (1...65536).contains(cacheMib) else { throw ValidationError("--cache-mib takes 1 to 65536 (MiB)") }
        if let metricsListen {
            guard follow else { throw ValidationError("--metrics-listen serves metrics while --follow runs; without it use status --metrics-file") }
            guard MetricsEndpoint.parse(metricsListen) != nil else { throw ValidationError("--metrics-listen takes an IPv4 address and port, like 127.0.0.1:9464") }
        }
        try prune.check(follow: follow)
        try pacing.check(follow: follow)
        if let pollInterval, !(pollInterval.contains(where: \.isLetter) && (parseDuration(pollInterval) ?? 0) > 0) {
            throw ValidationError("--poll-interval takes a duration with a unit, like 2s or 1m")
        }
    }

    func run() throws {
        try runReporting("replica-apply") {
            do {
                try applyLoop()
                record(error: nil, code: 0)
            } catch {
                let status = ExitStatus(error)
                // An overlapping cron run says nothing about this replica's health.
                if status != .busy { record(error: "\(error)", code: status.rawValue) }
                throw error
            }
        }
    }

    /// Keeps the outcome in state.json for status and check; never hides the run's own result.
    private func record(error: String?, code: Int32) {
        guard let dir = try? ReplicaDirectory.open(replica) else { return }
        do { try ReplicaState.record(dir, error: error, exitCode: code) } catch {
            ToolLog.logger.warning("unable to record the run in \(dir.statePath): \(error)")
        }
    }

    private func applyLoop() throws {
        let r = try Replica.open(replica, lockTimeout: lockTimeout)
        defer { r.close() }
        if let metricsListen, follow { try MetricsEndpoint.start(listen: metricsListen) { [replica] in (try? ReplicaStatus.read(replica).prometheus) ?? "" } }
        if follow {
            signal(SIGINT) { _ in stopRequested = true }
            signal(SIGTERM) { _ in stopRequested = true }
        }
        var options = Replica.ApplyOptions(untilLSN: untilLSN, untilTime: untilTime.flatMap(parseTimestamp), delay: delay.flatMap(parseDuration))
        options.batchTransactions = batch
        options.cacheKiB = cacheMib * 1024
        options.shouldStop = { stopRequested }
        // The expense summary, when the store keeps one, commits with the rows (replica-apply summarize).
        options.observers = [Summaries.observer]
        let bar = ProgressBar(label: "applying")
        options.progress = { bar.update(Int64($0)) }
        // A replica with a remote source fetches into its inbox before each pass (replica.json "source").
        let remote = r.directory.identity?.source.map { source in
            RemoteFetch(store: S3Store(target: ShipTarget(name: "source", path: source)), inbox: r.directory.inboxPath)
        }
        options.beforePass = remote.map { base in {
            var fetch = base
            fetch.appliedSegment = r.directory.appliedSegmentName()
            let outcome = try fetch.run()
            try RemoteFetchRecord.write(replica: r.directory.path, source: r.directory.identity?.source ?? fetch.store.location, outcome: outcome)
            if !quiet && !json && !outcome.fetched.isEmpty { printLine("fetched \(outcome.fetched.count) object(s) from \(fetch.store.location)") }
        } }
        if follow {
            // A follower is a run that never ends: record each good pass, or `check` would
            // report "no successful run" once --max-lag has passed since it started.
            let interval = pollInterval.flatMap(parseDuration) ?? (remote == nil ? 1 : 5)
            let pruner = prune.pruner(replica: replica, quiet: quiet || json)
            // At most once a second: each record is a durable publish (two fsyncs) that holds
            // up the next pass of a busy follower (issue 15's lag); `check` needs only a
            // success within --max-lag, and the run's end records again.
            var recorded = Date.distantPast
            options.passInterval = pacing.interval
            options.passBatch = pacing.batch
            try r.follow(options, pollInterval: interval) { result in
                report(result, bar)
                if result.stop != .interrupted, recorded.timeIntervalSinceNow <= -1 {
                    record(error: nil, code: 0)
                    recorded = Date()
                }
                pruner?.afterPass()
            }
        } else {
            try options.beforePass?()
            report(try r.applyAvailable(options), bar)
        }
    }

    private func report(_ result: Replica.ApplyResult, _ bar: ProgressBar) {
        if result.transactions > 0 { bar.finish(Int64(result.toLSN)) }
        if json {
            if result.transactions > 0 || !follow, let text = try? jsonText(ApplyJSON(result)) { printLine(text) }
            return
        }
        guard !quiet else { return }
        if result.transactions > 0 {
            printLine("applied LSN \(result.fromLSN + 1)…\(result.toLSN) (\(result.transactions) transactions, \(result.events) events)"
                      + (result.lastCommitTime.map { ", last commit \(formatTimestamp($0))" } ?? "") + "; stopped: \(result.stop.rawValue)")
        } else if !follow {
            printLine("nothing to apply: store at LSN \(result.toLSN); stopped: \(result.stop.rawValue)")
        }
    }
}

/// `apply --json` (docs/JSON.md): what one pass applied and why it stopped.
struct ApplyJSON: Encodable {
    var fromLSN: UInt64, toLSN: UInt64, transactions: Int, events: Int
    var lastCommitTime: String?
    var stop: String

    init(_ r: Replica.ApplyResult) {
        fromLSN = r.fromLSN; toLSN = r.toLSN; transactions = r.transactions; events = r.events
        lastCommitTime = r.lastCommitTime.map(formatTimestamp); stop = r.stop.rawValue
    }

    enum CodingKeys: String, CodingKey { case fromLSN, toLSN, transactions, events, lastCommitTime, stop }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fromLSN, forKey: .fromLSN); try c.encode(toLSN, forKey: .toLSN)
        try c.encode(transactions, forKey: .transactions); try c.encode(events, forKey: .events)
        try c.encode(lastCommitTime, forKey: .lastCommitTime); try c.encode(stop, forKey: .stop)   // null when none
    }
}
