import Foundation
import Logging
import Yams

/// Fills in the options a command line leaves out, from `LOGSHIP_<TOOL>_…` environment
/// variables and then from logship.yml: flag > environment > file > built-in default
/// (docs/OPERATIONS.md "Configuration"). The result is a command line, parsed as usual, so a
/// value from the file or the environment is checked exactly as the same flag typed by hand.
public struct DeploymentArguments {
    /// The default place of the deployment file; read only when it exists.
    public static let defaultPath = "/etc/logship/logship.yml"

    let tool: String
    let options: ToolOptions
    let environment: [String: String]

    public init(tool: String, options: ToolOptions, environment: [String: String]) {
        self.tool = tool
        self.options = options
        self.environment = environment
    }

    /// `LOGSHIP_BINLOG_SHIP_`: the prefix of this tool's variables.
    public var prefix: String { Self.prefix(tool: tool) }

    static func prefix(tool: String) -> String { "LOGSHIP_" + envName(tool) + "_" }

    /// Whether anything besides the command line can add to it: a `--config` on it,
    /// `LOGSHIP_CONFIG`, a variable with the tool's prefix, or the default file. When none is
    /// there `rewriteKeepingFile` returns the line as it is, so it need not run.
    public static func mayRewrite(_ arguments: [String], tool: String, environment: [String: String]) -> Bool {
        if arguments.prefix(while: { $0 != "--" }).contains(where: { $0 == "--config" || $0.hasPrefix("--config=") }) { return true }
        let prefix = prefix(tool: tool)
        if environment["LOGSHIP_CONFIG"] != nil || environment.keys.contains(where: { $0.hasPrefix(prefix) }) { return true }
        return FileManager.default.fileExists(atPath: defaultPath)
    }

    static func envName(_ s: String) -> String { s.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// The command line to parse: `arguments` with the deployment `--config` taken out and the
    /// options it lacks added right after the subcommand names.
    public func rewrite(_ arguments: [String]) throws -> [String] {
        try rewriteKeepingFile(arguments).arguments
    }

    /// `rewrite`, also returning the deployment file it read (for settings of every tool, such
    /// as `files: {group_read: …}`).
    public func rewriteKeepingFile(_ arguments: [String]) throws -> (arguments: [String], file: DeploymentFile?) {
        if arguments.contains(where: { ["--help", "-h", "--version", "--experimental-dump-help"].contains($0) }) || arguments.first == "help" {
            return (arguments, nil)
        }
        let (path, consumed) = options.resolve(arguments)
        guard let command = path.last else { return (arguments, nil) }
        var args = arguments
        let file = try deploymentFile(&args, command: command)
        let given = Set(givenSpellings(args))
        let subcommands = path.dropFirst().map(\.name)
        let fromEnv = try environmentValues(subcommands: subcommands)
        var fromFile = try file.map { try FileValues(file: $0, tool: tool, options: options).values(subcommands: subcommands, arguments: args) } ?? [:]
        // `--follow` from the environment or the file makes a follower as much as the flag does
        // (a replica's `prune: auto` policy then applies to it): read the file again as if it were given.
        if let file, !given.contains("--follow"), let follow = fromEnv["follow"] ?? fromFile["follow"], try follow.flag(origin: follow.origin) {
            fromFile = try FileValues(file: file, tool: tool, options: options).values(subcommands: subcommands, arguments: args + ["--follow"])
        }
        var extra: [String] = []
        for option in command.options where !option.spellings.contains(where: given.contains) {
            guard let value = fromEnv[option.name] ?? fromFile[option.name] else { continue }
            extra += try value.arguments(for: option)
            // The origin only: a value may be a secret.
            ToolLog.logger.debug("--\(option.name) from \(value.origin)")
        }
        args.insert(contentsOf: extra, at: min(consumed, args.count))
        return (args, file)
    }

    /// The spellings used on the command line (`--max-lag` from `--max-lag=5m` too), up to `--`.
    func givenSpellings(_ args: [String]) -> [String] {
        args.prefix { $0 != "--" }.filter { $0.hasPrefix("-") }.map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? $0 }
    }

    /// Takes the deployment file's path out of `args` and loads it: `--config` (unless the
    /// command has a `--config` of its own that names an old ship.yml), then `LOGSHIP_CONFIG`
    /// (empty: no file), then `/etc/logship/logship.yml` when it exists.
    func deploymentFile(_ args: inout [String], command: ToolOptions.Command) throws -> DeploymentFile? {
        let own = command.options.first { $0.name == "config" }
        let spellings = own?.spellings ?? ["--config"]
        var index = 0
        while index < args.count, args[index] != "--" {
            let arg = args[index]
            var value: String?, width = 1
            if spellings.contains(arg) {
                guard index + 1 < args.count else { throw ConfigError("unable to read --config: no file named after it") }
                value = args[index + 1]; width = 2
            } else if let eq = arg.firstIndex(of: "="), spellings.contains(String(arg[..<eq])) {
                value = String(arg[arg.index(after: eq)...])
            }
            if let value {
                // binlog-ship's --config also takes a ship.yml (kept working, docs/SHIPPING.md).
                if own != nil, !Self.isDeploymentFile(value) { index += width; continue }
                args.removeSubrange(index..<index + width)
                ToolLog.logger.info("configuration from \(value) (--config)")
                return try DeploymentFile.load(path: value, environment: environment)
            }
            index += 1
        }
        if let path = environment["LOGSHIP_CONFIG"] {
            guard !path.isEmpty else { return nil }
            ToolLog.logger.info("configuration from \(path) (LOGSHIP_CONFIG)")
            return try DeploymentFile.load(path: path, environment: environment)
        }
        guard FileManager.default.fileExists(atPath: Self.defaultPath) else { return nil }
        ToolLog.logger.info("configuration from \(Self.defaultPath)")
        return try DeploymentFile.load(path: Self.defaultPath, environment: environment)
    }

    static func isDeploymentFile(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return DeploymentFile.looksLikeDeployment(yaml: String(decoding: data, as: UTF8.self))
    }

    /// This tool's variables by option name, the one naming the running subcommand
    /// (`LOGSHIP_BINLOG_SHIP_CHECK_MAX_LAG`) over the tool-wide one (`LOGSHIP_BINLOG_SHIP_MAX_LAG`).
    /// A variable with the tool's prefix that names no option is refused: a typo would
    /// otherwise be ignored without a word.
    func environmentValues(subcommands: [String]) throws -> [String: SettingValue] {
        let names = options.allNames.sorted { $0.count > $1.count }
        let subs = options.allSubcommands.map { Self.envName($0.name) + "_" }
        var wide: [String: SettingValue] = [:], specific: [String: SettingValue] = [:]
        let running = subcommands.last.map { Self.envName($0) + "_" }
        for (key, value) in environment where key.hasPrefix(prefix) {
            let rest = String(key.dropFirst(prefix.count))
            if let name = names.first(where: { Self.envName($0) == rest }) {
                wide[name] = .text(value, origin: key)
            } else if let sub = subs.first(where: { rest.hasPrefix($0) }),
                      let name = names.first(where: { Self.envName($0) == rest.dropFirst(sub.count) }) {
                if sub == running { specific[name] = .text(value, origin: key) }
            } else {
                throw ConfigError("unable to use the environment variable \(key): \(tool) has no option it names",
                                  hint: "variables are \(prefix)<OPTION> or \(prefix)<SUBCOMMAND>_<OPTION>, with the long option name in capitals and '-' as '_' (docs/OPERATIONS.md)")
            }
        }
        return wide.merging(specific) { _, new in new }
    }
}
