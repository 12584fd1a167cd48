import Foundation

extension Site {
    /// `index.html`: one row per report with a link to its page and downloads, and the
    /// freshness of the data it read (LSN, commit time, age when built, store).
    static func writeIndex(_ config: SiteConfig, _ entries: [Entry], into dir: String, builtAt: Date) throws {
        let sink = try ReportSink(outputPath: dir + "/index.html", force: false)
        let e = HTMLWriter.escape
        var rows = ""
        for entry in entries {
            let f = entry.freshness
            let downloads = entry.report.formats.filter { $0 != .html }
                .map { "<a href=\"\(e(entry.file($0)))\">\($0.rawValue.uppercased())</a>" }.joined(separator: " ")
            rows += "<tr><td><a href=\"\(e(entry.file(.html)))\">\(e(entry.report.title))</a></td><td>\(downloads)</td>"
                + "<td class=\"n\">\(f.lsn)</td><td>\(e(f.commitTime))</td><td class=\"n\">\(e(Freshness.age(f.ageSeconds)))</td>"
                + "<td>\(e(f.store))</td></tr>\n"
        }
        let formatter = ISO8601DateFormatter()
        try sink.write("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(e(config.title))</title>
            <style>
            body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin:0.5em 0 2em}th,td{padding:0.25em 0.7em;border-bottom:1px solid #ddd}
            th{text-align:left;background:#f4f4f4}th.n,td.n{text-align:right;font-variant-numeric:tabular-nums}
            </style></head><body>
            <h1>\(e(config.title))</h1>
            <p class="built">Built \(e(formatter.string(from: builtAt))) by report site; every report below read its data in one \
            transaction, stamped with that data's freshness.</p>
            <table id="reports"><thead><tr><th>Report</th><th>Downloads</th><th class="n">LSN</th><th>Committed</th>\
            <th class="n">Age</th><th>Store</th></tr></thead><tbody>
            \(rows)</tbody></table>
            </body></html>

            """)
        try sink.finish()
    }
}
