import Foundation
import Yams

/// The values one tool takes from logship.yml: its section's keys, overridden by the mapping
/// of the running subcommand (and, for `replica-apply snapshot`, by the `snapshots` section).
struct FileValues {
    let file: DeploymentFile
    let tool: String
    let options: ToolOptions

    /// Option name → value for the command `subcommands` names. Every key of the tool's
    /// sections is checked, not only the ones this command uses, so a typo fails at once.
    func values(subcommands: [String], arguments: [String] = []) throws -> [String: SettingValue] {
        var result = try retentionValues(subcommands: subcommands, arguments: arguments)
        if tool == "binlog-ship", let targets = targetFlags() { result["target"] = targets }
        for section in DeploymentFile.sections where section.tool == tool {
            guard let node = file.sectionNodes[section.name] else { continue }
            let applies = section.subcommand.map { subcommands.last == $0 } ?? true
            let (wide, bySub) = try read(node, what: "'\(section.name)'", allowSubcommands: section.subcommand == nil)
            if applies { result.merge(wide) { _, new in new } }
            if let sub = subcommands.last, let specific = bySub[sub] { result.merge(specific) { _, new in new } }
        }
        return result
    }

    /// The retention policy's keys, as options of the commands that act on them
    /// (`replica-apply prune`: all; `binlog-ship purge`: the window). The policy is the one of
    /// the replica or target the command acts on when logship.yml gives it one
    /// (`replicas: {a: {path: DIR, retention: …}}` for `prune DIR`; `targets: {t: {retention: …}}`
    /// for `purge --in-target t`), else the `retention` section. A tool section's own value
    /// (`replica: {prune: {window: 7d}}`) wins over these.
    func retentionValues(subcommands: [String], arguments: [String]) throws -> [String: SettingValue] {
        guard let running = subcommands.last, let names = DeploymentFile.retentionOptions[tool + " " + running] else { return [:] }
        var node = file.sectionNodes["retention"], prefix = "retention", allowed = DeploymentFile.retentionKeys
        let replica = tool == "replica-apply" ? positionals(arguments, after: running).lazy.compactMap({ file.replica(directory: $0) }).first : nil
        if let replica, let own = replica.retention {
            (node, prefix) = (own, "replicas.\(replica.name).retention")
        }
        // The follower prunes only by a replica's own policy marked `prune: auto`, and only a
        // follower (`--follow` on its command line): a cron apply of the same replica must not
        // get options it refuses without --follow.
        if running == "apply" {
            guard let replica, replica.pruneAuto, replica.retention != nil, arguments.contains("--follow") else { return [:] }
        }
        if tool == "binlog-ship", let target = Self.optionValue("--in-target", in: arguments) {
            if let own = file.entries("targets").first(where: { $0.name == target })?.retention {
                (node, prefix, allowed) = (own, "targets.\(target).retention", DeploymentFile.targetRetentionKeys)
            }
        }
        guard let node else { return [:] }
        var result: [String: SettingValue] = [:]
        for (key, value) in try DeploymentFile.pairs(node, path: file.path, what: "'\(prefix)'", allowed: allowed) {
            guard let option = names[key] else { continue }
            result[option] = .node(value, origin: DeploymentFile.at(value, file.path) + " '\(prefix).\(key)'")
        }
        return result
    }

    /// The words after the subcommand that do not start with `-` (the directory argument among
    /// them; an option's value too, which matches no replica's path).
    func positionals(_ arguments: [String], after subcommand: String) -> [String] {
        // A default subcommand (`replica-apply DIR` for `apply`) is not on the command line.
        let start = arguments.firstIndex(of: subcommand).map { $0 + 1 } ?? 0
        return arguments[start...].prefix { $0 != "--" }.filter { !$0.hasPrefix("-") }
    }

    /// The value of `--name V` or `--name=V` in `arguments`.
    static func optionValue(_ name: String, in arguments: [String]) -> String? {
        for (i, a) in arguments.enumerated() {
            if a == name, i + 1 < arguments.count { return arguments[i + 1] }
            if a.hasPrefix(name + "=") { return String(a.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// `targets: {NAME: {path: P}}` as binlog-ship's `--target NAME=P` values (the targets
    /// without a path are ship.yml's, named for their retention only).
    func targetFlags() -> SettingValue? {
        let withPath = file.entries("targets").compactMap { e in e.path.map { e.name + "=" + $0 } }
        guard !withPath.isEmpty, let first = file.sectionNodes["targets"] else { return nil }
        return .node(Node.sequence(Node.Sequence(withPath.map { Node($0) })), origin: DeploymentFile.at(first, file.path) + " 'targets'")
    }

    /// A section's option keys (`max_lag` or `max-lag`) and its per-subcommand mappings.
    func read(_ node: Node, what: String, allowSubcommands: Bool) throws
        -> ([String: SettingValue], [String: [String: SettingValue]]) {
        let names = options.allNames
        let subNames = allowSubcommands ? Set(options.allSubcommands.map(\.name)) : []
        let allowed = names.flatMap { [$0, $0.replacingOccurrences(of: "-", with: "_")] } + subNames
        var wide: [String: SettingValue] = [:], bySub: [String: [String: SettingValue]] = [:]
        for (key, value) in try DeploymentFile.pairs(node, path: file.path, what: "\(what) (\(tool))", allowed: Array(Set(allowed)).sorted()) {
            if subNames.contains(key), value.mapping != nil {
                bySub[key] = try read(value, what: "\(what).\(key)", allowSubcommands: false).0
            } else {
                let name = key.replacingOccurrences(of: "_", with: "-")
                wide[name] = .node(value, origin: DeploymentFile.at(value, file.path) + " '\(key)'")
            }
        }
        return (wide, bySub)
    }
}
