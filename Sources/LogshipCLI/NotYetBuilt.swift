import ArgumentParser
import Foundation

/// The body of a tool that is planned but not built yet: it says so and fails, so that
/// nothing in a cron job can mistake it for working.
public func refuseNotBuilt(_ tool: String, plannedIn issue: String) throws -> Never {
    printError(tool, "not built yet: this tool is planned in \(issue) and does nothing today. See README.md for what works now.")
    throw ExitCode(ExitStatus.internalError.rawValue)
}
