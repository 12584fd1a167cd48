import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import LogshipCLI

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a master data directory (database, binlog directory, identity); refuses an existing one.")

    @Argument(help: "The directory to create (must not exist, or be empty).")
    var directory: String

    @Option(help: "Seal the active segment once it reaches this size (e.g. 16MiB, 1GiB).")
    var segmentSize: String = "64MiB"

    @Option(help: "fsync the binlog every N commits (1 = each commit; 0 = leave it to the OS). Like MySQL's sync_binlog.")
    var syncBinlog: Int = 1

    @Option(help: "Write a digest marker every N transactions (0 = off; docs/REPLICA.md, continuous verification).")
    var digestEvery: Int = 0

    @Option(help: "Write a digest marker on the first commit this long after the last one (0 = off); rotate writes one too while markers are on.")
    var digestInterval: String = "5m"

    func validate() throws {
        guard digestEvery >= 0 else { throw ValidationError("--digest-every must be 0 (off) or more") }
        guard parseDuration(digestInterval) != nil else { throw ValidationError("--digest-interval takes a duration like 90s, 5m or 1h, or 0") }
        guard let size = parseSize(segmentSize), size >= 4096 else { throw ValidationError("--segment-size must be a size of at least 4096 bytes, like 64MiB") }
        guard syncBinlog >= 0 else { throw ValidationError("--sync-binlog must be 0 or more") }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            let identity = try MasterDirectory.initialize(at: directory, segmentSize: parseSize(segmentSize)!, syncBinlog: syncBinlog,
                                                          digestEvery: digestEvery, digestInterval: parseDuration(digestInterval) ?? 0)
            printLine("created master \(directory)")
            printLine("  source id  \(identity.sourceID.uuidString)")
            printLine("  epoch      \(identity.epoch)")
            printLine("  database   \(MasterDirectory(path: directory).databasePath)")
            printLine("  binlog     \(MasterDirectory(path: directory).binlogPath)")
            printLine("  markers    \(describeDigestMarkers(every: identity.digestEveryTransactions, interval: identity.digestIntervalSeconds))")
        }
    }
}
