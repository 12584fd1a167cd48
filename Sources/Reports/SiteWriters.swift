import Foundation

/// Hands every call to several writers, so that one read of the store gives a report's HTML
/// page and its downloads: they carry the same figures and the same freshness stamp.
final class FanOutWriter: ReportWriter {
    private let writers: [ReportWriter]

    init(_ writers: [ReportWriter]) { self.writers = writers }

    func begin(title: String, freshness: Freshness) throws { for w in writers { try w.begin(title: title, freshness: freshness) } }
    func beginSection(_ name: String, columns: [ReportColumn]) throws { for w in writers { try w.beginSection(name, columns: columns) } }
    func row(_ cells: [Cell]) throws { for w in writers { try w.row(cells) } }
    func endSection() throws { for w in writers { try w.endSection() } }
    func chart(currency: String, months: [String], series: [(name: String, totals: [Int64])]) throws {
        for w in writers { try w.chart(currency: currency, months: months, series: series) }
    }
    func longFormat(keys: [String]) { for w in writers { w.longFormat(keys: keys) } }
    func end() throws { for w in writers { try w.end() } }
}

/// The report's HTML page with a line of site links under its title: back to the index and
/// to the page's own downloads.
final class SitePageWriter: ReportWriter {
    private let page: HTMLWriter
    private let sink: ReportSink
    private let links: [(label: String, href: String)]

    init(_ sink: ReportSink, links: [(label: String, href: String)]) {
        self.sink = sink
        self.page = HTMLWriter(sink)
        self.links = links
    }

    func begin(title: String, freshness: Freshness) throws {
        try page.begin(title: title, freshness: freshness)
        try sink.write("<nav class=\"site\">" + links.map { "<a href=\"\(HTMLWriter.escape($0.href))\">\(HTMLWriter.escape($0.label))</a>" }
            .joined(separator: " · ") + "</nav>\n")
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws { try page.beginSection(name, columns: columns) }
    func row(_ cells: [Cell]) throws { try page.row(cells) }
    func endSection() throws { try page.endSection() }
    func chart(currency: String, months: [String], series: [(name: String, totals: [Int64])]) throws {
        try page.chart(currency: currency, months: months, series: series)
    }
    func end() throws { try page.end() }
}
