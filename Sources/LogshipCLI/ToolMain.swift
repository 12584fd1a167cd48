import ArgumentParser
import BinlogFormat
import Foundation

/// Runs a tool: applies the deployment configuration (logship.yml, `LOGSHIP_…` variables) to
/// the command line, then parses and runs it as ArgumentParser's `main` does. A configuration
/// `--log-level` is taken out first (ToolLog). A configuration
/// problem is reported like any failure (`tool: message`, `HINT:`) with its exit code.
public func runTool(_ command: ParsableCommand.Type, tool: String,
                    arguments: [String] = Array(CommandLine.arguments.dropFirst()),
                    environment: [String: String] = ProcessInfo.processInfo.environment) -> Never {
    let rewritten: [String]
    do {
        var arguments = arguments
        ToolLog.bootstrap(tool: tool, level: try ToolLog.level(&arguments, environment: environment))
        let options = try ToolOptions(command)
        rewritten = try DeploymentArguments(tool: tool, options: options, environment: environment).rewrite(arguments)
        ToolLog.command = options.resolve(rewritten).path.map(\.name).joined(separator: " ")
    } catch {
        printError(tool, "\(error)")
        exit(ExitStatus(error).rawValue)
    }
    command.main(rewritten)
    exit(0)
}
