import Foundation
import Yams

/// The deployment's `logship.yml`: one section per tool plus the reserved sections, read with
/// line numbers and `${VAR}` expansion (docs/OPERATIONS.md "Configuration").
///
/// Each tool section holds that tool's options by their long names (`max_lag` or `max-lag`),
/// and may hold a mapping per subcommand (`check: {max_lag: 15m}`) whose values win for it.
public struct DeploymentFile {
    /// The section each tool reads, and the subcommand a section stands for, when it is one.
    public static let sections: [(name: String, tool: String, subcommand: String?)] = [
        ("master", "binlog-writer", nil), ("ship", "binlog-ship", nil), ("replica", "replica-apply", nil),
        ("snapshots", "replica-apply", "snapshot"), ("reports", "report", nil),
    ]
    /// Keys of the `retention` section (docs/OPERATIONS.md "Retention").
    public static let retentionKeys = ["window", "daily", "weekly", "monthly", "pins"]
    /// The commands that act on the `retention` section: its key → their option.
    static let retentionOptions: [String: [String: String]] = [
        "replica-apply prune": ["window": "window", "daily": "daily", "weekly": "weekly", "monthly": "monthly", "pins": "pin"],
        "binlog-ship purge": ["window": "window"],
        // A replica's own policy with `prune: auto`: its follower prunes between passes.
        "replica-apply apply": ["window": "prune-window", "daily": "prune-daily", "weekly": "prune-weekly", "monthly": "prune-monthly", "pins": "prune-pin"],
    ]
    /// Keys of the `files` section, read by every tool (docs/OPERATIONS.md "Files and permissions").
    public static let filesKeys = ["group_read"]
    /// Keys of one replica under `replicas: {NAME: …}`: its directory and its own retention.
    public static let replicaKeys = ["path", "retention", "prune"]
    /// Keys of one target under `targets: {NAME: …}`: its directory or `s3://` address
    /// (optional: the name may stand for a ship.yml target) and its own retention.
    public static let targetKeys = ["path", "retention"]
    /// A target's retention: only the window (snapshot age classes inside targets: not done).
    public static let targetRetentionKeys = ["window"]
    /// Every top-level key; anything else is refused with its line.
    public static var topLevelKeys: [String] { sections.map(\.name) + ["retention", "files", "replicas", "targets"] }

    /// Where the file came from (for messages).
    public let path: String
    /// Top-level section name → its YAML node (values already `${VAR}`-expanded).
    public let sectionNodes: [String: Node]

