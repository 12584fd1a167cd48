import ArgumentParser
import Foundation

/// The options of one tool as ArgumentParser declares them (read from its help dump), so the
/// config file and the environment reach every option, including ones added later, without a
/// list kept by hand.
public struct ToolOptions {
    /// One settable option or flag of a command.
    public struct Option: Equatable {
        /// The long name without dashes (`max-lag`).
        public var name: String
        /// Every spelling on a command line (`--max-lag`, `-q`).
        public var spellings: [String]
        /// True for a flag (no value), false for an option taking a value.
        public var isFlag: Bool
        /// True when the option may be given several times.
        public var isRepeating: Bool
    }

    /// The command tree: name, options, subcommands, default subcommand.
    public struct Command {
        public var name: String
        public var options: [Option]
        public var subcommands: [Command]
        public var defaultSubcommand: String?
    }

    /// Options never taken from a file or the environment.
    static let excluded: Set<String> = ["help", "version", "experimental-dump-help"]

    public let root: Command

    /// Reads the options of `command` and its subcommands.
    public init(_ command: ParsableCommand.Type) throws {
        let json = Data(command._dumpHelp().utf8)
        let info = try JSONDecoder().decode(HelpDump.self, from: json)
        root = ToolOptions.convert(info.command, type: command)
    }

    /// The dump leaves out a default subcommand whose configuration has no explicit name, so
    /// that one is read from the command types, which the dump lists in the same order.
    static func convert(_ info: HelpDump.CommandInfo, type: ParsableCommand.Type) -> Command {
        let options: [Option] = (info.arguments ?? []).compactMap { arg in
            guard arg.kind != "positional", let names = arg.names,
                  let long = names.first(where: { $0.kind == "long" })?.name, !excluded.contains(long) else { return nil }
            let spellings = names.map { $0.kind == "long" ? "--" + $0.name : "-" + $0.name }
            return Option(name: long, spellings: spellings, isFlag: arg.kind == "flag", isRepeating: arg.isRepeating)
        }
        let types = type.configuration.subcommands
        let subcommands = zip(info.subcommands ?? [], types).map { convert($0, type: $1) }
        return Command(name: info.commandName, options: options, subcommands: subcommands,
                       defaultSubcommand: type.configuration.defaultSubcommand?._commandName)
    }

    /// Every option name anywhere in the tree (for refusing unknown keys and variables).
    public var allNames: Set<String> {
        var names = Set<String>()
        func walk(_ c: Command) { c.options.forEach { names.insert($0.name) }; c.subcommands.forEach(walk) }
        walk(root)
        return names
    }

    /// Every subcommand name anywhere in the tree.
    public var allSubcommands: [Command] {
        var all: [Command] = []
        func walk(_ c: Command) { c.subcommands.forEach { all.append($0); walk($0) } }
        walk(root)
        return all
    }

    /// The names of the command that `arguments` runs (`replica-apply snapshot`), read from the
    /// command types' configurations alone, as `resolve` reads them from the tree.
    public static func commandPath(_ type: ParsableCommand.Type, _ arguments: [String]) -> [String] {
        var current = type, names = [type._commandName], i = 0
        while true {
            let configuration = current.configuration
            if i < arguments.count, let sub = configuration.subcommands.first(where: { $0._commandName == arguments[i] }) {
                current = sub; i += 1
            } else if let sub = configuration.defaultSubcommand {
                current = sub
            } else {
                return names
            }
            names.append(current._commandName)
        }
    }

    /// The command that `arguments` runs and how many leading arguments name it.
    public func resolve(_ arguments: [String]) -> (path: [Command], consumed: Int) {
        var path = [root], i = 0
        while let current = path.last {
            if i < arguments.count, let sub = current.subcommands.first(where: { $0.name == arguments[i] }) {
                path.append(sub); i += 1
            } else if let name = current.defaultSubcommand, let sub = current.subcommands.first(where: { $0.name == name }) {
                path.append(sub)
            } else {
                break
            }
        }
        return (path, i)
    }
}

/// The part of ArgumentParser's help dump (`--experimental-dump-help`, serialization version 0)
/// read here. Decoded by hand because the package's ToolInfo module is not a product it exports.
struct HelpDump: Decodable {
    struct Name: Decodable { var kind: String; var name: String }
    struct Argument: Decodable { var kind: String; var names: [Name]?; var isRepeating: Bool }
    struct CommandInfo: Decodable {
        var commandName: String
        var subcommands: [CommandInfo]?
        var arguments: [Argument]?
    }
    var command: CommandInfo
}
