import Foundation

/// A self-contained HTML page (inline CSS and SVG, no scripts, no network): opens offline in
/// any browser. Charts of monthly totals by category come before the tables.
final class HTMLWriter: ReportWriter {
    private let sink: ReportSink
    private var charts: [String] = []
    private var bodyStarted = false

    init(_ sink: ReportSink) { self.sink = sink }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Tableau 10, then four hues unlike any of them (the old 11th and 12th, #1f77b4 and
    /// #2ca02c, were hard to tell from the 1st and 5th in a 12-category chart).
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
                          "#17becf", "#393b79", "#bcbd22", "#843c39"]

    func begin(title: String, freshness: Freshness) throws {
        try sink.write("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(Self.escape(title))</title>
            <style>
            body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin:0.5em 0 2em}th,td{padding:0.25em 0.7em;border-bottom:1px solid #ddd}
            th{text-align:left;background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
            .fresh{background:#eef6ee;border-left:4px solid #59a14f;padding:0.5em 1em}
            .chart{margin:1em 0 2em}.legend span{display:inline-block;margin-right:1em}
            .legend i{display:inline-block;width:0.8em;height:0.8em;margin-right:0.3em}
            </style></head><body>
            <h1>\(Self.escape(title))</h1>
            <p class="fresh">\(Self.escape(freshness.line))</p>

            """)
    }

    /// A stacked bar per month; a series keeps its colour by its position in `series`, so the
    /// caller passes the same list (all categories) for every currency and a category has one
    /// colour in every chart. Series without a positive total stay out of the legend.
    func chart(currency: String, months: [String], series: [(name: String, totals: [Int64])]) throws {
        guard !months.isEmpty, !series.isEmpty else { return }
        let barWidth = max(6, min(40, 900 / months.count))
        let gap = max(2, barWidth / 5)
        let width = months.count * (barWidth + gap) + 80
        let height = 320.0
        // Stacked positive totals, saturating: the chart only needs their scale, and a month can
        // hold several category totals near Int64.max.
        let stacked = (0..<months.count).map { m in
            series.reduce(Int64(0)) { sum, serie in
                let (next, overflow) = sum.addingReportingOverflow(max(0, serie.totals[m]))
                return overflow ? Int64.max : next
            }
        }
        let maxTotal = max(1, stacked.max() ?? 1)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(Int(height) + 90)\" role=\"img\" aria-label=\"Monthly totals by category, \(Self.escape(currency))\">"
        svg += "<text x=\"0\" y=\"14\" font-size=\"12\">\(Cell.money(maxTotal)) \(Self.escape(currency))</text><line x1=\"70\" y1=\"20\" x2=\"70\" y2=\"\(Int(height) + 20)\" stroke=\"#999\"/>"
        for (m, month) in months.enumerated() {
            var y = height + 20
            let x = 75 + m * (barWidth + gap)
            for (s, serie) in series.enumerated() where serie.totals[m] > 0 {
                let h = Double(serie.totals[m]) / Double(maxTotal) * height
                y -= h
                svg += "<rect x=\"\(x)\" y=\(String(format: "\"%.2f\"", y)) width=\"\(barWidth)\" height=\(String(format: "\"%.2f\"", h)) fill=\"\(Self.palette[s % Self.palette.count])\"><title>\(Self.escape(month)) \(Self.escape(serie.name)): \(Cell.money(serie.totals[m])) \(Self.escape(currency))</title></rect>"
            }
            if months.count <= 24 || m % max(1, months.count / 12) == 0 {
                svg += "<text x=\"\(x)\" y=\"\(Int(height) + 36)\" font-size=\"10\" transform=\"rotate(45 \(x) \(Int(height) + 36))\">\(Self.escape(month))</text>"
            }
        }
        svg += "</svg>"
        let legend = series.enumerated().filter { $0.element.totals.contains { $0 > 0 } }.map { "<span><i style=\"background:\(Self.palette[$0.offset % Self.palette.count])\"></i>\(Self.escape($0.element.name))</span>" }.joined()
        try sink.write("<h2>Monthly totals by category, \(Self.escape(currency))</h2><div class=\"chart\">\(svg)<div class=\"legend\">\(legend)</div></div>\n")
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws {
        try sink.write("<h2>\(Self.escape(name))</h2>\n<table><thead><tr>" + columns.map { "<th>\(Self.escape($0.name))</th>" }.joined() + "</tr></thead><tbody>\n")
    }

    func row(_ cells: [Cell]) throws {
        try sink.write("<tr>" + cells.map { "<td\($0.isNumeric ? " class=\"n\"" : "")>\(Self.escape($0.text))</td>" }.joined() + "</tr>\n")
    }

    func endSection() throws { try sink.write("</tbody></table>\n") }

    func end() throws {
        try sink.write("</body></html>\n")
        try sink.finish()
    }
}
