import Foundation
import LogshipSystem
import Yams

/// Group read (docs/OPERATIONS.md "Files and permissions"): whether the owner's group may read
/// what a tool writes (directories 0750, files 0640) instead of the owner alone (0700, 0600).
/// One name in three spellings, first found wins: `--group-read` on any command (taken out
/// before parsing, like `--log-level`), `LOGSHIP_GROUP_READ=true|false`, and logship.yml's
/// `files: {group_read: true}`. One setting for every tool, not one per tool: a master, its
/// shipping and its replicas must agree on who may read their files.
enum GroupRead {
    static let flag = "--group-read"
    static let variable = "LOGSHIP_GROUP_READ"

    /// Takes `--group-read` out of `args` (up to `--`); true when it was there.
    static func take(_ args: inout [String]) -> Bool {
        let end = args.firstIndex(of: "--") ?? args.count
        let before = args.count
        args = args[..<end].filter { $0 != flag } + args[end...]
        return args.count != before
    }

    /// The setting: the flag, else the variable, else the file, else off.
    static func resolve(flag given: Bool, environment: [String: String], file: DeploymentFile?) throws -> Bool {
        if given { return true }
        if let text = environment[variable], !text.isEmpty {
            guard let value = parse(text) else {
                throw ConfigError("unable to use \(variable)=\(text): not true or false", hint: "set \(variable)=true for group read (0750/0640), false or unset for owner only (0700/0600)")
            }
            return value
        }
        return file?.groupRead ?? false
    }

    static func parse(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: return nil
        }
    }
}
