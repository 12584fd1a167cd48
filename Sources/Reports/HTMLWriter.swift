import Foundation

/// A self-contained HTML page (inline CSS and SVG, no scripts, no network): opens offline in
/// any browser. Charts of monthly totals by category (`MonthlyChart`) come before the tables.
/// Money has thousands separators; number columns and their headers are right-aligned,
/// decided on a section's first rows (`SectionBuffer`).
final class HTMLWriter: ReportWriter {
    private let sink: ReportSink
    private var columns: [ReportColumn] = []
    private var buffer = SectionBuffer()

    init(_ sink: ReportSink) { self.sink = sink }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    func begin(title: String, freshness: Freshness) throws {
        try sink.write("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(Self.escape(title))</title>
            <style>
            body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin:0.5em 0 2em}th,td{padding:0.25em 0.7em;border-bottom:1px solid #ddd}
            th{text-align:left;background:#f4f4f4}th.n,td.n{text-align:right;font-variant-numeric:tabular-nums}
            .fresh{background:#eef6ee;border-left:4px solid #59a14f;padding:0.5em 1em}
            .chart{margin:1em 0 2em}.legend span{display:inline-block;margin-right:1em}
            .legend i{display:inline-block;width:0.8em;height:0.8em;margin-right:0.3em}
            </style></head><body>
            <h1>\(Self.escape(title))</h1>
            <p class="fresh">\(Self.escape(freshness.line))</p>

            """)
    }

    /// A stacked bar per month of `months` (the same axis for every currency); a series keeps
    /// its colour by its position in `series`, so the caller passes the same list for every
    /// currency and a category has one colour in every chart. Series without a positive total
    /// stay out of the legend.
    func chart(currency: String, months: [String], series: [(name: String, totals: [Int64])]) throws {
        guard !months.isEmpty, !series.isEmpty else { return }
        let chart = MonthlyChart(currency: currency, months: months, series: series)
        try sink.write("<h2>Monthly totals by category, \(Self.escape(currency))</h2><div class=\"chart\">\(chart.svg())<div class=\"legend\">\(chart.legend())</div></div>\n")
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws {
        self.columns = columns
        buffer.start(columns: columns.count)
        try sink.write("<h2>\(Self.escape(name))</h2>\n<table>")
    }

    private func write(_ step: (decided: [Bool]?, rows: [[Cell]])) throws {
        if let numeric = step.decided {
            try sink.write("<thead><tr>" + zip(columns, numeric).map { "<th\($1 ? " class=\"n\"" : "")>\(Self.escape($0.name))</th>" }.joined() + "</tr></thead><tbody>\n")
        }
        for cells in step.rows {
            try sink.write("<tr>" + cells.map { "<td\($0.isNumeric ? " class=\"n\"" : "")>\(Self.escape($0.groupedText))</td>" }.joined() + "</tr>\n")
        }
    }

    func row(_ cells: [Cell]) throws { try write(buffer.add(cells)) }

    func endSection() throws {
        try write(buffer.finish())
        try sink.write("</tbody></table>\n")
    }

    func end() throws {
        try sink.write("</body></html>\n")
        try sink.finish()
    }
}
