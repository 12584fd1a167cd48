import ArgumentParser
import LogshipCLI

struct BinlogShip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binlog-ship",
        abstract: "NOT BUILT YET: will copy sealed binlog segments to replica inboxes, for cron.",
        discussion: """
            Planned (issue 3): verified, atomic, idempotent, in-order copies of sealed segments to one or
            more target directories; an OS lock against overlapping cron runs; per-target state;
            `status`, `check --max-lag`, `purge`, `verify`. Today every invocation exits 1 and ships nothing.

            Exit codes (shared by all four tools):
            """ + "\n" + ExitStatus.table)

    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    func run() throws { try refuseNotBuilt("binlog-ship", plannedIn: "issue 3 (binlog-ship)") }
}

BinlogShip.main()
