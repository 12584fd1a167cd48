import Foundation
import GRDB

/// `report site`: runs the saved reports of a `SiteConfig` on the freshest store and publishes
/// them as a static site (docs/REPORTS.md "A report site"): `index.html` with each report's
/// freshness, and per report `<name>.html` plus its `<name>.csv` / `<name>.json` downloads.
public enum Site {
    /// What one report produced: its files and the freshness of the data it read.
    public struct Entry: Sendable {
        public var report: SiteConfig.Report
        public var freshness: Freshness
        public func file(_ format: ReportFormat) -> String { "\(report.name).\(format == .html ? "html" : format.rawValue)" }
    }

    /// What a run did, for the command to print on request.
    public struct Result: Sendable {
        public var directory: String
        public var entries: [Entry]
        /// Stores passed over because they could not be opened (a dead replica): worth a look.
        public var skipped: [String]
    }

    /// Builds the whole site in a directory beside `directory` and swaps it in; on any failure
    /// the previous site stays as it was and the partial build is removed.
    /// `limits` bound each report as `report`'s defaults do (5 min, 1,000,000 rows per query).
    public static func publish(_ config: SiteConfig, to directory: String, limits: ReportLimits = ReportLimits(maxRows: 1_000_000),
                               csv: CSVOptions = .init(), now: Date = Date()) throws -> Result {
        let choice = try StoreSelection.choose(paths: config.stores, allowMaster: false, maxLag: config.maxLag, minLSN: nil, wait: 0)
        choice.store.limits = limits
        let publisher = try SitePublisher(directory: directory)
        var entries: [Entry] = []
        for report in config.reports {
            entries.append(try run(report, on: choice.store, into: publisher.building, csv: csv))
        }
        try writeIndex(config, entries, into: publisher.building, builtAt: now)
        try publisher.publish(now: now)
        return Result(directory: publisher.directory, entries: entries, skipped: choice.notes.filter { $0.hasPrefix("skipped") })
    }

    /// Runs one report once, writing its page and downloads from the same read.
    static func run(_ report: SiteConfig.Report, on store: ReportStore, into dir: String, csv: CSVOptions) throws -> Entry {
        var writers: [ReportWriter] = []
        let links = [(label: "all reports", href: "index.html")]
            + report.formats.filter { $0 != .html }.map { (label: "download " + $0.rawValue.uppercased(), href: "\(report.name).\($0.rawValue)") }
        for format in report.formats {
            let sink = try ReportSink(outputPath: dir + "/" + report.name + "." + format.rawValue, force: false)
            writers.append(format == .html ? SitePageWriter(sink, links: links) : ReportSink.make(format, sink: sink, csv: csv))
        }
        let writer = FanOutWriter(writers)
        let freshness: Freshness
        switch report.kind {
        case let .monthlyExpenses(from, to, currencies, categories, top, pivot):
            var o = MonthlyExpenses.Options()
            o.fromMonth = from
            o.toMonth = to
            o.currencies = currencies
            o.categories = categories
            o.topMerchants = top
            o.pivot = pivot
            freshness = try MonthlyExpenses.run(store, o, to: writer)
        case let .query(file, params):
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ReportError(.notFound, "unable to read the SQL file \(file) of report '\(report.name)'", hint: "query: paths are relative to the config file")
            }
            let parameters = params.mapValues(CustomQuery.parameterValue)
            do {
                freshness = try CustomQuery.run(store, sql: String(decoding: data, as: UTF8.self), parameters: parameters, title: report.title, to: writer)
            } catch let e as ReportError {
                throw ReportError(e.kind, "report '\(report.name)' (\(file)): \(e.message)", hint: e.hint)
            }
        }
        return Entry(report: report, freshness: freshness)
    }
}
