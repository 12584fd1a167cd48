import Foundation
import Logging

/// Log lines on stderr through swift-log: `2026-12-02T18:20:00+0000 info binlog-ship: [LogshipCLI]
/// message` (swift-log's stream handler: a timestamp with its offset, the level, the tool).
/// The level comes from `--log-level` (any command, taken out before parsing), else
/// `LOGSHIP_LOG_LEVEL`, else `warning`. Failures keep their `tool: message` line on stderr,
/// whatever the level (docs/OPERATIONS.md "Log lines").
public enum ToolLog {
    /// The tool's logger, set by `bootstrap` (a no-op logger before).
    nonisolated(unsafe) public static var logger = Logger(label: "logship", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The tool and subcommand names of this run (`binlog-ship purge`), for log lines; set by runTool.
    nonisolated(unsafe) public static var command = "logship"

    /// The level `--log-level`/`LOGSHIP_LOG_LEVEL` ask for, with `--log-level` taken out of `args`.
    static func level(_ args: inout [String], environment: [String: String]) throws -> Logger.Level {
        var text = environment["LOGSHIP_LOG_LEVEL"], origin = "LOGSHIP_LOG_LEVEL"
        var i = 0
        while i < args.count, args[i] != "--" {
            if args[i] == "--log-level" {
                guard i + 1 < args.count else { throw ConfigError("unable to read --log-level: no level after it", hint: levelHint) }
                text = args[i + 1]; origin = "--log-level"
                args.removeSubrange(i...i + 1)
            } else if args[i].hasPrefix("--log-level=") {
                text = String(args[i].dropFirst("--log-level=".count)); origin = "--log-level"
                args.remove(at: i)
            } else {
                i += 1
            }
        }
        guard let text else { return .warning }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigError("unable to use \(origin) \(text): not a log level", hint: levelHint)
        }
        return level
    }

    static let levelHint = "levels: " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")

    /// Sends the tool's log lines to stderr at `level`.
    static func bootstrap(tool: String, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        logger = Logger(label: tool)
    }
}
