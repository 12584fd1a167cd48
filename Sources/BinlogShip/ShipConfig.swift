import BinlogFormat
import Foundation
import Yams

/// A replica inbox that segments are shipped to: a directory on another disk, an NFS mount,
/// a synced folder, or a prefix in an S3-compatible bucket (`s3://bucket/prefix`). The name
/// keys the target's state; it is the path when none is given.
public struct ShipTarget: Equatable, Sendable {
    public var name: String
    /// A directory, or `s3://bucket/prefix` (kept as written, without a trailing slash).
    public var path: String
    /// How to reach the bucket of an `s3://` target (nil: from the environment).
    public var s3: S3TargetSettings?

    public init(name: String? = nil, path: String, s3: S3TargetSettings? = nil) {
        let clean = ShipTarget.normalize(path)
        self.name = name ?? clean
        self.path = clean
        self.s3 = s3
    }

    /// True for an `s3://bucket/prefix` target.
    public var isS3: Bool { S3Address.isS3(path) }

    static func normalize(_ path: String) -> String {
        if let s3 = S3Address(path) { return s3.description }
        var p = (path as NSString).standardizingPath
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }
}

/// What a run ships from and to: the config file (docs/SHIPPING.md "Config file") merged
/// with flags. Durations are seconds.
public struct ShipConfig: Sendable {
    public var source: String?
    public var stateDirectory: String?
    public var targets: [ShipTarget] = []
    public var includeActive = false
    /// `purge` deletes sealed segments sealed longer ago than this.
    public var retention: Double?
    /// `purge` keeps every segment that holds a commit inside this window (and the one before).
    public var retentionWindow: Double?
    /// `check` fails when a target is further behind than this.
    public var maxLag: Double?
    /// When set, every sealed segment's signature is checked before it is shipped anywhere
    /// (`--verify-key`; docs/OPERATIONS.md, "Signing and encryption").
    public var verifier: SegmentVerifier?
    /// Opens a target's storage backend; a directory unless a test or another backend says
    /// otherwise (docs/SHIPPING.md "Target backends").
    public var openStore: @Sendable (ShipTarget) -> TargetStore = { target in
        target.isS3 ? S3Store.shared(target) : DirectoryStore(target: target)
    }

    public init() {}

    /// Every key the config file accepts; anything else is an error naming the key.
    public static let topLevelKeys = ["source", "state_dir", "include_active", "retention", "max_lag", "targets", "retention_window"]
    public static let targetKeys = ["name", "path", "endpoint", "region", "addressing", "max-bandwidth", "timeout"]

    /// Reads a YAML config file. `parseDuration` turns `15m`-style text into seconds
    /// (the CLI passes the shared parser, so every tool reads durations alike).
    public static func load(path: String, parseDuration: @escaping (String) -> Double?) throws -> ShipConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ShipError(exists ? .io : .notFound, exists ? "unable to read the config file" : "no such config file", path: path)
        }
        let base = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        return try parse(yaml: String(decoding: data, as: UTF8.self), file: path, baseDirectory: base.isEmpty ? "." : base, parseDuration: parseDuration)
    }

    /// Parses config text; relative paths are taken relative to `baseDirectory` (the file's).
    public static func parse(yaml: String, file: String, baseDirectory: String, parseDuration: @escaping (String) -> Double?) throws -> ShipConfig {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ShipError(.config, "\(file): not valid YAML: \(error)")
        }
        guard let root else { throw ShipError(.config, "\(file): the config file is empty", hint: "it needs at least `source:` and `targets:`") }
        let reader = ConfigReader(file: file, base: baseDirectory, parseDuration: parseDuration)
        let top = try reader.mapping(root, what: "the config file", allowed: topLevelKeys)
        var config = ShipConfig()
        for (key, value) in top {
            switch key {
            case "source": config.source = try reader.path(value, key)
            case "state_dir": config.stateDirectory = try reader.path(value, key)
            case "include_active": config.includeActive = try reader.bool(value, key)
            case "retention": config.retention = try reader.duration(value, key)
            case "retention_window": config.retentionWindow = try reader.duration(value, key)
            case "max_lag": config.maxLag = try reader.duration(value, key)
            case "targets": config.targets = try reader.targets(value)
            default: break
            }
        }
        try config.checkTargets(origin: file)
        return config
    }

    /// Adds targets given as flags: `NAME=DIR`, or a bare `DIR` named by its path. A name
    /// holds no `/`, so a directory with `=` in it still reads as a directory.
    public mutating func addTargets(_ flags: [String]) throws {
        for flag in flags {
            if let eq = flag.firstIndex(of: "="), eq != flag.startIndex, !flag[..<eq].contains("/") {
                guard flag.index(after: eq) != flag.endIndex else { throw ShipError(.config, "--target \(flag): no directory after '='") }
                try Self.checkS3Address(String(flag[flag.index(after: eq)...]), origin: "--target \(flag)")
                targets.append(ShipTarget(name: String(flag[..<eq]), path: String(flag[flag.index(after: eq)...])))
            } else {
                try Self.checkS3Address(flag, origin: "--target \(flag)")
                targets.append(ShipTarget(path: flag))
            }
        }
        try checkTargets(origin: "--target")
    }

    /// An `s3://` address needs a bucket.
    static func checkS3Address(_ text: String, origin: String) throws {
        guard S3Address.isS3(text), S3Address(text) == nil else { return }
        throw ShipError(.config, "\(origin): no bucket in \(text)", hint: "write the target as s3://bucket or s3://bucket/prefix")
    }

    /// Two targets with one name or one directory would ship twice into the same place.
    func checkTargets(origin: String) throws {
        var names = Set<String>(), paths = Set<String>()
        for t in targets {
            guard paths.insert(t.path).inserted else { throw ShipError(.config, "\(origin): directory \(t.path) is given as two targets") }
            guard names.insert(t.name).inserted else { throw ShipError(.config, "\(origin): target name '\(t.name)' is used twice") }
        }
    }

    /// The source directory and the state directory a run with this config uses. Refuses a
    /// configured target that is the source, inside it or containing it (`ShipSource.checkNotOverlapping`),
    /// so every command (ship, status, check, purge, verify, forget) sees the same refusal.
    public func resolveSource(_ path: String) throws -> (ShipSource, String) {
        let source = try ShipSource(path: path)
        // Only a target in the local file system can be (or hold) the source's directory.
        for target in targets where openStore(target).localDirectory != nil { try source.checkNotOverlapping(target) }
        return (source, stateDirectory.map(ShipTarget.normalize) ?? source.defaultStateDirectory)
    }

    /// The target called `nameOrPath`, matched by name first, then by directory.
    public func target(_ nameOrPath: String) -> ShipTarget? {
        targets.first { $0.name == nameOrPath } ?? targets.first { $0.path == ShipTarget.normalize(nameOrPath) }
    }
}

