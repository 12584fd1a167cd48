/// GitHub-flavoured Markdown tables, with the freshness stamp as a quote. Cells are escaped so
/// that a value reads as its text: HTML special characters as entities (a merchant called
/// "<b>x</b>" is not markup), and the pipe, backslash and emphasis characters with a
/// backslash; line ends become `<br>`. Number columns are right-aligned (`---:`), decided on a
/// section's first rows (`SectionBuffer`); money has thousands separators.
final class MarkdownWriter: ReportWriter {
    private let sink: ReportSink
    private var columns: [ReportColumn] = []
    private var buffer = SectionBuffer()
    init(_ sink: ReportSink) { self.sink = sink }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        var previousCR = false
        for scalar in s.unicodeScalars {
            defer { previousCR = scalar == "\r" }
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\\", "|", "*", "_", "`", "[", "]": out += "\\"; out.unicodeScalars.append(scalar)
            case "\r": out += "<br>"
            case "\n": if !previousCR { out += "<br>" }
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    func begin(title: String, freshness: Freshness) throws {
        try sink.write("# \(Self.escape(title))\n\n> \(Self.escape(freshness.line))\n")
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws {
        self.columns = columns
        buffer.start(columns: columns.count)
        try sink.write("\n## \(Self.escape(name))\n\n")
    }

    private func write(_ step: (decided: [Bool]?, rows: [[Cell]])) throws {
        if let numeric = step.decided {
            try sink.write("| " + columns.map { Self.escape($0.name) }.joined(separator: " | ") + " |\n|"
                           + numeric.map { $0 ? "---:|" : "---|" }.joined() + "\n")
        }
        for cells in step.rows {
            try sink.write("| " + cells.map { Self.escape($0.groupedText) }.joined(separator: " | ") + " |\n")
        }
    }

    func row(_ cells: [Cell]) throws { try write(buffer.add(cells)) }
    func endSection() throws { try write(buffer.finish()) }
    func end() throws { try sink.finish() }
}
