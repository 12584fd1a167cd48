import ArgumentParser
import Foundation
import LogshipCLI
import ReplicaStore

/// `replica-apply wait`: read-your-writes from a script (Replica.waitUntilApplied).
struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until the replica has applied an LSN (read-your-writes); exit 0 when it has, 5 (lagging) at --timeout.",
        discussion: """
            Pass the LSN binlog-writer exec printed for your commit. Takes no lock and never writes: it reads the
            store's position whenever the replica directory changes (inotify). Exit 0 once LSN N is applied
            (printing the store's LSN), 5 when --timeout passes first, 15 when REPLICA is not a replica.
            """)

    @Argument(help: "The replica directory.") var replica: String
    @Option(help: "The LSN to wait for (inclusive).") var lsn: UInt64
    @Option(help: "How long to wait at most (e.g. 5s, 500ms, 1m).") var timeout: String = "5s"
    @Flag(help: "Print nothing on success.") var quiet = false

    func validate() throws {
        guard parseDuration(timeout) != nil else { throw ValidationError("--timeout takes a duration like 5s or 500ms") }
    }

    func run() throws {
        try runReporting("replica-apply") {
            let position = try Replica.waitUntilApplied(lsn, replica: replica, timeout: parseDuration(timeout)!)
            if !quiet { printLine("applied: the store is at LSN \(position?.lsn ?? 0)") }
        }
    }
}
