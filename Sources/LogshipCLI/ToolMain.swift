import ArgumentParser
import BinlogFormat
import Foundation

/// Runs a tool: applies the deployment configuration (logship.yml, `LOGSHIP_…` variables) to
/// the command line, then parses and runs it as ArgumentParser's `main` does. A configuration
/// `--log-level` is taken out first (ToolLog), and `--group-read` (GroupRead). A configuration
/// problem is reported like any failure (`tool: message`, `HINT:`) with its exit code.
public func runTool(_ command: ParsableCommand.Type, tool: String,
                    arguments: [String] = Array(CommandLine.arguments.dropFirst()),
                    environment: [String: String] = ProcessInfo.processInfo.environment) -> Never {
    let rewritten: [String]
    do {
        var arguments = arguments
        ToolLog.bootstrap(tool: tool, level: try ToolLog.level(&arguments, environment: environment))
        let groupRead = GroupRead.take(&arguments)
        let options = try ToolOptions(command)
        let deployment = try DeploymentArguments(tool: tool, options: options, environment: environment).rewriteKeepingFile(arguments)
        rewritten = deployment.arguments
        // Files and directories this run creates: 0600/0700, or 0640/0750 with group read,
        // whatever the umask it was started with (FilePermissions).
        FilePermissions.toolName = tool
        FilePermissions.apply(groupRead: try GroupRead.resolve(flag: groupRead, environment: environment, file: deployment.file))
        ToolLog.command = options.resolve(rewritten).path.map(\.name).joined(separator: " ")
    } catch {
        printError(tool, "\(error)")
        exit(ExitStatus(error).rawValue)
    }
    command.main(rewritten)
    exit(0)
}