    /// Reads and checks the top level of the file at `path`; `environment` expands `${VAR}`.
    public static func load(path: String, environment: [String: String]) throws -> DeploymentFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ConfigError(exists ? .io : .notFound,
                              exists ? "unable to read the config file \(path)" : "unable to open the config file \(path): no such file",
                              hint: exists ? "check its permissions" : "fix --config or LOGSHIP_CONFIG, or set LOGSHIP_CONFIG= (empty) to run without a file")
        }
        return try parse(yaml: String(decoding: data, as: UTF8.self), path: path, environment: environment)
    }

    /// Parses file text; see `load`.
    public static func parse(yaml: String, path: String, environment: [String: String]) throws -> DeploymentFile {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigError("unable to read the config file \(path): not valid YAML: \(error)")
        }
        guard let root else { return DeploymentFile(path: path, sectionNodes: [:]) }
        let expanded = try expand(root, path: path, environment: environment)
        var nodes: [String: Node] = [:]
        for (key, value) in try pairs(expanded, path: path, what: "the config file", allowed: topLevelKeys) {
            nodes[key] = value
        }
        if let retention = nodes["retention"] { try checkRetention(retention, path: path) }
        if let replicas = nodes["replicas"] { try checkNamed(replicas, path: path, section: "replicas", keys: replicaKeys, retentionKeys: retentionKeys, needsPath: true) }
        if let targets = nodes["targets"] { try checkNamed(targets, path: path, section: "targets", keys: targetKeys, retentionKeys: targetRetentionKeys, needsPath: false) }
        if let files = nodes["files"] {
            for (key, value) in try pairs(files, path: path, what: "'files'", allowed: filesKeys) where value.bool == nil {
                throw ConfigError("\(at(value, path)): 'files.\(key)' must be true or false")
            }
        }
        return DeploymentFile(path: path, sectionNodes: nodes)
    }

    /// `files: {group_read: …}`: nil when the file does not say.
    public var groupRead: Bool? { sectionNodes["files"]?.mapping?.first { $0.key.string == "group_read" }?.value.bool }

    /// True when `yaml` reads as a logship.yml: a non-empty mapping whose keys are all section
    /// names and whose values are all mappings. A ship.yml (`source`, `targets`, a scalar
    /// `retention`) or a site config (`stores`, a list of `reports`) never does, so a tool's own
    /// `--config` (binlog-ship, report site) keeps taking its old file.
    public static func looksLikeDeployment(yaml: String) -> Bool {
        guard let root = try? Yams.compose(yaml: yaml), let map = root.mapping, !map.isEmpty else { return false }
        return map.allSatisfy { topLevelKeys.contains($0.key.string ?? "") && $0.value.mapping != nil }
    }

    /// `file:line` for a node.
    static func at(_ node: Node, _ path: String) -> String { path + (node.mark.map { ":\($0.line)" } ?? "") }

    /// The key/value pairs of a mapping node, refusing keys outside `allowed` and repeated keys.
    static func pairs(_ node: Node, path: String, what: String, allowed: [String]) throws -> [(String, Node)] {
        guard let map = node.mapping else { throw ConfigError("\(at(node, path)): \(what) must be a mapping of keys to values") }
        var seen = Set<String>(), result: [(String, Node)] = []
        for (k, v) in map {
            guard let key = k.string else { throw ConfigError("\(at(k, path)): keys must be text") }
            guard allowed.contains(key) else {
                throw ConfigError("\(at(k, path)): unknown key '\(key)' in \(what)", hint: "known keys: " + allowed.joined(separator: ", "))
            }
            guard seen.insert(key).inserted else { throw ConfigError("\(at(k, path)): key '\(key)' is given twice") }
            result.append((key, v))
        }
        return result
    }

    /// The retention keys are checked whichever tool reads the file; `prefix` names the
    /// section in messages (`retention`, `replicas.a.retention`).
    static func checkRetention(_ node: Node, path: String, prefix: String = "retention", allowed: [String] = retentionKeys) throws {
        for (key, value) in try pairs(node, path: path, what: "'\(prefix)'", allowed: allowed) {
            switch key {
            case "window":
                guard let s = value.string, parseDuration(s) != nil else {
                    throw ConfigError("\(at(value, path)): '\(prefix).window' must be a duration like 14d")
                }
            case "pins":
                guard let list = value.sequence, list.allSatisfy({ $0.string != nil }) else {
                    throw ConfigError("\(at(value, path)): '\(prefix).pins' must be a list of snapshot names")
                }
            default:
                guard let n = value.int, n >= 0 else {
                    throw ConfigError("\(at(value, path)): '\(prefix).\(key)' must be a whole number of snapshots to keep")
                }
            }
        }
    }

    /// `replicas:` and `targets:`: a mapping of names to mappings of `keys`, each `path` a text,
    /// each `retention` checked like the top-level one (a target's: the window only).
    static func checkNamed(_ node: Node, path: String, section: String, keys: [String], retentionKeys: [String], needsPath: Bool) throws {
        guard let map = node.mapping else { throw ConfigError("\(at(node, path)): '\(section)' must be a mapping of names to their settings") }
        var seen = Set<String>()
        for (k, v) in map {
            guard let name = k.string, !name.isEmpty else { throw ConfigError("\(at(k, path)): names in '\(section)' must be text") }
            guard seen.insert(name).inserted else { throw ConfigError("\(at(k, path)): '\(section).\(name)' is given twice") }
            let entry = try pairs(v, path: path, what: "'\(section).\(name)'", allowed: keys)
            for (key, value) in entry {
                if key == "path", value.string?.isEmpty ?? true { throw ConfigError("\(at(value, path)): '\(section).\(name).path' must be a path") }
                if key == "prune", !["auto", "off"].contains(value.string ?? "") {
                    throw ConfigError("\(at(value, path)): '\(section).\(name).prune' must be auto or off", hint: "auto: `replica-apply --follow` prunes by the replica's retention between passes")
                }
                if key == "retention" {
                    try checkRetention(value, path: path, prefix: "\(section).\(name).retention", allowed: retentionKeys)
                }
            }
            if needsPath, !entry.contains(where: { $0.0 == "path" }) {
                throw ConfigError("\(at(k, path)): '\(section).\(name)' needs a path", hint: "the replica's directory, e.g. path: /srv/replica-a")
            }
        }
    }

    /// The named entries of `replicas:` or `targets:`: name → (path when given, retention node when given).
    public func entries(_ section: String) -> [(name: String, path: String?, retention: Node?, pruneAuto: Bool)] {
        (sectionNodes[section]?.mapping ?? [:]).map { k, v in
            let pairs = v.mapping ?? [:]
            let value = { (key: String) in pairs.first { $0.key.string == key }?.value }
            return (k.string ?? "", value("path")?.string, value("retention"), value("prune")?.string == "auto")
        }
    }

    /// The replica whose `path` is the directory `directory` (both standardized, relative ones
    /// against `cwd`), for `replica-apply prune DIR`.
    public func replica(directory: String, cwd: String = FileManager.default.currentDirectoryPath) -> (name: String, path: String?, retention: Node?, pruneAuto: Bool)? {
        func clean(_ p: String) -> String {
            var s = ((p.hasPrefix("/") ? p : cwd + "/" + p) as NSString).standardizingPath
            while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
            return s
        }
        return entries("replicas").first { $0.path.map(clean) == clean(directory) }
    }
}
