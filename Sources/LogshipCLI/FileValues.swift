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
    func values(subcommands: [String]) throws -> [String: SettingValue] {
        var result = try retentionValues(subcommands: subcommands)
        for section in DeploymentFile.sections where section.tool == tool {
            guard let node = file.sectionNodes[section.name] else { continue }
            let applies = section.subcommand.map { subcommands.last == $0 } ?? true
            let (wide, bySub) = try read(node, what: "'\(section.name)'", allowSubcommands: section.subcommand == nil)
            if applies { result.merge(wide) { _, new in new } }
            if let sub = subcommands.last, let specific = bySub[sub] { result.merge(specific) { _, new in new } }
        }
        return result
    }

    /// The `retention` section's keys, as options of the commands that act on them
    /// (`replica-apply prune`: all; `binlog-ship purge`: the window). A tool section's own value
    /// (`replica: {prune: {window: 7d}}`) wins over these.
    func retentionValues(subcommands: [String]) throws -> [String: SettingValue] {
        guard let node = file.sectionNodes["retention"], let running = subcommands.last,
              let names = DeploymentFile.retentionOptions[tool + " " + running] else { return [:] }
        var result: [String: SettingValue] = [:]
        for (key, value) in try DeploymentFile.pairs(node, path: file.path, what: "'retention'", allowed: DeploymentFile.retentionKeys) {
            guard let option = names[key] else { continue }
            result[option] = .node(value, origin: DeploymentFile.at(value, file.path) + " 'retention.\(key)'")
        }
        return result
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
