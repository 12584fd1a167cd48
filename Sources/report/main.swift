import ArgumentParser
import LogshipCLI

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "NOT BUILT YET: will run monthly expense summaries and custom SQL on replicas, stamped with freshness.",
        discussion: """
            Planned (issue 5): monthly-expenses and query reports in table, CSV, JSON, Markdown and HTML,
            each stamped with source, epoch, applied LSN and its age; --max-lag and --min-lsn.
            Today every invocation exits 1.

            Exit codes (shared by all four tools):
            """ + "\n" + ExitStatus.table)

    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    func run() throws { try refuseNotBuilt("report", plannedIn: "issue 5 (report)") }
}

Report.main()
