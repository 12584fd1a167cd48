import Foundation

/// Metrics in the Prometheus text exposition format (version 0.0.4), as node_exporter's
/// textfile collector reads them: one `# HELP` and one `# TYPE` line per family, then its
/// samples. The status commands of every tool build their `--prometheus` output with it.
///
/// Not swift-prometheus: its registry is built for a long-running process that updates
/// metrics in place, while these outputs are one-shot snapshots of files on disk; and its
/// gauges hold a `Double`, which cannot carry an LSN above 2^53 exactly. Integers here are
/// printed as integers, so an LSN or a byte count is exact at any size.
public struct PrometheusText: Sendable {
    /// A sample's value: exact integers, or a floating-point figure (seconds, ages).
    public enum Value: Sendable, Equatable {
        case int(Int64)
        case uint(UInt64)
        case double(Double)

        var text: String {
            switch self {
            case .int(let v): return String(v)
            case .uint(let v): return String(v)
            case .double(let v):
                if v.isNaN { return "NaN" }
                if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
                if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
                return String(v)
            }
        }
    }

    /// One sample of a family: its labels, in the order given, and its value.
    public struct Sample: Sendable {
        public var labels: [(String, String)]
        public var value: Value

        /// A sample with `labels` (name, value) and `value`.
        public init(_ labels: [(String, String)], _ value: Value) {
            self.labels = labels
            self.value = value
        }
    }

    private var lines: [String] = []

    /// An empty exposition.
    public init() {}

    /// Adds a gauge family `name` with `help` and its samples (a family with no sample still
    /// gets its HELP and TYPE lines, so the metric's name is known to the collector).
    public mutating func gauge(_ name: String, _ help: String, _ samples: [Sample]) {
        lines.append("# HELP \(name) \(Self.escapeHelp(help))")
        lines.append("# TYPE \(name) gauge")
        for s in samples {
            let labels = s.labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
            lines.append(name + (labels.isEmpty ? "" : "{\(labels)}") + " " + s.value.text)
        }
    }

    /// Adds a counter family: a value that only grows (it restarts at 0 with its process or
    /// state), named `…_total` by the convention.
    public mutating func counter(_ name: String, _ help: String, _ samples: [Sample]) {
        family(name, help, "counter", samples)
    }

    /// Adds a histogram family `name` (`_bucket`, `_sum`, `_count`): `buckets` are the upper
    /// bounds with the count of observations at or below each (cumulative); `+Inf` is added.
    public mutating func histogram(_ name: String, _ help: String, labels: [(String, String)], buckets: [(Double, UInt64)], sum: Double, count: UInt64) {
        lines.append("# HELP \(name) \(Self.escapeHelp(help))")
        lines.append("# TYPE \(name) histogram")
        let base = labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }
        for (le, n) in buckets + [(.infinity, count)] {
            let bound = Value.double(le).text
            lines.append("\(name)_bucket{" + (base + ["le=\"\(bound)\""]).joined(separator: ",") + "} \(n)")
        }
        let plain = base.isEmpty ? "" : "{" + base.joined(separator: ",") + "}"
        lines.append("\(name)_sum\(plain) \(Value.double(sum).text)")
        lines.append("\(name)_count\(plain) \(count)")
    }

    private mutating func family(_ name: String, _ help: String, _ type: String, _ samples: [Sample]) {
        lines.append("# HELP \(name) \(Self.escapeHelp(help))")
        lines.append("# TYPE \(name) \(type)")
        for s in samples {
            let labels = s.labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
            lines.append(name + (labels.isEmpty ? "" : "{\(labels)}") + " " + s.value.text)
        }
    }

    /// The exposition, one line each, ending in a newline.
    public var text: String { lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n" }

    /// Label values escape backslash, double quote and newline (the exposition format's rule).
    public static func escapeLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// HELP text escapes backslash and newline.
    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Microseconds since the epoch as Unix seconds (0 when there is none: "never").
    public static func seconds(_ micros: Int64?) -> Value {
        .double(Double(micros ?? 0) / 1e6)
    }

    /// A boolean as 0 or 1.
    public static func flag(_ value: Bool) -> Value { .int(value ? 1 : 0) }
}
