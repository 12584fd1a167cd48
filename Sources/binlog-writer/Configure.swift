import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import LogshipCLI

struct Configure: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a master's digest-marker settings in master.json (continuous verification, docs/REPLICA.md).",
        discussion: "Takes the master's lock; the next exec, load or rotate uses the new settings. 0 turns a trigger off.")

    @Argument(help: "The master data directory.")
    var directory: String

    @Option(help: "Write a digest marker every N transactions (0 = off).")
    var digestEvery: Int?

    @Option(help: "Write a digest marker on the first commit this long after the last one, e.g. 5m (0 = off).")
    var digestInterval: String?

    @Option(help: "Seconds to wait for another writer to release the directory.")
    var lockTimeout: Double = 10

    func validate() throws {
        guard digestEvery != nil || digestInterval != nil else { throw ValidationError("give --digest-every, --digest-interval or both") }
        if let digestEvery, digestEvery < 0 { throw ValidationError("--digest-every must be 0 (off) or more") }
        if let digestInterval, parseDuration(digestInterval) == nil { throw ValidationError("--digest-interval takes a duration like 90s, 5m or 1h, or 0") }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            let identity = try MasterDirectory(path: directory).configureDigestMarkers(
                every: digestEvery, interval: digestInterval.flatMap(parseDuration), lockTimeout: lockTimeout)
            printLine("digest markers: \(describeDigestMarkers(every: identity.digestEveryTransactions, interval: identity.digestIntervalSeconds))")
        }
    }
}

/// "every 1000 transactions, every 300 s, and on rotate", or "off".
func describeDigestMarkers(every: Int?, interval: Double?) -> String {
    var parts: [String] = []
    if let every, every > 0 { parts.append("every \(every) transactions") }
    if let interval, interval > 0 { parts.append("every \(String(format: "%g", interval)) s") }
    return parts.isEmpty ? "off" : parts.joined(separator: ", ") + ", and on rotate"
}
