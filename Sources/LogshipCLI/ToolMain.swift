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
        // Building the options tree takes ArgumentParser's whole help dump, about a fifth of a start
        // (16.6 -> 13.4 ms for `--version` in a release build), so it is built only when a file or a variable can add to the line.
        let deployment = DeploymentArguments.mayRewrite(arguments, tool: tool, environment: environment)
            ? try DeploymentArguments(tool: tool, options: try ToolOptions(command), environment: environment).rewriteKeepingFile(arguments)
            : (arguments: arguments, file: nil)
        rewritten = deployment.arguments
        // Files and directories this run creates: 0600/0700, or 0640/0750 with group read,
        // whatever the umask it was started with (FilePermissions).
        FilePermissions.toolName = tool
        FilePermissions.apply(groupRead: try GroupRead.resolve(flag: groupRead, environment: environment, file: deployment.file))
        ToolLog.command = ToolOptions.commandPath(command, rewritten).joined(separator: " ")
    } catch {
        printError(tool, "\(error)")
        exit(ExitStatus(error).rawValue)
    }
    command.main(rewritten)
    exit(0)
}
