import ArgumentParser
import BinlogFormat
import BinlogShip
import Foundation
import LogshipCLI
import ReplicaStore

/// `replica-apply fetch`: copies new segments from a bucket prefix that binlog-ship writes into
/// the replica's inbox (verified, published atomically); `apply` then applies them as today.
/// A separate step so that any apply loop can call it before each pass.
struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy new sealed segments from a remote source (s3://bucket/prefix) into the replica's inbox, verified.",
        discussion: """
            Endpoint, region and credentials come from the usual AWS variables and files, as for binlog-ship
            (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE). Each segment is
            downloaded in 4 MiB ranges to a temp file in the inbox, fsynced, read whole, linked to the one before it,
            then renamed into place. Stops at the first gap (exit 2) or damaged object (3), naming it; a file already
            in the inbox with other bytes is never overwritten (4). --follow polls every --poll-interval.
            """)

    @Argument(help: "The replica directory.")
    var replica: String

    @Option(help: "The remote source: s3://bucket/prefix (where binlog-ship ships); default: the one `init --source` recorded.")
    var source: String?

    @Flag(help: "Keep polling the source (SIGTERM or SIGINT stops cleanly).")
    var follow = false

    @Option(help: "With --follow, how long to wait between polls; a unit is required (e.g. 2s, 1m).")
    var pollInterval: String = "5s"

    @Option(help: "With --follow, serve the fetch loop's metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9466).") var metricsListen: String?

    @Flag(help: "Print nothing on success.") var quiet = false
    @Flag(help: "Print the result as JSON, one object per pass that fetched something with --follow (docs/JSON.md).") var json = false

    /// `fetch --json` (docs/JSON.md).
    struct Output: Encodable { var source: String; var fetched: [String]; var present: [String] }

    func validate() throws {
        if let source, !source.hasPrefix("s3://")  { throw ValidationError("--source takes s3://bucket/prefix") }
        guard pollInterval.contains(where: \.isLetter), let seconds = parseDuration(pollInterval), seconds > 0 else {
            throw ValidationError("--poll-interval takes a duration with a unit, like 2s or 1m")
        }
        if let metricsListen {
            guard follow else { throw ValidationError("--metrics-listen serves metrics while --follow runs") }
            guard MetricsEndpoint.parse(metricsListen) != nil else { throw ValidationError("--metrics-listen takes an IPv4 address and port, like 127.0.0.1:9466") }
        }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let dir = try ReplicaDirectory.open(replica)
            guard let source = source ?? dir.identity?.source else {
                throw ReplicaError(.invalid, "\(dir.path) has no remote source", hint: "pass --source s3://bucket/prefix, or create the replica with `replica-apply init --source`")
            }
            let store = S3Store(target: ShipTarget(name: "source", path: source))
            var fetch = RemoteFetch(store: store, inbox: dir.inboxPath)
            let interval = parseDuration(pollInterval) ?? 5
            let metrics = FetchMetrics(source: source, replica: dir.path)
            if let metricsListen, follow { try MetricsEndpoint.start(listen: metricsListen) { metrics.text } }
            if follow {
                signal(SIGINT) { _ in stopRequested = true }
                signal(SIGTERM) { _ in stopRequested = true }
            }
            repeat {
                fetch.appliedSegment = dir.appliedSegmentName()
                let outcome = try fetch.run()
                metrics.record(outcome, inbox: dir.inboxPath)
                try RemoteFetchRecord.write(replica: dir.path, source: source, outcome: outcome)
                if json {
                    if !follow || !outcome.fetched.isEmpty {
                        printLine(try jsonText(Output(source: source, fetched: outcome.fetched, present: outcome.present)))
                    }
                } else if !quiet {
                    report(outcome)
                }
                if !follow { break }
                var waited = 0.0
                while waited < interval && !stopRequested { Thread.sleep(forTimeInterval: 0.1); waited += 0.1 }
            } while !stopRequested
        }
    }

    private func report(_ outcome: RemoteFetch.Outcome) {
        for key in outcome.fetched { printLine("fetched \(key)") }
        printLine("fetched \(outcome.fetched.count) object(s) from \(source ?? "the recorded source"); \(outcome.present.count) already in the inbox")
    }
}

/// The `fetch --follow` loop's own metrics (`--metrics-listen`): passes, objects and bytes
/// fetched, when a pass last succeeded. In memory: counters restart with the process. A pass
/// that fails ends the loop with its exit code (systemd restarts it), so no error counter.
final class FetchMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private let labels: [(String, String)]
    private var passes: UInt64 = 0, objects: UInt64 = 0, bytes: Int64 = 0
    private var lastSuccess: Int64?

    init(source: String, replica: String) { labels = [("source", source), ("replica", replica)] }

    func record(_ outcome: RemoteFetch.Outcome, inbox: String) {
        let size = outcome.fetched.reduce(Int64(0)) { sum, key in
            sum + ((try? FileManager.default.attributesOfItem(atPath: inbox + "/" + key)[.size] as? Int64) ?? 0)
        }
        lock.lock()
        defer { lock.unlock() }
        passes += 1
        objects += UInt64(outcome.fetched.count)
        bytes += size
        lastSuccess = microsecondsNow()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        var t = PrometheusText()
        t.counter("logship_fetch_passes_total", "Polls of the remote source that completed.", [.init(labels, .uint(passes))])
        t.counter("logship_fetch_objects_total", "Segments fetched into the inbox.", [.init(labels, .uint(objects))])
        t.counter("logship_fetch_bytes_total", "Bytes of those segments.", [.init(labels, .int(bytes))])
        t.gauge("logship_fetch_last_success_time_seconds", "When a poll last completed, Unix seconds (0 when none yet).",
                [.init(labels, PrometheusText.seconds(lastSuccess))])
        return t.text
    }
}
