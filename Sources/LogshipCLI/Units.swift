import Foundation

/// Parses durations the way operators write them: `90s`, `5m`, `1h30m`, `2d`, `250ms`.
/// A number needs its unit (`15` could be seconds or minutes, so it is refused); only `0`, which
/// means the same in every unit, may stand alone.
public func parseDuration(_ text: String) -> Double? {
    let s = text.trimmingCharacters(in: .whitespaces).lowercased()
    guard !s.isEmpty else { return nil }
    if let plain = Double(s) { return plain == 0 ? 0 : nil }
    var total = 0.0
    var number = ""
    var i = s.startIndex
    var sawUnit = false
    while i < s.endIndex {
        let c = s[i]
        if c.isNumber || c == "." { number.append(c); i = s.index(after: i); continue }
        var unit = ""
        while i < s.endIndex, s[i].isLetter { unit.append(s[i]); i = s.index(after: i) }
        guard let value = Double(number) else { return nil }
        let factor: Double
        switch unit {
        case "ms": factor = 0.001
        case "s", "sec": factor = 1
        case "m", "min": factor = 60
        case "h": factor = 3600
        case "d": factor = 86400
        case "w": factor = 7 * 86400
        default: return nil
        }
        total += value * factor
        number = ""
        sawUnit = true
    }
    guard number.isEmpty, sawUnit else { return nil }
    return total
}

/// Parses sizes: `4096`, `64KiB`, `16MiB`, `1GiB` (also `k`, `M`, `G` as binary units).
public func parseSize(_ text: String) -> Int64? {
    let s = text.trimmingCharacters(in: .whitespaces)
    let digits = s.prefix { $0.isNumber }
    guard let n = Int64(digits) else { return nil }
    let unit = s.dropFirst(digits.count).lowercased()
    switch unit {
    case "", "b": return n
    case "k", "kb", "kib": return n << 10
    case "m", "mb", "mib": return n << 20
    case "g", "gb", "gib": return n << 30
    default: return nil
    }
}

/// `1.5 MiB`-style rendering for status output.
public func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}

/// Encodes a value as pretty, key-sorted JSON text; an optional that is nil is written as `null`,
/// never left out (docs/JSON.md; JSONOutput.swift).
public func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(try NullKeepingEncoder.tree(value)), as: UTF8.self)
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
public final class ProgressBar {
    private let label: String
    private let total: Int64?
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private let started = Date()

    public init(label: String, total: Int64? = nil) {
        self.label = label
        self.total = total
        enabled = isatty(2) != 0
    }

    public func update(_ done: Int64, force: Bool = false) {
        guard enabled, force || Date().timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = Date()
        let rate = Double(done) / max(0.001, Date().timeIntervalSince(started))
        var line = "\r\(label) \(done)"
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                + "] \(Int(fraction * 100))% \(done)/\(total)"
        }
        line += String(format: " (%.0f/s)", rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    public func finish(_ done: Int64) {
        guard enabled else { return }
        update(done, force: true)
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
