import Foundation
import LogshipTestSupport
import XCTest

/// A master with the sample expenses (and the `paid_with` column samples/workload.sql adds),
/// two applied replicas, and samples/reports/ copied beside a config whose stores are those
/// replicas: what `report site` reads in the site tests.
final class ReportSiteFixture {
    let pipeline: ReportPipeline
    let second: String
    let configDir: String
    var config: String { configDir + "/reports.yml" }
    var site: String { pipeline.dir.sub("www") + "/reports" }

    init(_ label: String) throws {
        pipeline = try ReportPipeline(label)
        try pipeline.execAll("""
            WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 240)
              INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency, note)
              SELECT printf('%d-%02d-%02d', 2023 + k % 2, 1 + k % 12, 1 + k % 28), 'Category ' || (k % 5), 'Merchant ' || (k % 13),
                     100 * k + 7, CASE k % 3 WHEN 0 THEN 'JPY' ELSE 'EUR' END, 'note ' || k FROM n;
            ALTER TABLE expenses ADD COLUMN paid_with TEXT;
            UPDATE expenses SET paid_with = 'card' WHERE id % 2 = 0;
            INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency, note, paid_with)
              VALUES ('2024-06-03', 'Café & <Bar>', 'Ñandú "Straße"', 123456, 'EUR', 'a, b', 'cash');
            """)
        try pipeline.rotate()
        second = try pipeline.newReplica("replica-b")
        for target in [pipeline.replica, second] {
            try pipeline.ship(to: target)
            try pipeline.apply(target)
        }
        configDir = pipeline.dir.sub("etc")
        try FileManager.default.createDirectory(atPath: configDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: pipeline.dir.sub("www"), withIntermediateDirectories: true)
        let samples = ReportCommandTests.root + "/samples/reports"
        for file in try FileManager.default.contentsOfDirectory(atPath: samples) {
            try FileManager.default.copyItem(atPath: samples + "/" + file, toPath: configDir + "/" + file)
        }
        try writeConfig(Self.sampleConfig().replacingOccurrences(of: "/srv/replica-a", with: pipeline.replica)
            .replacingOccurrences(of: "/srv/replica-b", with: second))
    }

    static func sampleConfig() throws -> String {
        try String(contentsOfFile: ReportCommandTests.root + "/samples/reports/reports.yml", encoding: .utf8)
    }

    func writeConfig(_ text: String) throws { try text.write(toFile: config, atomically: true, encoding: .utf8) }

    func runSite(_ extra: [String] = []) throws -> ToolRunner.Result {
        try ToolRunner.run("report", ["site", site, "--config", config] + extra)
    }

    /// The reports the config lists: name and which downloads it has.
    static let sampleReports: [(name: String, downloads: [String])] = [
        ("monthly-expenses", ["csv", "json"]), ("top-merchants-eur-2024", ["csv", "json"]),
        ("yearly-by-category", ["csv", "json"]), ("payment-methods-eur", ["csv"]),
    ]

    /// Every file under the site (through the link), with its bytes.
    func siteFiles() throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: site) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: site + "/" + name))
        }
        return out
    }

    /// Entries beside the site link (versions, link, lock, leftovers).
    func besideSite() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: pipeline.dir.sub("www")).sorted() }

    /// Every href of an HTML page.
    static func links(_ html: String) -> [String] {
        let regex = try? NSRegularExpression(pattern: #"href="([^"]+)""#)
        let range = NSRange(html.startIndex..., in: html)
        return (regex?.matches(in: html, range: range) ?? []).compactMap { Range($0.range(at: 1), in: html).map { String(html[$0]) } }
    }
}
