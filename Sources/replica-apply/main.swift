import ArgumentParser
import LogshipCLI

struct ReplicaApply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica-apply",
        abstract: "NOT BUILT YET: will apply shipped segments to a replica's snapshot store exactly once.",
        discussion: """
            Planned (issue 4): exactly-once apply with the position in the same SQLite transaction as the
            rows, stops at gaps, corruption and divergence, --follow, --until-time/--until-lsn, --delay,
            snapshots and point-in-time restore, status and check. The apply engine it will use already
            exists (BinlogApply) and serves the master's crash recovery. Today every invocation exits 1.

            Exit codes (shared by all four tools):
            """ + "\n" + ExitStatus.table)

    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    func run() throws { try refuseNotBuilt("replica-apply", plannedIn: "issue 4 (replica-apply)") }
}

ReplicaApply.main()
