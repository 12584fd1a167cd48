import Foundation
import Yams

/// A value for one option from the environment or the config file, with where it came from.
public enum SettingValue {
    /// Text from an environment variable (a repeating option's values separated by commas).
    case text(String, origin: String)
    /// A YAML node of logship.yml; `origin` is `file:line key`.
    case node(Node, origin: String)

    /// The command-line words that give `option` this value.
    func arguments(for option: ToolOptions.Option) throws -> [String] {
        let long = "--" + option.name
        if option.isFlag {
            return try flag(origin: origin) ? [long] : []
        }
        let values = try texts(repeating: option.isRepeating)
        return values.flatMap { [long, $0] }
    }

    var origin: String {
        switch self {
        case .text(_, let origin), .node(_, let origin): return origin
        }
    }

    func flag(origin: String) throws -> Bool {
        switch self {
        case .text(let s, _):
            switch s.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off", "": return false
            default: throw ConfigError("\(origin): unable to read '\(s)' as a flag", hint: "write true or false")
            }
        case .node(let node, _):
            guard let b = node.bool else { throw ConfigError("\(origin): must be true or false (it is a flag)") }
            return b
        }
    }

    func texts(repeating: Bool) throws -> [String] {
        switch self {
        case .text(let s, _):
            return repeating ? s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : [s]
        case .node(let node, _):
            if let list = node.sequence {
                guard repeating else { throw ConfigError("\(origin): takes one value, not a list") }
                return try list.map { try Self.scalar($0, origin) }
            }
            return [try Self.scalar(node, origin)]
        }
    }

    static func scalar(_ node: Node, _ origin: String) throws -> String {
        guard let s = node.scalar?.string else { throw ConfigError("\(origin): must be a single value (text or number)") }
        return s
    }
}
