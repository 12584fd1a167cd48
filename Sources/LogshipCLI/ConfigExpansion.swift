import Foundation
import Yams

extension DeploymentFile {
    /// Replaces `${NAME}` in every scalar by the environment variable NAME, so secrets stay out
    /// of the file; an unset variable is an error naming the line (an empty value would
    /// otherwise pass silently as a blank password).
    static func expand(_ node: Node, path: String, environment: [String: String]) throws -> Node {
        switch node {
        case .scalar(var scalar):
            scalar.string = try expand(scalar.string, at: at(node, path), environment: environment)
            return .scalar(scalar)
        case .mapping(let map):
            var pairs: [(Node, Node)] = []
            for (k, v) in map { pairs.append((k, try expand(v, path: path, environment: environment))) }
            return .mapping(Node.Mapping(pairs, map.tag, map.style, map.mark))
        case .sequence(let seq):
            let items = try seq.map { try expand($0, path: path, environment: environment) }
            return .sequence(Node.Sequence(items, seq.tag, seq.style, seq.mark))
        case .alias:
            return node
        }
    }

    /// Expands `${NAME}` occurrences in `text`; `location` names the file and line for errors.
    static func expand(_ text: String, at location: String, environment: [String: String]) throws -> String {
        guard text.contains("${") else { return text }
        var out = "", rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw ConfigError("\(location): unable to expand '\(text)': '${' without a closing '}'")
            }
            let name = String(rest[open.upperBound..<close])
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw ConfigError("\(location): unable to expand '${\(name)}': not a variable name (letters, digits, _)")
            }
            guard let value = environment[name] else {
                throw ConfigError("\(location): unable to expand ${\(name)}: the environment variable \(name) is not set",
                                  hint: "export \(name) for the tool (e.g. in the systemd unit's Environment= or the crontab), or write the value in the file")
            }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
