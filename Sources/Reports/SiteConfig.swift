import Foundation
import Yams

/// What `report site` builds (docs/REPORTS.md "A report site"): the stores to read, how stale
/// they may be, and the saved reports with their parameters and formats. Relative paths are
/// taken relative to the config file, so a config and its SQL files move together.
public struct SiteConfig: Sendable {
    /// One saved report: a page `<name>.html` and downloads `<name>.csv`, `<name>.json`.
    public struct Report: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// The monthly expense summary (`report monthly-expenses`).
            case monthlyExpenses(from: String?, to: String?, currencies: [String], categories: [String], top: Int, pivot: Bool)
            /// A saved SQL file run as `report query --file` with `params` bound by name.
            case query(file: String, params: [String: String])
        }
        public var name: String
        public var title: String
        public var kind: Kind
        /// Which of html, csv, json are written; the HTML page is always written.
        public var formats: [ReportFormat]
    }

    public var stores: [String] = []
    /// Seconds; a store staler than this is not used (exit 5 when none is fresh enough).
    public var maxLag: Double?
    public var title = "Reports"
    public var reports: [Report] = []

    public static let topLevelKeys = ["stores", "max_lag", "title", "reports"]
    public static let reportKeys = ["name", "title", "monthly_expenses", "query", "params", "formats"]
    public static let monthlyKeys = ["from", "to", "currency", "category", "top", "pivot"]
    public static let siteFormats: [ReportFormat] = [.html, .csv, .json]

    /// Reads the YAML file at `path`; `parseDuration` reads `15m`-style durations.
    public static func load(path: String, parseDuration: @escaping (String) -> Double?) throws -> SiteConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ReportError(exists ? .io : .notFound, "unable to read the site config \(path)" + (exists ? "" : ": no such file"),
                              hint: exists ? nil : "give --config a reports.yml (see samples/reports/reports.yml)")
        }
        let base = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        return try parse(yaml: String(decoding: data, as: UTF8.self), file: path, baseDirectory: base.isEmpty ? "." : base, parseDuration: parseDuration)
    }

    /// Parses config text; relative paths are taken relative to `baseDirectory`.
    public static func parse(yaml: String, file: String, baseDirectory: String, parseDuration: @escaping (String) -> Double?) throws -> SiteConfig {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ReportError(.invalid, "unable to read the site config \(file): not valid YAML: \(error)")
        }
        guard let root else { throw ReportError(.invalid, "the site config \(file) is empty", hint: "it needs at least `stores:` and `reports:`") }
        let reader = SiteConfigReader(file: file, base: baseDirectory, parseDuration: parseDuration)
        var config = SiteConfig()
        for (key, value) in try reader.mapping(root, what: "the site config", allowed: topLevelKeys) {
            switch key {
            case "stores": config.stores = try reader.list(value, key).map { try reader.path($0, key) }
            case "max_lag": config.maxLag = try reader.duration(value, key)
            case "title": config.title = try reader.scalar(value, key)
            default: config.reports = try reader.list(value, key).map(reader.report)
            }
        }
        guard !config.stores.isEmpty else { throw ReportError(.invalid, "\(file): no `stores:` given", hint: "list the replica directories to read") }
        guard !config.reports.isEmpty else { throw ReportError(.invalid, "\(file): no `reports:` given", hint: "see samples/reports/reports.yml") }
        var names = Set<String>()
        for r in config.reports where !names.insert(r.name).inserted {
            throw ReportError(.invalid, "\(file): report name '\(r.name)' is used twice", hint: "each report names its own files; give each a distinct name")
        }
        return config
    }

    /// A report name becomes a file name: lowercase letters, digits and dashes, and `index` is
    /// the site's own page.
    static func isValidName(_ name: String) -> Bool {
        name != "index" && name.range(of: "^[a-z0-9][a-z0-9-]{0,63}$", options: .regularExpression) != nil
    }
}

/// Reads typed values out of YAML nodes, naming file, line and key in every error.
struct SiteConfigReader {
    let file: String
    let base: String
    let parseDuration: (String) -> Double?

    func at(_ node: Node) -> String { file + (node.mark.map { ":\($0.line)" } ?? "") }

    func mapping(_ node: Node, what: String, allowed: [String]) throws -> [(String, Node)] {
        guard let map = node.mapping else { throw ReportError(.invalid, "\(at(node)): \(what) must be a mapping of keys to values") }
        var seen = Set<String>()
        var pairs: [(String, Node)] = []
        for (k, v) in map {
            guard let key = k.string else { throw ReportError(.invalid, "\(at(k)): keys must be text") }
            guard allowed.contains(key) else {
                throw ReportError(.invalid, "\(at(k)): unknown key '\(key)' in \(what)", hint: "known keys: " + allowed.joined(separator: ", "))
            }
            guard seen.insert(key).inserted else { throw ReportError(.invalid, "\(at(k)): key '\(key)' is given twice") }
            pairs.append((key, v))
        }
        return pairs
    }

    func scalar(_ node: Node, _ key: String) throws -> String {
        guard let s = node.scalar?.string, !s.isEmpty else { throw ReportError(.invalid, "\(at(node)): '\(key)' needs a value") }
        return s
    }

