import Foundation

/// An aligned text table for terminals. Widths come from the first 1,000 rows of a section
/// (buffered); later rows stream with those widths, so memory stays bounded. Money has
/// thousands separators; number columns, and their headers, are right-aligned.
final class AlignedTableWriter: ReportWriter {
    private let sink: ReportSink
    private var columns: [ReportColumn] = []
    private var pending: [[Cell]] = []
    private var widths: [Int] = []
    private var numeric: [Bool] = []
    private var streaming = false
    static let measureRows = 1000

    init(_ sink: ReportSink) { self.sink = sink }

    func begin(title: String, freshness: Freshness) throws {
        try sink.write("\(title)\n\(freshness.line)\n")
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws {
        self.columns = columns
        pending = []
        streaming = false
        try sink.write("\n\(name)\n")
    }

    func row(_ cells: [Cell]) throws {
        if streaming { return try emit(cells) }
        pending.append(cells)
        if pending.count >= Self.measureRows { try startStreaming() }
    }

    private func startStreaming() throws {
        widths = columns.map { Self.visible($0.name).count }
        numeric = Array(repeating: true, count: columns.count)
        for r in pending {
            for (i, c) in r.enumerated() where i < widths.count {
                widths[i] = max(widths[i], Self.visible(c.groupedText).count)
                if !c.isNumeric && c != .null { numeric[i] = false }
            }
        }
        let header = columns.enumerated().map { pad(Self.visible($0.element.name), $0.offset, right: numeric[$0.offset]) }.joined(separator: "  ")
        try sink.write(Self.trimmed(header) + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n")
        streaming = true
        for r in pending { try emit(r) }
        pending = []
    }

    private func pad(_ s: String, _ i: Int, right: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, widths[i] - s.count))
        return right ? fill + s : s + fill
    }

    private func emit(_ cells: [Cell]) throws {
        let line = cells.enumerated().map { pad(Self.visible($0.element.groupedText), $0.offset, right: numeric[$0.offset]) }.joined(separator: "  ")
        try sink.write(Self.trimmed(line) + "\n")
    }

    /// One line per row: control characters inside a value are shown escaped (\n, \r, \t,
    /// \u{…}); a raw line end broke the alignment and the row count.
    static func visible(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return s }
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.properties.generalCategory == .control: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func trimmed(_ line: String) -> String {
        var end = line.endIndex
        while end > line.startIndex, line[line.index(before: end)] == " " { end = line.index(before: end) }
        return String(line[..<end])
    }

    func endSection() throws {
        if !streaming { try startStreaming() }
        if !pending.isEmpty { for r in pending { try emit(r) } }
    }

    func end() throws { try sink.finish() }
}

/// One JSON document, streamed: {"title", "freshness", "sections": [{"name", "columns", "rows"}]}.
/// Values are encoded here rather than through JSONSerialization, which cost a dynamic cast
/// and a Data per value and made JSON twice as slow as CSV on large results.
final class JSONReportWriter: ReportWriter {
    private let sink: ReportSink
    private var firstSection = true
    private var firstRow = true
    /// `"name":` of each column, encoded once per section.
    private var keys: [String] = []

    init(_ sink: ReportSink) { self.sink = sink }

    /// A JSON string (RFC 8259 §7): quote, backslash and control characters escaped.
    static func encodeString(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }

    /// Numbers stay numbers; money stays exact as its decimal text; blobs are base64.
    static func encode(_ cell: Cell) -> String {
        switch cell {
        case .null: return "null"
        case .integer(let i): return String(i)
        case .real(let d): return d.isFinite ? "\(d)" : encodeString("\(d)")
        case .text(let s): return encodeString(s)
        case .blob(let b): return encodeString(b.base64EncodedString())
        case .money, .moneyAverage, .change: return encodeString(cell.text)
        }
    }

    func begin(title: String, freshness: Freshness) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let f = String(decoding: try encoder.encode(freshness), as: UTF8.self)
        try sink.write("{\"title\":\(Self.encodeString(title)),\"freshness\":\(f),\"sections\":[")
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws {
        keys = columns.map { Self.encodeString($0.name) + ":" }
        try sink.write((firstSection ? "" : ",") + "\n{\"name\":\(Self.encodeString(name)),\"columns\":[" + columns.map { Self.encodeString($0.name) }.joined(separator: ",") + "],\"rows\":[")
        firstSection = false
        firstRow = true
    }

    func row(_ cells: [Cell]) throws {
        var line = firstRow ? "\n{" : ",\n{"
        for (i, (key, cell)) in zip(keys, cells).enumerated() {
            if i > 0 { line += "," }
            line += key
            line += Self.encode(cell)
        }
        line += "}"
        try sink.write(line)
        firstRow = false
    }

    func endSection() throws { try sink.write("]}") }
    func end() throws {
        try sink.write("\n]}\n")
        try sink.finish()
    }
}
