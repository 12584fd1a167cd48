import ArgumentParser
import Foundation
import LogshipCLI
import Reports

/// `report site`: the saved reports of a config file, published as a static site.
struct SiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site",
        abstract: "Run the saved reports of a reports.yml and publish them as a static site in DIR (index, pages, CSV/JSON downloads).",
        discussion: """
            DIR becomes a symbolic link to a versioned directory beside it; the new site is built and fsynced \
            beside DIR and the link is swapped in one rename, so a reader never sees a half-updated site. The \
            previous version is kept. Quiet on success (for cron); --verbose lists what was published.
            """)

    @Argument(help: "The site directory (a symbolic link that report site manages).") var directory: String
    @Option(help: "The site config (see samples/reports/reports.yml).") var config: String
    @Flag(help: "Print each published report and its freshness.") var verbose = false

    func run() throws {
        try runReporting("report") {
            let site = try SiteConfig.load(path: config, parseDuration: parseDuration)
            let limits = ReportLimits(timeout: 300, maxRows: 1_000_000, maxMemory: 1 << 30)
            limits.applyMemoryLimit()
            let result = try Site.publish(site, to: directory, limits: limits)
            for note in result.skipped { printError("report", note) }
            guard verbose else { return }
            for entry in result.entries {
                print("\(result.directory)/\(entry.file(.html)): \(entry.freshness.line)")
            }
        }
    }
}