    func list(_ node: Node, _ key: String) throws -> [Node] {
        guard let seq = node.sequence else { throw ReportError(.invalid, "\(at(node)): '\(key)' must be a list") }
        return Array(seq)
    }

    func path(_ node: Node, _ key: String) throws -> String {
        let s = try scalar(node, key)
        return s.hasPrefix("/") || s.hasPrefix("~") ? (s as NSString).expandingTildeInPath : base + "/" + s
    }

    func duration(_ node: Node, _ key: String) throws -> Double {
        guard let d = parseDuration(try scalar(node, key)) else {
            throw ReportError(.invalid, "\(at(node)): '\(key)' must be a duration like 90s, 15m, 2h or 7d")
        }
        return d
    }

    /// One entry of `reports:`: a name, and either `monthly_expenses:` or `query:`.
    func report(_ node: Node) throws -> SiteConfig.Report {
        var name: String?, title: String?, kind: SiteConfig.Report.Kind?, params: [String: String] = [:]
        var formats = SiteConfig.siteFormats
        for (key, value) in try mapping(node, what: "a report", allowed: SiteConfig.reportKeys) {
            switch key {
            case "name": name = try scalar(value, key)
            case "title": title = try scalar(value, key)
            case "monthly_expenses": kind = try monthly(value)
            case "query": kind = .query(file: try path(value, key), params: [:])
            case "params": params = try self.params(value)
            default: formats = try self.formats(value)
            }
        }
        guard let name, SiteConfig.isValidName(name) else {
            throw ReportError(.invalid, "\(at(node)): a report needs a 'name' of lowercase letters, digits and dashes (not 'index')",
                              hint: "the name is the file name of its page and downloads, e.g. top-merchants")
        }
        guard let kind else { throw ReportError(.invalid, "\(at(node)): report '\(name)' needs 'query: FILE.sql' or 'monthly_expenses:'") }
        switch kind {
        case .query(let file, _):
            return SiteConfig.Report(name: name, title: title ?? name, kind: .query(file: file, params: params), formats: formats)
        case .monthlyExpenses:
            guard params.isEmpty else {
                throw ReportError(.invalid, "\(at(node)): report '\(name)': 'params' binds a query's :names; give the monthly report's options under monthly_expenses:")
            }
            return SiteConfig.Report(name: name, title: title ?? name, kind: kind, formats: formats)
        }
    }

    func params(_ node: Node) throws -> [String: String] {
        var out: [String: String] = [:]
        guard let map = node.mapping else { throw ReportError(.invalid, "\(at(node)): 'params' must be a mapping of name: value") }
        for (k, v) in map {
            guard let key = k.string, !key.isEmpty else { throw ReportError(.invalid, "\(at(k)): parameter names must be text") }
            guard out[key] == nil else { throw ReportError(.invalid, "\(at(k)): parameter '\(key)' is given twice") }
            out[key] = try scalar(v, key)
        }
        return out
    }

    func formats(_ node: Node) throws -> [ReportFormat] {
        let names = try list(node, "formats").map { try scalar($0, "formats") }
        var out: [ReportFormat] = [.html]
        for n in names {
            guard let f = ReportFormat(rawValue: n), SiteConfig.siteFormats.contains(f) else {
                throw ReportError(.invalid, "\(at(node)): format '\(n)' is not one a site publishes", hint: "formats: html, csv, json")
            }
            if !out.contains(f) { out.append(f) }
        }
        return out
    }

    func monthly(_ node: Node) throws -> SiteConfig.Report.Kind {
        var from: String?, to: String?, currencies: [String] = [], categories: [String] = [], top = 10, pivot = false
        // `monthly_expenses:` with nothing after it (a null scalar) takes the defaults.
        guard node.mapping != nil || node.scalar?.string.isEmpty == true || node.scalar?.string == "~" else {
            throw ReportError(.invalid, "\(at(node)): 'monthly_expenses' takes a mapping of options (from, to, currency, category, top, pivot), or {}")
        }
        if node.mapping != nil {
            for (key, value) in try mapping(node, what: "monthly_expenses", allowed: SiteConfig.monthlyKeys) {
                switch key {
                case "from", "to":
                    let m = try scalar(value, key)
                    guard MonthlyExpenses.isMonth(m) else { throw ReportError(.invalid, "\(at(value)): '\(key)' takes a month like 2024-03") }
                    if key == "from" { from = m } else { to = m }
                case "currency": currencies = try stringList(value, key)
                case "category": categories = try stringList(value, key)
                case "top":
                    guard let n = Int(try scalar(value, key)), n >= 1 else { throw ReportError(.invalid, "\(at(value)): 'top' takes a number of at least 1") }
                    top = n
                default:
                    guard let b = value.bool else { throw ReportError(.invalid, "\(at(value)): 'pivot' must be true or false") }
                    pivot = b
                }
            }
        }
        return .monthlyExpenses(from: from, to: to, currencies: currencies, categories: categories, top: top, pivot: pivot)
    }

    /// One value or a list of them.
    func stringList(_ node: Node, _ key: String) throws -> [String] {
        if node.sequence != nil { return try list(node, key).map { try scalar($0, key) } }
        return [try scalar(node, key)]
    }
}