/// Reads typed values out of YAML nodes, naming file, line and key in every error.
private struct ConfigReader {
    let file: String
    let base: String
    let parseDuration: (String) -> Double?

    func at(_ node: Node) -> String { file + (node.mark.map { ":\($0.line)" } ?? "") }

    func mapping(_ node: Node, what: String, allowed: [String]) throws -> [(String, Node)] {
        guard let map = node.mapping else { throw ShipError(.config, "\(at(node)): \(what) must be a mapping of keys to values") }
        var seen = Set<String>()
        var pairs: [(String, Node)] = []
        for (k, v) in map {
            guard let key = k.string else { throw ShipError(.config, "\(at(k)): keys must be text") }
            guard allowed.contains(key) else {
                throw ShipError(.config, "\(at(k)): unknown key '\(key)' in \(what)", hint: "known keys: " + allowed.joined(separator: ", "))
            }
            guard seen.insert(key).inserted else { throw ShipError(.config, "\(at(k)): key '\(key)' is given twice") }
            pairs.append((key, v))
        }
        return pairs
    }

    func scalar(_ node: Node, _ key: String) throws -> String {
        guard let s = node.scalar?.string, !s.isEmpty else { throw ShipError(.config, "\(at(node)): '\(key)' needs a value") }
        return s
    }

    func path(_ node: Node, _ key: String) throws -> String {
        let s = try scalar(node, key)
        return s.hasPrefix("/") || s.hasPrefix("~") ? (s as NSString).expandingTildeInPath : base + "/" + s
    }

    /// A target's directory (relative to the file's), or an `s3://bucket/prefix` address as written.
    func targetPath(_ node: Node, _ key: String) throws -> String {
        let s = try scalar(node, key)
        guard S3Address.isS3(s) else { return try path(node, key) }
        try ShipConfig.checkS3Address(s, origin: at(node))
        return s
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
        guard let b = node.bool else { throw ShipError(.config, "\(at(node)): '\(key)' must be true or false") }
        return b
    }

    func duration(_ node: Node, _ key: String) throws -> Double {
        guard let d = parseDuration(try scalar(node, key)) else {
            throw ShipError(.config, "\(at(node)): '\(key)' must be a duration like 90s, 15m, 2h or 7d")
        }
        return d
    }

    func targets(_ node: Node) throws -> [ShipTarget] {
        guard let list = node.sequence else {
            throw ShipError(.config, "\(at(node)): 'targets' must be a list of directories or of {name, path} mappings")
        }
        return try list.map { item in
            if item.scalar != nil { return ShipTarget(path: try targetPath(item, "targets")) }
            var name: String?, dir: String?, s3 = S3TargetSettings(), s3Keys: [String] = []
            for (key, value) in try mapping(item, what: "a target", allowed: ConfigReader.targetKeys) {
                switch key {
                case "name": name = try scalar(value, key)
                case "path": dir = try targetPath(value, key)
                case "endpoint": s3.endpoint = try scalar(value, key); s3Keys.append(key)
                case "region": s3.region = try scalar(value, key); s3Keys.append(key)
                case "max-bandwidth":
                    guard let limit = S3TargetSettings.parseBandwidth(try scalar(value, key)) else {
                        throw ShipError(.config, "\(at(value)): 'max-bandwidth' must be bytes per second with a unit, like 10MiB/s or 512KiB/s")
                    }
                    s3.maxBandwidth = limit; s3Keys.append(key)
                case "timeout":
                    let seconds = try duration(value, key)
                    guard seconds > 0 else { throw ShipError(.config, "\(at(value)): 'timeout' must be more than 0s") }
                    s3.timeout = seconds; s3Keys.append(key)
                default:
                    s3.addressing = try scalar(value, key); s3Keys.append(key)
                    guard S3TargetSettings.addressingNames.contains(s3.addressing ?? "") else {
                        throw ShipError(.config, "\(at(value)): 'addressing' must be " + S3TargetSettings.addressingNames.joined(separator: " or "))
                    }
                }
            }
            guard let dir else { throw ShipError(.config, "\(at(item)): a target needs a 'path'") }
            guard s3Keys.isEmpty || S3Address.isS3(dir) else {
                throw ShipError(.config, "\(at(item)): '\(s3Keys[0])' is for s3:// targets only", hint: "remove it, or give the target an s3://bucket/prefix path")
            }
            return ShipTarget(name: name, path: dir, s3: s3Keys.isEmpty ? nil : s3)
        }
    }

    static let targetKeys = ShipConfig.targetKeys
}
