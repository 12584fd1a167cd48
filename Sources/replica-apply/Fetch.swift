import ArgumentParser
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

    @Flag(help: "Print nothing on success.") var quiet = false
    @Flag(help: "Print the result as JSON, one object per pass that fetched something with --follow (docs/JSON.md).") var json = false

    /// `fetch --json` (docs/JSON.md).
    struct Output: Encodable { var source: String; var fetched: [String]; var present: [String] }

    func validate() throws {
        if let source, !source.hasPrefix("s3://")  { throw ValidationError("--source takes s3://bucket/prefix") }
        guard pollInterval.contains(where: \.isLetter), let seconds = parseDuration(pollInterval), seconds > 0 else {
            throw ValidationError("--poll-interval takes a duration with a unit, like 2s or 1m")
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
            if follow {
                signal(SIGINT) { _ in stopRequested = true }
                signal(SIGTERM) { _ in stopRequested = true }
            }
            repeat {
                fetch.appliedSegment = dir.appliedSegmentName()
                let outcome = try fetch.run()
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
