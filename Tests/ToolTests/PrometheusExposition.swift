import Foundation
import LogshipTestSupport
import XCTest

/// A small checker of the Prometheus text exposition format (0.0.4), enough to catch what the
/// textfile collector would refuse: every line is a HELP, a TYPE or a sample; each family has one
/// HELP and one TYPE before its samples, and its samples are not split by another family; names
/// and labels are well formed; every value parses as a float (or +Inf, -Inf, NaN).
enum PrometheusExposition {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Parsed {
        var samples: [Sample] = []
        /// Family names with their HELP text and type, in order.
        var families: [(name: String, help: String, type: String)] = []
        var names: Set<String> { Set(families.map(\.name)) }

        /// The value of `name` with exactly `labels`, if there is one sample like that.
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            let found = samples.filter { $0.name == name && $0.labels == labels }
            return found.count == 1 ? found[0].value : nil
        }
    }

    struct Problem: Error, CustomStringConvertible { var description: String }

    static let namePattern = #"[a-zA-Z_:][a-zA-Z0-9_:]*"#

    /// `promtool check metrics` on `text` where promtool is installed (Debian's `prometheus`
    /// package): the exposition and the naming conventions (counters end in `_total`, units
    /// in base units as suffixes). Returns its complaints, or nil when it accepts (or is absent).
    static func promtoolProblems(_ text: String) throws -> String? {
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool else { return nil }
        let r = try ToolRunner.runProcess(promtool, ["check", "metrics"], stdin: text)
        return r.status == 0 ? nil : r.stdout + r.stderr
    }

    static func parse(_ text: String) throws -> Parsed {
        guard text.hasSuffix("\n") else { throw Problem(description: "the text does not end with a newline") }
        var parsed = Parsed()
        var help: [String: String] = [:], type: [String: String] = [:], finished: Set<String> = []
        var current: String?
        for (index, line) in text.dropLast().components(separatedBy: "\n").enumerated() {
            func fail(_ why: String) -> Problem { Problem(description: "line \(index + 1) \(why): \(line)") }
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 4, matches(parts[2], "^" + namePattern + "$") else { throw fail("is a malformed comment") }
                let name = parts[2]
                if current != name, let current { finished.insert(current) }
                guard !finished.contains(name) else { throw fail("reopens a family already closed") }
                current = name
                if parts[1] == "HELP" {
                    guard help[name] == nil, type[name] == nil else { throw fail("repeats HELP or puts it after TYPE") }
                    help[name] = parts[3]
                } else {
                    guard type[name] == nil, ["gauge", "counter", "untyped", "summary", "histogram"].contains(parts[3]) else { throw fail("has a bad or repeated TYPE") }
                    type[name] = parts[3]
                    parsed.families.append((name, help[name] ?? "", parts[3]))
                }
                continue
            }
            let sample = try parseSample(line, fail: fail)
            // A histogram's or summary's samples carry a suffix (_bucket, _sum, _count).
            var family = sample.name
            if let current, ["histogram", "summary"].contains(type[current] ?? ""),
               let suffix = ["_bucket", "_sum", "_count"].first(where: { sample.name == current + $0 }) {
                family = String(sample.name.dropLast(suffix.count))
            }
            guard family == current, type[family] != nil, help[family] != nil else { throw fail("is a sample outside its family's HELP and TYPE") }
            parsed.samples.append(sample)
        }
        return parsed
    }

    private static func parseSample(_ line: String, fail: (String) -> Problem) throws -> Sample {
        let label = #"[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*""#
        let pattern = "^(\(namePattern))(\\{(?:\(label)(?:,\(label))*)?\\})? (\\S+)$"
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let m = regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) else { throw fail("is not a sample line") }
        func group(_ i: Int) -> String? { Range(m.range(at: i), in: line).map { String(line[$0]) } }
        guard let name = group(1), let valueText = group(3) else { throw fail("is not a sample line") }
        let value: Double
        switch valueText {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let v = Double(valueText) else { throw fail("has a value that is not a number") }
            value = v
        }
        var labels: [String: String] = [:]
        if let body = group(2), body.count > 2 {
            let pairRegex = try NSRegularExpression(pattern: #"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#)
            for pair in pairRegex.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                let key = String(body[Range(pair.range(at: 1), in: body)!])
                let raw = String(body[Range(pair.range(at: 2), in: body)!])
                guard labels[key] == nil else { throw fail("repeats the label \(key)") }
                labels[key] = raw.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
            }
        }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func matches(_ text: String, _ pattern: String) -> Bool {
        text.range(of: pattern, options: .regularExpression) != nil
    }
}
