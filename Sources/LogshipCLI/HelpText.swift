import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The exit-code table for `--help`, wrapped to the terminal's width with each summary's
/// continuation lines under its first word. ArgumentParser wraps help text to the same width
/// (COLUMNS, else the terminal, else 80) but starts continuation lines at the margin, which
/// broke the table's columns.
public func exitCodeHelp(width: Int = helpWidth()) -> String {
    let indent = String(repeating: " ", count: 4)
    return ExitStatus.allCases.map { status -> String in
        var lines: [String] = [], line = String(format: "%3d ", status.rawValue)
        for word in status.summary.split(separator: " ") {
            if line.count + 1 + word.count > width, line.count > indent.count {
                lines.append(line)
                line = indent
            }
            line += " " + word
        }
        return (lines + [line]).joined(separator: "\n")
    }.joined(separator: "\n")
}

/// The width help text is wrapped to, found as ArgumentParser finds it: COLUMNS, else the
/// terminal on stdout, else 80.
public func helpWidth() -> Int {
    if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return 80
}

/// The options every tool takes outside ArgumentParser (runTool reads them first), for the
/// tools' `--help`: where the deployment file comes from, the environment, and `--log-level`.
public func deploymentHelp(tool: String) -> String {
    let prefix = "LOGSHIP_" + tool.uppercased().replacingOccurrences(of: "-", with: "_")
    return """
        Every command also takes:
          --config FILE      the deployment file (logship.yml): default \(DeploymentArguments.defaultPath), or LOGSHIP_CONFIG. Any option can be set there, or as \(prefix)_<OPTION> (\(prefix)_<SUBCOMMAND>_<OPTION> for one subcommand); the command line wins. docs/OPERATIONS.md has the file.
          --log-level LEVEL  log lines on stderr, with time and level: trace, debug, info, notice, warning (default), error, critical; or LOGSHIP_LOG_LEVEL.
          --group-read       files this run creates are readable by the group (0640, directories 0750) instead of the owner only (0600, 0700); or LOGSHIP_GROUP_READ=true, or files: {group_read: true} in the deployment file.
        """
}
